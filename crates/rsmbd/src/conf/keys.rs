//! The config keys rsmbd knows (smb.conf(5) / ksmbd.conf(5) names and their
//! synonyms) and the parsers for their value types.

use server::config::{dialect, EncryptionPolicy, MapToGuest, SigningPolicy};

/// Every key rsmbd acts on. Synonyms map to the same key (or to an inverted one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    // [global]
    TcpPort,
    SmbPorts,
    Interfaces,
    BindInterfacesOnly,
    ServerString,
    NetbiosName,
    Workgroup,
    ServerMinProtocol,
    ServerMaxProtocol,
    ServerSigning,
    MapToGuest,
    GuestAccount,
    Smb2MaxRead,
    Smb2MaxWrite,
    Smb2MaxTrans,
    MaxConnections,
    Smb2Leases,
    Smb3DirectoryLeases,
    UsersFile,
    // shares (and share defaults in [global])
    Path,
    Comment,
    ReadOnly,
    /// `writeable` and its synonyms: the inverse of `read only`.
    Writeable,
    Browseable,
    GuestOk,
    ValidUsers,
    InvalidUsers,
    ReadList,
    WriteList,
    ForceUser,
    ForceGroup,
    CreateMask,
    DirectoryMask,
    HideDotFiles,
    VetoFiles,
    SmbEncrypt,
    Smb3EncryptionAlgorithms,
    Smb3SigningAlgorithms,
}

/// Normalised name (see `lexer::normalize_key`) to key.
const KEYS: &[(&str, Key)] = &[
    ("tcpport", Key::TcpPort),
    ("smbports", Key::SmbPorts),
    ("interfaces", Key::Interfaces),
    ("bindinterfacesonly", Key::BindInterfacesOnly),
    ("serverstring", Key::ServerString),
    ("netbiosname", Key::NetbiosName),
    ("workgroup", Key::Workgroup),
    ("serverminprotocol", Key::ServerMinProtocol),
    ("minprotocol", Key::ServerMinProtocol),
    ("servermaxprotocol", Key::ServerMaxProtocol),
    ("maxprotocol", Key::ServerMaxProtocol),
    ("protocol", Key::ServerMaxProtocol),
    ("serversigning", Key::ServerSigning),
    ("maptoguest", Key::MapToGuest),
    ("guestaccount", Key::GuestAccount),
    ("smb2maxread", Key::Smb2MaxRead),
    ("smb2maxwrite", Key::Smb2MaxWrite),
    ("smb2maxtrans", Key::Smb2MaxTrans),
    ("maxconnections", Key::MaxConnections),
    ("smb2leases", Key::Smb2Leases),
    ("smb3directoryleases", Key::Smb3DirectoryLeases),
    ("usersfile", Key::UsersFile),
    ("path", Key::Path),
    ("directory", Key::Path),
    ("comment", Key::Comment),
    ("readonly", Key::ReadOnly),
    ("writeable", Key::Writeable),
    ("writable", Key::Writeable),
    ("writeok", Key::Writeable),
    ("browseable", Key::Browseable),
    ("browsable", Key::Browseable),
    ("guestok", Key::GuestOk),
    ("public", Key::GuestOk),
    ("validusers", Key::ValidUsers),
    ("invalidusers", Key::InvalidUsers),
    ("readlist", Key::ReadList),
    ("writelist", Key::WriteList),
    ("forceuser", Key::ForceUser),
    ("forcegroup", Key::ForceGroup),
    ("createmask", Key::CreateMask),
    ("createmode", Key::CreateMask),
    ("directorymask", Key::DirectoryMask),
    ("directorymode", Key::DirectoryMask),
    ("hidedotfiles", Key::HideDotFiles),
    ("vetofiles", Key::VetoFiles),
    ("serversmbencrypt", Key::SmbEncrypt),
    ("smbencrypt", Key::SmbEncrypt),
    ("smb3encryption", Key::SmbEncrypt),
    (
        "serversmb3encryptionalgorithms",
        Key::Smb3EncryptionAlgorithms,
    ),
    ("serversmb3signingalgorithms", Key::Smb3SigningAlgorithms),
];

/// Looks up a normalised key name.
pub fn lookup(normalized: &str) -> Option<Key> {
    KEYS.iter()
        .find(|(name, _)| *name == normalized)
        .map(|(_, k)| *k)
}

impl Key {
    /// True for keys that only make sense in [global].
    pub fn is_global(self) -> bool {
        !matches!(
            self,
            Key::Path
                | Key::Comment
                | Key::ReadOnly
                | Key::Writeable
                | Key::Browseable
                | Key::GuestOk
                | Key::ValidUsers
                | Key::InvalidUsers
                | Key::ReadList
                | Key::WriteList
                | Key::ForceUser
                | Key::ForceGroup
                | Key::CreateMask
                | Key::DirectoryMask
                | Key::HideDotFiles
                | Key::VetoFiles
                | Key::SmbEncrypt
        )
    }
}

