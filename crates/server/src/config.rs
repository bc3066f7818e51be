//! Typed server configuration. The `rsmbd` binary parses smb.conf syntax into
//! these structs; nothing in the server reads a config file itself.

use std::net::SocketAddr;
use std::path::PathBuf;

/// SMB2 dialect revisions (MS-SMB2 2.2.3).
pub mod dialect {
    pub const SMB2_02: u16 = 0x0202;
    pub const SMB2_10: u16 = 0x0210;
    pub const SMB3_00: u16 = 0x0300;
    pub const SMB3_02: u16 = 0x0302;
    pub const SMB3_11: u16 = 0x0311;
}

/// `server signing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningPolicy {
    /// Sign when the client asks or the dialect requires it.
    Auto,
    /// Every session must sign (SMB2_NEGOTIATE_SIGNING_REQUIRED).
    Mandatory,
    /// Do not advertise signing as required; still sign where the protocol demands it.
    Disabled,
}

/// `server smb encrypt` / `smb3 encryption`, globally and per share, with
/// Samba's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionPolicy {
    /// Never encrypt; SMB 3 clients are not offered encryption.
    Off,
    /// Encryption is offered; a client may ask for it (the default).
    IfRequired,
    /// Sessions (or trees) of clients that can encrypt are encrypted; others still work.
    Desired,
    /// Only encrypted access; clients that cannot encrypt are refused.
    Required,
}

/// Cipher ids (MS-SMB2 2.2.3.1.2) and signing algorithm ids (2.2.3.1.7).
pub mod algorithm {
    pub const AES_128_CCM: u16 = 1;
    pub const AES_128_GCM: u16 = 2;
    pub const AES_256_CCM: u16 = 3;
    pub const AES_256_GCM: u16 = 4;
    pub const HMAC_SHA256: u16 = 0;
    pub const AES_CMAC: u16 = 1;
    pub const AES_GMAC: u16 = 2;
}

/// `map to guest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapToGuest {
    Never,
    /// An unknown user name logs on as the guest account.
    BadUser,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Addresses to listen on (from `tcp port`, `interfaces`, `bind interfaces only`).
    pub listen: Vec<SocketAddr>,
    pub server_string: String,
    pub netbios_name: String,
    pub workgroup: String,
    /// Lowest and highest dialect offered (`server min protocol`, `server max protocol`).
    pub min_dialect: u16,
    pub max_dialect: u16,
    pub signing: SigningPolicy,
    pub map_to_guest: MapToGuest,
    pub guest_account: String,
    /// `smb2 max read` / `smb2 max write` / `smb2 max trans`, bytes.
    pub max_read: u32,
    pub max_write: u32,
    pub max_trans: u32,
    /// `max connections`; 0 = unlimited.
    pub max_connections: u32,
    /// Session encryption (`server smb encrypt` in [global]).
    pub encryption: EncryptionPolicy,
    /// `server smb3 encryption algorithms`, in order of preference.
    pub ciphers: Vec<u16>,
    /// `server smb3 signing algorithms`, in order of preference.
    pub signing_algorithms: Vec<u16>,
    /// `smb2 leases`: grant SMB 2.1+ leases (MS-SMB2 3.3.5.9.11).
    pub leases: bool,
    /// `smb3 directory leases`: grant R/RH leases on directories to SMB 3.x clients.
    pub directory_leases: bool,
    /// How long a break waits for its acknowledgement before the server
    /// downgrades the oplock or lease itself (Windows: 35 s).
    pub oplock_break_timeout: std::time::Duration,
    pub shares: Vec<ShareConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 445))],
            server_string: "rsmbd".into(),
            netbios_name: "RSMBD".into(),
            workgroup: "WORKGROUP".into(),
            min_dialect: dialect::SMB2_02,
            max_dialect: dialect::SMB3_11,
            signing: SigningPolicy::Auto,
            map_to_guest: MapToGuest::Never,
            guest_account: "nobody".into(),
            max_read: 8 * 1024 * 1024,
            max_write: 8 * 1024 * 1024,
            max_trans: 8 * 1024 * 1024,
            max_connections: 0,
            encryption: EncryptionPolicy::IfRequired,
            // The strongest first, so clients that offer AES-256 (macOS) get it.
            ciphers: vec![
                algorithm::AES_256_GCM,
                algorithm::AES_256_CCM,
                algorithm::AES_128_GCM,
                algorithm::AES_128_CCM,
            ],
            signing_algorithms: vec![
                algorithm::AES_GMAC,
                algorithm::AES_CMAC,
                algorithm::HMAC_SHA256,
            ],
            leases: true,
            directory_leases: true,
            oplock_break_timeout: std::time::Duration::from_secs(35),
            shares: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ShareConfig {
    /// Share name as clients see it (compared case-insensitively).
    pub name: String,
    pub path: PathBuf,
    pub comment: String,
    pub read_only: bool,
    pub browseable: bool,
    pub guest_ok: bool,
    /// Empty = everyone may connect.
    pub valid_users: Vec<String>,
    pub invalid_users: Vec<String>,
    /// Users who get read-only access even on a writable share.
    pub read_list: Vec<String>,
    /// Users who get write access even on a read-only share.
    pub write_list: Vec<String>,
    pub force_user: Option<String>,
    pub force_group: Option<String>,
    pub create_mask: u32,
    pub directory_mask: u32,
    pub hide_dot_files: bool,
    /// `veto files = /pattern1/pattern2/` split into patterns (`*` and `?` wildcards).
    pub veto_files: Vec<String>,
    /// Tree encryption (`server smb encrypt` in the share section).
    pub encryption: EncryptionPolicy,
}

impl ShareConfig {
    pub fn new(name: &str, path: PathBuf) -> Self {
        ShareConfig {
            name: name.into(),
            path,
            comment: String::new(),
            read_only: true,
            browseable: true,
            guest_ok: false,
            valid_users: Vec::new(),
            invalid_users: Vec::new(),
            read_list: Vec::new(),
            write_list: Vec::new(),
            force_user: None,
            force_group: None,
            create_mask: 0o744,
            directory_mask: 0o755,
            hide_dot_files: true,
            veto_files: Vec::new(),
            encryption: EncryptionPolicy::IfRequired,
        }
    }
}
