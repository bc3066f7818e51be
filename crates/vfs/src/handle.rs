//! An open file or directory: positional I/O (MS-SMB2 3.3.5.12 READ, 3.3.5.13 WRITE),
//! size and allocation (MS-FSCC 2.4.14 FileEndOfFileInformation, 2.4.4
//! FileAllocationInformation), FLUSH (3.3.5.11), times and DOS attributes
//! (MS-FSCC 2.4.7 FileBasicInformation), and per-entry metadata for directory listings.
//!
//! Every method takes `&self`: the descriptor is only used with positional calls, so a
//! handle can serve several requests on several threads at once.
//!
//! Attribute-only opens may hold an `O_PATH` descriptor (no read permission needed);
//! the calls that refuse such a descriptor (fchmod, futimens, f*xattr on older kernels)
//! go through its `/proc/self/fd` magic link instead, which names exactly the open inode.

use crate::dir::DirCursor;
use crate::dosattrib::{DosAttrib, DOSATTRIB_XATTR};
use crate::share::{check_name, join, Root};
use crate::stat::{statx_at, Stat};
use crate::Result;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FallocateFlags, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Filesystems on which `fallocate(FALLOC_FL_KEEP_SIZE)` only reserves extents (cheap).
/// Elsewhere (vfat, exFAT, FUSE, network filesystems) it may write zeros or be emulated.
const CHEAP_FALLOCATE_FS: &[i64] = &[
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0xF2F5_2010, // f2fs
    0xCA45_1A4E, // bcachefs
    0x2FC1_2FC1, // zfs
];

/// Largest DOSATTRIB value read; Samba's own reader uses a 256-byte buffer.
const XATTR_BUF: usize = 1024;

/// An open file or directory beneath a share root. `Send + Sync`.
pub struct Handle {
    fd: OwnedFd,
    is_dir: bool,
    /// The descriptor is `O_PATH` (attribute-only open): no data I/O.
    opath: bool,
    root: Arc<Root>,
    /// Share-relative path at open time (updated by the server after a rename); used
    /// only to resolve symlinks inside a directory from the share root.
    rel: RwLock<String>,
}

/// Largest piece of a write handed to the kernel in one system call. The
/// page cache sizes the memory it takes for new data by the length of each
/// write: a 1 MiB write takes large blocks of free memory, and in a virtual
/// machine that hands free memory back to its host (balloon free page
/// reporting) those are slow to touch again. Measured on such a machine, a
/// new file written in 1 MiB calls cost 2.7 s of CPU per GiB, in 256 KiB
/// calls 0.25 s (512 KiB: 0.9 s); elsewhere the extra calls cost about a
/// microsecond each.
const WRITE_PIECE: usize = 256 * 1024;

impl Handle {
    pub(crate) fn new(
        fd: OwnedFd,
        is_dir: bool,
        opath: bool,
        root: Arc<Root>,
        rel: &str,
    ) -> Handle {
        Handle {
            fd,
            is_dir,
            opath,
            root,
            rel: RwLock::new(rel.to_owned()),
        }
    }

    pub fn stat(&self) -> Result<Stat> {
        statx_at(&self.fd, "", AtFlags::EMPTY_PATH)
    }

