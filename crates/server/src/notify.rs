//! Change notification (MS-SMB2 3.3.5.19, MS-FSA 2.1.5.10, MS-FSCC 2.4.42).
//!
//! The first CHANGE_NOTIFY on a directory open subscribes that open: its
//! completion filter and WATCH_TREE are fixed from then on, as on Windows,
//! and changes are collected for it until the open is closed. A change goes
//! to the oldest waiting CHANGE_NOTIFY of the open; with none waiting it is
//! buffered, and the next request returns the buffer at once. A buffer that
//! outgrows what the client asked to receive is dropped and the next request
//! answers STATUS_NOTIFY_ENUM_DIR, telling the client to list the directory.
//!
//! Changes made through this server (create, delete on close, rename, set
//! info) are reported by the handlers; name changes made directly on disk
//! come from the kernel (`crate::inotify`): a watch on the subscribed
//! directory and, for WATCH_TREE, on the directories below it (at most
//! `MAX_TREE_WATCHES` per subscription, within the per-connection bound),
//! including directories created later.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use wire::dir::{encode_buffer_response, encode_notify_information, notify_action, notify_filter};
use wire::NtStatus;

use crate::inotify::{Inotify, WatchRef};
use crate::pending::Completer;
use crate::state::lock;

/// Changes buffered for one open beyond which the client is told to list
/// the directory instead (Windows keeps a similar bound).
const MAX_BUFFERED: usize = 1024;

/// Kernel watches one WATCH_TREE subscription may hold below its directory.
const MAX_TREE_WATCHES: usize = 128;

/// What the first CHANGE_NOTIFY on an open asks for.
pub struct Subscription {
    /// Name of the share the directory is in.
    pub share: String,
    /// Share-relative directory path, "" for the root, '/'-separated.
    pub dir: String,
    pub recursive: bool,
    pub filter: u32,
    /// The client's OutputBufferLength: buffered changes beyond it overflow.
    pub max_out: u32,
    /// The connection, whose kernel watches are bounded.
    pub conn: usize,
    /// The share's root directory on disk.
    pub root: PathBuf,
}

struct Waiter {
    completer: Completer,
    max_out: u32,
}

struct Sub {
    share: String,
    dir: String,
    recursive: bool,
    filter: u32,
    max_out: u32,
    /// (action, name relative to `dir`, '\'-separated), oldest first.
    buffered: Vec<(u32, String)>,
    /// Encoded size of `buffered`.
    buffered_len: usize,
    overflowed: bool,
    waiting: VecDeque<Waiter>,
    conn: usize,
    root: PathBuf,
    /// Kernel watches on the directory (first) and, for WATCH_TREE, below it.
    kernel: Vec<WatchRef>,
}

type Subs = Arc<Mutex<HashMap<u64, Sub>>>;

/// The subscriptions of every open on the server, by volatile FileId
/// (unique across connections).
#[derive(Default)]
pub struct NotifyTable {
    subs: Subs,
    /// Started with the first kernel watch; None if the kernel refused.
    inotify: Arc<OnceLock<Option<Arc<Inotify>>>>,
}

/// Removes one waiting request of an open (its cancel hook).
pub struct WaiterRemover {
    subs: Subs,
    file: u64,
    async_id: u64,
}

impl WaiterRemover {
    pub fn remove(self) {
        if let Some(s) = lock(&self.subs).get_mut(&self.file) {
            s.waiting
                .retain(|w| w.completer.async_id() != self.async_id);
        }
    }
}

impl NotifyTable {
    /// Whether the open already has a subscription.
    pub fn is_subscribed(&self, file: u64) -> bool {
        lock(&self.subs).contains_key(&file)
    }

