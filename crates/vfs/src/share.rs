//! A share: a directory tree confined beneath its root. Every path is resolved with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from an `O_PATH` descriptor of the
//! root, so `..`, absolute symlinks and symlinks that climb out of the share fail with
//! `EXDEV` instead of being followed. Namespace operations (mkdir, unlink, rename, link)
//! open the parent beneath the root and act on one final name with the `*at` calls,
//! which never follow a final symlink.
//!
//! Also the case-insensitive name lookup SMB clients expect (MS-FSA 2.1.5.1: names are
//! compared case-insensitively unless the open asks otherwise) on a case-sensitive
//! filesystem.

use crate::handle::Handle;
use crate::stat::{fs_stats, statx_at, FsStats, Stat};
use crate::Result;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, ResolveFlags};
use rustix::io::Errno;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How `openat2` resolves every share path.
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// `openat2` may return EAGAIN when a concurrent rename races a `..` in a symlink
/// target; the kernel asks callers to retry.
const EAGAIN_RETRIES: usize = 8;

/// The part of a share that handles keep alive.
pub(crate) struct Root {
    fd: OwnedFd,
    path: PathBuf,
    xattrs: bool,
}

impl Root {
    /// Open `rel` (validated, "" for the root) beneath the root.
    pub(crate) fn open_beneath(&self, rel: &str, flags: OFlags, mode: Mode) -> Result<OwnedFd> {
        let p = if rel.is_empty() { "." } else { rel };
        // openat2 rejects a mode without O_CREAT (unlike openat, which ignores it).
        let mode = if flags.contains(OFlags::CREATE) {
            mode
        } else {
            Mode::empty()
        };
        let mut tries = 0;
        loop {
            match rustix::fs::openat2(&self.fd, p, flags | OFlags::CLOEXEC, mode, RESOLVE) {
                Err(Errno::AGAIN) if tries < EAGAIN_RETRIES => tries += 1,
                Err(Errno::INTR) => {}
                r => return r,
            }
        }
    }

    /// The parent directory of `rel` (opened `O_PATH` beneath the root) and its last name.
    fn open_parent<'a>(&self, rel: &'a str) -> Result<(OwnedFd, &'a str)> {
        check_rel(rel)?;
        let (parent, name) = match rel.rfind('/') {
            Some(i) => (
                rel.get(..i).ok_or(Errno::INVAL)?,
                rel.get(i.saturating_add(1)..).ok_or(Errno::INVAL)?,
            ),
            None => ("", rel),
        };
        if name.is_empty() {
            return Err(Errno::INVAL);
        }
        let fd = self.open_beneath(parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        Ok((fd, name))
    }

    /// Stat `rel`, following symlinks that stay inside the share. A final symlink that
    /// points out of the share (or nowhere) is reported as the symlink itself.
    pub(crate) fn stat(&self, rel: &str) -> Result<Stat> {
        check_rel(rel)?;
        if rel.is_empty() {
            return statx_at(&self.fd, "", AtFlags::EMPTY_PATH);
        }
        match self.open_beneath(rel, OFlags::PATH, Mode::empty()) {
            Ok(fd) => statx_at(&fd, "", AtFlags::EMPTY_PATH),
            Err(e @ (Errno::XDEV | Errno::LOOP | Errno::NOENT)) => {
                let (parent, name) = self.open_parent(rel)?;
                match statx_at(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(s) if s.is_symlink() => Ok(s),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn supports_xattrs(&self) -> bool {
        self.xattrs
    }
}

/// A share: everything beneath one root directory. `Send + Sync`.
pub struct Share {
    root: Arc<Root>,
}

/// Result of [`Share::lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The path with the real case of every existing component.
    pub path: String,
    /// Whether the last component exists.
    pub exists: bool,
}

/// What to do about an existing or missing file (MS-SMB2 2.2.13 CreateDisposition, mapped
/// by the server: FILE_OPEN, FILE_CREATE, FILE_OPEN_IF, FILE_OVERWRITE, FILE_OVERWRITE_IF
/// and FILE_SUPERSEDE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMode {
    /// Fail with ENOENT if missing.
    OpenExisting,
    /// Fail with EEXIST if present (`O_CREAT | O_EXCL`).
    CreateNew,
    /// Open, creating if missing (`O_CREAT`).
    OpenOrCreate,
    /// Open and truncate; ENOENT if missing (`O_TRUNC`).
    TruncateExisting,
    /// Create or truncate (`O_CREAT | O_TRUNC`).
    CreateOrTruncate,
}

/// Parameters of [`Share::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenHow {
    pub read: bool,
    pub write: bool,
    pub create: CreateMode,
    /// Permission bits for a created file or directory (before the umask).
    pub mode: u32,
    /// Some(true): must be a directory (O_DIRECTORY; creating one is mkdir then open);
    /// Some(false): must not be (EISDIR); None: either (open a directory read-only if it is one).
    pub directory: Option<bool>,
}

/// Check a share-relative path: '/'-separated, no leading '/', "" for the root, no empty,
/// "." or ".." component, no NUL. Returns EINVAL otherwise.
pub(crate) fn check_rel(rel: &str) -> Result<()> {
    if rel.is_empty() {
        return Ok(());
    }
    if rel.contains('\0') {
        return Err(Errno::INVAL);
    }
    if rel
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(Errno::INVAL);
    }
    Ok(())
}

