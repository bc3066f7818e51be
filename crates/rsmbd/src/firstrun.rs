//! First run: `rsmbd serve` with no config file anywhere shares `./share`
//! for one generated user, so a first try needs no setup at all.
//!
//! - user: the login name (`$USER`, else `rsmbd`), password 16 random
//!   characters from `[A-Za-z0-9]` (/dev/urandom);
//! - `./rsmbd-users.db`: the NT hash (ksmbd format, mode 0600);
//! - `./rsmbd-password`: `NAME%PASSWORD` (mode 0600; smbclient's `-U` form),
//!   so a restart reuses the same user and password and can print them again;
//! - listens on 0.0.0.0:445, or 0.0.0.0:4445 when 445 cannot be bound
//!   (`RSMBD_FIRST_RUN_PORT=N[,M]` replaces them, for tests).
//!
//! The port is bound before any file is created.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use log::{info, warn};
use server::config::{ServerConfig, ShareConfig};

use crate::serve::Prepared;
use crate::Failure;

pub const PASSWORD_FILE: &str = "rsmbd-password";
pub const USERS_FILE: &str = "rsmbd-users.db";
pub const SHARE_DIR: &str = "share";
pub const SHARE_NAME: &str = "share";
const PORTS: [u16; 2] = [445, 4445];
const PASSWORD_LEN: usize = 16;
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn runtime(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(format!("{}: {e}", path.display()))
}

pub fn prepare(users_override: Option<PathBuf>) -> Result<Prepared, Failure> {
    let cwd =
        std::env::current_dir().map_err(|e| Failure::Runtime(format!("current directory: {e}")))?;
    let password_path = cwd.join(PASSWORD_FILE);
    let users_path = users_override.unwrap_or_else(|| cwd.join(USERS_FILE));
    info!(
        "no config file ({} does not exist): first-run setup in {}",
        crate::default_config_path().display(),
        cwd.display()
    );

    let saved = read_saved(&password_path)?;
    let (name, password) = match &saved {
        Some(c) => c.clone(),
        None => (
            login_name(),
            generate_password().map_err(|e| runtime(Path::new("/dev/urandom"), e))?,
        ),
    };
    let mut db = if users_path.exists() {
        auth::UserDb::load(&users_path).map_err(|e| Failure::Config(e.to_string()))?
    } else {
        auth::UserDb::new()
    };

    let share_path = cwd.join(SHARE_DIR);
    let mut share = ShareConfig::new(SHARE_NAME, share_path.clone());
    share.read_only = false;
    share.guest_ok = false;
    share.valid_users = vec![name.clone()];
    share.comment = "rsmbd first-run share".into();
    // Run as root, file operations would map the generated user to the guest
    // account, which cannot write here: act as the owner of this folder instead.
    if unsafe { libc::geteuid() } == 0 {
        share.force_user = owner_name(&cwd);
    }
    let mut config = ServerConfig {
        shares: vec![share],
        ..ServerConfig::default()
    };

    let (listeners, port) = bind_first_free(&mut config)?;

    // From here on files may be created: the server can start.
    std::fs::create_dir_all(&share_path).map_err(|e| runtime(&share_path, e))?;
    if saved.is_none() {
        write_private(&password_path, &format!("{name}%{password}\n"))
            .map_err(|e| runtime(&password_path, e))?;
        info!(
            "generated a password for user {name}; saved in {}",
            password_path.display()
        );
    } else {
        info!(
            "reusing user {name} and the password saved in {}",
            password_path.display()
        );
    }
    if db.nt_hash(&name) != Some(auth::nt_hash(&password)) {
        db.set_password(&name, &password);
        db.save(&users_path).map_err(|e| runtime(&users_path, e))?;
    }
    let p = if port == 445 {
        String::new()
    } else {
        format!(" -p {port}")
    };
    Ok(Prepared {
        config,
        users: db,
        listeners,
        announce: Some(format!(
            "smbclient //127.0.0.1/{SHARE_NAME}{p} -U {name}%{password}"
        )),
    })
}

