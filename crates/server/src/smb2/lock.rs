//! LOCK (MS-SMB2 3.3.5.14, MS-FSA 2.1.5.7): byte-range locks granted or
//! refused at once. Blocking waits, and enforcement on READ/WRITE, come with
//! the async machinery.

use std::collections::HashMap;
use std::sync::Mutex;

use wire::lock::*;
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::state::lock;

#[derive(Clone, Copy, Debug)]
struct Range {
    open: u64,
    offset: u64,
    length: u64,
    exclusive: bool,
}

impl Range {
    fn overlaps(&self, offset: u64, length: u64) -> bool {
        if self.length == 0 || length == 0 {
            return false;
        }
        let a_end = self.offset.saturating_add(self.length);
        let b_end = offset.saturating_add(length);
        self.offset < b_end && offset < a_end
    }
}

/// Byte-range locks of every file, keyed by (device, inode).
#[derive(Default)]
pub struct LockTable {
    files: Mutex<HashMap<(u64, u64), Vec<Range>>>,
}

impl LockTable {
    fn try_lock(&self, key: (u64, u64), r: Range) -> Result<(), NtStatus> {
        let mut files = lock(&self.files);
        let list = files.entry(key).or_default();
        let conflict = list
            .iter()
            .any(|l| l.overlaps(r.offset, r.length) && (l.exclusive || r.exclusive));
        if conflict {
            return Err(NtStatus::LOCK_NOT_GRANTED);
        }
        list.push(r);
        Ok(())
    }

    fn unlock(&self, key: (u64, u64), open: u64, offset: u64, length: u64) -> Result<(), NtStatus> {
        let mut files = lock(&self.files);
        let list = files.get_mut(&key).ok_or(NtStatus::RANGE_NOT_LOCKED)?;
        let pos = list
            .iter()
            .position(|l| l.open == open && l.offset == offset && l.length == length)
            .ok_or(NtStatus::RANGE_NOT_LOCKED)?;
        list.remove(pos);
        if list.is_empty() {
            files.remove(&key);
        }
        Ok(())
    }

    /// Releases every lock an open holds (on CLOSE and disconnect).
    pub fn release_open(&self, key: (u64, u64), open: u64) {
        let mut files = lock(&self.files);
        if let Some(list) = files.get_mut(&key) {
            list.retain(|l| l.open != open);
            if list.is_empty() {
                files.remove(&key);
            }
        }
    }
}

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = LockRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    if open.handle().is_none() || open.is_dir {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let table = &req.server.locks;
    let unlocking = r
        .locks
        .first()
        .map(|l| l.flags & LOCKFLAG_UNLOCK != 0)
        .unwrap_or(false);
    let mut done: Vec<LockElement> = Vec::new();
    for l in &r.locks {
        // MS-SMB2 3.3.5.14.1/2: the flag combinations Windows accepts.
        let valid = if unlocking {
            l.flags == LOCKFLAG_UNLOCK
        } else {
            matches!(
                l.flags & !LOCKFLAG_FAIL_IMMEDIATELY,
                LOCKFLAG_SHARED_LOCK | LOCKFLAG_EXCLUSIVE_LOCK
            ) && (r.locks.len() == 1 || l.flags & LOCKFLAG_FAIL_IMMEDIATELY != 0)
        };
        if !valid {
            rollback(table, &open, &done);
            return Err(Error::Status(NtStatus::INVALID_PARAMETER));
        }
        if l.length > 0 && l.offset.checked_add(l.length - 1).is_none() {
            rollback(table, &open, &done);
            return Err(Error::Status(NtStatus::INVALID_LOCK_RANGE));
        }
        let res = if unlocking {
            table.unlock(open.file_key, open.file_id.volatile, l.offset, l.length)
        } else {
            table.try_lock(
                open.file_key,
                Range {
                    open: open.file_id.volatile,
                    offset: l.offset,
                    length: l.length,
                    exclusive: l.flags & LOCKFLAG_EXCLUSIVE_LOCK != 0,
                },
            )
        };
        if let Err(s) = res {
            if !unlocking {
                rollback(table, &open, &done);
            }
            return Err(Error::Status(s));
        }
        done.push(*l);
    }
    wire::echo::encode_empty_response(out);
    Ok(NtStatus::SUCCESS)
}

fn rollback(table: &LockTable, open: &crate::state::Open, done: &[LockElement]) {
    for l in done {
        let _ = table.unlock(open.file_key, open.file_id.volatile, l.offset, l.length);
    }
}
