//! `rsmbd user add|del|list`: edits the users file (ksmbd's `name:base64(NT
//! hash)` format, mode 0600). The file is `--users`, else the `users file`
//! of the config, else /etc/rsmbd/users.db.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use log::{debug, info};

use crate::{conf, serve, Failure};

/// Which users file a user command works on.
fn users_path(users: Option<PathBuf>, config: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(u) = users {
        return Ok(u);
    }
    match serve::config_source(config)? {
        Some(path) => {
            let c = conf::load(&path).map_err(|e| Failure::Config(e.to_string()))?;
            debug!(
                "users file {} from {}",
                c.users_file.display(),
                path.display()
            );
            Ok(c.users_file)
        }
        None => Ok(PathBuf::from(conf::DEFAULT_USERS_FILE)),
    }
}

/// Loads the file; `None` when it does not exist.
fn load(path: &Path) -> Result<Option<auth::UserDb>, Failure> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Runtime(format!("{}: {e}", path.display()))),
        Ok(_) => auth::UserDb::load(path).map(Some).map_err(|e| {
            if e.line > 0 {
                Failure::Config(e.to_string())
            } else {
                Failure::Runtime(e.to_string())
            }
        }),
    }
}

fn save(db: &auth::UserDb, path: &Path) -> Result<(), Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| Failure::Runtime(format!("{}: {e}", dir.display())))?;
        }
    }
    db.save(path)
        .map_err(|e| Failure::Runtime(format!("{}: {e}", path.display())))
}

/// Adds a user or replaces its password; the password comes from stdin
/// (first line) when not given.
pub fn add(
    name: &str,
    password: Option<String>,
    users: Option<PathBuf>,
    config: Option<PathBuf>,
) -> Result<(), Failure> {
    if !auth::userdb::valid_user_name(name) {
        return Err(Failure::Config(format!(
            "invalid user name {name:?} (no `:` or control characters)"
        )));
    }
    let password = match password {
        Some(p) => p,
        None => read_password_line()?,
    };
    if password.is_empty() {
        return Err(Failure::Config("empty password".into()));
    }
    let path = users_path(users, config)?;
    let mut db = load(&path)?.unwrap_or_default();
    // SMB user names compare case-insensitively: keep the stored spelling.
    let stored = db.canonical_name(name).map(str::to_string);
    let target = stored.as_deref().unwrap_or(name);
    db.set_password(target, &password);
    save(&db, &path)?;
    let what = if stored.is_some() {
        "password changed for"
    } else {
        "added"
    };
    info!("{what} user {target} in {}", path.display());
    Ok(())
}

fn read_password_line() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Runtime(format!("reading the password from stdin: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn del(name: &str, users: Option<PathBuf>, config: Option<PathBuf>) -> Result<(), Failure> {
    let path = users_path(users, config)?;
    let missing = || Failure::Runtime(format!("{}: no user {name:?}", path.display()));
    let mut db = load(&path)?.ok_or_else(missing)?;
    let stored = db
        .canonical_name(name)
        .map(str::to_string)
        .ok_or_else(missing)?;
    db.remove(&stored);
    save(&db, &path)?;
    info!("deleted user {name} from {}", path.display());
    Ok(())
}

pub fn list(users: Option<PathBuf>, config: Option<PathBuf>) -> Result<(), Failure> {
    let path = users_path(users, config)?;
    match load(&path)? {
        Some(db) => {
            for n in db.names() {
                println!("{n}");
            }
        }
        None => info!("{} does not exist: no users", path.display()),
    }
    Ok(())
}
