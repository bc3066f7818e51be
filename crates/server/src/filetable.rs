//! Server-wide table of open files keyed by (device, inode): share modes
//! (MS-FSA 2.1.5.1.2 "check sharing access") and delete-pending state
//! shared by every open of the same file, across sessions and connections.

use std::collections::HashMap;
use std::sync::Mutex;

use wire::create::{access, share_access};
use wire::NtStatus;

use crate::state::lock;

#[derive(Debug, Clone, Copy)]
struct OpenRecord {
    id: u64,
    access: u32,
    share: u32,
}

#[derive(Debug, Default)]
struct FileEntry {
    opens: Vec<OpenRecord>,
    delete_pending: bool,
}

#[derive(Default)]
pub struct FileTable {
    files: Mutex<HashMap<(u64, u64), FileEntry>>,
}

const DATA_READ: u32 = access::FILE_READ_DATA | access::FILE_EXECUTE;
const DATA_WRITE: u32 = access::FILE_WRITE_DATA | access::FILE_APPEND_DATA;

/// MS-FSA 2.1.5.1.2.1: does an open with (access, share) conflict with an
/// existing open?
fn conflicts(existing: &OpenRecord, acc: u32, share: u32) -> bool {
    let e_acc = existing.access;
    // An open without data or delete access (a "stat open") takes no part in sharing.
    if e_acc & (DATA_READ | DATA_WRITE | access::DELETE) == 0 {
        return false;
    }
    let e_share = existing.share;
    (e_acc & DATA_READ != 0 && share & share_access::READ == 0)
        || (e_acc & DATA_WRITE != 0 && share & share_access::WRITE == 0)
        || (e_acc & access::DELETE != 0 && share & share_access::DELETE == 0)
        || (acc & DATA_READ != 0 && e_share & share_access::READ == 0)
        || (acc & DATA_WRITE != 0 && e_share & share_access::WRITE == 0)
        || (acc & access::DELETE != 0 && e_share & share_access::DELETE == 0)
}

impl FileTable {
    /// Registers a new open, or refuses it with SHARING_VIOLATION or DELETE_PENDING.
    pub fn add(&self, key: (u64, u64), id: u64, acc: u32, share: u32) -> Result<(), NtStatus> {
        let mut files = lock(&self.files);
        let entry = files.entry(key).or_default();
        if entry.delete_pending {
            return Err(NtStatus::DELETE_PENDING);
        }
        // Opens that ask only for attributes or synchronize never conflict.
        let relevant = acc & (DATA_READ | DATA_WRITE | access::DELETE) != 0;
        if relevant && entry.opens.iter().any(|o| conflicts(o, acc, share)) {
            return Err(NtStatus::SHARING_VIOLATION);
        }
        entry.opens.push(OpenRecord {
            id,
            access: acc,
            share,
        });
        Ok(())
    }

    /// Whether an open of `key` with these rights would be refused, without registering it.
    pub fn check(&self, key: (u64, u64), acc: u32, share: u32) -> Result<(), NtStatus> {
        let files = lock(&self.files);
        let Some(entry) = files.get(&key) else {
            return Ok(());
        };
        if entry.delete_pending {
            return Err(NtStatus::DELETE_PENDING);
        }
        let relevant = acc & (DATA_READ | DATA_WRITE | access::DELETE) != 0;
        if relevant && entry.opens.iter().any(|o| conflicts(o, acc, share)) {
            return Err(NtStatus::SHARING_VIOLATION);
        }
        Ok(())
    }

    /// Removes an open; returns true if it was the last one and the file is
    /// delete-pending (the caller then deletes it).
    pub fn remove(&self, key: (u64, u64), id: u64) -> bool {
        let mut files = lock(&self.files);
        let Some(entry) = files.get_mut(&key) else {
            return false;
        };
        entry.opens.retain(|o| o.id != id);
        if entry.opens.is_empty() {
            let pending = entry.delete_pending;
            files.remove(&key);
            return pending;
        }
        false
    }

    pub fn set_delete_pending(&self, key: (u64, u64), pending: bool) {
        if let Some(e) = lock(&self.files).get_mut(&key) {
            e.delete_pending = pending;
        }
    }

    pub fn delete_pending(&self, key: (u64, u64)) -> bool {
        lock(&self.files)
            .get(&key)
            .map(|e| e.delete_pending)
            .unwrap_or(false)
    }

    /// Number of opens of a file (rename of an open file's target, etc.).
    pub fn open_count(&self, key: (u64, u64)) -> usize {
        lock(&self.files)
            .get(&key)
            .map(|e| e.opens.len())
            .unwrap_or(0)
    }

    /// Renaming inside a directory conflicts with opens of that directory
    /// that hold DELETE or do not share it (as Windows and Samba check).
    pub fn parent_blocks_rename(&self, dir: (u64, u64)) -> bool {
        lock(&self.files)
            .get(&dir)
            .map(|e| {
                e.opens.iter().any(|o| {
                    o.access & (DATA_READ | DATA_WRITE | access::DELETE) != 0
                        && (o.access & access::DELETE != 0 || o.share & share_access::DELETE == 0)
                })
            })
            .unwrap_or(false)
    }

    /// Whether any open other than `except` lacks FILE_SHARE_DELETE (rename/delete of an open file).
    pub fn others_deny_delete(&self, key: (u64, u64), except: u64) -> bool {
        lock(&self.files)
            .get(&key)
            .map(|e| {
                e.opens
                    .iter()
                    .any(|o| o.id != except && o.share & share_access::DELETE == 0)
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sharing_rules() {
        let t = FileTable::default();
        let k = (1, 2);
        t.add(k, 1, access::FILE_READ_DATA, share_access::READ)
            .unwrap();
        assert_eq!(
            t.add(k, 2, access::FILE_WRITE_DATA, 7),
            Err(NtStatus::SHARING_VIOLATION)
        );
        t.add(
            k,
            3,
            access::FILE_READ_DATA,
            share_access::READ | share_access::WRITE,
        )
        .unwrap();
        t.add(k, 4, access::FILE_READ_ATTRIBUTES, 0).unwrap();
        t.set_delete_pending(k, true);
        assert_eq!(
            t.add(k, 5, access::FILE_READ_DATA, 7),
            Err(NtStatus::DELETE_PENDING)
        );
        assert!(!t.remove(k, 1));
        assert!(!t.remove(k, 3));
        assert!(t.remove(k, 4));
    }
}
