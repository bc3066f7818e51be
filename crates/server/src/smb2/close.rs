//! CLOSE (MS-SMB2 3.3.5.10) and the cleanup every way an open can end
//! shares: LOGOFF, TREE_DISCONNECT and a dropped connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use wire::close::{encode_close_response, CloseRequest, CLOSE_FLAG_POSTQUERY_ATTRIB};
use wire::NtStatus;

use super::fileinfo;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::state::{lock, Open, Server, Session};

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = CloseRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    let session = req.session()?.clone();
    let info = if r.flags & CLOSE_FLAG_POSTQUERY_ATTRIB != 0 && open.handle().is_some() {
        fileinfo::open_meta(&open)
            .ok()
            .map(|m| m.network_open_info())
    } else {
        None
    };
    lock(&session.opens).remove(&open.file_id.volatile);
    // MS-SMB2 3.3.5.10: what waits on the open ends (notify: STATUS_NOTIFY_CLEANUP).
    req.conn
        .pending
        .close_file(session.id, open.file_id.volatile);
    close_open(req.server, &open);
    encode_close_response(out, info.as_ref());
    Ok(NtStatus::SUCCESS)
}

/// Finds an open by FileId within the request's session and tree.
pub fn lookup_open(req: &Request<'_>, id: wire::create::FileId) -> Result<Arc<Open>, Error> {
    let id = req.resolve_file_id(id)?;
    let session = req.session()?;
    let open = session
        .open(id.volatile)
        .ok_or(Error::Status(NtStatus::FILE_CLOSED))?;
    if open.file_id.persistent != id.persistent {
        return Err(Error::Status(NtStatus::FILE_CLOSED));
    }
    if let Some(tree) = &req.tree {
        if tree.id != open.tree.id {
            return Err(Error::Status(NtStatus::FILE_CLOSED));
        }
    }
    req.resolved_file_id.set(Some(open.file_id));
    Ok(open)
}

/// Releases an open: its share-mode record, and the file itself when it was
/// the last open of a delete-pending file (MS-FSA 2.1.5.4).
pub fn close_open(server: &Server, open: &Open) {
    if open.closed.swap(true, Ordering::AcqRel) {
        return;
    }
    release_file(server, open);
    server.notify.close(open.file_id.volatile);
    // Its oplock or lease share goes last: CREATEs waiting on it retry at
    // once, and must find the share mode and any delete-on-close done.
    if open.tree.share().is_some() {
        server.oplocks.release(open.file_key, open.file_id.volatile);
    }
}

fn release_file(server: &Server, open: &Open) {
    let Some(share) = open.tree.share() else {
        return;
    };
    server
        .locks
        .release_open(open.file_key, open.file_id.volatile);
    if open.delete_on_close.load(Ordering::Acquire) {
        server.files.set_delete_pending(open.file_key, true);
        if open.is_dir {
            server
                .notify
                .dir_delete_pending(&share.config.name, &open.path());
        }
    }
    if server.files.remove(open.file_key, open.file_id.volatile) {
        if let (Some(stream), Some(h)) = (&open.stream, open.handle()) {
            if let Err(e) = h.stream_remove(stream) {
                log::warn!("delete on close of stream {stream:?} failed: {e}");
            }
            return;
        }
        let path = open.path();
        if path.is_empty() {
            return;
        }
        let r = if open.is_dir {
            share.fs.rmdir(&path)
        } else {
            share.fs.unlink(&path)
        };
        match r {
            Ok(()) => {
                server.notify.report(
                    &share.config.name,
                    open.is_dir,
                    &[(wire::dir::notify_action::REMOVED, &path)],
                );
                super::oplock_break::break_parent(server, share, &path, None);
            }
            Err(e) => log::warn!("delete on close of {path:?} failed: {e}"),
        }
    }
}

pub fn close_session_opens(server: &Server, session: &Session) {
    let opens: Vec<Arc<Open>> = lock(&session.opens).drain().map(|(_, o)| o).collect();
    for o in opens {
        close_open(server, &o);
    }
}

pub fn close_tree_opens(server: &Server, session: &Session, tree_id: u32) {
    let opens: Vec<Arc<Open>> = {
        let mut map = lock(&session.opens);
        let ids: Vec<u64> = map
            .iter()
            .filter(|(_, o)| o.tree.id == tree_id)
            .map(|(k, _)| *k)
            .collect();
        ids.into_iter().filter_map(|k| map.remove(&k)).collect()
    };
    for o in opens {
        close_open(server, &o);
    }
}