    /// Read at `offset`; a short count only at end of file.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut done = 0usize;
        while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
            let off = offset_plus(offset, done)?;
            match rustix::io::pread(&self.fd, rest, off) {
                Ok(0) => break,
                Ok(n) => done = done.saturating_add(n),
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Appends up to `len` bytes read at `offset` to `out`, reading straight
    /// into its spare capacity so the buffer is never zero-filled first.
    /// Short only at end of file.
    pub fn read_append(&self, out: &mut Vec<u8>, len: usize, offset: u64) -> Result<usize> {
        let start = out.len();
        out.reserve_exact(len);
        let mut done = 0usize;
        while done < len {
            let off = offset_plus(offset, done)?;
            match rustix::io::pread(&self.fd, rustix::buffer::spare_capacity(out), off) {
                Ok(0) => break,
                Ok(n) => done = done.saturating_add(n),
                Err(Errno::INTR) => {}
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
        // Spare capacity may exceed `len`: keep only what was asked for.
        let done = done.min(len);
        out.truncate(start.saturating_add(done));
        Ok(done)
    }

    /// Write all of `buf` at `offset`, or fail.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize> {
        let mut done = 0usize;
        while let Some(rest) = buf.get(done..).filter(|r| !r.is_empty()) {
            let off = offset_plus(offset, done)?;
            // At most to the next WRITE_PIECE boundary of the file.
            let room = WRITE_PIECE - (off % WRITE_PIECE as u64) as usize;
            let piece = rest.get(..room).unwrap_or(rest);
            match rustix::io::pwrite(&self.fd, piece, off) {
                Ok(0) => return Err(Errno::IO),
                Ok(n) => done = done.saturating_add(n),
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// `ftruncate`: growing leaves a hole (sparse), never writes zeros.
    pub fn set_len(&self, len: u64) -> Result<()> {
        rustix::fs::ftruncate(&self.fd, len)
    }

    /// Reserve `len` bytes with `fallocate(FALLOC_FL_KEEP_SIZE)` where that is cheap.
    /// `Ok(false)` when skipped; never emulated by writing zeros.
    pub fn allocate(&self, len: u64) -> Result<bool> {
        if len == 0 {
            return Ok(true);
        }
        let fs = crate::stat::fs_stats(&self.fd)?;
        if !CHEAP_FALLOCATE_FS.contains(&fs.fs_type) {
            return Ok(false);
        }
        match rustix::fs::fallocate(&self.fd, FallocateFlags::KEEP_SIZE, 0, len) {
            Ok(()) => Ok(true),
            Err(Errno::NOTSUP) | Err(Errno::NOSYS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `fsync` (MS-SMB2 3.3.5.11 FLUSH).
    pub fn sync(&self) -> Result<()> {
        rustix::fs::fsync(&self.fd)
    }

    /// `futimens`; `None` leaves a time unchanged (UTIME_OMIT).
    pub fn set_times(&self, atime: Option<SystemTime>, mtime: Option<SystemTime>) -> Result<()> {
        let ts = Timestamps {
            last_access: to_timespec(atime)?,
            last_modification: to_timespec(mtime)?,
        };
        match rustix::fs::futimens(&self.fd, &ts) {
            Err(Errno::BADF) => {}
            r => return r,
        }
        rustix::fs::utimensat(
            rustix::fs::CWD,
            proc_fd_path(self.fd.as_fd()),
            &ts,
            AtFlags::empty(),
        )
    }

    /// DOS attributes from `user.DOSATTRIB`; `None` when absent, unsupported or unparsable.
    pub fn dos_attrib(&self) -> Result<Option<DosAttrib>> {
        read_dos_attrib(self.fd.as_fd())
    }

    /// Store DOS attributes in `user.DOSATTRIB` (Samba 4.17 layout). ENOTSUP/EOPNOTSUPP
    /// where the filesystem keeps no user xattrs.
    pub fn set_dos_attrib(&self, a: &DosAttrib) -> Result<()> {
        let blob = a.encode();
        match rustix::fs::fsetxattr(&self.fd, DOSATTRIB_XATTR, &blob, XattrFlags::empty()) {
            Err(Errno::BADF) => {}
            r => return r,
        }
        rustix::fs::setxattr(
            proc_fd_path(self.fd.as_fd()),
            DOSATTRIB_XATTR,
            &blob,
            XattrFlags::empty(),
        )
    }

    /// Change the permission bits.
    pub fn chmod(&self, mode: u32) -> Result<()> {
        let mode = Mode::from_bits_truncate(mode);
        match rustix::fs::fchmod(&self.fd, mode) {
            Err(Errno::BADF) => {}
            r => return r,
        }
        rustix::fs::chmodat(
            rustix::fs::CWD,
            proc_fd_path(self.fd.as_fd()),
            mode,
            AtFlags::empty(),
        )
    }

    pub fn is_dir(&self) -> bool {
        self.is_dir
    }

    /// Opened for attributes only (an `O_PATH` descriptor, taken when the caller asked
    /// for neither read nor write and lacks read permission): data I/O gives EBADF.
    pub fn is_attribute_only(&self) -> bool {
        self.opath
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The share-relative path this handle was opened with (or last told by `set_path`).
    pub fn path(&self) -> String {
        self.rel
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Record the handle's new share-relative path after a rename.
    pub fn set_path(&self, rel: &str) {
        let mut g = self.rel.write().unwrap_or_else(|e| e.into_inner());
        rel.clone_into(&mut g);
    }

    /// A cursor over this directory's entries (not "." or ".."), via getdents64 on a
    /// separate fd, streaming, rewindable.
    pub fn read_dir(&self) -> Result<DirCursor> {
        if !self.is_dir {
            return Err(Errno::NOTDIR);
        }
        DirCursor::open(&self.fd)
    }

    /// Stat an entry of this directory. A symlink is followed only while its target stays
    /// inside the share; otherwise (or if it dangles) the symlink itself is described.
    pub fn stat_at(&self, name: &str) -> Result<Stat> {
        check_name(name)?;
        if !self.is_dir {
            return Err(Errno::NOTDIR);
        }
        let lst = statx_at(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        if !lst.is_symlink() {
            return Ok(lst);
        }
        Ok(self.root.stat(&join(&self.path(), name)).unwrap_or(lst))
    }

    /// DOS attributes of an entry of this directory (symlinks followed only inside the share).
    pub fn dos_attrib_at(&self, name: &str) -> Result<Option<DosAttrib>> {
        check_name(name)?;
        if !self.is_dir {
            return Err(Errno::NOTDIR);
        }
        // O_NOFOLLOW | O_PATH on one name in this directory cannot leave it.
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = statx_at(&fd, "", AtFlags::EMPTY_PATH)?;
        if !st.is_symlink() {
            return read_dos_attrib(fd.as_fd());
        }
        let rel = join(&self.path(), name);
        match self.root.open_beneath(&rel, OFlags::PATH, Mode::empty()) {
            Ok(target) => read_dos_attrib(target.as_fd()),
            Err(_) => Ok(None),
        }
    }
}

/// `offset + done`, EINVAL on overflow.
fn offset_plus(offset: u64, done: usize) -> Result<u64> {
    u64::try_from(done)
        .ok()
        .and_then(|d| offset.checked_add(d))
        .ok_or(Errno::INVAL)
}

/// A `SystemTime` as a `timespec` for `utimensat`; `None` is UTIME_OMIT.
fn to_timespec(t: Option<SystemTime>) -> Result<rustix::fs::Timespec> {
    let Some(t) = t else {
        return Ok(rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        });
    };
    let (sec, nsec) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).map_err(|_| Errno::INVAL)?,
            d.subsec_nanos(),
        ),
        Err(e) => {
            // Before 1970: floor the seconds, keep nanoseconds positive.
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).map_err(|_| Errno::INVAL)?;
            match d.subsec_nanos() {
                0 => (secs.checked_neg().ok_or(Errno::INVAL)?, 0),
                n => (
                    secs.checked_neg()
                        .and_then(|s| s.checked_sub(1))
                        .ok_or(Errno::INVAL)?,
                    1_000_000_000u32.saturating_sub(n),
                ),
            }
        }
    };
    Ok(rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec.into(),
    })
}

/// The magic link naming an open descriptor.
pub(crate) fn proc_fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Read an xattr of an open inode (through the magic link when `fd` is `O_PATH` and the
/// kernel refuses `fgetxattr` on it).
pub(crate) fn xattr_get(fd: BorrowedFd<'_>, name: &str, buf: &mut [u8]) -> Result<usize> {
    match rustix::fs::fgetxattr(fd, name, &mut *buf) {
        Err(Errno::BADF) => {}
        r => return r,
    }
    rustix::fs::getxattr(proc_fd_path(fd), name, buf)
}

fn read_dos_attrib(fd: BorrowedFd<'_>) -> Result<Option<DosAttrib>> {
    let mut buf = [0u8; XATTR_BUF];
    match xattr_get(fd, DOSATTRIB_XATTR, &mut buf) {
        Ok(n) => Ok(buf.get(..n).and_then(DosAttrib::decode)),
        Err(Errno::NODATA) | Err(Errno::NOTSUP) | Err(Errno::RANGE) | Err(Errno::PERM) => Ok(None),
        Err(e) => Err(e),
    }
}
