//! The whole server path under the fuzzer: a fresh `Server` (one writable
//! guest share in a scratch directory, one user) and `Connection` per input,
//! and `transport::process_frame` on each frame the input holds.
//!
//! The input is a run of records (see [`crate::input::records`]); each
//! record's data is one SMB frame (without the 4-byte transport header) and
//! its control byte asks the harness to fill in values the fuzzer cannot
//! know: the session id the server chose at random, the tree id and file id
//! it handed out, and the next message id of the credit window. Every bit
//! patches all elements of a compound; a frame with no bits set is sent as is.

use std::path::{Path, PathBuf};

use server::config::{MapToGuest, ServerConfig, ShareConfig, SigningPolicy};
use server::state::{lock, Connection, Server};

/// Put the latest SessionId the server answered with in every header.
pub const PATCH_SESSION: u8 = 0x01;
/// Put the TreeId of the latest successful TREE_CONNECT in every header.
pub const PATCH_TREE: u8 = 0x02;
/// Number the elements with the next message ids of the credit window.
pub const PATCH_MESSAGE_ID: u8 = 0x04;
/// Put the FileId of the latest successful CREATE in each element whose
/// command carries one (unless it is the related-open placeholder).
pub const PATCH_FILE_ID: u8 = 0x08;
/// All of the above.
pub const PATCH_ALL: u8 = 0x0F;

/// The user in the server's database (the fuzzer logs on as guest: the
/// challenge is random, so no password proof can be replayed).
pub const USER: &str = "fuzzuser";
/// The disk share's name.
pub const SHARE: &str = "share";
/// Frames per input; more only slows the fuzzer down.
const MAX_FRAMES: usize = 48;

/// What one input did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Each response message, in order.
    pub responses: Vec<Vec<u8>>,
    /// The server asked to drop the connection (later frames were not sent).
    pub disconnected: bool,
}

/// Ids learnt from responses, used to patch later frames.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Track {
    pub(crate) session_id: u64,
    pub(crate) tree_id: u32,
    pub(crate) file_id: Option<[u8; 16]>,
    pub(crate) next_message_id: u64,
}

/// A scratch share directory and the configuration that serves it.
pub struct Harness {
    share_dir: PathBuf,
}

impl Harness {
    /// Creates the share directory: on tmpfs when there is one, so FLUSH's
    /// fsync costs nothing.
    pub fn new() -> std::io::Result<Harness> {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        remove_stale(&base);
        // One directory per harness: tests run several at once in a process.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let share_dir = base.join(format!("{STALE_PREFIX}{}-{n}", std::process::id()));
        std::fs::create_dir_all(&share_dir)?;
        // The guest account the server switches to when run as root must
        // be able to create files.
        std::fs::set_permissions(
            &share_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )?;
        Ok(Harness { share_dir })
    }

    pub fn share_dir(&self) -> &Path {
        &self.share_dir
    }

    /// Guest logons for unknown users, a writable guest share, signing not
    /// required (a guest session has no key).
    pub fn config(&self) -> ServerConfig {
        let mut share = ShareConfig::new(SHARE, self.share_dir.clone());
        share.read_only = false;
        share.guest_ok = true;
        share.comment = "fuzz share".into();
        ServerConfig {
            listen: Vec::new(),
            netbios_name: "RSMBD".into(),
            signing: SigningPolicy::Auto,
            map_to_guest: MapToGuest::BadUser,
            max_read: 1 << 20,
            max_write: 1 << 20,
            max_trans: 1 << 16,
            shares: vec![share],
            ..ServerConfig::default()
        }
    }