/// Check a single directory-entry name.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') {
        return Err(Errno::INVAL);
    }
    check_rel(name)
}

/// `rel` + "/" + `name` (or `name` alone at the root).
pub(crate) fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        let mut s = String::with_capacity(rel.len().saturating_add(name.len()).saturating_add(1));
        s.push_str(rel);
        s.push('/');
        s.push_str(name);
        s
    }
}

/// Unicode lower-case comparison (MS-FSA 2.1.5.1 case-insensitive name match).
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a == b
        || a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
}

/// Does the name contain any character whose case could differ?
fn has_case(name: &str) -> bool {
    name.chars()
        .any(|c| c.is_uppercase() || c.is_lowercase() || c.to_lowercase().ne(c.to_uppercase()))
}

impl Share {
    /// Open the share rooted at `root` (which must be a directory) and probe whether its
    /// filesystem keeps `user.*` extended attributes.
    pub fn new(root: &Path) -> std::io::Result<Share> {
        let fd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let xattrs = probe_xattrs(fd.as_fd());
        Ok(Share {
            root: Arc::new(Root {
                fd,
                path: root.to_path_buf(),
                xattrs,
            }),
        })
    }

    pub fn root_path(&self) -> &Path {
        &self.root.path
    }

    /// Case-insensitive lookup on a case-sensitive filesystem: per component, the exact
    /// name if it exists, else the first entry whose name matches case-insensitively.
    /// Returns the real-case path and whether the last component exists. A missing
    /// middle component gives ENOENT, a middle component that is not a directory ENOTDIR.
    pub fn lookup(&self, rel: &str) -> Result<Lookup> {
        check_rel(rel)?;
        if rel.is_empty() {
            return Ok(Lookup {
                path: String::new(),
                exists: true,
            });
        }
        let mut real = String::with_capacity(rel.len());
        let mut dir: Option<OwnedFd> = None;
        let mut comps = rel.split('/').peekable();
        while let Some(comp) = comps.next() {
            let last = comps.peek().is_none();
            let dirfd = dir.as_ref().map_or(self.root.fd.as_fd(), |d| d.as_fd());
            let found = find_entry(dirfd, comp)?;
            if !real.is_empty() {
                real.push('/');
            }
            match found {
                None if last => {
                    real.push_str(comp);
                    return Ok(Lookup {
                        path: real,
                        exists: false,
                    });
                }
                None => return Err(Errno::NOENT),
                Some(name) => {
                    real.push_str(&name);
                    if last {
                        return Ok(Lookup {
                            path: real,
                            exists: true,
                        });
                    }
                    // Walk from the root again so a symlinked directory stays confined.
                    dir = Some(self.root.open_beneath(
                        &real,
                        OFlags::PATH | OFlags::DIRECTORY,
                        Mode::empty(),
                    )?);
                }
            }
        }
        Err(Errno::INVAL)
    }

