//! TREE_CONNECT (MS-SMB2 3.3.5.7) and TREE_DISCONNECT (3.3.5.8): share
//! lookup and the share's access rules (valid/invalid users, read/write lists).

use std::sync::Arc;

use auth::Identity;
use wire::create::access;
use wire::tree::*;
use wire::NtStatus;

use crate::config::{EncryptionPolicy, ShareConfig};
use crate::dispatch::{Error, HandlerResult, Request};
use crate::state::{lock, AuthState, TreeConnect, TreeKind};

/// The rights a read-only tree can ever grant.
pub const READ_ONLY_ACCESS: u32 = access::FILE_GENERIC_READ
    | access::FILE_GENERIC_EXECUTE
    | access::READ_CONTROL
    | access::SYNCHRONIZE;

/// Whether `user` (with Unix groups) matches a smb.conf user list entry (`name` or `@group`).
fn in_list(list: &[String], user: &str, groups: &[u32]) -> bool {
    list.iter().any(
        |e| match e.strip_prefix('@').or_else(|| e.strip_prefix('+')) {
            Some(g) => vfs::lookup_unix_group(g).is_some_and(|gid| groups.contains(&gid)),
            None => e.eq_ignore_ascii_case(user),
        },
    )
}

/// Decides access to a disk share: None = refused, Some(writable).
pub fn share_access(
    share: &ShareConfig,
    identity: &Identity,
    user: &str,
    groups: &[u32],
) -> Option<bool> {
    match identity {
        Identity::Anonymous => return None,
        Identity::Guest => {
            if !share.guest_ok {
                return None;
            }
        }
        Identity::User { .. } => {
            if in_list(&share.invalid_users, user, groups) {
                return None;
            }
            if !share.valid_users.is_empty() && !in_list(&share.valid_users, user, groups) {
                return None;
            }
        }
    }
    let mut writable = !share.read_only;
    if in_list(&share.read_list, user, groups) {
        writable = false;
    }
    if in_list(&share.write_list, user, groups) {
        writable = true;
    }
    Some(writable)
}

fn unix_groups(user: &str) -> Vec<u32> {
    vfs::lookup_unix_user(user)
        .map(|i| {
            let mut g = i.groups;
            g.push(i.gid);
            g
        })
        .unwrap_or_default()
}

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = TreeConnectRequest::parse(req.msg)?;
    let session = req.session()?.clone();
    let name = r.share_name().to_string();
    let (identity, user, can_encrypt) = match &*lock(&session.state) {
        AuthState::Valid(a) => (a.identity.clone(), a.user_name.clone(), a.crypto.is_some()),
        _ => return Err(Error::Status(NtStatus::ACCESS_DENIED)),
    };
    let (kind, maximal, writable, share_type) = if name.eq_ignore_ascii_case("IPC$") {
        (
            TreeKind::Ipc,
            access::FILE_ALL_ACCESS,
            true,
            SHARE_TYPE_PIPE,
        )
    } else {
        let share = req
            .server
            .find_share(&name)
            .ok_or(Error::Status(NtStatus::BAD_NETWORK_NAME))?;
        let groups = if matches!(identity, Identity::User { .. }) {
            unix_groups(&user)
        } else {
            Vec::new()
        };
        let writable = share_access(&share.config, &identity, &user, &groups)
            .ok_or(Error::Status(NtStatus::ACCESS_DENIED))?;
        let maximal = if writable {
            access::FILE_ALL_ACCESS
        } else {
            READ_ONLY_ACCESS
        };
        (
            TreeKind::Disk(share.clone()),
            maximal,
            writable,
            SHARE_TYPE_DISK,
        )
    };
    // MS-SMB2 3.3.5.7: a share that wants encryption encrypts the tree when
    // the session can; one that requires it refuses a session that cannot.
    let share_policy = match &kind {
        TreeKind::Disk(s) => s.config.encryption,
        TreeKind::Ipc => EncryptionPolicy::IfRequired,
    };
    let encrypt_data = match share_policy {
        EncryptionPolicy::Desired | EncryptionPolicy::Required => can_encrypt,
        _ => false,
    };
    if share_policy == EncryptionPolicy::Required && !can_encrypt {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    let id = session.new_tree_id();
    let share_cfg = match &kind {
        TreeKind::Disk(s) => Some(s.config.clone()),
        TreeKind::Ipc => None,
    };
    let share_cfg = share_cfg.as_ref();
    lock(&session.trees).insert(
        id,
        Arc::new(TreeConnect {
            id,
            kind,
            maximal_access: maximal,
            writable,
            encrypt_data,
            // Account lookups read the system's user database: once per tree
            // connect, not per request.
            force_user: share_cfg
                .and_then(|c| c.force_user.as_deref())
                .and_then(vfs::lookup_unix_user),
            force_gid: share_cfg
                .and_then(|c| c.force_group.as_deref())
                .and_then(vfs::lookup_unix_group),
        }),
    );
    req.resp_tree_id = id;
    TreeConnectResponse {
        share_type,
        share_flags: SHAREFLAG_MANUAL_CACHING
            | if encrypt_data {
                SHAREFLAG_ENCRYPT_DATA
            } else {
                0
            },
        capabilities: 0,
        maximal_access: maximal,
    }
    .encode(out);
    Ok(NtStatus::SUCCESS)
}

pub fn disconnect(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    wire::echo::parse_empty_request(req.msg)?;
    let session = req.session()?.clone();
    let tree = req.tree()?.clone();
    lock(&session.trees).remove(&tree.id);
    // Byte-range locks go first: a lock waiting in the tree is granted (Windows).
    crate::smb2::lock::release_locks_of(
        req.server,
        lock(&session.opens)
            .values()
            .filter(|o| o.tree.id == tree.id)
            .map(|o| o.as_ref()),
    );
    // MS-SMB2 3.3.5.8: pending operations in the tree end with it.
    req.conn.pending.close_tree(session.id, tree.id);
    crate::smb2::close::close_tree_opens(req.server, &session, tree.id);
    wire::echo::encode_empty_response(out);
    Ok(NtStatus::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn user() -> Identity {
        Identity::User {
            name: "bob".into(),
            domain: String::new(),
        }
    }

    #[test]
    fn rules() {
        let mut s = ShareConfig::new("x", PathBuf::from("/nonexistent"));
        s.read_only = false;
        assert_eq!(share_access(&s, &user(), "bob", &[]), Some(true));
        assert_eq!(share_access(&s, &Identity::Anonymous, "", &[]), None);
        assert_eq!(share_access(&s, &Identity::Guest, "nobody", &[]), None);
        s.valid_users = vec!["alice".into(), "@root".into()];
        assert_eq!(share_access(&s, &user(), "bob", &[]), None);
        assert_eq!(share_access(&s, &user(), "bob", &[0]), Some(true));
        s.read_list = vec!["bob".into()];
        assert_eq!(share_access(&s, &user(), "bob", &[0]), Some(false));
        s.invalid_users = vec!["BOB".into()];
        assert_eq!(share_access(&s, &user(), "bob", &[0]), None);
    }
}