    /// Subscribes an open; an existing subscription is kept unchanged.
    pub fn subscribe(&self, file: u64, s: Subscription) {
        if self.is_subscribed(file) {
            return;
        }
        let mut kernel = Vec::new();
        if let Some(ino) = self.inotify() {
            if let Some(w) = ino.watch(s.conn, &s.share, &s.dir, &s.root.join(&s.dir)) {
                kernel.push(w);
                if s.recursive {
                    watch_below(&ino, &mut kernel, s.conn, &s.share, &s.root, &s.dir);
                }
            }
        }
        lock(&self.subs).entry(file).or_insert(Sub {
            share: s.share,
            dir: s.dir,
            recursive: s.recursive,
            filter: s.filter,
            max_out: s.max_out,
            buffered: Vec::new(),
            buffered_len: 0,
            overflowed: false,
            waiting: VecDeque::new(),
            conn: s.conn,
            root: s.root,
            kernel,
        });
    }

    /// The answer for a CHANGE_NOTIFY that finds changes already buffered:
    /// (status, response body); None when it has to wait.
    pub fn take_buffered(&self, file: u64, max_out: u32) -> Option<(NtStatus, Vec<u8>)> {
        let mut subs = lock(&self.subs);
        let s = subs.get_mut(&file)?;
        take(s, max_out)
    }

    /// Queues a waiting CHANGE_NOTIFY. Changes buffered meanwhile complete it at once.
    pub fn wait(&self, file: u64, completer: Completer, max_out: u32) -> WaiterRemover {
        let async_id = completer.async_id();
        // A request cancelled before it got here must not take the buffer.
        let live = completer.is_live();
        let ready = {
            let mut subs = lock(&self.subs);
            match subs.get_mut(&file).filter(|_| live) {
                Some(s) => match take(s, max_out) {
                    Some(r) => Some(r),
                    None => {
                        s.waiting.push_back(Waiter {
                            completer: completer.clone(),
                            max_out,
                        });
                        None
                    }
                },
                None => None,
            }
        };
        if let Some((status, body)) = ready {
            completer.complete(status, body);
        }
        WaiterRemover {
            subs: self.subs.clone(),
            file,
            async_id,
        }
    }

    /// The open is closed: its buffer and kernel watch go. Its waiting
    /// requests are answered STATUS_NOTIFY_CLEANUP by the async table.
    pub fn close(&self, file: u64) {
        let gone = lock(&self.subs).remove(&file);
        drop(gone);
    }

    /// The watched directory `dir` of share `share` is now delete-pending:
    /// waiting requests on it end with STATUS_DELETE_PENDING (as Windows does).
    pub fn dir_delete_pending(&self, share: &str, dir: &str) {
        let mut ended = Vec::new();
        {
            let mut subs = lock(&self.subs);
            for s in subs.values_mut() {
                if s.share == share && s.dir == dir {
                    ended.extend(s.waiting.drain(..).map(|w| w.completer));
                }
            }
        }
        for c in ended {
            let mut body = Vec::new();
            wire::error::encode_error_response(&mut body, &[]);
            c.complete(NtStatus::DELETE_PENDING, body);
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.subs).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The server's inotify instance, started on first use; None when the
    /// kernel refuses (outside changes are then not seen).
    fn inotify(&self) -> Option<Arc<Inotify>> {
        let ino = self.inotify.get_or_init(|| {
            let subs = self.subs.clone();
            let cell = self.inotify.clone();
            let sink: crate::inotify::Sink = Box::new(move |e| match e {
                Some((share, is_dir, action, path)) => {
                    let ino = cell.get().and_then(|i| i.clone());
                    report_to(
                        &subs,
                        ino.as_ref(),
                        share,
                        name_filter(is_dir),
                        &[(action, path)],
                    )
                }
                None => overflow_all(&subs),
            });
            match Inotify::start(sink) {
                Ok(i) => Some(i),
                Err(e) => {
                    log::warn!("inotify unavailable, outside changes are not notified: {e}");
                    None
                }
            }
        });
        ino.clone()
    }

    /// Reports name changes to entries of one directory (`changes` holds
    /// (action, share-relative path), all with the same parent), as
    /// FILE_NAME or DIR_NAME changes.
    pub fn report(&self, share: &str, is_dir: bool, changes: &[(u32, &str)]) {
        let ino = self.inotify.get().and_then(|i| i.clone());
        if let Some(ino) = &ino {
            for (_, p) in changes {
                ino.note_own(share, p);
            }
        }
        report_to(
            &self.subs,
            ino.as_ref(),
            share,
            name_filter(is_dir),
            changes,
        );
    }

    /// Reports that an entry changed in a way `filter` (notify_filter bits)
    /// names: attributes, times, size, EAs, security.
    pub fn report_modified(&self, share: &str, path: &str, filter: u32) {
        if path.is_empty() {
            // The share root has no parent anyone can watch.
            return;
        }
        report_to(
            &self.subs,
            None,
            share,
            filter,
            &[(notify_action::MODIFIED, path)],
        );
    }
}

/// Adds kernel watches on the directories below `dir`, breadth first,
/// until `MAX_TREE_WATCHES` or the connection's bound. Symbolic links are
/// not followed.
fn watch_below(
    ino: &Arc<Inotify>,
    kernel: &mut Vec<WatchRef>,
    conn: usize,
    share: &str,
    root: &Path,
    dir: &str,
) {
    let mut queue = VecDeque::from([dir.to_string()]);
    while let Some(rel) = queue.pop_front() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            if kernel.len() >= MAX_TREE_WATCHES {
                return;
            }
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let sub = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            match ino.watch(conn, share, &sub, &root.join(&sub)) {
                Some(w) => kernel.push(w),
                // The connection's bound is reached.
                None => return,
            }
            queue.push_back(sub);
        }
    }
}