    /// Open `rel` beneath the root (escapes give EXDEV).
    pub fn open(&self, rel: &str, how: &OpenHow) -> Result<Handle> {
        check_rel(rel)?;
        match how.directory {
            Some(true) => self.open_dir(rel, how),
            Some(false) => {
                let h = self.open_file(rel, how)?;
                if h.is_dir() {
                    return Err(Errno::ISDIR);
                }
                Ok(h)
            }
            None => match self.open_file(rel, how) {
                Err(Errno::ISDIR)
                    if matches!(
                        how.create,
                        CreateMode::OpenExisting | CreateMode::OpenOrCreate
                    ) =>
                {
                    self.open_dir_existing(rel)
                }
                r => r,
            },
        }
    }

    fn open_file(&self, rel: &str, how: &OpenHow) -> Result<Handle> {
        let access = match (how.read, how.write) {
            (_, false) => OFlags::RDONLY,
            (false, true) => OFlags::WRONLY,
            (true, true) => OFlags::RDWR,
        };
        let create = match how.create {
            CreateMode::OpenExisting => OFlags::empty(),
            CreateMode::CreateNew => OFlags::CREATE | OFlags::EXCL,
            CreateMode::OpenOrCreate => OFlags::CREATE,
            CreateMode::TruncateExisting => OFlags::TRUNC,
            CreateMode::CreateOrTruncate => OFlags::CREATE | OFlags::TRUNC,
        };
        // NONBLOCK: opening a FIFO must not hang a worker, and a conflicting kernel
        // lease gives EWOULDBLOCK instead of blocking. NOCTTY: never acquire a terminal.
        let flags = access | create | OFlags::NONBLOCK | OFlags::NOCTTY;
        let mode = Mode::from_bits_truncate(how.mode);
        let (fd, opath) = match self.root.open_beneath(rel, flags, mode) {
            Ok(fd) => (fd, false),
            // An attribute-only open (no data access) needs no read permission.
            Err(Errno::ACCESS)
                if !how.read && !how.write && how.create == CreateMode::OpenExisting =>
            {
                (
                    self.root.open_beneath(rel, OFlags::PATH, Mode::empty())?,
                    true,
                )
            }
            Err(e) => return Err(e),
        };
        let st = statx_at(&fd, "", AtFlags::EMPTY_PATH)?;
        if !st.is_dir() && !st.is_file() {
            // Devices, FIFOs and sockets are not files an SMB client can use.
            return Err(Errno::ACCESS);
        }
        Ok(Handle::new(
            fd,
            st.is_dir(),
            opath,
            Arc::clone(&self.root),
            rel,
        ))
    }

