//! Byte-range locks of every file (MS-FSA 2.1.5.7 ByteRangeLock, 2.1.4.10
//! conflict checks for READ and WRITE) and the blocking lock requests waiting
//! on them (MS-SMB2 3.3.5.14: a lock without FAIL_IMMEDIATELY waits until
//! the conflicting range is released).
//!
//! Waiters are woken whenever a range of their file is released (unlock,
//! close, tree disconnect, logoff, connection loss); the ones that no longer
//! conflict are granted in arrival order. Their responses are sent after the
//! table's mutex is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wire::NtStatus;

use crate::pending::{Completer, OnCancel};
use crate::state::lock;

/// A locked range (or a requested one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// Volatile FileId of the open that holds it.
    pub open: u64,
    pub offset: u64,
    pub length: u64,
    pub exclusive: bool,
}

impl Range {
    /// Last byte covered; None for a zero-length range.
    fn last(&self) -> Option<u64> {
        self.length
            .checked_sub(1)
            .and_then(|l| self.offset.checked_add(l))
    }

    /// MS-FSA 2.1.5.7: two non-empty ranges overlap when they share a byte; a
    /// zero-length range at X conflicts with a range that covers X beyond its
    /// first byte; two zero-length ranges never do.
    pub fn overlaps(&self, offset: u64, length: u64) -> bool {
        let other = Range {
            open: 0,
            offset,
            length,
            exclusive: false,
        };
        match (self.last(), other.last()) {
            (None, None) => false,
            (Some(a_last), Some(b_last)) => self.offset <= b_last && offset <= a_last,
            (None, Some(b_last)) => offset < self.offset && self.offset <= b_last,
            (Some(a_last), None) => self.offset < offset && offset <= a_last,
        }
    }
}

/// Whether a requested lock conflicts with a held one (MS-FSA 2.1.5.7): an
/// exclusive request conflicts with any overlapping lock, even the same
/// open's; a shared one only with another open's exclusive lock.
fn lock_conflicts(held: &Range, req: &Range) -> bool {
    if !held.overlaps(req.offset, req.length) {
        return false;
    }
    req.exclusive || (held.exclusive && held.open != req.open)
}

struct Waiter {
    id: u64,
    key: (u64, u64),
    range: Range,
    completer: Completer,
}

#[derive(Default)]
struct Files {
    held: HashMap<(u64, u64), Vec<Range>>,
    waiters: Vec<Waiter>,
}

/// Byte-range locks of every file, keyed by (device, inode).
#[derive(Default)]
pub struct LockTable {
    inner: Arc<Mutex<Files>>,
    next_waiter: AtomicU64,
}

/// What a lock attempt did.
pub enum Attempt {
    Granted,
    Conflict,
}

impl LockTable {
    /// Takes a lock if nothing conflicts.
    pub fn try_lock(&self, key: (u64, u64), r: Range) -> Attempt {
        let mut f = lock(&self.inner);
        try_take(&mut f, key, r)
    }

    /// Takes a lock, or — when it conflicts — calls `wait` to go async and
    /// queues the request until the conflicting ranges are released.
    /// `wait` gets the hook that removes the waiter when the request is
    /// cancelled or cleaned up.
    pub fn lock_or_wait<E>(
        &self,
        key: (u64, u64),
        r: Range,
        wait: impl FnOnce(OnCancel) -> Result<Completer, E>,
    ) -> Result<Attempt, E> {
        let mut f = lock(&self.inner);
        if let Attempt::Granted = try_take(&mut f, key, r) {
            return Ok(Attempt::Granted);
        }
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let weak = Arc::downgrade(&self.inner);
        let hook: OnCancel = Box::new(move || {
            if let Some(inner) = weak.upgrade() {
                lock(&inner).waiters.retain(|w| w.id != id);
            }
        });
        let completer = wait(hook)?;
        f.waiters.push(Waiter {
            id,
            key,
            range: r,
            completer,
        });
        Ok(Attempt::Conflict)
    }