/// Binds 445, else 4445, saying why 445 failed.
fn bind_first_free(
    config: &mut ServerConfig,
) -> Result<(Vec<std::net::TcpListener>, u16), Failure> {
    // `RSMBD_FIRST_RUN_PORT=N` (or `N,M`: N, falling back to M) replaces 445/4445.
    let ports: Vec<u16> = match std::env::var("RSMBD_FIRST_RUN_PORT") {
        Ok(v) => v
            .split(',')
            .map(|p| p.trim().parse::<u16>().ok().filter(|p| *p != 0))
            .collect::<Option<Vec<u16>>>()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| Failure::Config(format!("RSMBD_FIRST_RUN_PORT={v:?} is not a port")))?,
        Err(_) => PORTS.to_vec(),
    };
    let mut last_err = String::from("no port to try");
    for (i, port) in ports.iter().enumerate() {
        config.listen = vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port))];
        match server::bind(config) {
            Ok(l) => return Ok((l, *port)),
            Err(e) => {
                let why = match e.error.kind() {
                    std::io::ErrorKind::PermissionDenied => {
                        " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                    }
                    std::io::ErrorKind::AddrInUse => " (another SMB server is running?)",
                    _ => "",
                };
                if let Some(next) = ports.get(i.saturating_add(1)) {
                    warn!("{e}{why}; trying port {next}");
                }
                last_err = format!("{e}{why}");
            }
        }
    }
    Err(Failure::Runtime(last_err))
}

/// Reads `NAME%PASSWORD` saved by an earlier first run, if any.
fn read_saved(path: &Path) -> Result<Option<(String, String)>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(runtime(path, e)),
    };
    let line = text.lines().next().unwrap_or("").trim();
    match line.split_once('%') {
        Some((name, pw)) if auth::userdb::valid_user_name(name) && !pw.is_empty() => {
            Ok(Some((name.to_string(), pw.to_string())))
        }
        _ => Err(Failure::Config(format!(
            "{}:1: expected NAME%PASSWORD (delete the file to generate a new password)",
            path.display()
        ))),
    }
}

/// `$USER` when it is a plain name (safe to print in a command line), else "rsmbd".
pub fn login_name() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| plain_name(u))
        .unwrap_or_else(|| "rsmbd".into())
}

fn plain_name(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        && !u.starts_with('-')
}

/// 16 characters from [A-Za-z0-9], uniform: bytes >= 248 (4 * 62) are dropped.
pub fn generate_password() -> std::io::Result<String> {
    let mut f = std::fs::File::open("/dev/urandom")?;
    password_from(&mut f)
}

fn password_from(src: &mut impl Read) -> std::io::Result<String> {
    let mut out = String::with_capacity(PASSWORD_LEN);
    let mut buf = [0u8; 32];
    while out.len() < PASSWORD_LEN {
        src.read_exact(&mut buf)?;
        for b in buf {
            if out.len() == PASSWORD_LEN {
                break;
            }
            if b < 248 {
                if let Some(c) = ALPHABET.get(usize::from(b % 62)) {
                    out.push(char::from(*c));
                }
            }
        }
    }
    Ok(out)
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The login name of the owner of `dir`, if it has one.
fn owner_name(dir: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(dir).ok()?.uid();
    let mut buf = vec![0u8; 16384];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both owned here and large enough.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: pw_name points into `buf`, NUL-terminated by getpwuid_r.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_16_alphanumerics_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn biased_bytes_are_rejected() {
        // 248..=255 would skew the distribution; they must be skipped.
        let mut src: Vec<u8> = vec![255, 250, 248, 0, 61, 62];
        src.extend(std::iter::repeat_n(1u8, 40));
        let pw = password_from(&mut src.as_slice()).unwrap();
        assert!(pw.starts_with("A9A"), "{pw}");
        assert_eq!(pw.len(), 16);
    }

    #[test]
    fn plain_names_only() {
        assert!(plain_name("alice"));
        assert!(plain_name("a.b_c-1"));
        assert!(!plain_name(""));
        assert!(!plain_name("-x"));
        assert!(!plain_name("a b"));
        assert!(!plain_name("a;rm"));
    }
}
