//! Protocol state, named as in MS-SMB2 3.3.1: the server, its connections,
//! sessions, tree connects and opens.
//!
//! Locking: each object guards its own mutable part; no lock is held across
//! file I/O. A handler resolves session, tree and open by id for every
//! request (never caching them across compound elements).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use wire::create::FileId;

use crate::config::{ServerConfig, ShareConfig};
use crate::credits::CreditWindow;
use crate::filetable::FileTable;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: a
/// panic costs one request, never the server.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Global server state (MS-SMB2 3.3.1.5).
pub struct Server {
    pub config: ServerConfig,
    pub users: auth::UserDb,
    pub server_guid: [u8; 16],
    pub start_time: u64,
    /// Disk shares with their confined root, in config order.
    pub shares: Vec<Arc<ShareEntry>>,
    pub files: FileTable,
    pub locks: crate::smb2::lock::LockTable,
    /// Pending CHANGE_NOTIFY watches of every connection.
    pub notify: crate::notify::NotifyTable,
    /// Oplocks and leases of every open file (MS-SMB2 3.3.1.4 GlobalLeaseTableList).
    pub oplocks: crate::oplock::OplockTable,
    /// The Arc this server lives in, for work that outlives a request (a
    /// CREATE waiting for an oplock break).
    this: OnceLock<Weak<Server>>,
    next_session_id: AtomicU64,
    next_file_id: AtomicU64,
    /// GlobalSessionTable (MS-SMB2 3.3.1.5): every session by id, with the
    /// pending operations of its connection, so a reconnecting client can
    /// end its previous session wherever it lives.
    sessions: Mutex<HashMap<u64, (Weak<Session>, crate::pending::AsyncTable)>>,
    pub connections: AtomicU32,
}

/// A configured disk share and its opened root.
pub struct ShareEntry {
    pub config: ShareConfig,
    pub fs: vfs::Share,
    pub volume_serial: u32,
    /// Short names handed out, so a short name keeps naming its long name
    /// even after the file is gone (as Samba's mangling cache does).
    pub mangled: crate::mangle::MangleCache,
}

impl Server {
    pub fn new(config: ServerConfig, users: auth::UserDb) -> std::io::Result<Server> {
        let mut shares = Vec::new();
        for s in &config.shares {
            let fs = vfs::Share::new(&s.path).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("share [{}] path {}: {e}", s.name, s.path.display()),
                )
            })?;
            let volume_serial = crate::util::fnv32(s.path.to_string_lossy().as_bytes());
            shares.push(Arc::new(ShareEntry {
                config: s.clone(),
                fs,
                volume_serial,
                mangled: Default::default(),
            }));
        }
        let mut server_guid = [0u8; 16];
        // A stable server GUID: derived from the NetBIOS name, so it survives restarts.
        let h = crypto::md5(format!("rsmbd-server-guid:{}", config.netbios_name).as_bytes());
        server_guid.copy_from_slice(&h);
        let mut seed = [0u8; 8];
        crypto::random_bytes(&mut seed);
        let oplocks = crate::oplock::OplockTable::default();
        oplocks.set_break_timeout(config.oplock_break_timeout);
        Ok(Server {
            start_time: crate::util::nt_now(),
            server_guid,
            shares,
            files: FileTable::default(),
            locks: Default::default(),
            notify: Default::default(),
            oplocks,
            this: OnceLock::new(),
            // Session ids start at a random point so ids are not guessable across restarts.
            // Kept below 2^32: some clients store session ids in 32 bits.
            next_session_id: AtomicU64::new((u64::from_le_bytes(seed) & 0x7fff_0000) | 1),
            next_file_id: AtomicU64::new(1),
            sessions: Mutex::new(HashMap::new()),
            connections: AtomicU32::new(0),
            config,
            users,
        })
    }

    /// Moves the server into an Arc that `arc` can hand out again.
    pub fn into_arc(self) -> Arc<Server> {
        let a = Arc::new(self);
        let _ = a.this.set(Arc::downgrade(&a));
        a
    }

    /// The Arc this server lives in, when it was made with `into_arc`.
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.this.get().and_then(Weak::upgrade)
    }

    pub fn new_session_id(&self) -> u64 {
        self.next_session_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Enters a new session in the global table; entries of sessions that
    /// are gone are dropped on the way.
    pub fn register_session(&self, s: &Arc<Session>, pending: crate::pending::AsyncTable) {
        let mut t = lock(&self.sessions);
        t.retain(|_, (w, _)| w.strong_count() > 0);
        t.insert(s.id, (Arc::downgrade(s), pending));
    }

    /// A live session by id from any connection, with its connection's pending operations.
    pub fn global_session(&self, id: u64) -> Option<(Arc<Session>, crate::pending::AsyncTable)> {
        let t = lock(&self.sessions);
        let (w, p) = t.get(&id)?;
        Some((w.upgrade()?, p.shared()))
    }

    pub fn new_file_id(&self) -> u64 {
        self.next_file_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn find_share(&self, name: &str) -> Option<&Arc<ShareEntry>> {
        self.shares.iter().find(|s| {
            s.config.name.eq_ignore_ascii_case(name)
                || s.config.name.to_lowercase() == name.to_lowercase()
        })
    }
}

/// What NEGOTIATE decided for a connection (MS-SMB2 3.3.1.7).
#[derive(Clone, Debug)]
pub struct Negotiated {
    pub dialect: u16,
    pub client_guid: [u8; 16],
    pub client_capabilities: u32,
    pub client_security_mode: u16,
    pub server_capabilities: u32,
    pub server_security_mode: u16,
    pub client_dialects: Vec<u16>,
    pub signing_algorithm: Option<crypto::SigningAlgorithm>,
    pub cipher: Option<crypto::Cipher>,
    pub max_read: u32,
    pub max_write: u32,
    pub max_trans: u32,
    /// 3.1.1: the connection's preauth integrity hash after NEGOTIATE.
    pub preauth_hash: [u8; 64],
}

impl Default for Negotiated {
    fn default() -> Self {
        Negotiated {
            dialect: 0,
            client_guid: [0; 16],
            client_capabilities: 0,
            client_security_mode: 0,
            server_capabilities: 0,
            server_security_mode: 0,
            client_dialects: Vec::new(),
            signing_algorithm: None,
            cipher: None,
            max_read: 65536,
            max_write: 65536,
            max_trans: 65536,
            preauth_hash: [0; 64],
        }
    }
}

/// What most requests need of NEGOTIATE's outcome.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub dialect: u16,
    pub max_read: u32,
    pub max_write: u32,
    pub max_trans: u32,
}