fn name_filter(is_dir: bool) -> u32 {
    if is_dir {
        notify_filter::DIR_NAME
    } else {
        notify_filter::FILE_NAME
    }
}

/// Buffered changes as a response for a request that may receive `max_out`
/// bytes; None when nothing is buffered.
fn take(s: &mut Sub, max_out: u32) -> Option<(NtStatus, Vec<u8>)> {
    if s.overflowed {
        s.overflowed = false;
        return Some(enum_dir());
    }
    if s.buffered.is_empty() {
        return None;
    }
    let entries = std::mem::take(&mut s.buffered);
    s.buffered_len = 0;
    Some(encode(&entries, max_out))
}

/// MS-SMB2 3.3.5.19: more changes than the client can receive; it lists the
/// directory instead.
fn enum_dir() -> (NtStatus, Vec<u8>) {
    let mut body = Vec::new();
    encode_buffer_response(&mut body, &[]);
    (NtStatus::NOTIFY_ENUM_DIR, body)
}

fn encode(entries: &[(u32, String)], max_out: u32) -> (NtStatus, Vec<u8>) {
    let refs: Vec<(u32, &str)> = entries.iter().map(|(a, n)| (*a, n.as_str())).collect();
    let mut data = Vec::new();
    encode_notify_information(&mut data, &refs);
    if data.len() > max_out as usize {
        return enum_dir();
    }
    let mut body = Vec::with_capacity(data.len().saturating_add(8));
    encode_buffer_response(&mut body, &data);
    (NtStatus::SUCCESS, body)
}

/// Size of one FILE_NOTIFY_INFORMATION entry, padded.
fn entry_len(name: &str) -> usize {
    let len = 12usize.saturating_add(name.encode_utf16().count().saturating_mul(2));
    len.saturating_add(3) & !3
}

/// The kernel's event queue overflowed and changes were lost: every
/// subscription answers STATUS_NOTIFY_ENUM_DIR next.
fn overflow_all(subs: &Subs) {
    let mut done = Vec::new();
    {
        let mut subs = lock(subs);
        for s in subs.values_mut() {
            s.buffered.clear();
            s.buffered_len = 0;
            match s.waiting.pop_front() {
                Some(w) => done.push(w.completer),
                None => s.overflowed = true,
            }
        }
    }
    for c in done {
        let (status, body) = enum_dir();
        c.complete(status, body);
    }
}

