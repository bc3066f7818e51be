//! Change notification watches (MS-SMB2 3.3.5.19, MS-FSA 2.1.5.10): each
//! pending CHANGE_NOTIFY is a watch on a share-relative directory. Changes
//! made through this server (create, delete on close, rename) are reported
//! here; the first matching change completes the watch with
//! FILE_NOTIFY_INFORMATION entries (MS-FSCC 2.4.42). Name changes made
//! directly on disk come from the kernel (`crate::inotify`) for the watched
//! directory itself.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use wire::dir::{encode_buffer_response, encode_notify_information, notify_filter};
use wire::NtStatus;

use crate::inotify::{Inotify, WatchRef};
use crate::pending::Completer;
use crate::state::lock;

/// One pending CHANGE_NOTIFY.
pub struct Watch {
    /// Name of the share the directory is in.
    pub share: String,
    /// Share-relative directory path, "" for the root, '/'-separated.
    pub dir: String,
    pub recursive: bool,
    pub filter: u32,
    /// The client's OutputBufferLength.
    pub max_out: u32,
    pub completer: Completer,
    /// The kernel watch on the directory, released with the watch.
    pub kernel: Option<WatchRef>,
}

type Watches = Arc<Mutex<HashMap<u64, Watch>>>;

/// All watches of the server, across connections.
#[derive(Default)]
pub struct NotifyTable {
    next_id: AtomicU64,
    watches: Watches,
    /// Started with the first kernel watch; None if the kernel refused.
    inotify: OnceLock<Option<Arc<Inotify>>>,
}

/// Removes a watch from any thread (the async operation's cancel hook).
pub struct WatchRemover {
    watches: Watches,
    id: u64,
}

impl WatchRemover {
    pub fn remove(self) {
        lock(&self.watches).remove(&self.id);
    }
}