/// One transport connection.
pub struct Connection {
    pub id: u64,
    pub peer: String,
    pub negotiated: Mutex<Option<Negotiated>>,
    pub credits: Mutex<CreditWindow>,
    pub sessions: Mutex<HashMap<u64, Arc<Session>>>,
    /// Set when the connection must be closed after the current frame.
    pub closing: AtomicBool,
    /// Requests answered STATUS_PENDING that will complete later.
    pub pending: crate::pending::AsyncTable,
}

impl Connection {
    pub fn new(id: u64, peer: String) -> Connection {
        Connection {
            id,
            peer,
            negotiated: Mutex::new(None),
            credits: Mutex::new(CreditWindow::new()),
            sessions: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            pending: Default::default(),
        }
    }

    pub fn negotiated(&self) -> Option<Negotiated> {
        lock(&self.negotiated).clone()
    }

    /// The negotiated dialect and size limits, without cloning the rest
    /// (the per-request path needs only these).
    pub fn limits(&self) -> Option<Limits> {
        lock(&self.negotiated).as_ref().map(|n| Limits {
            dialect: n.dialect,
            max_read: n.max_read,
            max_write: n.max_write,
            max_trans: n.max_trans,
        })
    }

    pub fn session(&self, id: u64) -> Option<Arc<Session>> {
        lock(&self.sessions).get(&id).cloned()
    }
}

/// Authentication state of a session (MS-SMB2 3.3.1.8 Session.State).
pub enum AuthState {
    InProgress(Box<auth::Acceptor>),
    Valid(Box<SessionAuth>),
    Expired,
    /// Ended by a reconnect naming it as PreviousSessionId (MS-SMB2 3.3.5.5.3).
    Deleted,
}

/// What a completed logon established.
pub struct SessionAuth {
    pub identity: auth::Identity,
    /// The Unix identity file operations run as.
    pub unix: Option<vfs::Identity>,
    pub user_name: String,
    pub signing_key: Option<crypto::SigningKey>,
    pub session_key: [u8; 16],
    pub signing_required: bool,
    /// Keys for the transform header, when the dialect and client can encrypt.
    pub crypto: Option<Arc<SessionCrypto>>,
    /// Session.EncryptData: every request must arrive encrypted (MS-SMB2 3.3.1.8).
    pub encrypt_data: bool,
}

/// The two AES keys of a session and a nonce source that never repeats.
pub struct SessionCrypto {
    /// Server to client (Session.EncryptionKey).
    pub encryptor: crypto::CipherKey,
    /// Client to server (Session.DecryptionKey).
    pub decryptor: crypto::CipherKey,
    nonce_prefix: [u8; 4],
    counter: AtomicU64,
}

impl SessionCrypto {
    pub fn new(encryptor: crypto::CipherKey, decryptor: crypto::CipherKey) -> SessionCrypto {
        let mut nonce_prefix = [0u8; 4];
        crypto::random_bytes(&mut nonce_prefix);
        SessionCrypto {
            encryptor,
            decryptor,
            nonce_prefix,
            counter: AtomicU64::new(1),
        }
    }

