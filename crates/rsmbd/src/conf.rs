//! The configuration file: smb.conf / ksmbd.conf syntax (smb.conf(5),
//! ksmbd.conf(5)) turned into a typed `server::config::ServerConfig`.
//!
//! Rules, as Samba and ksmbd-tools read the same files:
//! - keys are case- and whitespace-insensitive, synonyms are accepted;
//! - share keys in [global] are defaults for every share (ksmbd);
//! - an unknown key is a warning naming `file:line`, an invalid value an error;
//! - [homes] and [printers] are skipped with a warning, [ipc$] is implicit;
//! - relative paths (`include`, `path`, `users file`) start at the directory
//!   of the file they are written in.

mod keys;
pub mod lexer;
mod print;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use server::config::{ServerConfig, ShareConfig};

use crate::netif::{self, IfAddr};
use keys::{Bound, Key};
use lexer::{Item, Loc};

pub use print::render;

/// The users file when a config does not name one.
pub const DEFAULT_USERS_FILE: &str = "/etc/rsmbd/users.db";

/// A config error: `file:line: message` (line 0: the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl ConfError {
    pub fn new(file: &Path, line: usize, message: impl Into<String>) -> Self {
        ConfError {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    pub fn at(loc: &Loc, message: impl Into<String>) -> Self {
        Self::new(&loc.file, loc.line, message)
    }
}

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)
        }
    }
}

impl std::error::Error for ConfError {}

/// A loaded configuration: what the server gets, plus what only the binary
/// needs (users file, the listen keys as written, warnings to log).
#[derive(Debug, Clone)]
pub struct Conf {
    pub server: ServerConfig,
    pub users_file: PathBuf,
    pub tcp_port: u16,
    /// `interfaces` as written.
    pub interfaces: Vec<String>,
    pub bind_interfaces_only: bool,
    /// `file:line: message` for every unknown key, ignored section, clamp…
    pub warnings: Vec<String>,
}

/// Reads and checks a config file (and its includes).
pub fn load(path: &Path) -> Result<Conf, ConfError> {
    let items = lexer::read_items(path, &mut |p| std::fs::read_to_string(p))?;
    build(&items, &mut netif::interfaces)
}

/// Where a parameter goes, from the section it is in.
enum Target {
    Global,
    Share(usize),
    /// [homes], [printers], [ipc$]: already warned about.
    Skipped,
}

struct Entry<'a> {
    key: Key,
    raw_key: &'a str,
    value: &'a str,
    loc: &'a Loc,
}

struct ShareDraft<'a> {
    name: String,
    loc: &'a Loc,
    entries: Vec<Entry<'a>>,
}

/// Builds the configuration from lexed items. `local_ifaces` lists the
/// machine's addresses; it is only called when `interfaces` names one.
pub fn build(
    items: &[Item],
    local_ifaces: &mut dyn FnMut() -> Vec<IfAddr>,
) -> Result<Conf, ConfError> {
    let mut warnings = Vec::new();
    let mut globals: Vec<Entry> = Vec::new();
    let mut defaults: Vec<Entry> = Vec::new();
    let mut shares: Vec<ShareDraft> = Vec::new();
    // Parameters before any section header belong to [global], as in Samba.
    let mut target = Target::Global;

    for item in items {
        match item {
            Item::Section { name, loc } => {
                target = section_target(name, loc, &mut shares, &mut warnings)?;
            }
            Item::Param {
                key,
                raw_key,
                value,
                loc,
            } => {
                if matches!(target, Target::Skipped) {
                    continue;
                }
                let Some(k) = keys::lookup(key) else {
                    warnings.push(format!("{loc}: unknown key `{raw_key}` ignored"));
                    continue;
                };
                let entry = Entry {
                    key: k,
                    raw_key,
                    value,
                    loc,
                };
                match (&target, k.is_global()) {
                    (Target::Global, true) => globals.push(entry),
                    (Target::Global, false) => defaults.push(entry),
                    (Target::Share(i), false) => {
                        if let Some(s) = shares.get_mut(*i) {
                            s.entries.push(entry);
                        }
                    }
                    (Target::Share(i), true) => {
                        let share = shares.get(*i).map(|s| s.name.as_str()).unwrap_or("");
                        warnings.push(format!(
                            "{loc}: global key `{raw_key}` in share [{share}] ignored (move it to [global])"
                        ));
                    }
                    (Target::Skipped, _) => {}
                }
            }
        }
    }

    let mut conf = Conf {
        server: ServerConfig::default(),
        users_file: PathBuf::from(DEFAULT_USERS_FILE),
        tcp_port: 445,
        interfaces: Vec::new(),
        bind_interfaces_only: false,
        warnings: Vec::new(),
    };
    let mut min_loc = None;
    let mut max_loc = None;
    let mut interfaces_loc = None;
    for e in &globals {
        apply_global(&mut conf, e, &mut warnings)?;
        match e.key {
            Key::ServerMinProtocol => min_loc = Some(e.loc),
            Key::ServerMaxProtocol => max_loc = Some(e.loc),
            Key::Interfaces => interfaces_loc = Some(e.loc),
            _ => {}
        }
    }
    if conf.server.min_dialect > conf.server.max_dialect {
        let loc = max_loc.or(min_loc);
        let msg = format!(
            "server min protocol {} is above server max protocol {}",
            keys::protocol_name(conf.server.min_dialect),
            keys::protocol_name(conf.server.max_dialect)
        );
        return Err(match loc {
            Some(l) => ConfError::at(l, msg),
            None => ConfError::new(Path::new("config"), 0, msg),
        });
    }
    conf.server.listen = listen_addrs(&conf, interfaces_loc, local_ifaces, &mut warnings)?;
    // In [global], the share-level encryption key also sets session encryption (Samba).
    for e in defaults.iter().filter(|e| e.key == Key::SmbEncrypt) {
        conf.server.encryption = keys::parse_encryption(e.value)
            .map_err(|m| ConfError::at(e.loc, format!("{}: {m}", e.raw_key)))?;
    }

    for draft in &shares {
        conf.server.shares.push(build_share(draft, &defaults)?);
    }
    conf.warnings = warnings;
    Ok(conf)
}

