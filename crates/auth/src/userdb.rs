//! The user database: one `name:base64(NT hash)` line per user, the format of
//! ksmbd-tools' `ksmbdpwd.db`, so an existing ksmbd database works as is.
//! Only NT hashes (MD4 of the UTF-16LE password) are stored, never passwords.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A user database in memory.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    users: BTreeMap<String, [u8; 16]>,
}

/// Why a users file could not be read.
#[derive(Debug)]
pub struct UserDbError {
    pub path: PathBuf,
    /// 1-based line number, 0 when the whole file is at fault.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for UserDbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.path.display(), self.message)
        }
    }
}

impl std::error::Error for UserDbError {}

/// The NT one-way function: MD4 of the UTF-16LE password (MS-NLMP 3.3.1).
pub fn nt_hash(password: &str) -> [u8; 16] {
    let utf16: Vec<u8> = password
        .encode_utf16()
        .flat_map(|c| c.to_le_bytes())
        .collect();
    crypto::md4(&utf16)
}

/// A user name ksmbd-tools would accept: printable, no `:` and not empty.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| !c.is_control() && c != ':' && c != '\n')
}

impl UserDb {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a users file. A missing file is an error; callers that want an
    /// empty database for a missing file check for it first.
    pub fn load(path: &Path) -> Result<UserDb, UserDbError> {
        let text = std::fs::read_to_string(path).map_err(|e| UserDbError {
            path: path.to_path_buf(),
            line: 0,
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|(line, message)| UserDbError {
            path: path.to_path_buf(),
            line,
            message,
        })
    }

    /// Parses the text of a users file; errors carry the 1-based line number.
    pub fn parse(text: &str) -> Result<UserDb, (usize, String)> {
        let mut users = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i.saturating_add(1);
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let (name, hash) = line
                .split_once(':')
                .ok_or_else(|| (line_no, "expected NAME:BASE64-NT-HASH".to_string()))?;
            if !valid_user_name(name) {
                return Err((line_no, format!("invalid user name {name:?}")));
            }
            let bytes = base64_decode(hash.trim())
                .ok_or_else(|| (line_no, "NT hash is not valid base64".to_string()))?;
            let hash: [u8; 16] = bytes
                .try_into()
                .map_err(|_| (line_no, "NT hash is not 16 bytes".to_string()))?;
            users.insert(name.to_string(), hash);
        }
        Ok(UserDb { users })
    }

    /// The file text, sorted by name.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, hash) in &self.users {
            out.push_str(name);
            out.push(':');
            out.push_str(&base64_encode(hash));
            out.push('\n');
        }
        out
    }

    /// Writes the file atomically with mode 0600.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "users".into());
        let tmp = match dir {
            Some(d) => d.join(format!(".{file_name}.tmp")),
            None => PathBuf::from(format!(".{file_name}.tmp")),
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(self.to_text().as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    }

    /// Adds a user or replaces its password.
    pub fn set_password(&mut self, name: &str, password: &str) {
        self.users.insert(name.to_string(), nt_hash(password));
    }

    /// Adds a user with an already computed NT hash.
    pub fn set_hash(&mut self, name: &str, hash: [u8; 16]) {
        self.users.insert(name.to_string(), hash);
    }

    /// Removes a user; false if there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        self.users.remove(name).is_some()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(|s| s.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The NT hash of a user. SMB user names compare case-insensitively.
    pub fn nt_hash(&self, name: &str) -> Option<[u8; 16]> {
        if let Some(h) = self.users.get(name) {
            return Some(*h);
        }
        self.users
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name) || n.to_lowercase() == name.to_lowercase())
            .map(|(_, h)| *h)
    }

    /// The stored spelling of a user name, looked up case-insensitively.
    pub fn canonical_name(&self, name: &str) -> Option<&str> {
        self.users
            .keys()
            .find(|n| n.as_str() == name || n.to_lowercase() == name.to_lowercase())
            .map(|s| s.as_str())
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3).saturating_mul(4));
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let idx = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, v) in idx.iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(B64.get(*v as usize).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len().saturating_mul(3) / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits = bits.saturating_add(6);
        if bits >= 8 {
            bits = bits.saturating_sub(8);
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nt_hash_known_value() {
        // MS-NLMP 4.2.2.1.2: NTOWFv1("Password")
        assert_eq!(
            nt_hash("Password"),
            [
                0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca, 0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f,
                0xd8, 0x52
            ]
        );
    }

    #[test]
    fn round_trip_text() {
        let mut db = UserDb::new();
        db.set_password("bob", "secret");
        db.set_password("alice", "pw");
        let text = db.to_text();
        assert!(text.starts_with("alice:"));
        let back = UserDb::parse(&text).unwrap();
        assert_eq!(back.nt_hash("BOB"), Some(nt_hash("secret")));
        assert_eq!(back.canonical_name("Alice"), Some("alice"));
    }

    #[test]
    fn bad_line_is_reported() {
        let err = UserDb::parse("ok:AAAAAAAAAAAAAAAAAAAAAA==\nbroken\n").unwrap_err();
        assert_eq!(err.0, 2);
    }

    #[test]
    fn base64_matches_ksmbd_tools_layout() {
        // 16 zero bytes encode to 22 chars plus "==".
        assert_eq!(base64_encode(&[0u8; 16]), "AAAAAAAAAAAAAAAAAAAAAA==");
        assert_eq!(
            base64_decode("AAAAAAAAAAAAAAAAAAAAAA==").unwrap(),
            vec![0u8; 16]
        );
    }
}
