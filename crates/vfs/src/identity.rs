//! Acting on the filesystem as the session's user: the server runs as root and, around
//! each filesystem call of a request, switches the calling thread's filesystem identity
//! (fsuid, fsgid, supplementary groups) to the local account the SMB user maps to, so
//! the kernel's own permission checks apply (MS-SMB2 3.3.5.9: access is checked against
//! the user's security context).
//!
//! Linux keeps credentials per thread; the C library wrappers of `setgroups` broadcast
//! the change to every thread of the process, so the raw system call is used instead
//! (rustix `set_thread_groups`). `setfsuid`/`setfsgid` are per-thread system calls.
//! An [`IdentityGuard`] must therefore be dropped on the thread that created it (it is
//! `!Send`); async code must switch only inside a blocking-pool closure.

use std::ffi::{CStr, CString};
use std::marker::PhantomData;

/// A local account: filesystem uid, primary gid and supplementary groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Identity {
    /// Whether the kernel's permission checks treat both alike: the same uid and
    /// gid, and the same set of groups once the gid is counted among them (their
    /// order and repeats do not matter).
    fn same_access(&self, other: &Identity) -> bool {
        let covers = |a: &Identity, b: &Identity| {
            a.groups.iter().all(|g| *g == b.gid || b.groups.contains(g))
        };
        self.uid == other.uid && self.gid == other.gid && covers(self, other) && covers(other, self)
    }
}

/// Restores the thread's previous filesystem identity when dropped.
#[must_use = "the identity is restored when the guard is dropped"]
pub struct IdentityGuard {
    /// What to restore; `None` when nothing was changed (not root, or the
    /// thread already acted as the requested identity).
    prev: Option<Identity>,
    ok: bool,
    /// Credentials are per thread: the guard must not move to another thread.
    _not_send: PhantomData<*const ()>,
}

impl IdentityGuard {
    /// Whether the thread now acts as the requested identity. `false` when the process is
    /// not root (nothing changed) or a switch failed (then the thread acts as nobody:
    /// uid/gid 65534, no groups, so failure never grants root's access).
    pub fn is_active(&self) -> bool {
        self.ok
    }
}

/// The overflow ("nobody") id the kernel itself uses for unmapped ids.
const NOBODY: u32 = 65534;

thread_local! {
    /// The identity this thread acts as: read from the kernel on first use, then
    /// kept by the guards (nothing else changes a thread's filesystem identity).
    /// A request as the identity the thread already has (`force user = root`, or
    /// the process's own account) then costs no system call.
    static CURRENT: std::cell::RefCell<Option<Identity>> = const { std::cell::RefCell::new(None) };
}

/// Whether the process runs as root: its effective uid never changes.
fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| rustix::process::geteuid().is_root())
}

/// Switch this thread's filesystem identity to `id` until the guard is dropped.
/// A no-op when the process is not root.
pub fn become_identity(id: &Identity) -> IdentityGuard {
    if !is_root() {
        return IdentityGuard {
            prev: None,
            ok: false,
            _not_send: PhantomData,
        };
    }
    let unchanged = CURRENT.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(|| Identity {
                uid: current_fsuid(),
                gid: current_fsgid(),
                groups: rustix::process::getgroups()
                    .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
                    .unwrap_or_default(),
            })
            .same_access(id)
    });
    if unchanged {
        return IdentityGuard {
            prev: None,
            ok: true,
            _not_send: PhantomData,
        };
    }
    set_fsgid(id.gid);
    set_fsuid(id.uid);
    let mut ok = set_groups(&id.groups) && current_fsgid() == id.gid && current_fsuid() == id.uid;
    let now = if ok {
        id.clone()
    } else {
        // Fail closed: never leave the thread with root's file access.
        let _ = set_groups(&[]);
        set_fsgid(NOBODY);
        set_fsuid(NOBODY);
        ok = false;
        Identity {
            uid: NOBODY,
            gid: NOBODY,
            groups: Vec::new(),
        }
    };
    // What the thread acted as before is what the guard restores.
    let prev = CURRENT.with(|c| c.borrow_mut().replace(now));
    IdentityGuard {
        prev,
        ok,
        _not_send: PhantomData,
    }
}

impl Drop for IdentityGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            // Groups first: changing them needs CAP_SETGID, which a nonzero fsuid keeps
            // (only the file capabilities are dropped with the fsuid).
            let _ = set_groups(&prev.groups);
            set_fsgid(prev.gid);
            set_fsuid(prev.uid);
            CURRENT.with(|c| *c.borrow_mut() = Some(prev));
        }
    }
}

/// `setfsuid(uid)`; returns the previous fsuid.
fn set_fsuid(uid: u32) -> u32 {
    // SAFETY: setfsuid takes an integer and touches only the calling thread's credentials.
    let prev = unsafe { libc::setfsuid(uid) };
    u32::try_from(prev).unwrap_or(NOBODY)
}

/// `setfsgid(gid)`; returns the previous fsgid.
fn set_fsgid(gid: u32) -> u32 {
    // SAFETY: as for set_fsuid.
    let prev = unsafe { libc::setfsgid(gid) };
    u32::try_from(prev).unwrap_or(NOBODY)
}

/// The current fsuid: an invalid id (-1) changes nothing and returns the current one.
fn current_fsuid() -> u32 {
    set_fsuid(u32::MAX)
}

fn current_fsgid() -> u32 {
    set_fsgid(u32::MAX)
}

fn set_groups(groups: &[u32]) -> bool {
    let gids: Vec<rustix::process::Gid> = groups
        .iter()
        .map(|&g| rustix::process::Gid::from_raw(g))
        .collect();
    rustix::thread::set_thread_groups(&gids).is_ok()
}

