//! Directory cursors for QUERY_DIRECTORY (MS-SMB2 3.3.5.18): `getdents64(2)` on a file
//! descriptor of its own, one kernel buffer at a time, so a huge directory is never read
//! whole into memory; `rewind` serves SMB2_RESTART_SCANS / SMB2_REOPEN.

use crate::Result;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{OFlags, RawDir, SeekFrom};
use std::collections::VecDeque;
use std::mem::MaybeUninit;

/// Size of one `getdents64` buffer: a few hundred entries per system call.
const BUF_SIZE: usize = 32 * 1024;

/// One entry of a directory (never "." or "..").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
}

thread_local! {
    /// The `getdents64` buffer of `find_name`, kept between calls.
    static FIND_BUF: std::cell::RefCell<Vec<MaybeUninit<u8>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A fresh readable descriptor of directory `dir` (which may be an `O_PATH`
/// fd), with its own file position.
fn reopen<Fd: AsFd>(dir: Fd) -> Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
}

/// The first entry of directory `dir` (which may be an `O_PATH` fd) whose raw
/// name satisfies `matches`, read a kernel buffer at a time without building
/// an entry per name: a case-insensitive lookup that misses reads the whole
/// directory, so this loop is the cost of creating a file in a large one.
pub(crate) fn find_name<Fd: AsFd>(
    dir: Fd,
    mut matches: impl FnMut(&[u8]) -> bool,
) -> Result<Option<String>> {
    let fd = reopen(dir)?;
    FIND_BUF.with(|b| {
        let mut buf = b.borrow_mut();
        if buf.is_empty() {
            buf.resize(BUF_SIZE, MaybeUninit::uninit());
        }
        let mut raw = RawDir::new(&fd, &mut buf[..]);
        while let Some(entry) = raw.next() {
            let entry = entry?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." || !matches(bytes) {
                continue;
            }
            if let Ok(name) = std::str::from_utf8(bytes) {
                return Ok(Some(name.to_owned()));
            }
        }
        Ok(None)
    })
}

/// A streaming, rewindable cursor over a directory's entries.
pub struct DirCursor {
    fd: OwnedFd,
    buf: Vec<MaybeUninit<u8>>,
    pending: VecDeque<DirEntry>,
    eof: bool,
}

impl DirCursor {
    /// A cursor on a fresh descriptor for the directory `dir` (which may be an `O_PATH` fd),
    /// so that its file position is independent of any other cursor.
    pub(crate) fn open<Fd: AsFd>(dir: Fd) -> Result<DirCursor> {
        let fd = reopen(dir)?;
        Ok(DirCursor {
            fd,
            buf: Vec::new(),
            pending: VecDeque::new(),
            eof: false,
        })
    }

    /// The next entry, `None` at the end. Names that are not valid UTF-8 are skipped
    /// (they cannot be expressed in an SMB2 UTF-16 name).
    pub fn next_entry(&mut self) -> Result<Option<DirEntry>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            if self.eof {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Start again from the first entry.
    pub fn rewind(&mut self) -> Result<()> {
        rustix::fs::seek(&self.fd, SeekFrom::Start(0))?;
        self.pending.clear();
        self.eof = false;
        Ok(())
    }

    /// One `getdents64` call: decode its entries into `pending`, or note the end.
    fn fill(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            self.buf.resize(BUF_SIZE, MaybeUninit::uninit());
        }
        let mut raw = RawDir::new(&self.fd, &mut self.buf);
        let mut got_any = false;
        while let Some(entry) = raw.next() {
            let entry = entry?;
            got_any = true;
            let bytes = entry.file_name().to_bytes();
            if bytes != b"." && bytes != b".." {
                if let Ok(name) = std::str::from_utf8(bytes) {
                    self.pending.push_back(DirEntry {
                        name: name.to_owned(),
                        ino: entry.ino(),
                    });
                }
            }
            // Stop at the end of this kernel buffer: the next call reads the next one.
            if raw.is_buffer_empty() {
                break;
            }
        }
        if !got_any {
            self.eof = true;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;
    use std::collections::HashSet;

    #[test]
    fn streams_and_rewinds_3000_entries() {
        let t = TempDir::new("dircursor");
        let mut expected = HashSet::new();
        for i in 0..3000 {
            let name = format!("entry-{i:05}-{}", "x".repeat(40));
            std::fs::write(t.path().join(&name), b"").unwrap();
            expected.insert(name);
        }
        let dir = rustix::fs::open(
            t.path(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let mut c = DirCursor::open(&dir).unwrap();

        // Streaming: after the first entry only one kernel buffer has been decoded.
        let first = c.next_entry().unwrap().unwrap();
        assert!(c.pending.len() < 1000, "read {} entries", c.pending.len());
        assert!(!c.eof);

        let mut seen = vec![first];
        while let Some(e) = c.next_entry().unwrap() {
            seen.push(e);
        }
        assert_eq!(seen.len(), 3000);
        let names: HashSet<_> = seen.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, expected);
        assert!(seen.iter().all(|e| e.ino != 0));
        assert!(c.next_entry().unwrap().is_none());

        // Rewind mid-way and after the end: the same sequence again.
        c.rewind().unwrap();
        let again: Vec<_> = std::iter::from_fn(|| c.next_entry().unwrap()).collect();
        assert_eq!(again, seen);
        c.rewind().unwrap();
        for _ in 0..10 {
            c.next_entry().unwrap();
        }
        c.rewind().unwrap();
        assert_eq!(c.next_entry().unwrap().as_ref(), seen.first());
    }

    #[test]
    fn skips_dots_and_non_utf8_names() {
        use std::os::unix::ffi::OsStrExt;
        let t = TempDir::new("dirnonutf8");
        std::fs::write(t.path().join("ok.txt"), b"").unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"bad\xff\xfe");
        std::fs::write(t.path().join(bad), b"").unwrap();
        let dir = rustix::fs::open(
            t.path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let mut c = DirCursor::open(&dir).unwrap();
        let all: Vec<_> = std::iter::from_fn(|| c.next_entry().unwrap()).collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].name, "ok.txt");
    }
}