    /// Runs one input through a fresh server and connection.
    pub fn run(&self, data: &[u8]) -> Outcome {
        let mut users = auth::UserDb::new();
        users.set_password(USER, "Fuzz-Passw0rd");
        let mut out = Outcome::default();
        let Ok(server) = Server::new(self.config(), users) else {
            return out;
        };
        let conn = Connection::new(1, "fuzz-peer".into());
        let mut track = Track::default();
        for rec in crate::input::records(data).into_iter().take(MAX_FRAMES) {
            let mut frame = rec.data.to_vec();
            patch(&mut frame, rec.control, &mut track);
            match server::transport::process_frame(&server, &conn, &mut frame) {
                Ok(Some(resp)) => {
                    learn(&resp, &mut track);
                    out.responses.push(resp);
                }
                Ok(None) => {}
                Err(()) => {
                    out.disconnected = true;
                    break;
                }
            }
        }
        // What the transport does when a connection ends.
        let sessions: Vec<_> = lock(&conn.sessions).drain().map(|(_, s)| s).collect();
        for s in sessions {
            server::smb2::close::close_session_opens(&server, &s);
        }
        drop(conn);
        drop(server);
        self.clear_share();
        out
    }

    /// Empties the share so every input starts from the same state.
    pub(crate) fn clear_share(&self) {
        let Ok(rd) = std::fs::read_dir(&self.share_dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let _ = if is_dir {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

const STALE_PREFIX: &str = "rsmbd-fuzz-share-";

/// Removes share directories of fuzz processes that no longer run (the
/// fuzzer exits without running destructors).
fn remove_stale(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STALE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Where each command's request keeps its FileId (MS-SMB2 2.2.15 to 2.2.39).
fn file_id_offset(command: u16) -> Option<usize> {
    const HDR: usize = 64;
    match command {
        // CLOSE, FLUSH, LOCK, IOCTL, QUERY_DIRECTORY, CHANGE_NOTIFY, OPLOCK_BREAK
        0x06 | 0x07 | 0x0A | 0x0B | 0x0E | 0x0F | 0x12 => Some(HDR + 8),
        // READ, WRITE, SET_INFO
        0x08 | 0x09 | 0x11 => Some(HDR + 16),
        // QUERY_INFO
        0x10 => Some(HDR + 24),
        _ => None,
    }
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    if let Some(s) = at.checked_add(v.len()).and_then(|end| b.get_mut(at..end)) {
        s.copy_from_slice(v);
    }
}

/// Start offsets of the compound elements of an SMB2 frame, following
/// NextCommand while it stays aligned and inside the frame.
fn elements(frame: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while frame.get(at..at.saturating_add(4)) == Some(&[0xFE, b'S', b'M', b'B'][..]) {
        out.push(at);
        let next = u32_at(frame, at + 20).unwrap_or(0) as usize;
        if next < 64 || !next.is_multiple_of(8) || out.len() >= 64 {
            break;
        }
        at = at.saturating_add(next);
    }
    out
}

pub(crate) fn patch(frame: &mut [u8], control: u8, t: &mut Track) {
    if control & PATCH_ALL == 0 {
        return;
    }
    for at in elements(frame) {
        if control & PATCH_MESSAGE_ID != 0 {
            let charge = u64::from(u16_at(frame, at + 6).unwrap_or(1).max(1));
            put(frame, at + 24, &t.next_message_id.to_le_bytes());
            t.next_message_id = t.next_message_id.saturating_add(charge);
        }
        if control & PATCH_TREE != 0 {
            put(frame, at + 36, &t.tree_id.to_le_bytes());
        }
        if control & PATCH_SESSION != 0 {
            put(frame, at + 40, &t.session_id.to_le_bytes());
        }
        if control & PATCH_FILE_ID != 0 {
            if let (Some(fid), Some(off)) =
                (t.file_id, u16_at(frame, at + 12).and_then(file_id_offset))
            {
                let off = at + off;
                let related = frame.get(off..off + 16) == Some(&[0xFF; 16][..]);
                if !related {
                    put(frame, off, &fid);
                }
            }
        }
    }
}

/// Notes the ids a response hands out.
pub(crate) fn learn(resp: &[u8], t: &mut Track) {
    for at in elements(resp) {
        let (Some(cmd), Some(status), Some(mid), Some(sid)) = (
            u16_at(resp, at + 12),
            u32_at(resp, at + 8),
            u64_at(resp, at + 24),
            u64_at(resp, at + 40),
        ) else {
            continue;
        };
        let charge = u64::from(u16_at(resp, at + 6).unwrap_or(1).max(1));
        t.next_message_id = t.next_message_id.max(mid.saturating_add(charge));
        if sid != 0 {
            t.session_id = sid;
        }
        if status != 0 {
            continue;
        }
        match cmd {
            0x03 => t.tree_id = u32_at(resp, at + 36).unwrap_or(0),
            0x05 => {
                // CREATE response (2.2.14): FileId at body offset 64.
                if let Some(f) = resp.get(at + 128..at + 144) {
                    let mut fid = [0u8; 16];
                    fid.copy_from_slice(f);
                    t.file_id = Some(fid);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::seeds;

    fn status(msg: &[u8]) -> u32 {
        u32_at(msg, 8).unwrap()
    }

    /// Statuses of every element of every response.
    fn statuses(o: &Outcome) -> Vec<(u16, u32)> {
        o.responses
            .iter()
            .flat_map(|r| {
                elements(r)
                    .into_iter()
                    .map(|at| (u16_at(r, at + 12).unwrap(), u32_at(r, at + 8).unwrap()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn file_session_seed_reaches_every_handler() {
        let h = Harness::new().unwrap();
        let o = h.run(&seeds::server_file_session());
        assert!(!o.disconnected, "{:x?}", statuses(&o));
        let st = statuses(&o);
        // NEGOTIATE, SESSION_SETUP (more processing, then success as guest),
        // TREE_CONNECT and CREATE succeed.
        assert_eq!(st[..5], [(0, 0), (1, 0xC000_0016), (1, 0), (3, 0), (5, 0)]);
        // So does every later request but CHANGE_NOTIFY on a file, which
        // is STATUS_INVALID_PARAMETER (MS-SMB2 3.3.5.19).
        assert_eq!(st.len(), 29);
        for (cmd, status) in &st[5..] {
            let want = if *cmd == 0x0F { 0xC000_000D } else { 0 };
            assert_eq!(*status, want, "command {cmd:#x} in {st:x?}");
        }
        // WRITE then READ gives the data back.
        let read = o
            .responses
            .iter()
            .find(|r| u16_at(r, 12) == Some(0x08) && status(r) == 0)
            .unwrap();
        assert_eq!(read.get(80..80 + 11).unwrap(), seeds::FILE_DATA);
        // Nothing is left behind in the share.
        assert_eq!(std::fs::read_dir(h.share_dir()).unwrap().count(), 0);
    }

    #[test]
    fn ipc_seed_binds_and_enumerates_shares() {
        let h = Harness::new().unwrap();
        let o = h.run(&seeds::server_ipc_session());
        assert!(!o.disconnected);
        let st = statuses(&o);
        assert!(
            st.iter().all(|(_, s)| *s == 0 || *s == 0xC000_0016),
            "{st:x?}"
        );
        // The transceive answer is a DCE/RPC response PDU (ptype 2) naming the share.
        let ioctl = o
            .responses
            .iter()
            .find(|r| u16_at(r, 12) == Some(0x0B))
            .unwrap();
        let out = ioctl.get(64 + 48..).unwrap();
        assert_eq!(out.get(2), Some(&2));
        let name = crate::msg::utf16(SHARE);
        assert!(out.windows(name.len()).any(|w| w == name));
    }

    #[test]
    fn smb311_and_smb1_upgrade_seeds_negotiate() {
        let h = Harness::new().unwrap();
        for seed in [seeds::server_smb311(), seeds::server_smb1_upgrade()] {
            let o = h.run(&seed);
            assert!(!o.disconnected);
            assert!(statuses(&o).contains(&(0x01, 0)));
        }
    }

    #[test]
    fn unpatched_garbage_only_disconnects() {
        let h = Harness::new().unwrap();
        let o = h.run(&[0, 3, 0, 1, 2, 3]);
        assert!(o.disconnected);
        assert!(o.responses.is_empty());
    }
}