/// `server smb encrypt` (Samba) / `smb3 encryption` (ksmbd): off, if_required
/// (default), desired, required; ksmbd's yes/no map to desired/off.
pub fn parse_encryption(v: &str) -> Result<EncryptionPolicy, String> {
    match v.to_ascii_lowercase().replace(['_', ' '], "").as_str() {
        "off" | "disabled" | "no" | "false" | "0" => Ok(EncryptionPolicy::Off),
        "default" | "ifrequired" | "auto" | "enabled" => Ok(EncryptionPolicy::IfRequired),
        "desired" | "yes" | "true" | "1" => Ok(EncryptionPolicy::Desired),
        "required" | "mandatory" => Ok(EncryptionPolicy::Required),
        _ => Err(format!(
            "invalid encryption setting {v:?} (expected off, if_required, desired or required)"
        )),
    }
}

pub fn encryption_name(e: EncryptionPolicy) -> &'static str {
    match e {
        EncryptionPolicy::Off => "off",
        EncryptionPolicy::IfRequired => "if_required",
        EncryptionPolicy::Desired => "desired",
        EncryptionPolicy::Required => "required",
    }
}

const CIPHERS: [(&str, u16); 4] = [
    ("AES-128-CCM", 1),
    ("AES-128-GCM", 2),
    ("AES-256-CCM", 3),
    ("AES-256-GCM", 4),
];
const SIGNINGS: [(&str, u16); 3] = [("HMAC-SHA256", 0), ("AES-128-CMAC", 1), ("AES-128-GMAC", 2)];

fn parse_algorithms(v: &str, table: &[(&str, u16)], what: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for name in parse_list(v) {
        let id = table
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, id)| *id)
            .ok_or_else(|| format!("unknown {what} {name:?}"))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(format!("no {what} listed"));
    }
    Ok(out)
}

/// `server smb3 encryption algorithms`: names in order of preference.
pub fn parse_ciphers(v: &str) -> Result<Vec<u16>, String> {
    parse_algorithms(v, &CIPHERS, "cipher")
}

/// `server smb3 signing algorithms`: names in order of preference.
pub fn parse_signing_algorithms(v: &str) -> Result<Vec<u16>, String> {
    parse_algorithms(v, &SIGNINGS, "signing algorithm")
}

fn algorithm_names(ids: &[u16], table: &[(&str, u16)]) -> String {
    ids.iter()
        .filter_map(|id| table.iter().find(|(_, i)| i == id).map(|(n, _)| *n))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn cipher_names(ids: &[u16]) -> String {
    algorithm_names(ids, &CIPHERS)
}

pub fn signing_algorithm_names(ids: &[u16]) -> String {
    algorithm_names(ids, &SIGNINGS)
}

/// smb.conf booleans: yes/no, true/false, 1/0 (and Samba's on/off), any case.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" => Ok(false),
        _ => Err(format!(
            "invalid boolean {v:?} (expected yes/no, true/false or 1/0)"
        )),
    }
}

/// A decimal number that fits in u32.
pub fn parse_u32(v: &str) -> Result<u32, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid number {v:?}"));
    }
    v.parse::<u32>()
        .map_err(|_| format!("number {v:?} is too large"))
}

/// A TCP port, 1..=65535.
pub fn parse_port(v: &str) -> Result<u16, String> {
    let n = parse_u32(v)?;
    match u16::try_from(n) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(format!("invalid TCP port {v:?} (expected 1-65535)")),
    }
}

/// A byte count with an optional k/K (KiB) or m/M (MiB) suffix.
pub fn parse_size(v: &str) -> Result<u64, String> {
    let (digits, mult) = if let Some(d) = v.strip_suffix(['k', 'K']) {
        (d.trim_end(), 1024u64)
    } else if let Some(d) = v.strip_suffix(['m', 'M']) {
        (d.trim_end(), 1024 * 1024)
    } else {
        (v, 1)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid size {v:?} (bytes, or a number with K or M)"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("size {v:?} is too large"))
}

/// Limits of `smb2 max read/write/trans` (ksmbd clamps to the same range).
pub const MIN_IO_SIZE: u32 = 64 * 1024;
pub const MAX_IO_SIZE: u32 = 8 * 1024 * 1024;

/// Clamps an I/O size into 64 KiB..8 MiB; the second value says whether it was clamped.
pub fn clamp_io_size(n: u64) -> (u32, bool) {
    let clamped = n.clamp(u64::from(MIN_IO_SIZE), u64::from(MAX_IO_SIZE));
    let out = u32::try_from(clamped).unwrap_or(MAX_IO_SIZE);
    (out, clamped != n)
}

/// A permission mask in octal (`0744`, `744`), at most 07777.
pub fn parse_octal(v: &str) -> Result<u32, String> {
    let digits = v.strip_prefix("0o").unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!("invalid octal mask {v:?}"));
    }
    match u32::from_str_radix(digits, 8) {
        Ok(n) if n <= 0o7777 => Ok(n),
        _ => Err(format!("octal mask {v:?} is larger than 07777")),
    }
}