impl NotifyTable {
    pub fn add(&self, w: Watch) -> WatchRemover {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.watches).insert(id, w);
        WatchRemover {
            watches: self.watches.clone(),
            id,
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.watches).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A kernel watch on directory `abs` (share `share`, share-relative
    /// `rel`) for connection `conn`, so outside changes are seen; None when
    /// inotify is unavailable or a limit is reached.
    pub fn kernel_watch(
        &self,
        conn: usize,
        share: &str,
        rel: &str,
        abs: &Path,
    ) -> Option<WatchRef> {
        let ino = self.inotify.get_or_init(|| {
            let watches = self.watches.clone();
            let sink: crate::inotify::Sink = Box::new(move |e| match e {
                Some((share, is_dir, action, path)) => {
                    report_to(&watches, share, is_dir, &[(action, path)])
                }
                None => overflow(&watches),
            });
            match Inotify::start(sink) {
                Ok(i) => Some(i),
                Err(e) => {
                    log::warn!("inotify unavailable, outside changes are not notified: {e}");
                    None
                }
            }
        });
        ino.as_ref()?.watch(conn, share, rel, abs)
    }

    /// Reports changes to entries of one directory (`changes` holds
    /// (action, share-relative path), all with the same parent), as
    /// FILE_NAME or DIR_NAME changes. Completes every watch that covers them.
    pub fn report(&self, share: &str, is_dir: bool, changes: &[(u32, &str)]) {
        if let Some(Some(ino)) = self.inotify.get() {
            for (_, p) in changes {
                ino.note_own(share, p);
            }
        }
        report_to(&self.watches, share, is_dir, changes);
    }
}

/// Completes every watch with STATUS_NOTIFY_ENUM_DIR: the kernel's event
/// queue overflowed and changes were lost (MS-SMB2 3.3.5.19).
fn overflow(watches: &Watches) {
    let all: Vec<Watch> = lock(watches).drain().map(|(_, w)| w).collect();
    for w in all {
        let mut body = Vec::new();
        encode_buffer_response(&mut body, &[]);
        w.completer.complete(NtStatus::NOTIFY_ENUM_DIR, body);
    }
}

fn report_to(watches: &Watches, share: &str, is_dir: bool, changes: &[(u32, &str)]) {
    {
        let Some((_, first)) = changes.first() else {
            return;
        };
        let parent = parent_of(first);
        let bit = if is_dir {
            notify_filter::DIR_NAME
        } else {
            notify_filter::FILE_NAME
        };
        let hit: Vec<Watch> = {
            let mut watches = lock(watches);
            let ids: Vec<u64> = watches
                .iter()
                .filter(|(_, w)| w.share == share && w.filter & bit != 0 && covers(w, parent))
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| watches.remove(&id))
                .collect()
        };
        for w in hit {
            let entries: Vec<(u32, String)> = changes
                .iter()
                .map(|(a, p)| (*a, relative(&w.dir, p)))
                .collect();
            let refs: Vec<(u32, &str)> = entries.iter().map(|(a, n)| (*a, n.as_str())).collect();
            let mut data = Vec::new();
            encode_notify_information(&mut data, &refs);
            let mut body = Vec::new();
            if data.len() > w.max_out as usize {
                // MS-SMB2 3.3.5.19: too much to tell; the client enumerates.
                encode_buffer_response(&mut body, &[]);
                w.completer.complete(NtStatus::NOTIFY_ENUM_DIR, body);
            } else {
                encode_buffer_response(&mut body, &data);
                w.completer.complete(NtStatus::SUCCESS, body);
            }
        }
    }
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// Whether a watch sees changes to entries of directory `parent`.
fn covers(w: &Watch, parent: &str) -> bool {
    if w.dir == parent {
        return true;
    }
    w.recursive
        && (w.dir.is_empty()
            || parent
                .strip_prefix(w.dir.as_str())
                .is_some_and(|rest| rest.starts_with('/')))
}

/// The changed path relative to the watched directory, '\'-separated.
fn relative(dir: &str, path: &str) -> String {
    let rest = if dir.is_empty() {
        path
    } else {
        path.strip_prefix(dir)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(path)
    };
    rest.replace('/', "\\")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pending::{AsyncTable, Registration};
    use wire::dir::notify_action;

    fn watch(t: &AsyncTable, dir: &str, recursive: bool) -> (Watch, Completer) {
        let c = t
            .register(Registration {
                message_id: 1,
                command: 0x0F,
                credit_charge: 1,
                session_id: 1,
                tree_id: 1,
                file: None,
                close_status: NtStatus::NOTIFY_CLEANUP,
                on_cancel: None,
            })
            .unwrap();
        let w = Watch {
            share: "s".into(),
            dir: dir.into(),
            recursive,
            filter: notify_filter::FILE_NAME,
            max_out: 4096,
            completer: c.clone(),
            kernel: None,
        };
        (w, c)
    }

    #[test]
    fn matching_rules() {
        let t = AsyncTable::default();
        let n = NotifyTable::default();
        let (w, _) = watch(&t, "a", false);
        n.add(w);
        let (w, _) = watch(&t, "", true);
        n.add(w);
        let (w, _) = watch(&t, "a/b", false);
        n.add(w);
        // A change in a/b/c is seen only by the recursive root watch.
        n.report("s", false, &[(notify_action::ADDED, "a/b/c/x")]);
        assert_eq!(n.len(), 2);
        // A directory change is not a file-name change.
        n.report("s", true, &[(notify_action::ADDED, "a/d")]);
        assert_eq!(n.len(), 2);
        n.report("s", false, &[(notify_action::ADDED, "a/f")]);
        assert_eq!(n.len(), 1);
        n.report("other", false, &[(notify_action::ADDED, "a/b/f")]);
        assert_eq!(n.len(), 1);
        n.report("s", false, &[(notify_action::ADDED, "a/b/f")]);
        assert!(n.is_empty());
        assert_eq!(relative("a", "a/b/c"), "b\\c");
        assert_eq!(relative("", "x"), "x");
    }

    #[test]
    fn remover_drops_the_watch() {
        let t = AsyncTable::default();
        let n = NotifyTable::default();
        let (w, _) = watch(&t, "", false);
        let r = n.add(w);
        assert_eq!(n.len(), 1);
        r.remove();
        assert!(n.is_empty());
    }
}