    /// A fresh 16-byte Nonce field: a counter under a random prefix, so a
    /// nonce is never reused with a key (MS-SMB2 3.3.4.1.4).
    pub fn next_nonce(&self) -> [u8; 16] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&n.to_le_bytes());
        nonce[8..12].copy_from_slice(&self.nonce_prefix);
        nonce
    }
}

pub struct Session {
    pub id: u64,
    pub state: Mutex<AuthState>,
    /// A re-authentication in progress on a valid session (3.3.5.5.2).
    pub reauth: Mutex<Option<Box<auth::Acceptor>>>,
    /// 3.1.1: Session.PreauthIntegrityHashValue.
    pub preauth_hash: Mutex<[u8; 64]>,
    pub trees: Mutex<HashMap<u32, Arc<TreeConnect>>>,
    pub opens: Mutex<HashMap<u64, Arc<Open>>>,
    next_tree_id: AtomicU32,
}

impl Session {
    pub fn new(id: u64, acceptor: auth::Acceptor, preauth: [u8; 64]) -> Session {
        Session {
            id,
            state: Mutex::new(AuthState::InProgress(Box::new(acceptor))),
            reauth: Mutex::new(None),
            preauth_hash: Mutex::new(preauth),
            trees: Mutex::new(HashMap::new()),
            opens: Mutex::new(HashMap::new()),
            next_tree_id: AtomicU32::new(1),
        }
    }

    pub fn new_tree_id(&self) -> u32 {
        self.next_tree_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn is_valid(&self) -> bool {
        matches!(*lock(&self.state), AuthState::Valid(_))
    }

    pub fn tree(&self, id: u32) -> Option<Arc<TreeConnect>> {
        lock(&self.trees).get(&id).cloned()
    }

    pub fn open(&self, volatile: u64) -> Option<Arc<Open>> {
        lock(&self.opens).get(&volatile).cloned()
    }
}

pub enum TreeKind {
    Disk(Arc<ShareEntry>),
    Ipc,
}

/// MS-SMB2 3.3.1.9.
pub struct TreeConnect {
    pub id: u32,
    pub kind: TreeKind,
    /// The most this user may be granted on this share.
    pub maximal_access: u32,
    pub writable: bool,
    /// TreeConnect.EncryptData: requests on this tree must be encrypted.
    pub encrypt_data: bool,
    /// The share's `force user` account, looked up once at connect.
    pub force_user: Option<vfs::Identity>,
    /// The share's `force group`, looked up once at connect.
    pub force_gid: Option<u32>,
}

impl TreeConnect {
    pub fn share(&self) -> Option<&Arc<ShareEntry>> {
        match &self.kind {
            TreeKind::Disk(s) => Some(s),
            TreeKind::Ipc => None,
        }
    }
}

pub enum OpenKind {
    File(vfs::Handle),
    Pipe(Mutex<rpc::Pipe>),
}

/// Where a directory listing stands (QUERY_DIRECTORY).
pub struct DirState {
    pub pattern: String,
    pub cursor: vfs::DirCursor,
    /// Entries "." and ".." still to emit (2, 1, 0).
    pub dots_left: u8,
    /// An entry read but not yet returned because it did not fit.
    pub pending: Option<crate::smb2::query_directory::Entry>,
    pub finished: bool,
    pub any_returned: bool,
}

/// MS-SMB2 3.3.1.10.
pub struct Open {
    pub file_id: FileId,
    pub session_id: u64,
    pub tree: Arc<TreeConnect>,
    pub kind: OpenKind,
    pub granted_access: u32,
    pub share_access: u32,
    pub is_dir: bool,
    /// Share-relative real path ("" for the root), updated on rename.
    pub path: Mutex<String>,
    /// The named stream this open reads and writes, None for the main data.
    pub stream: Option<String>,
    /// (dev, ino) key in the server's file table.
    pub file_key: (u64, u64),
    pub delete_on_close: AtomicBool,
    pub position: AtomicU64,
    pub mode: AtomicU32,
    pub dir: Mutex<Option<DirState>>,
    /// Set once the open is closed, so work that raced with CLOSE stops.
    pub closed: AtomicBool,
    /// Held around each WRITE: concurrent writes to one file would contend on
    /// the kernel's inode lock, which spins while the holder copies a
    /// megabyte; waiting here sleeps instead.
    pub write_gate: Mutex<()>,
}

impl Open {
    pub fn handle(&self) -> Option<&vfs::Handle> {
        match &self.kind {
            OpenKind::File(h) => Some(h),
            OpenKind::Pipe(_) => None,
        }
    }

    pub fn path(&self) -> String {
        lock(&self.path).clone()
    }
}
