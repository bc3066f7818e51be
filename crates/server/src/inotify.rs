//! Changes made directly on the server's disk, for CHANGE_NOTIFY (MS-SMB2
//! 3.3.5.19, MS-FSA 2.1.5.10): a Linux inotify watch on every directory with
//! a pending notify, read by one background thread per server.
//!
//! Only name changes are taken from the kernel (created, deleted, moved in
//! or out); changes the server itself made are reported by its handlers and
//! recorded here just before, so the kernel's copy of them is dropped.
//! Directories are watched one level deep: a WATCH_TREE notify sees outside
//! changes in the directory itself, and changes made through the server
//! anywhere below it. Each connection may hold at most `PER_CONNECTION`
//! kernel watches, the server `MAX_WATCHES`, so a client cannot exhaust the
//! kernel's limits; beyond them a notify still sees the server's own changes.
//! An event queue overflow completes every watch with STATUS_NOTIFY_ENUM_DIR.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wire::dir::notify_action;

use crate::state::lock;

/// Kernel watches one connection may hold.
pub const PER_CONNECTION: usize = 256;
/// Kernel watches the whole server may hold.
pub const MAX_WATCHES: usize = 4096;
/// How long a change the server made waits for its kernel echo.
const SELF_TTL: Duration = Duration::from_secs(5);
/// Events are handled this long after they are read, so the handler that
/// made a change has recorded it first.
const SETTLE: Duration = Duration::from_millis(100);

/// What the reader thread calls for an outside change: (share, is_dir,
/// action, share-relative path), or None for a queue overflow.
pub type Sink = Box<dyn Fn(Option<(&str, bool, u32, &str)>) + Send + Sync>;

struct Dir {
    share: String,
    rel: String,
    refs: usize,
}

#[derive(Default)]
struct State {
    by_wd: HashMap<i32, Dir>,
    by_key: HashMap<(String, String), i32>,
    per_conn: HashMap<usize, usize>,
    /// Changes made through the server: (share, path) → when.
    recent: HashMap<(String, String), Vec<Instant>>,
}

/// The server's inotify instance.
pub struct Inotify {
    fd: OwnedFd,
    state: Mutex<State>,
}

/// Holds one reference on a kernel watch; dropping it releases it.
pub struct WatchRef {
    ino: Arc<Inotify>,
    wd: i32,
    conn: usize,
}

impl Drop for WatchRef {
    fn drop(&mut self) {
        let mut st = lock(&self.ino.state);
        if let Some(n) = st.per_conn.get_mut(&self.conn) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.per_conn.remove(&self.conn);
            }
        }
        let gone = match st.by_wd.get_mut(&self.wd) {
            Some(d) => {
                d.refs = d.refs.saturating_sub(1);
                d.refs == 0
            }
            None => false,
        };
        if gone {
            if let Some(d) = st.by_wd.remove(&self.wd) {
                st.by_key.remove(&(d.share, d.rel));
            }
            // SAFETY: plain syscall on our own descriptor.
            unsafe { libc::inotify_rm_watch(self.ino.fd.as_raw_fd(), self.wd) };
        }
    }
}

impl Inotify {
    /// Creates the instance and its reader thread.
    pub fn start(sink: Sink) -> std::io::Result<Arc<Inotify>> {
        // SAFETY: plain syscall; the descriptor is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let ino = Arc::new(Inotify {
            fd,
            state: Mutex::new(State::default()),
        });
        let weak = Arc::downgrade(&ino);
        let raw = ino.fd.as_raw_fd();
        std::thread::Builder::new()
            .name("inotify".into())
            .spawn(move || read_loop(raw, weak, sink))?;
        Ok(ino)
    }

    /// Watches `abs` (share `share`, share-relative `rel`) for connection
    /// `conn`; None when a limit is reached or the kernel refuses.
    pub fn watch(
        self: &Arc<Self>,
        conn: usize,
        share: &str,
        rel: &str,
        abs: &Path,
    ) -> Option<WatchRef> {
        let mut st = lock(&self.state);
        if st.per_conn.get(&conn).copied().unwrap_or(0) >= PER_CONNECTION {
            return None;
        }
        let key = (share.to_string(), rel.to_string());
        let wd = match st.by_key.get(&key) {
            Some(wd) => *wd,
            None => {
                if st.by_wd.len() >= MAX_WATCHES {
                    return None;
                }
                let c = CString::new(abs.as_os_str().as_bytes()).ok()?;
                let mask = libc::IN_CREATE
                    | libc::IN_DELETE
                    | libc::IN_MOVED_FROM
                    | libc::IN_MOVED_TO
                    | libc::IN_ONLYDIR
                    | libc::IN_DONT_FOLLOW;
                // SAFETY: c is a valid NUL-terminated path.
                let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask) };
                if wd < 0 {
                    return None;
                }
                // The kernel returns the same wd for a path watched twice.
                if let Some(d) = st.by_wd.get(&wd) {
                    let old = (d.share.clone(), d.rel.clone());
                    st.by_key.remove(&old);
                }
                st.by_wd.entry(wd).or_insert(Dir {
                    share: share.to_string(),
                    rel: rel.to_string(),
                    refs: 0,
                });
                st.by_key.insert(key, wd);
                wd
            }
        };
        if let Some(d) = st.by_wd.get_mut(&wd) {
            d.refs += 1;
        }
        *st.per_conn.entry(conn).or_insert(0) += 1;
        Some(WatchRef {
            ino: self.clone(),
            wd,
            conn,
        })
    }

    /// Records a change the server made itself, so its kernel echo is dropped.
    pub fn note_own(&self, share: &str, path: &str) {
        let now = Instant::now();
        let mut st = lock(&self.state);
        if st.recent.len() > 4096 {
            st.recent.retain(|_, v| {
                v.retain(|t| now.duration_since(*t) < SELF_TTL);
                !v.is_empty()
            });
        }
        st.recent
            .entry((share.to_string(), path.to_string()))
            .or_default()
            .push(now);
    }

    /// Whether an event is the echo of a change the server made (consumed).
    fn is_own(&self, share: &str, path: &str) -> bool {
        let now = Instant::now();
        let mut st = lock(&self.state);
        let key = (share.to_string(), path.to_string());
        let Some(v) = st.recent.get_mut(&key) else {
            return false;
        };
        v.retain(|t| now.duration_since(*t) < SELF_TTL);
        let hit = !v.is_empty();
        if hit {
            v.remove(0);
        }
        if v.is_empty() {
            st.recent.remove(&key);
        }
        hit
    }

    fn resolve(&self, wd: i32) -> Option<(String, String)> {
        lock(&self.state)
            .by_wd
            .get(&wd)
            .map(|d| (d.share.clone(), d.rel.clone()))
    }

    fn forget(&self, wd: i32) {
        let mut st = lock(&self.state);
        if let Some(d) = st.by_wd.remove(&wd) {
            st.by_key.remove(&(d.share, d.rel));
        }
    }
}

