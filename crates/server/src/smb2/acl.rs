//! A DACL set by SET_INFO (MS-SMB2 3.3.5.21.3) mapped onto the Unix mode,
//! as far as the mode can say it: ACCESS_ALLOWED ACEs (MS-DTYP 2.4.4.2) for
//! the owner (its Unix SID S-1-22-1-uid or CREATOR OWNER), the group
//! (S-1-22-2-gid or CREATOR GROUP) and Everyone become the rwx bits of
//! owner, group and others. A DACL naming none of these leaves the mode alone.

use wire::create::access;
use wire::reader::Reader;

const ACCESS_ALLOWED: u8 = 0;
const INHERIT_ONLY: u8 = 0x08;
const GENERIC_ALL: u32 = 0x1000_0000;
const GENERIC_EXECUTE: u32 = 0x2000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const GENERIC_READ: u32 = 0x8000_0000;

/// Who an ACE's SID stands for on a file owned by `uid`:`gid`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Owner,
    Group,
    Other,
}

/// The permission bits (0o777) a self-relative security descriptor's DACL
/// grants, or None when it has no DACL or names nobody this mapping knows.
pub fn dacl_to_mode(sd: &[u8], uid: u32, gid: u32) -> Option<u32> {
    let mut r = Reader::new(sd);
    r.skip(4).ok()?;
    let _owner = r.u32().ok()?;
    let _group = r.u32().ok()?;
    let _sacl = r.u32().ok()?;
    let dacl = r.u32().ok()? as usize;
    if dacl == 0 {
        return None;
    }
    let mut r = Reader::at(sd, dacl).ok()?;
    r.skip(4).ok()?;
    let count = r.u16().ok()?;
    r.skip(2).ok()?;
    let mut mode = 0u32;
    let mut known = false;
    for _ in 0..count {
        let ace_type = r.u8().ok()?;
        let flags = r.u8().ok()?;
        let size = usize::from(r.u16().ok()?);
        let rest = size.checked_sub(4)?;
        let mut ace = Reader::new(r.take(rest).ok()?);
        if ace_type != ACCESS_ALLOWED || flags & INHERIT_ONLY != 0 {
            continue;
        }
        let mask = ace.u32().ok()?;
        let Some(who) = who(&mut ace, uid, gid) else {
            continue;
        };
        known = true;
        let shift = match who {
            Who::Owner => 6,
            Who::Group => 3,
            Who::Other => 0,
        };
        mode |= rwx(mask) << shift;
    }
    known.then_some(mode)
}

fn rwx(mask: u32) -> u32 {
    let all = mask & GENERIC_ALL != 0;
    let mut bits = 0;
    if all || mask & (access::FILE_READ_DATA | GENERIC_READ) != 0 {
        bits |= 4;
    }
    if all || mask & (access::FILE_WRITE_DATA | access::FILE_APPEND_DATA | GENERIC_WRITE) != 0 {
        bits |= 2;
    }
    if all || mask & (access::FILE_EXECUTE | GENERIC_EXECUTE) != 0 {
        bits |= 1;
    }
    bits
}

/// Reads a SID (MS-DTYP 2.4.2.2) and says whom it names.
fn who(r: &mut Reader<'_>, uid: u32, gid: u32) -> Option<Who> {
    let _revision = r.u8().ok()?;
    let n = r.u8().ok()?;
    let auth_bytes = r.take(6).ok()?;
    let mut authority = 0u64;
    for b in auth_bytes {
        authority = (authority << 8) | u64::from(*b);
    }
    let mut subs = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        subs.push(r.u32().ok()?);
    }
    match (authority, subs.as_slice()) {
        (1, [0]) => Some(Who::Other),  // Everyone
        (5, [11]) => Some(Who::Other), // Authenticated Users
        (3, [0]) => Some(Who::Owner),  // CREATOR OWNER
        (3, [1]) => Some(Who::Group),  // CREATOR GROUP
        (22, [1, u]) if *u == uid => Some(Who::Owner),
        (22, [2, g]) if *g == gid => Some(Who::Group),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sid(authority: u8, subs: &[u32]) -> Vec<u8> {
        let mut s = vec![1, subs.len() as u8, 0, 0, 0, 0, 0, authority];
        for x in subs {
            s.extend_from_slice(&x.to_le_bytes());
        }
        s
    }

    fn sd(aces: &[(u8, u8, u32, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, f, mask, sid) in aces {
            body.push(*t);
            body.push(*f);
            body.extend_from_slice(&((8 + sid.len()) as u16).to_le_bytes());
            body.extend_from_slice(&mask.to_le_bytes());
            body.extend_from_slice(sid);
        }
        let mut out = vec![1, 0, 0x04, 0x80];
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&20u32.to_le_bytes());
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&((8 + body.len()) as u16).to_le_bytes());
        out.extend_from_slice(&(aces.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn creator_owner_read_only() {
        // SEC_RIGHTS_FILE_READ | SEC_STD_ALL for CREATOR OWNER: no write.
        let d = sd(&[(0, 0, 0x0012_0089 | 0x001F_0000, sid(3, &[0]))]);
        assert_eq!(dacl_to_mode(&d, 1000, 1000), Some(0o400));
    }

    #[test]
    fn unix_sids_and_everyone() {
        let d = sd(&[
            (0, 0, GENERIC_ALL, sid(22, &[1, 1000])),
            (0, 0, GENERIC_READ, sid(22, &[2, 50])),
            (
                0,
                0,
                access::FILE_READ_DATA | access::FILE_EXECUTE,
                sid(1, &[0]),
            ),
            // Inherit-only and deny ACEs do not count here.
            (0, INHERIT_ONLY, GENERIC_ALL, sid(1, &[0])),
            (1, 0, GENERIC_ALL, sid(22, &[1, 1000])),
        ]);
        assert_eq!(dacl_to_mode(&d, 1000, 50), Some(0o745));
    }

    #[test]
    fn unknown_sids_and_garbage() {
        let d = sd(&[(0, 0, GENERIC_ALL, sid(5, &[21, 1, 2, 3, 500]))]);
        assert_eq!(dacl_to_mode(&d, 1000, 1000), None);
        assert_eq!(dacl_to_mode(&[1, 0, 4], 0, 0), None);
        let mut bad = sd(&[(0, 0, GENERIC_ALL, sid(1, &[0]))]);
        bad.truncate(bad.len() - 3);
        assert_eq!(dacl_to_mode(&bad, 0, 0), None);
    }
}