/// A user/group list: names separated by spaces or commas; `"a b"` keeps a
/// name with a space together; `@group` and `+group` entries are kept as written.
pub fn parse_list(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => quoted = !quoted,
            c if !quoted && (c == ',' || c.is_whitespace()) => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `veto files = /a/b*/`: the patterns between slashes.
pub fn parse_veto(v: &str) -> Vec<String> {
    v.split('/')
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Which end of the range a protocol name is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Min,
    Max,
}

/// `server min/max protocol`. Returns the dialect and an optional warning.
/// Generic names take the end of their family that fits the bound
/// (SMB2 = SMB2_02 as min, SMB2_10 as max), as Samba does.
pub fn parse_protocol(v: &str, bound: Bound) -> Result<(u16, Option<String>), String> {
    let up = v.trim().to_ascii_uppercase();
    let d = match (up.as_str(), bound) {
        ("SMB2_02", _) | ("SMB2", Bound::Min) => dialect::SMB2_02,
        ("SMB2_10", _) | ("SMB2", Bound::Max) => dialect::SMB2_10,
        ("SMB3_00", _) | ("SMB3", Bound::Min) => dialect::SMB3_00,
        ("SMB3_02", _) => dialect::SMB3_02,
        ("SMB3_11", _) | ("SMB3", Bound::Max) => dialect::SMB3_11,
        ("NT1" | "LANMAN1" | "LANMAN2" | "CORE" | "COREPLUS", Bound::Min) => {
            return Ok((
                dialect::SMB2_02,
                Some(format!(
                    "SMB1 protocol {v} is not served; minimum raised to SMB2_02"
                )),
            ))
        }
        ("NT1" | "LANMAN1" | "LANMAN2" | "CORE" | "COREPLUS", Bound::Max) => {
            return Err(format!(
                "SMB1 protocol {v} is not supported as the maximum (use SMB2_02 or later)"
            ))
        }
        _ => {
            return Err(format!(
                "unknown protocol {v:?} (expected SMB2_02, SMB2_10, SMB3_00, SMB3_02, SMB3_11, SMB2 or SMB3)"
            ))
        }
    };
    Ok((d, None))
}

/// The smb.conf name of a dialect, for printing.
pub fn protocol_name(d: u16) -> String {
    match d {
        dialect::SMB2_02 => "SMB2_02".into(),
        dialect::SMB2_10 => "SMB2_10".into(),
        dialect::SMB3_00 => "SMB3_00".into(),
        dialect::SMB3_02 => "SMB3_02".into(),
        dialect::SMB3_11 => "SMB3_11".into(),
        other => format!("0x{other:04x}"),
    }
}

/// `server signing`: auto (= default) | mandatory (= required) | disabled.
pub fn parse_signing(v: &str) -> Result<SigningPolicy, String> {
    match v.to_ascii_lowercase().as_str() {
        "auto" | "default" => Ok(SigningPolicy::Auto),
        "mandatory" | "required" => Ok(SigningPolicy::Mandatory),
        "disabled" => Ok(SigningPolicy::Disabled),
        _ => Err(format!(
            "invalid server signing {v:?} (expected auto, mandatory, required, disabled or default)"
        )),
    }
}

pub fn signing_name(s: SigningPolicy) -> &'static str {
    match s {
        SigningPolicy::Auto => "auto",
        SigningPolicy::Mandatory => "mandatory",
        SigningPolicy::Disabled => "disabled",
    }
}

/// `map to guest`: never | bad user; `bad password` is accepted with a
/// warning and read as never (guest logons after a wrong password hide typos
/// and are refused by modern clients anyway).
pub fn parse_map_to_guest(v: &str) -> Result<(MapToGuest, Option<String>), String> {
    let norm: String = v
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    match norm.as_str() {
        "never" => Ok((MapToGuest::Never, None)),
        "baduser" => Ok((MapToGuest::BadUser, None)),
        "badpassword" => Ok((
            MapToGuest::Never,
            Some("map to guest = bad password is not supported; using never".into()),
        )),
        _ => Err(format!(
            "invalid map to guest {v:?} (expected never or bad user)"
        )),
    }
}