fn section_target<'a>(
    name: &str,
    loc: &'a Loc,
    shares: &mut Vec<ShareDraft<'a>>,
    warnings: &mut Vec<String>,
) -> Result<Target, ConfError> {
    let lower = name.to_lowercase();
    match lower.as_str() {
        "global" => return Ok(Target::Global),
        "homes" | "printers" => {
            warnings.push(format!("{loc}: section [{name}] is not supported, skipped"));
            return Ok(Target::Skipped);
        }
        "ipc$" => {
            warnings.push(format!("{loc}: [{name}] is built in, section skipped"));
            return Ok(Target::Skipped);
        }
        _ => {}
    }
    check_share_name(name).map_err(|m| ConfError::at(loc, m))?;
    // A repeated section continues the first one, as in Samba.
    if let Some(i) = shares.iter().position(|s| s.name.to_lowercase() == lower) {
        return Ok(Target::Share(i));
    }
    shares.push(ShareDraft {
        name: name.to_string(),
        loc,
        entries: Vec::new(),
    });
    Ok(Target::Share(shares.len().saturating_sub(1)))
}

/// Share names clients can use: at most 80 characters (MS-SRVS 2.2.4.22
/// shi2_netname), none of the characters Windows forbids in them.
fn check_share_name(name: &str) -> Result<(), String> {
    const BAD: &[char] = &[
        '"', '\\', '/', '[', ']', ':', '|', '<', '>', '+', '=', ';', ',', '*', '?', '%',
    ];
    if name.chars().count() > 80 {
        return Err(format!("share name [{name}] is longer than 80 characters"));
    }
    if let Some(c) = name.chars().find(|c| BAD.contains(c) || c.is_control()) {
        return Err(format!("share name [{name}] contains {c:?}"));
    }
    Ok(())
}

fn apply_global(conf: &mut Conf, e: &Entry, warnings: &mut Vec<String>) -> Result<(), ConfError> {
    let err = |m: String| ConfError::at(e.loc, format!("{}: {m}", e.raw_key));
    let s = &mut conf.server;
    let v = e.value;
    match e.key {
        Key::TcpPort => conf.tcp_port = keys::parse_port(v).map_err(err)?,
        Key::SmbPorts => {
            let first = keys::parse_list(v).into_iter().next().unwrap_or_default();
            conf.tcp_port = keys::parse_port(&first).map_err(err)?;
        }
        Key::Interfaces => conf.interfaces = keys::parse_list(v),
        Key::BindInterfacesOnly => conf.bind_interfaces_only = keys::parse_bool(v).map_err(err)?,
        Key::ServerString => s.server_string = v.to_string(),
        Key::NetbiosName => s.netbios_name = v.to_uppercase(),
        Key::Workgroup => s.workgroup = v.to_uppercase(),
        Key::ServerMinProtocol | Key::ServerMaxProtocol => {
            let bound = if e.key == Key::ServerMinProtocol {
                Bound::Min
            } else {
                Bound::Max
            };
            let (d, warn) = keys::parse_protocol(v, bound).map_err(err)?;
            if let Some(w) = warn {
                warnings.push(format!("{}: {w}", e.loc));
            }
            match bound {
                Bound::Min => s.min_dialect = d,
                Bound::Max => s.max_dialect = d,
            }
        }
        Key::ServerSigning => s.signing = keys::parse_signing(v).map_err(err)?,
        Key::MapToGuest => {
            let (m, warn) = keys::parse_map_to_guest(v).map_err(err)?;
            if let Some(w) = warn {
                warnings.push(format!("{}: {w}", e.loc));
            }
            s.map_to_guest = m;
        }
        Key::GuestAccount => s.guest_account = v.to_string(),
        Key::Smb2MaxRead | Key::Smb2MaxWrite | Key::Smb2MaxTrans => {
            let (n, clamped) = keys::clamp_io_size(keys::parse_size(v).map_err(err)?);
            if clamped {
                warnings.push(format!(
                    "{}: {} = {v} clamped to {n} (allowed: 64K to 8M)",
                    e.loc, e.raw_key
                ));
            }
            match e.key {
                Key::Smb2MaxRead => s.max_read = n,
                Key::Smb2MaxWrite => s.max_write = n,
                _ => s.max_trans = n,
            }
        }
        Key::MaxConnections => s.max_connections = keys::parse_u32(v).map_err(err)?,
        Key::Smb2Leases => s.leases = keys::parse_bool(v).map_err(err)?,
        Key::Smb3DirectoryLeases => s.directory_leases = keys::parse_bool(v).map_err(err)?,
        Key::Smb3EncryptionAlgorithms => s.ciphers = keys::parse_ciphers(v).map_err(err)?,
        Key::Smb3SigningAlgorithms => {
            s.signing_algorithms = keys::parse_signing_algorithms(v).map_err(err)?
        }
        Key::UsersFile => {
            if v.is_empty() {
                return Err(err("needs a file name".into()));
            }
            conf.users_file = lexer::resolve_relative(&e.loc.file, v);
        }
        // Share keys never reach here (`is_global` routes them).
        _ => {}
    }
    Ok(())
}