/// One decoded inotify event.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    name: Vec<u8>,
}

/// Decodes a buffer of `struct inotify_event` records (inotify(7)).
fn parse_events(buf: &[u8]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 16 {
        let word = |i: usize| -> Option<[u8; 4]> { rest.get(i..i + 4)?.try_into().ok() };
        let (Some(wd), Some(mask), Some(len)) = (word(0), word(4), word(12)) else {
            break;
        };
        let len = u32::from_ne_bytes(len) as usize;
        let Some(name) = rest.get(16..16usize.saturating_add(len)) else {
            break;
        };
        let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
        out.push(Event {
            wd: i32::from_ne_bytes(wd),
            mask: u32::from_ne_bytes(mask),
            name: name.get(..end).unwrap_or(&[]).to_vec(),
        });
        rest = rest.get(16 + len..).unwrap_or(&[]);
    }
    out
}

fn read_loop(fd: i32, ino: std::sync::Weak<Inotify>, sink: Sink) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let Some(data) = buf.get(..n as usize) else {
            return;
        };
        let events = parse_events(data);
        std::thread::sleep(SETTLE);
        let Some(ino) = ino.upgrade() else {
            return;
        };
        for ev in events {
            if ev.mask & libc::IN_Q_OVERFLOW != 0 {
                sink(None);
                continue;
            }
            if ev.mask & libc::IN_IGNORED != 0 {
                ino.forget(ev.wd);
                continue;
            }
            let action = if ev.mask & libc::IN_CREATE != 0 {
                notify_action::ADDED
            } else if ev.mask & libc::IN_DELETE != 0 {
                notify_action::REMOVED
            } else if ev.mask & libc::IN_MOVED_FROM != 0 {
                notify_action::RENAMED_OLD_NAME
            } else if ev.mask & libc::IN_MOVED_TO != 0 {
                notify_action::RENAMED_NEW_NAME
            } else {
                continue;
            };
            let Ok(name) = std::str::from_utf8(&ev.name) else {
                continue;
            };
            let Some((share, rel)) = ino.resolve(ev.wd) else {
                continue;
            };
            let path = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            if ino.is_own(&share, &path) {
                continue;
            }
            sink(Some((&share, ev.mask & libc::IN_ISDIR != 0, action, &path)));
        }
        drop(ino);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(wd: i32, mask: u32, name: &[u8], pad: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&wd.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&((name.len() + pad) as u32).to_ne_bytes());
        v.extend_from_slice(name);
        v.extend(std::iter::repeat_n(0, pad));
        v
    }

    #[test]
    fn parses_records_and_stops_at_truncation() {
        let mut buf = record(3, libc::IN_CREATE, b"a.txt", 3);
        buf.extend(record(4, libc::IN_DELETE | libc::IN_ISDIR, b"", 0));
        let ev = parse_events(&buf);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].name, b"a.txt");
        assert_eq!(ev[1].wd, 4);
        // A record whose name runs past the buffer is not decoded.
        let mut bad = record(5, libc::IN_CREATE, b"x", 0);
        bad.extend_from_slice(&5i32.to_ne_bytes());
        bad.extend_from_slice(&[0u8; 8]);
        bad.extend_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(parse_events(&bad).len(), 1);
    }

    #[test]
    fn reports_outside_changes_only() {
        let dir = std::env::temp_dir().join(format!("ino-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<(u32, String)>();
        let tx = Mutex::new(tx);
        let ino = Inotify::start(Box::new(move |e| {
            if let Some((_, _, a, p)) = e {
                let _ = lock(&tx).send((a, p.to_string()));
            }
        }))
        .unwrap();
        let w = ino.watch(1, "s", "d", &dir).unwrap();
        ino.note_own("s", "d/own");
        std::fs::write(dir.join("own"), b"x").unwrap();
        std::fs::write(dir.join("outside"), b"x").unwrap();
        let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(got, (notify_action::ADDED, "d/outside".to_string()));
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        drop(w);
        assert!(lock(&ino.state).by_wd.is_empty());
        // The per-connection bound.
        let refs: Vec<_> = (0..PER_CONNECTION)
            .filter_map(|_| ino.watch(2, "s", "d", &dir))
            .collect();
        assert_eq!(refs.len(), PER_CONNECTION);
        assert!(ino.watch(2, "s", "d", &dir).is_none());
        assert!(ino.watch(3, "s", "d", &dir).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