pub fn map_to_guest_name(m: MapToGuest) -> &'static str {
    match m {
        MapToGuest::Never => "never",
        MapToGuest::BadUser => "bad user",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_boolean_form() {
        for t in ["yes", "YES", "Yes", "true", "True", "TRUE", "1", "on", "On"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in [
            "no", "NO", "No", "false", "False", "FALSE", "0", "off", "OFF",
        ] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        for bad in ["", "y", "2", "yess", "nope"] {
            assert!(parse_bool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn synonyms_resolve_to_the_same_key() {
        assert_eq!(lookup("writeable"), Some(Key::Writeable));
        assert_eq!(lookup("writable"), Some(Key::Writeable));
        assert_eq!(lookup("writeok"), Some(Key::Writeable));
        assert_eq!(lookup("browsable"), Some(Key::Browseable));
        assert_eq!(lookup("public"), Some(Key::GuestOk));
        assert_eq!(lookup("createmode"), Some(Key::CreateMask));
        assert_eq!(lookup("directorymode"), Some(Key::DirectoryMask));
        assert_eq!(lookup("nosuchkey"), None);
        assert!(Key::TcpPort.is_global());
        assert!(!Key::GuestOk.is_global());
    }

    #[test]
    fn sizes_with_suffixes_and_clamping() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert!(parse_size("8G").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("18014398509481984M").is_err());
        assert_eq!(clamp_io_size(1), (MIN_IO_SIZE, true));
        assert_eq!(clamp_io_size(1 << 30), (MAX_IO_SIZE, true));
        assert_eq!(clamp_io_size(1 << 20), (1 << 20, false));
    }

    #[test]
    fn numbers_ports_octal() {
        assert_eq!(parse_u32("0"), Ok(0));
        assert!(parse_u32("4294967296").is_err());
        assert!(parse_u32("+1").is_err());
        assert_eq!(parse_port("445"), Ok(445));
        assert!(parse_port("0").is_err());
        assert!(parse_port("65536").is_err());
        assert_eq!(parse_octal("0744"), Ok(0o744));
        assert_eq!(parse_octal("755"), Ok(0o755));
        assert_eq!(parse_octal("0o700"), Ok(0o700));
        assert!(parse_octal("0788").is_err());
        assert!(parse_octal("17777").is_err());
    }

    #[test]
    fn lists_split_on_spaces_and_commas() {
        assert_eq!(
            parse_list("alice, bob,carol  @staff +grp \"john smith\""),
            vec!["alice", "bob", "carol", "@staff", "+grp", "john smith"]
        );
        assert!(parse_list("  ,  ").is_empty());
        assert_eq!(
            parse_veto("/.*/*.tmp/ /Thumbs.db/"),
            vec![".*", "*.tmp", "Thumbs.db"]
        );
    }

    #[test]
    fn protocols() {
        assert_eq!(
            parse_protocol("smb2_02", Bound::Min).unwrap().0,
            dialect::SMB2_02
        );
        assert_eq!(
            parse_protocol("SMB2", Bound::Max).unwrap().0,
            dialect::SMB2_10
        );
        assert_eq!(
            parse_protocol("SMB2", Bound::Min).unwrap().0,
            dialect::SMB2_02
        );
        assert_eq!(
            parse_protocol("SMB3", Bound::Max).unwrap().0,
            dialect::SMB3_11
        );
        assert_eq!(
            parse_protocol("SMB3", Bound::Min).unwrap().0,
            dialect::SMB3_00
        );
        assert_eq!(
            parse_protocol("Smb3_02", Bound::Max).unwrap().0,
            dialect::SMB3_02
        );
        let (d, warn) = parse_protocol("NT1", Bound::Min).unwrap();
        assert_eq!(d, dialect::SMB2_02);
        assert!(warn.is_some());
        assert!(parse_protocol("LANMAN2", Bound::Max).is_err());
        assert!(parse_protocol("SMB4", Bound::Max).is_err());
        assert_eq!(protocol_name(dialect::SMB3_11), "SMB3_11");
    }

    #[test]
    fn signing_and_guest_mapping() {
        assert_eq!(parse_signing("Auto"), Ok(SigningPolicy::Auto));
        assert_eq!(parse_signing("default"), Ok(SigningPolicy::Auto));
        assert_eq!(parse_signing("required"), Ok(SigningPolicy::Mandatory));
        assert_eq!(parse_signing("MANDATORY"), Ok(SigningPolicy::Mandatory));
        assert_eq!(parse_signing("disabled"), Ok(SigningPolicy::Disabled));
        assert!(parse_signing("sometimes").is_err());
        assert_eq!(
            parse_map_to_guest("Bad User").unwrap().0,
            MapToGuest::BadUser
        );
        assert_eq!(parse_map_to_guest("never").unwrap().0, MapToGuest::Never);
        let (m, w) = parse_map_to_guest("bad password").unwrap();
        assert_eq!(m, MapToGuest::Never);
        assert!(w.is_some());
        assert!(parse_map_to_guest("always").is_err());
    }
}