fn report_to(
    subs: &Subs,
    ino: Option<&Arc<Inotify>>,
    share: &str,
    filter: u32,
    changes: &[(u32, &str)],
) {
    let Some((_, first)) = changes.first() else {
        return;
    };
    let parent = parent_of(first);
    let mut ready = Vec::new();
    {
        let mut subs = lock(subs);
        for s in subs.values_mut() {
            if s.share != share || !covers(s, parent) {
                continue;
            }
            // A directory that appears below a WATCH_TREE subscription is
            // watched too, so changes made on disk inside it are seen.
            if let (Some(ino), true, true) = (ino, s.recursive, filter == notify_filter::DIR_NAME) {
                for (a, p) in changes {
                    if matches!(*a, notify_action::ADDED | notify_action::RENAMED_NEW_NAME)
                        && s.kernel.len() < MAX_TREE_WATCHES
                        && !s.kernel.is_empty()
                    {
                        if let Some(w) = ino.watch(s.conn, &s.share, p, &s.root.join(p)) {
                            s.kernel.push(w);
                        }
                    }
                }
            }
            if s.filter & filter == 0 {
                continue;
            }
            let entries: Vec<(u32, String)> = changes
                .iter()
                .map(|(a, p)| (*a, relative(&s.dir, p)))
                .collect();
            // The oldest waiting request that is still live takes them.
            let mut delivered = false;
            while let Some(w) = s.waiting.pop_front() {
                if w.completer.is_live() {
                    ready.push((w, entries.clone()));
                    delivered = true;
                    break;
                }
            }
            if delivered || s.overflowed {
                continue;
            }
            let add: usize = entries.iter().map(|(_, n)| entry_len(n)).sum();
            let len = s.buffered_len.saturating_add(add);
            if len > s.max_out as usize || s.buffered.len() + entries.len() > MAX_BUFFERED {
                s.buffered.clear();
                s.buffered_len = 0;
                s.overflowed = true;
            } else {
                s.buffered.extend(entries);
                s.buffered_len = len;
            }
        }
    }
    for (w, entries) in ready {
        let (status, body) = encode(&entries, w.max_out);
        w.completer.complete(status, body);
    }
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// Whether a subscription sees changes to entries of directory `parent`.
fn covers(s: &Sub, parent: &str) -> bool {
    if s.dir == parent {
        return true;
    }
    s.recursive
        && (s.dir.is_empty()
            || parent
                .strip_prefix(s.dir.as_str())
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
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::pending::{AsyncTable, Registration};
    use wire::dir::notify_action::{ADDED, REMOVED};

    fn completer(t: &AsyncTable, mid: u64) -> Completer {
        let c = t
            .register(Registration {
                message_id: mid,
                command: 0x0F,
                credit_charge: 1,
                session_id: 1,
                tree_id: 1,
                file: None,
                close_status: NtStatus::NOTIFY_CLEANUP,
                on_cancel: None,
            })
            .unwrap();
        t.arm(&[c.async_id()]);
        c
    }

    fn sub(dir: &str, recursive: bool, filter: u32, max_out: u32) -> Subscription {
        Subscription {
            share: "s".into(),
            dir: dir.into(),
            recursive,
            filter,
            max_out,
            conn: 0,
            root: PathBuf::from("/nonexistent-share-root"),
        }
    }

    /// Final responses the async table sent, as (status, number of entries).
    fn sent(frames: &Arc<Mutex<Vec<Vec<u8>>>>) -> Vec<(u32, usize)> {
        frames
            .lock()
            .unwrap()
            .iter()
            .map(|f| {
                let h = wire::header::Header::parse(f).unwrap();
                let body = &f[64..];
                let len = u32::from_le_bytes(body[4..8].try_into().unwrap()) as usize;
                let mut n = 0;
                let mut off = 72usize;
                if len > 0 {
                    loop {
                        n += 1;
                        let next = u32::from_le_bytes(f[off..off + 4].try_into().unwrap());
                        if next == 0 {
                            break;
                        }
                        off += next as usize;
                    }
                }
                (h.status, n)
            })
            .collect()
    }

    fn table_with_sink() -> (AsyncTable, Arc<Mutex<Vec<Vec<u8>>>>) {
        let t = AsyncTable::default();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        t.set_sink(Arc::new(move |m: Vec<u8>| g.lock().unwrap().push(m)));
        (t, got)
    }

    #[test]
    fn matching_rules() {
        let (t, got) = table_with_sink();
        let n = NotifyTable::default();
        let name = notify_filter::FILE_NAME;
        n.subscribe(1, sub("a", false, name, 4096));
        n.subscribe(2, sub("", true, name, 4096));
        n.subscribe(3, sub("a/b", false, name, 4096));
        for f in 1..=3 {
            n.wait(f, completer(&t, f), 4096);
        }
        // A change in a/b/c is seen only by the recursive root subscription.
        n.report("s", false, &[(ADDED, "a/b/c/x")]);
        assert_eq!(sent(&got), vec![(0, 1)]);
        // A directory change is not a file-name change.
        n.report("s", true, &[(ADDED, "a/d")]);
        n.report("other", false, &[(ADDED, "a/b/f")]);
        assert_eq!(sent(&got).len(), 1);
        n.report("s", false, &[(ADDED, "a/f")]);
        assert_eq!(sent(&got).len(), 2);
        assert_eq!(relative("a", "a/b/c"), "b\\c");
        assert_eq!(relative("", "x"), "x");
    }

    #[test]
    fn changes_between_requests_are_buffered() {
        let (t, got) = table_with_sink();
        let n = NotifyTable::default();
        n.subscribe(7, sub("d", false, notify_filter::DIR_NAME, 1000));
        for (a, p) in [(ADDED, "d/x"), (REMOVED, "d/x"), (ADDED, "d/x")] {
            n.report("s", true, &[(a, p)]);
        }
        let (status, body) = n.take_buffered(7, 1000).unwrap();
        assert_eq!(status, NtStatus::SUCCESS);
        // Two padded entries of 16 bytes, the last one unpadded.
        assert_eq!(
            u32::from_le_bytes(body[4..8].try_into().unwrap()),
            16 + 16 + 14
        );
        assert!(
            n.take_buffered(7, 1000).is_none(),
            "the buffer was handed out"
        );
        // A waiting request takes the next change; a later one waits on.
        n.wait(7, completer(&t, 1), 1000);
        n.wait(7, completer(&t, 2), 1000);
        n.report("s", true, &[(REMOVED, "d/x")]);
        assert_eq!(sent(&got), vec![(0, 1)]);
        n.report("s", true, &[(ADDED, "d/y")]);
        assert_eq!(sent(&got), vec![(0, 1), (0, 1)]);
    }

    #[test]
    fn overflow_turns_into_enum_dir() {
        let n = NotifyTable::default();
        n.subscribe(9, sub("", false, notify_filter::FILE_NAME, 100));
        for i in 0..10 {
            n.report("s", false, &[(ADDED, &format!("file{i}.txt"))]);
        }
        let (status, _) = n.take_buffered(9, 100).unwrap();
        assert_eq!(status, NtStatus::NOTIFY_ENUM_DIR);
        assert!(n.take_buffered(9, 100).is_none());
    }

    #[test]
    fn modified_needs_its_filter_bit_and_skips_the_watched_dir_itself() {
        let n = NotifyTable::default();
        n.subscribe(4, sub("d", true, notify_filter::ATTRIBUTES, 1000));
        n.report_modified("s", "d", notify_filter::ATTRIBUTES);
        n.report_modified("s", "d/f", notify_filter::LAST_WRITE);
        assert!(n.take_buffered(4, 1000).is_none());
        n.report_modified("s", "d/f", notify_filter::ATTRIBUTES);
        assert_eq!(n.take_buffered(4, 1000).unwrap().0, NtStatus::SUCCESS);
    }

    #[test]
    fn cancelled_waiter_is_removed_and_close_drops_the_subscription() {
        let (t, _got) = table_with_sink();
        let n = NotifyTable::default();
        n.subscribe(5, sub("", false, notify_filter::FILE_NAME, 1000));
        let r = n.wait(5, completer(&t, 1), 1000);
        r.remove();
        n.report("s", false, &[(ADDED, "x")]);
        assert!(
            n.take_buffered(5, 1000).is_some(),
            "buffered, not delivered"
        );
        n.close(5);
        assert!(n.is_empty());
    }
}