/// The addresses to listen on. Without `bind interfaces only` every address
/// (0.0.0.0) is used, as Samba does; with it, each `interfaces` entry.
fn listen_addrs(
    conf: &Conf,
    loc: Option<&Loc>,
    local_ifaces: &mut dyn FnMut() -> Vec<IfAddr>,
    warnings: &mut Vec<String>,
) -> Result<Vec<SocketAddr>, ConfError> {
    let port = conf.tcp_port;
    let (Some(loc), true) = (loc, conf.bind_interfaces_only) else {
        return Ok(vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )]);
    };
    if conf.interfaces.is_empty() {
        return Ok(vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )]);
    }
    let mut local: Option<Vec<IfAddr>> = None;
    let mut out: Vec<SocketAddr> = Vec::new();
    for spec in &conf.interfaces {
        let ips = if spec.parse::<IpAddr>().is_ok() {
            netif::resolve(spec, &[])
        } else {
            let l = local.get_or_insert_with(&mut *local_ifaces);
            netif::resolve(spec, l)
        }
        .map_err(|m| ConfError::at(loc, m))?;
        if ips.is_empty() {
            warnings.push(format!(
                "{loc}: interface {spec:?} matches no local address"
            ));
        }
        for ip in ips {
            let sa = SocketAddr::new(ip, port);
            if !out.contains(&sa) {
                out.push(sa);
            }
        }
    }
    if out.is_empty() {
        return Err(ConfError::at(
            loc,
            "interfaces: no usable address (and bind interfaces only = yes)",
        ));
    }
    Ok(out)
}

fn build_share(draft: &ShareDraft, defaults: &[Entry]) -> Result<ShareConfig, ConfError> {
    let mut share = ShareConfig::new(&draft.name, PathBuf::new());
    let mut has_path = false;
    for e in defaults.iter().chain(draft.entries.iter()) {
        apply_share(&mut share, &mut has_path, e)?;
    }
    if !has_path {
        return Err(ConfError::at(
            draft.loc,
            format!("share [{}] has no path", draft.name),
        ));
    }
    Ok(share)
}

fn apply_share(s: &mut ShareConfig, has_path: &mut bool, e: &Entry) -> Result<(), ConfError> {
    let err = |m: String| ConfError::at(e.loc, format!("{}: {m}", e.raw_key));
    let v = e.value;
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    match e.key {
        Key::Path => {
            if v.is_empty() {
                return Err(err("path is empty".into()));
            }
            s.path = lexer::resolve_relative(&e.loc.file, v);
            *has_path = true;
        }
        Key::Comment => s.comment = v.to_string(),
        Key::ReadOnly => s.read_only = keys::parse_bool(v).map_err(err)?,
        Key::Writeable => s.read_only = !keys::parse_bool(v).map_err(err)?,
        Key::Browseable => s.browseable = keys::parse_bool(v).map_err(err)?,
        Key::GuestOk => s.guest_ok = keys::parse_bool(v).map_err(err)?,
        Key::ValidUsers => s.valid_users = keys::parse_list(v),
        Key::InvalidUsers => s.invalid_users = keys::parse_list(v),
        Key::ReadList => s.read_list = keys::parse_list(v),
        Key::WriteList => s.write_list = keys::parse_list(v),
        Key::ForceUser => s.force_user = opt(v),
        Key::ForceGroup => s.force_group = opt(v),
        Key::CreateMask => s.create_mask = keys::parse_octal(v).map_err(err)?,
        Key::DirectoryMask => s.directory_mask = keys::parse_octal(v).map_err(err)?,
        Key::HideDotFiles => s.hide_dot_files = keys::parse_bool(v).map_err(err)?,
        Key::VetoFiles => s.veto_files = keys::parse_veto(v),
        Key::SmbEncrypt => s.encryption = keys::parse_encryption(v).map_err(err)?,
        // Global keys never reach here (`is_global` routes them).
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