    fn open_dir(&self, rel: &str, how: &OpenHow) -> Result<Handle> {
        match how.create {
            CreateMode::OpenExisting => {}
            CreateMode::CreateNew => {
                if rel.is_empty() {
                    return Err(Errno::EXIST);
                }
                self.mkdir(rel, how.mode)?;
            }
            CreateMode::OpenOrCreate => {
                if !rel.is_empty() {
                    match self.mkdir(rel, how.mode) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            CreateMode::TruncateExisting | CreateMode::CreateOrTruncate => {
                return Err(Errno::INVAL)
            }
        }
        self.open_dir_existing(rel)
    }

    fn open_dir_existing(&self, rel: &str) -> Result<Handle> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK;
        let (fd, opath) = match self.root.open_beneath(rel, flags, Mode::empty()) {
            Ok(fd) => (fd, false),
            // Traversable but not listable: still usable for attributes.
            Err(Errno::ACCESS) => (
                self.root
                    .open_beneath(rel, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?,
                true,
            ),
            Err(e) => return Err(e),
        };
        Ok(Handle::new(fd, true, opath, Arc::clone(&self.root), rel))
    }

    /// Create the directory `rel` (parent opened beneath the root, then `mkdirat`).
    pub fn mkdir(&self, rel: &str, mode: u32) -> Result<()> {
        let (parent, name) = self.root.open_parent(rel)?;
        rustix::fs::mkdirat(&parent, name, Mode::from_bits_truncate(mode))
    }

    /// Remove a file or symlink (EISDIR for a directory).
    pub fn unlink(&self, rel: &str) -> Result<()> {
        let (parent, name) = self.root.open_parent(rel)?;
        rustix::fs::unlinkat(&parent, name, AtFlags::empty())
    }

    /// Remove an empty directory.
    pub fn rmdir(&self, rel: &str) -> Result<()> {
        let (parent, name) = self.root.open_parent(rel)?;
        rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)
    }

    /// `renameat2`; `replace == false` uses RENAME_NOREPLACE (EEXIST if the target exists).
    pub fn rename(&self, from: &str, to: &str, replace: bool) -> Result<()> {
        let (from_dir, from_name) = self.root.open_parent(from)?;
        let (to_dir, to_name) = self.root.open_parent(to)?;
        if replace {
            return rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name);
        }
        match rustix::fs::renameat_with(
            &from_dir,
            from_name,
            &to_dir,
            to_name,
            RenameFlags::NOREPLACE,
        ) {
            // A filesystem without RENAME_NOREPLACE: check, then rename (racy, but the
            // best such a filesystem allows).
            Err(Errno::INVAL) => {
                match statx_at(&to_dir, to_name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(_) => return Err(Errno::EXIST),
                    Err(Errno::NOENT) => {}
                    Err(e) => return Err(e),
                }
                rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name)
            }
            r => r,
        }
    }

    /// A hard link `new` to `existing` (a final symlink is linked, not followed).
    pub fn link(&self, existing: &str, new: &str) -> Result<()> {
        let (e_dir, e_name) = self.root.open_parent(existing)?;
        let (n_dir, n_name) = self.root.open_parent(new)?;
        rustix::fs::linkat(&e_dir, e_name, &n_dir, n_name, AtFlags::empty())
    }

    /// Stat `rel`, following symlinks only while they stay inside the share; a final
    /// symlink pointing outside (or nowhere) is reported as the symlink itself.
    pub fn stat(&self, rel: &str) -> Result<Stat> {
        self.root.stat(rel)
    }

    /// Sizes of the filesystem under the root.
    pub fn statfs(&self) -> Result<FsStats> {
        fs_stats(&self.root.fd)
    }

    /// Does the filesystem under the root keep `user.*` xattrs? (probed once at `new`)
    pub fn supports_xattrs(&self) -> bool {
        self.root.supports_xattrs()
    }
}

/// The real name of `comp` in `dir`: itself if it exists, else the first entry equal
/// to it case-insensitively, else `None`.
fn find_entry(dir: BorrowedFd<'_>, comp: &str) -> Result<Option<String>> {
    match rustix::fs::statat(dir, comp, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => return Ok(Some(comp.to_owned())),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(e),
    }
    if !has_case(comp) {
        return Ok(None);
    }
    let ascii = comp.is_ascii();
    crate::dir::find_name(dir, |name| {
        if ascii && name.is_ascii() {
            // Plain ASCII folds byte for byte; no allocation, no decoding.
            return name.eq_ignore_ascii_case(comp.as_bytes());
        }
        // Other names fold by Unicode rules (a Kelvin sign matches "k").
        std::str::from_utf8(name).is_ok_and(|n| eq_ignore_case(n, comp))
    })
}

/// Whether `user.*` xattrs work under the root: a read of a missing attribute gives
/// ENODATA where they do, EOPNOTSUPP where they do not.
fn probe_xattrs(root: BorrowedFd<'_>) -> bool {
    let readable = rustix::fs::openat(
        root,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    );
    let fd = readable.as_ref().map_or(root, |f| f.as_fd());
    let mut buf = [0u8; 256];
    matches!(
        crate::handle::xattr_get(fd, crate::DOSATTRIB_XATTR, &mut buf),
        Ok(_) | Err(Errno::NODATA | Errno::RANGE | Errno::ACCESS | Errno::PERM)
    )
}