    /// Removes one lock of `open` matching the range exactly (MS-FSA 2.1.5.8).
    pub fn unlock(
        &self,
        key: (u64, u64),
        open: u64,
        offset: u64,
        length: u64,
    ) -> Result<(), NtStatus> {
        let granted = {
            let mut f = lock(&self.inner);
            let list = f.held.get_mut(&key).ok_or(NtStatus::RANGE_NOT_LOCKED)?;
            let pos = list
                .iter()
                .position(|l| l.open == open && l.offset == offset && l.length == length)
                .ok_or(NtStatus::RANGE_NOT_LOCKED)?;
            list.remove(pos);
            if list.is_empty() {
                f.held.remove(&key);
            }
            wake(&mut f, key)
        };
        complete(granted);
        Ok(())
    }

    /// Releases every lock an open holds (CLOSE, disconnect) and forgets its
    /// waiting requests (the async table ends those).
    pub fn release_open(&self, key: (u64, u64), open: u64) {
        let granted = {
            let mut f = lock(&self.inner);
            f.waiters
                .retain(|w| !(w.key == key && w.range.open == open));
            release_held(&mut f, key, open);
            wake(&mut f, key)
        };
        complete(granted);
    }

    /// Releases the locks an open holds but leaves its waiting requests
    /// (TREE_DISCONNECT and LOGOFF release every lock first, so that waiters
    /// of the same tree or session may still be granted, as Windows does).
    pub fn release_locks(&self, key: (u64, u64), open: u64) {
        let granted = {
            let mut f = lock(&self.inner);
            release_held(&mut f, key, open);
            wake(&mut f, key)
        };
        complete(granted);
    }

    /// MS-FSA 2.1.4.10: a read conflicts with another open's exclusive lock.
    pub fn check_read(
        &self,
        key: (u64, u64),
        open: u64,
        offset: u64,
        length: u64,
    ) -> Result<(), NtStatus> {
        self.check(key, offset, length, |l| l.exclusive && l.open != open)
    }

    /// MS-FSA 2.1.4.10: a write conflicts with any shared lock and with
    /// another open's exclusive lock.
    pub fn check_write(
        &self,
        key: (u64, u64),
        open: u64,
        offset: u64,
        length: u64,
    ) -> Result<(), NtStatus> {
        self.check(key, offset, length, |l| !l.exclusive || l.open != open)
    }

    fn check(
        &self,
        key: (u64, u64),
        offset: u64,
        length: u64,
        blocks: impl Fn(&Range) -> bool,
    ) -> Result<(), NtStatus> {
        if length == 0 {
            return Ok(());
        }
        let f = lock(&self.inner);
        let conflict = f.held.get(&key).is_some_and(|list| {
            list.iter()
                .any(|l| l.length > 0 && l.overlaps(offset, length) && blocks(l))
        });
        if conflict {
            Err(NtStatus::FILE_LOCK_CONFLICT)
        } else {
            Ok(())
        }
    }
}

fn try_take(f: &mut Files, key: (u64, u64), r: Range) -> Attempt {
    let list = f.held.entry(key).or_default();
    if list.iter().any(|l| lock_conflicts(l, &r)) {
        if list.is_empty() {
            f.held.remove(&key);
        }
        return Attempt::Conflict;
    }
    list.push(r);
    Attempt::Granted
}

fn release_held(f: &mut Files, key: (u64, u64), open: u64) {
    if let Some(list) = f.held.get_mut(&key) {
        list.retain(|l| l.open != open);
        if list.is_empty() {
            f.held.remove(&key);
        }
    }
}

/// Grants, in arrival order, the waiters of a file that no longer conflict.
fn wake(f: &mut Files, key: (u64, u64)) -> Vec<Completer> {
    let mut granted = Vec::new();
    let mut i = 0;
    while i < f.waiters.len() {
        let Some(w) = f.waiters.get(i) else {
            break;
        };
        if w.key != key || !w.completer.is_live() {
            if w.key == key {
                f.waiters.remove(i);
            } else {
                i += 1;
            }
            continue;
        }
        let r = w.range;
        if let Attempt::Granted = try_take(f, key, r) {
            let w = f.waiters.remove(i);
            granted.push(w.completer);
        } else {
            i += 1;
        }
    }
    granted
}

