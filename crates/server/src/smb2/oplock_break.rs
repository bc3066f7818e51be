//! OPLOCK_BREAK acknowledgements (MS-SMB2 3.3.5.22): an oplock
//! acknowledgement names an open and the level it goes to (3.3.5.22.1), a
//! lease acknowledgement a lease key and the state it keeps (3.3.5.22.2).
//! The table in `crate::oplock` validates them and lets waiting CREATEs go on.

use std::cell::Cell;
use std::sync::Arc;

use wire::header::{Header, HEADER_LEN};
use wire::oplock_break::{encode_lease_ack_response, encode_oplock_break, BreakAck};
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::oplock::LeaseId;
use crate::pending::Completer;
use crate::state::{lock, Connection, Negotiated, Server, Session, ShareEntry, TreeConnect};

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    match BreakAck::parse(req.msg)? {
        BreakAck::Oplock { level, file_id } => {
            let open = lookup_open(req, file_id)?;
            let level =
                req.server
                    .oplocks
                    .ack_oplock(open.file_key, open.file_id.volatile, level)?;
            encode_oplock_break(out, level, open.file_id);
            Ok(NtStatus::SUCCESS)
        }
        BreakAck::Lease { key, state, .. } => {
            let n = req.conn.negotiated().ok_or(Error::Disconnect)?;
            if n.dialect < crate::config::dialect::SMB2_10 {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            let id = LeaseId {
                client_guid: n.client_guid,
                key,
            };
            let state = req.server.oplocks.ack_lease(&id, state)?;
            encode_lease_ack_response(out, &key, state);
            Ok(NtStatus::SUCCESS)
        }
    }
}

/// Breaks what a CREATE of `key` conflicts with. Returns false when the
/// CREATE must wait for an acknowledgement: it has then gone async (or, on a
/// retry, stays so) and is retried when the break ends (MS-SMB2 3.3.5.9:
/// the server answers STATUS_PENDING and completes the CREATE later).
pub(super) fn gate(
    req: &mut Request<'_>,
    key: crate::oplock::ObjKey,
    check: &crate::oplock::OpenCheck,
) -> Result<bool, Error> {
    let server = req.server;
    // Inside a compound with elements after it the CREATE cannot wait (the
    // related elements need its result now): the breaks go out, it goes on.
    if req.hdr.next_command != 0 {
        return Ok(server.oplocks.before_open(key, check, &mut || None));
    }
    let mut failed: Option<Error> = None;
    let mut make = || -> Option<crate::oplock::Waiter> {
        let retry = match Retry::new(req) {
            Ok(r) => r?,
            Err(e) => {
                failed = Some(e);
                return None;
            }
        };
        Some(Box::new(move || retry.run()))
    };
    let proceed = server.oplocks.before_open(key, check, &mut make);
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(proceed)
}

/// A CREATE waiting for a break, with everything needed to run it again on
/// whichever thread ends the break.
struct Retry {
    server: Arc<Server>,
    conn_id: u64,
    peer: String,
    negotiated: Option<Negotiated>,
    pending: crate::pending::AsyncTable,
    hdr: Header,
    msg: Vec<u8>,
    session: Arc<Session>,
    tree: Arc<TreeConnect>,
    identity: Option<vfs::Identity>,
    encrypted: Option<u64>,
    completer: Completer,
}

impl Retry {
    /// Ok(None): nothing can finish the CREATE later (no server Arc), so it goes on now.
    fn new(req: &mut Request<'_>) -> Result<Option<Retry>, Error> {
        let Some(server) = req.server.arc() else {
            return Ok(None);
        };
        let completer = match req.async_id {
            // Already async: this is a retry, and the client waits on this id.
            Some(id) => req.conn.pending.completer(id),
            None => req.go_async(None, NtStatus::CANCELLED, None)?,
        };
        Ok(Some(Retry {
            server,
            conn_id: req.conn.id,
            peer: req.conn.peer.clone(),
            negotiated: req.conn.negotiated(),
            pending: req.conn.pending.shared(),
            hdr: req.hdr.clone(),
            msg: req.msg.to_vec(),
            session: req.session()?.clone(),
            tree: req.tree()?.clone(),
            identity: crate::dispatch::unix_identity(req),
            encrypted: req.encrypted,
            completer,
        }))
    }

    /// Runs the CREATE again; its result completes the pending request.
    fn run(self) {
        if !self.completer.is_live() {
            return;
        }
        let mut conn = Connection::new(self.conn_id, self.peer.clone());
        *lock(&conn.negotiated) = self.negotiated.clone();
        conn.pending = self.pending.shared();
        let mut req = Request {
            server: &self.server,
            conn: &conn,
            hdr: self.hdr.clone(),
            msg: &self.msg,
            session: Some(self.session.clone()),
            tree: Some(self.tree.clone()),
            related_file_id: None,
            related_create_error: None,
            resolved_file_id: Cell::new(None),
            async_id: Some(self.completer.async_id()),
            resp_session_id: self.session.id,
            resp_tree_id: self.tree.id,
            created_file_id: None,
            post_hash: None,
            force_sign: false,
            never_sign: false,
            sign_with: None,
            encrypted: self.encrypted,
            single: true,
            file_tail: None,
        };
        let _identity = self.identity.as_ref().map(vfs::become_identity);
        let mut out = vec![0u8; HEADER_LEN];
        let (status, body) = match super::create::handle(&mut req, &mut out) {
            Ok(NtStatus::PENDING) => return,
            Ok(st) => (st, out.get(HEADER_LEN..).unwrap_or_default().to_vec()),
            Err(Error::Status(st)) => (st, error_body()),
            Err(Error::Disconnect) => (NtStatus::INVALID_PARAMETER, error_body()),
        };
        if !self.completer.complete(status, body) {
            // The client gave up meanwhile: the open it will never learn of goes.
            if let Some(id) = req.created_file_id {
                if let Some(open) = lock(&self.session.opens).remove(&id.volatile) {
                    super::close::close_open(&self.server, &open);
                }
            }
        }
    }
}

fn error_body() -> Vec<u8> {
    let mut b = Vec::with_capacity(9);
    wire::error::encode_error_response(&mut b, &[]);
    b
}

/// A name appeared, went or moved in the directory holding `path`: leases
/// on that directory break (except the acting open's parent lease).
pub(crate) fn break_parent(
    server: &Server,
    share: &ShareEntry,
    path: &str,
    except: Option<LeaseId>,
) {
    if !server.oplocks.has_dir_leases() {
        return;
    }
    let (dir, _) = crate::path::split_parent(path);
    if let Ok(st) = share.fs.stat(dir) {
        server.oplocks.break_parent((st.dev, st.ino), except);
    }
}
