//! rsmbd's filesystem layer: everything the SMB server asks of a local POSIX
//! filesystem (Linux), confined beneath a share root.
//!
//! - [`Share`]: path resolution with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`,
//!   case-insensitive lookup, opens and namespace operations (`share.rs`).
//! - [`Handle`]: positional I/O and metadata on an open file or directory (`handle.rs`),
//!   server-side copy of a range (`copy.rs`).
//! - [`DosAttrib`]: the Samba-compatible `user.DOSATTRIB` xattr (`dosattrib.rs`).
//! - [`DirCursor`]: streaming directory enumeration (`dir.rs`).
//! - [`wildcard_match`]: MS-FSA 2.1.4.4 search patterns (`wildcard.rs`).
//! - [`become_identity`]: per-thread filesystem identity (`identity.rs`).
//!
//! Errors are plain `errno` values; the server maps them to NTSTATUS.

mod copy;
mod dir;
mod dosattrib;
mod handle;
mod identity;
mod share;
mod stat;
mod wildcard;
mod xattr;

pub use dir::{DirCursor, DirEntry};
pub use dosattrib::{DosAttrib, DOSATTRIB_XATTR};
pub use handle::Handle;
pub use identity::{become_identity, lookup_unix_group, lookup_unix_user, Identity, IdentityGuard};
pub use rustix::io::Errno;
pub use share::{CreateMode, Lookup, OpenHow, Share};
pub use stat::{FsStats, Stat, Timespec};
pub use wildcard::wildcard_match;

/// Result of every filesystem call: an `errno` on failure.
pub type Result<T> = std::result::Result<T, Errno>;

#[cfg(test)]
mod share_tests;

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    /// A fresh directory under the system temporary directory, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        #[allow(clippy::unwrap_used)]
        pub fn new(tag: &str) -> TempDir {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let p = std::env::temp_dir().join(format!(
                "rsmbd-vfs-{tag}-{}-{n}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir(&p).unwrap();
            TempDir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