/// Sends the LOCK responses of granted waiters (MS-SMB2 2.2.27).
fn complete(granted: Vec<Completer>) {
    for c in granted {
        let mut body = Vec::with_capacity(4);
        wire::echo::encode_empty_response(&mut body);
        c.complete(NtStatus::SUCCESS, body);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn r(open: u64, offset: u64, length: u64, exclusive: bool) -> Range {
        Range {
            open,
            offset,
            length,
            exclusive,
        }
    }

    #[test]
    fn zero_length_rules() {
        // smbtorture smb2.lock.zerobytelength expectations (Windows).
        let z = r(1, 10, 0, true);
        assert!(!z.overlaps(10, 0));
        assert!(!z.overlaps(9, 1));
        assert!(!z.overlaps(10, 1));
        assert!(!z.overlaps(11, 1));
        assert!(z.overlaps(9, 2));
        assert!(!z.overlaps(10, 2));
        assert!(z.overlaps(9, 3));
        assert!(r(1, 9, 2, true).overlaps(10, 0));
        assert!(!r(1, 10, 2, true).overlaps(10, 0));
    }

    #[test]
    fn end_of_range_overlaps() {
        assert!(r(1, u64::MAX, 1, true).overlaps(u64::MAX, 1));
        assert!(!r(1, 0, 10, true).overlaps(10, 5));
        assert!(r(1, 0, 10, true).overlaps(9, 5));
    }

    #[test]
    fn stacking_and_conflicts() {
        let t = LockTable::default();
        let k = (1, 2);
        assert!(matches!(t.try_lock(k, r(1, 0, 10, true)), Attempt::Granted));
        // The same open may stack a shared lock on its exclusive one.
        assert!(matches!(
            t.try_lock(k, r(1, 0, 10, false)),
            Attempt::Granted
        ));
        // But not another exclusive one, and another open gets nothing.
        assert!(matches!(
            t.try_lock(k, r(1, 0, 10, true)),
            Attempt::Conflict
        ));
        assert!(matches!(
            t.try_lock(k, r(2, 5, 1, false)),
            Attempt::Conflict
        ));
        t.unlock(k, 1, 0, 10).unwrap();
        t.unlock(k, 1, 0, 10).unwrap();
        assert_eq!(t.unlock(k, 1, 0, 10), Err(NtStatus::RANGE_NOT_LOCKED));
        assert!(matches!(t.try_lock(k, r(2, 5, 1, false)), Attempt::Granted));
    }

    #[test]
    fn read_write_enforcement() {
        let t = LockTable::default();
        let k = (1, 2);
        t.try_lock(k, r(1, 0, 100, false));
        t.try_lock(k, r(1, 100, 100, true));
        // Shared: reads pass, writes of anyone fail.
        assert!(t.check_read(k, 2, 0, 10).is_ok());
        assert_eq!(
            t.check_write(k, 1, 0, 10),
            Err(NtStatus::FILE_LOCK_CONFLICT)
        );
        // Exclusive: the holder reads and writes, others do neither.
        assert!(t.check_write(k, 1, 100, 10).is_ok());
        assert!(t.check_read(k, 1, 100, 10).is_ok());
        assert_eq!(
            t.check_read(k, 2, 150, 10),
            Err(NtStatus::FILE_LOCK_CONFLICT)
        );
        assert_eq!(
            t.check_write(k, 2, 150, 10),
            Err(NtStatus::FILE_LOCK_CONFLICT)
        );
        assert!(t.check_write(k, 2, 150, 0).is_ok());
        t.release_open(k, 1);
        assert!(t.check_write(k, 2, 0, 200).is_ok());
    }
}
