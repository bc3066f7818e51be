//! CHANGE_NOTIFY (MS-SMB2 3.3.5.19). The first request subscribes the open
//! (`crate::notify`); a request that finds changes buffered is answered at
//! once, else it goes async and completes with the next change in the
//! directory (made through this server, or on disk), STATUS_CANCELLED on
//! CANCEL, and STATUS_NOTIFY_CLEANUP when its handle is closed.

use wire::create::access;
use wire::dir::{ChangeNotifyRequest, WATCH_TREE};
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::notify::Subscription;

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = ChangeNotifyRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    if !open.is_dir {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    // MS-SMB2 3.3.5.19: the open must allow listing the directory.
    if open.granted_access & access::FILE_LIST_DIRECTORY == 0 {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    let max_trans = req.conn.limits().map(|n| n.max_trans).unwrap_or(0);
    if r.output_buffer_length > max_trans {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let share_entry = open
        .tree
        .share()
        .ok_or(Error::Status(NtStatus::INVALID_PARAMETER))?;
    let file = open.file_id.volatile;
    let notify = &req.server.notify;
    if !notify.is_subscribed(file) {
        let share = share_entry.config.name.clone();
        let dir = open.path();
        // Outside changes come from kernel watches, bounded per connection.
        let conn_id = req.conn as *const _ as usize;
        notify.subscribe(
            file,
            Subscription {
                share,
                dir,
                recursive: r.flags & WATCH_TREE != 0,
                filter: r.completion_filter,
                max_out: r.output_buffer_length,
                conn: conn_id,
                root: share_entry.fs.root_path().to_path_buf(),
            },
        );
    }
    // Changes that happened since the last request are answered at once.
    if let Some((status, body)) = notify.take_buffered(file, r.output_buffer_length) {
        out.extend_from_slice(&body);
        return Ok(status);
    }
    // A directory on its way out reports nothing more (as Windows answers).
    if req.server.files.delete_pending(open.file_key) {
        return Err(Error::Status(NtStatus::DELETE_PENDING));
    }
    let completer = req.go_async(Some(open.file_id), NtStatus::NOTIFY_CLEANUP, None)?;
    let async_id = completer.async_id();
    let remover = notify.wait(file, completer, r.output_buffer_length);
    // The directory may have become delete-pending (on another connection)
    // before this request was queued: then nobody would end it.
    if req.server.files.delete_pending(open.file_key) {
        notify.dir_delete_pending(&share_entry.config.name, &open.path());
    }
    // A request that ends without a change (cancel, close, logoff) stops waiting.
    if let Err(hook) = req
        .conn
        .pending
        .set_on_cancel(async_id, Box::new(move || remover.remove()))
    {
        hook();
    }
    Ok(NtStatus::PENDING)
}