/// Look up a local user by name (`getpwnam_r`) and its groups (`getgrouplist`).
pub fn lookup_unix_user(name: &str) -> Option<Identity> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: passwd is plain old data; zeroed is a valid initial value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; buf's length is passed with it.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len().saturating_mul(2), 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        let (uid, gid) = (pwd.pw_uid, pwd.pw_gid);
        let groups = group_list(&cname, gid);
        return Some(Identity { uid, gid, groups });
    }
}

/// All groups of `user` (including `gid`), via `getgrouplist`.
fn group_list(user: &CStr, gid: u32) -> Vec<u32> {
    let mut n: libc::c_int = 32;
    loop {
        let len = usize::try_from(n).unwrap_or(0).max(1);
        let mut groups: Vec<libc::gid_t> = vec![0; len];
        let mut count = libc::c_int::try_from(len).unwrap_or(libc::c_int::MAX);
        // SAFETY: groups holds `count` elements; the call writes at most that many and
        // stores the number needed in `count`.
        let rc = unsafe { libc::getgrouplist(user.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        let got = usize::try_from(count).unwrap_or(0);
        if rc >= 0 {
            groups.truncate(got.min(len));
            return groups;
        }
        if got <= len || got > 65536 {
            // No growth asked for (or absurd): give at least the primary group.
            return vec![gid];
        }
        n = count;
    }
}

/// Look up a local group's gid by name (`getgrnam_r`).
pub fn lookup_unix_group(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: group is plain old data; zeroed is a valid initial value.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; buf's length is passed with it.
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len().saturating_mul(2), 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return Some(grp.gr_gid);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_root() {
        let root = lookup_unix_user("root").unwrap();
        assert_eq!(root.uid, 0);
        assert_eq!(root.gid, 0);
        assert!(root.groups.contains(&0));
        assert_eq!(lookup_unix_group("root"), Some(0));
        assert_eq!(lookup_unix_user("no-such-user-rsmbd-test"), None);
        assert_eq!(lookup_unix_group("no-such-group-rsmbd-test"), None);
        assert_eq!(lookup_unix_user("bad\0name"), None);
    }

    #[test]
    fn switches_only_this_thread_and_restores() {
        if !rustix::process::geteuid().is_root() {
            // Not root: a no-op guard.
            let g = become_identity(&Identity {
                uid: 1,
                gid: 1,
                groups: vec![],
            });
            assert!(!g.is_active());
            return;
        }
        let t = crate::test_util::TempDir::new("identity");
        let private = t.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::write(private.join("f"), b"x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let before_groups = rustix::process::getgroups().unwrap();

        let (switched_tx, switched_rx) = std::sync::mpsc::channel();
        let (checked_tx, checked_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let private = &private;
            s.spawn(move || {
                let g = become_identity(&Identity {
                    uid: 65534,
                    gid: 65534,
                    groups: vec![65534],
                });
                assert!(g.is_active());
                assert_eq!(current_fsuid(), 65534);
                assert_eq!(current_fsgid(), 65534);
                assert_eq!(rustix::process::getgroups().unwrap().len(), 1);
                assert_eq!(
                    std::fs::read(private.join("f")).unwrap_err().kind(),
                    std::io::ErrorKind::PermissionDenied
                );
                switched_tx.send(()).unwrap();
                // Stay switched until the other thread has looked at itself.
                checked_rx.recv().unwrap();
                drop(g);
                assert_eq!(current_fsuid(), 0);
                assert_eq!(current_fsgid(), 0);
                assert_eq!(std::fs::read(private.join("f")).unwrap(), b"x");
            });
            // This thread is unaffected while the other one is switched.
            switched_rx.recv().unwrap();
            assert_eq!(current_fsuid(), 0);
            assert_eq!(rustix::process::getgroups().unwrap(), before_groups);
            assert_eq!(std::fs::read(private.join("f")).unwrap(), b"x");
            checked_tx.send(()).unwrap();
        });
        assert_eq!(rustix::process::getgroups().unwrap(), before_groups);
    }

    #[test]
    fn group_order_and_the_primary_group_do_not_change_access() {
        let id = |gid, groups: &[u32]| Identity {
            uid: 0,
            gid,
            groups: groups.to_vec(),
        };
        assert!(id(0, &[]).same_access(&id(0, &[0])));
        assert!(id(5, &[1, 2, 5]).same_access(&id(5, &[2, 1, 1])));
        assert!(!id(5, &[1, 2]).same_access(&id(5, &[1])));
        assert!(!id(5, &[1]).same_access(&id(6, &[1])));
        assert!(!id(0, &[]).same_access(&Identity {
            uid: 1,
            gid: 0,
            groups: vec![]
        }));
    }

    #[test]
    fn same_identity_again_changes_nothing_and_nesting_restores() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        std::thread::spawn(|| {
            let nobody = Identity {
                uid: 65534,
                gid: 65534,
                groups: vec![65534],
            };
            let outer = become_identity(&nobody);
            assert!(outer.is_active());
            let again = become_identity(&nobody);
            assert!(again.is_active());
            drop(again);
            // The inner guard changed nothing, so dropping it left the outer identity.
            assert_eq!(current_fsuid(), 65534);
            let inner = become_identity(&Identity {
                uid: 1,
                gid: 1,
                groups: vec![],
            });
            assert_eq!(current_fsuid(), 1);
            assert!(rustix::process::getgroups().unwrap().is_empty());
            drop(inner);
            assert_eq!((current_fsuid(), current_fsgid()), (65534, 65534));
            assert_eq!(rustix::process::getgroups().unwrap().len(), 1);
            drop(outer);
            assert_eq!((current_fsuid(), current_fsgid()), (0, 0));
        })
        .join()
        .unwrap();
    }
}
