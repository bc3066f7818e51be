//! LOCK (MS-SMB2 3.3.5.14, MS-FSA 2.1.5.7/2.1.5.8): byte-range locks and
//! unlocks. A single lock without FAIL_IMMEDIATELY that conflicts goes async
//! (interim STATUS_PENDING) and is granted when the conflicting range is
//! released; CANCEL ends it with STATUS_CANCELLED, CLOSE of its open with
//! STATUS_RANGE_NOT_LOCKED. The table itself lives in `crate::brlock`.

use wire::lock::*;
use wire::NtStatus;

pub use crate::brlock::LockTable;

use super::close::lookup_open;
use crate::brlock::{Attempt, Range};
use crate::dispatch::{Error, HandlerResult, Request};
use crate::state::Open;

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = LockRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    if open.handle().is_none() || open.is_dir {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let server = req.server;
    let table = &server.locks;
    let unlocking = r
        .locks
        .first()
        .map(|l| l.flags & LOCKFLAG_UNLOCK != 0)
        .unwrap_or(false);
    let single = r.locks.len() == 1;
    let mut done: Vec<LockElement> = Vec::new();
    for l in &r.locks {
        // MS-SMB2 3.3.5.14.1/2: the flag combinations Windows accepts.
        let valid = if unlocking {
            l.flags == LOCKFLAG_UNLOCK
        } else {
            matches!(
                l.flags & !LOCKFLAG_FAIL_IMMEDIATELY,
                LOCKFLAG_SHARED_LOCK | LOCKFLAG_EXCLUSIVE_LOCK
            ) && (single || l.flags & LOCKFLAG_FAIL_IMMEDIATELY != 0)
        };
        if !valid {
            rollback(table, &open, &done);
            return Err(Error::Status(NtStatus::INVALID_PARAMETER));
        }
        if l.length > 0 && l.offset.checked_add(l.length - 1).is_none() {
            rollback(table, &open, &done);
            return Err(Error::Status(NtStatus::INVALID_LOCK_RANGE));
        }
        if unlocking {
            table
                .unlock(open.file_key, open.file_id.volatile, l.offset, l.length)
                .map_err(Error::Status)?;
            done.push(*l);
            continue;
        }
        // MS-FSA 2.1.5.7: a byte-range lock breaks other opens' level II
        // oplocks and read leases, as a write does.
        server
            .oplocks
            .break_for_write(open.file_key, open.file_id.volatile);
        let range = Range {
            open: open.file_id.volatile,
            offset: l.offset,
            length: l.length,
            exclusive: l.flags & LOCKFLAG_EXCLUSIVE_LOCK != 0,
        };
        let blocking = single && l.flags & LOCKFLAG_FAIL_IMMEDIATELY == 0;
        let got = if blocking {
            let file_id = open.file_id;
            table.lock_or_wait(open.file_key, range, |hook| {
                req.go_async(Some(file_id), NtStatus::RANGE_NOT_LOCKED, Some(hook))
            })?
        } else {
            table.try_lock(open.file_key, range)
        };
        match got {
            Attempt::Granted => done.push(*l),
            Attempt::Conflict if blocking => {
                // Answered when granted, cancelled or cleaned up.
                return Ok(NtStatus::PENDING);
            }
            Attempt::Conflict => {
                // MS-SMB2 3.3.5.14.2: SMB2 always answers LOCK_NOT_GRANTED.
                rollback(table, &open, &done);
                return Err(Error::Status(NtStatus::LOCK_NOT_GRANTED));
            }
        }
    }
    wire::echo::encode_empty_response(out);
    Ok(NtStatus::SUCCESS)
}

fn rollback(table: &LockTable, open: &Open, done: &[LockElement]) {
    for l in done {
        let _ = table.unlock(open.file_key, open.file_id.volatile, l.offset, l.length);
    }
}

/// Releases the byte-range locks of opens about to be closed together (tree
/// disconnect, logoff) before their pending requests are ended, so that a
/// waiter of the same tree or session is granted as on Windows.
pub fn release_locks_of<'a>(server: &crate::state::Server, opens: impl Iterator<Item = &'a Open>) {
    for o in opens {
        server.locks.release_locks(o.file_key, o.file_id.volatile);
    }
}
