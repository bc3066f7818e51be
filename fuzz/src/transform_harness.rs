//! SMB3 encryption under the fuzzer: requests in a TRANSFORM_HEADER
//! (MS-SMB2 2.2.41) through `transport::process_frame`, decrypted by
//! `server::encryption::process_encrypted` (3.3.5.2.1.1), and the encrypted
//! answers (3.3.4.1.4) checked on the way back.
//!
//! A guest session has no keys, so the `server_frame` harness never gets a
//! frame decrypted. This one negotiates SMB 3.x with an encryption context
//! through a real NEGOTIATE, then installs a logged-on session whose keys it
//! knows (as SESSION_SETUP would after an NTLM logon, with
//! Session.EncryptData set), connects the disk share with an encrypted
//! TREE_CONNECT, and only then runs the input. A second connection with a
//! session of its own stands by; it must still answer at the end.
//!
//! Input: one setup byte, then records `control: u8, len: u16 LE, data`
//! (see [`crate::input::records`]).
//!
//! The setup byte: bits 0-1 the cipher (AES-128-CCM, AES-128-GCM,
//! AES-256-CCM, AES-256-GCM; 3.0 and 3.0.2 always use AES-128-CCM), bits 2-4
//! the dialect (5: 3.0.2, 6: 3.0, 7: 2.1, which must refuse every transform;
//! anything else 3.1.1), bit 5 the share asks for encryption
//! (TreeConnect.EncryptData).
//!
//! The control byte: the low nibble patches the SMB2 headers as in
//! [`crate::server_harness`] (session, tree, message id, file id). Without
//! [`ENCRYPT`] the data is sent as the frame itself. With it the data is the
//! inner (possibly compound) message, wrapped in a correct TRANSFORM_HEADER
//! and encrypted with the client-to-server key under a fresh nonce; bits 4-6
//! then pick one way to spoil the envelope (see [`Mutation`]), whose
//! argument is the first data byte (the rest is the message).
//!
//! Checked on every input, each a server bug when it fails: an answer to a
//! transform is itself a transform for the same session that decrypts with
//! the server-to-client key, whose nonce was never used before and whose
//! plaintext is SMB2 responses; a spoiled envelope ends the connection; the
//! standing-by session still answers an encrypted ECHO.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crypto::{Cipher, CipherKey};
use server::config::EncryptionPolicy;
use server::state::{lock, AuthState, Connection, Server, Session, SessionAuth, SessionCrypto};
use wire::header::FLAGS_SERVER_TO_REDIR;

use crate::msg::{self, cmd, message, Buf, Hdr};
use crate::server_harness::{self as sh, Harness, Track, PATCH_ALL, SHARE, USER};

/// Control bit: the record is the inner message of a transform.
pub const ENCRYPT: u8 = 0x80;
/// Control bits 4-6: how the envelope is spoiled (0: it is not).
pub const MUTATION_MASK: u8 = 0x70;
/// Flip one bit of the tag (Signature): bit `arg % 128`.
pub const MUT_FLIP_TAG: u8 = 0x10;
/// Another SessionId: the standing-by connection's session (encrypted with
/// its keys), 0, ours with one bit flipped, or one that never existed.
pub const MUT_SESSION: u8 = 0x20;
/// Flags other than 0x0001 (`arg + 2`).
pub const MUT_FLAGS: u8 = 0x30;
/// OriginalMessageSize one more than the payload.
pub const MUT_SIZE_PLUS: u8 = 0x40;
/// OriginalMessageSize one less than the payload.
pub const MUT_SIZE_MINUS: u8 = 0x50;
/// OriginalMessageSize `u32::MAX - arg`.
pub const MUT_SIZE_HUGE: u8 = 0x60;
/// The frame cut short by `arg + 1` bytes.
pub const MUT_TRUNCATE: u8 = 0x70;

/// Setup byte: AES-128-CCM, AES-128-GCM, AES-256-CCM, AES-256-GCM.
pub const CIPHER_MASK: u8 = 0x03;
/// Setup byte: negotiate 3.0.2 (AES-128-CCM).
pub const SETUP_SMB302: u8 = 5 << 2;
/// Setup byte: negotiate 3.0 (AES-128-CCM).
pub const SETUP_SMB300: u8 = 6 << 2;
/// Setup byte: negotiate 2.1; every transform must end the connection.
pub const SETUP_SMB210: u8 = 7 << 2;
/// Setup byte: the share asks for encryption.
pub const SETUP_SHARE_ENCRYPT: u8 = 0x20;

/// Frames per input, as in `server_frame`.
const MAX_FRAMES: usize = 48;

/// Keys of the session under test: client to server (the server's
/// decryptor), server to client (its encryptor), and the signing key.
const C2S_KEY: &[u8; 32] = b"rsmbd fuzz: client-to-server key";
const S2C_KEY: &[u8; 32] = b"rsmbd fuzz: server-to-client key";
const SIGNING_KEY: &[u8; 16] = b"rsmbd fuzz: sign";
/// Keys of the session standing by on the other connection.
const OTHER_C2S_KEY: &[u8; 32] = b"rsmbd fuzz: bystander c->s key!!";
const OTHER_S2C_KEY: &[u8; 32] = b"rsmbd fuzz: bystander s->c key!!";

// TRANSFORM_HEADER (MS-SMB2 2.2.41) layout, under the names used below.
use wire::transform::{
    AAD_OFFSET as AAD_AT, TRANSFORM_FLAG_ENCRYPTED as FLAG_ENCRYPTED,
    TRANSFORM_HEADER_LEN as TRANSFORM_LEN, TRANSFORM_PROTOCOL_ID as TRANSFORM_ID,
};

/// How one encrypted record's envelope is spoiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    None,
    FlipTag,
    Session,
    Flags,
    SizePlus,
    SizeMinus,
    SizeHuge,
    Truncate,
}

impl Mutation {
    fn from_control(control: u8) -> Mutation {
        match control & MUTATION_MASK {
            MUT_FLIP_TAG => Mutation::FlipTag,
            MUT_SESSION => Mutation::Session,
            MUT_FLAGS => Mutation::Flags,
            MUT_SIZE_PLUS => Mutation::SizePlus,
            MUT_SIZE_MINUS => Mutation::SizeMinus,
            MUT_SIZE_HUGE => Mutation::SizeHuge,
            MUT_TRUNCATE => Mutation::Truncate,
            _ => Mutation::None,
        }
    }
}

/// One answer of the server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// It came in a transform (and decrypted).
    pub encrypted: bool,
    /// The SMB2 message(s): the plaintext of an encrypted answer.
    pub message: Vec<u8>,
}

/// What one input did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Answers to the input's frames, in order (setup frames not included).
    pub answers: Vec<Answer>,
    /// Final responses of operations that went async, and notifications.
    pub async_answers: Vec<Answer>,
    /// The server asked to drop the connection (later frames were not sent).
    pub disconnected: bool,
    /// The other connection's session answered an encrypted ECHO at the end.
    pub bystander_answered: bool,
}

/// The client's side of a session: its id and keys.
struct ClientSession {
    id: u64,
    seal: CipherKey,
    open: CipherKey,
}

/// What the setup byte chose.
#[derive(Clone, Copy)]
struct Setup {
    cipher: Cipher,
    dialects: &'static [u16],
    share_encrypt: bool,
}

impl Setup {
    fn from_byte(b: u8) -> Setup {
        const SMB311: &[u16] = &[0x202, 0x210, 0x300, 0x302, 0x311];
        const SMB302: &[u16] = &[0x202, 0x210, 0x300, 0x302];
        const SMB300: &[u16] = &[0x202, 0x210, 0x300];
        const SMB210: &[u16] = &[0x202, 0x210];
        let dialects = match (b >> 2) & 7 {
            5 => SMB302,
            6 => SMB300,
            7 => SMB210,
            _ => SMB311,
        };
        let cipher = if dialects.contains(&0x311) {
            match b & CIPHER_MASK {
                0 => Cipher::Aes128Ccm,
                1 => Cipher::Aes128Gcm,
                2 => Cipher::Aes256Ccm,
                _ => Cipher::Aes256Gcm,
            }
        } else {
            Cipher::Aes128Ccm
        };
        Setup {
            cipher,
            dialects,
            share_encrypt: b & SETUP_SHARE_ENCRYPT != 0,
        }
    }

    fn smb3(&self) -> bool {
        self.dialects.contains(&0x300)
    }
}

/// The client state of one input: sessions, nonce counter, ids learnt, and
/// the server's nonces seen so far.
struct Client {
    ours: ClientSession,
    other: ClientSession,
    next_nonce: u64,
    track: Track,
    server_nonces: HashSet<[u8; 16]>,
}

impl Client {
    fn fresh_nonce(&mut self) -> [u8; 16] {
        self.next_nonce = self.next_nonce.wrapping_add(1);
        let mut n = [0u8; 16];
        n[..8].copy_from_slice(&self.next_nonce.to_le_bytes());
        // Inside the 11 bytes CCM uses; the rest stays zero (2.2.41).
        n[8] = 0xC1;
        n
    }
}

/// Wraps `inner` in a TRANSFORM_HEADER for session `sid` and encrypts it
/// with `key` (MS-SMB2 3.2.4.1.8), spoiled as `m` says. Header fields are
/// spoiled before the tag is computed, so only the field itself is wrong.
fn seal(key: &CipherKey, sid: u64, nonce: [u8; 16], inner: &[u8], m: Mutation, arg: u8) -> Vec<u8> {
    let len = u32::try_from(inner.len()).unwrap_or(u32::MAX);
    let size = match m {
        Mutation::SizePlus => len.wrapping_add(1),
        Mutation::SizeMinus => len.wrapping_sub(1),
        Mutation::SizeHuge => u32::MAX - u32::from(arg),
        _ => len,
    };
    let flags = match m {
        Mutation::Flags => u16::from(arg) + 2,
        _ => FLAG_ENCRYPTED,
    };
    let mut b = Buf::default();
    b.bytes(&TRANSFORM_ID)
        .bytes(&[0; 16])
        .bytes(&nonce)
        .u32(size)
        .u16(0)
        .u16(flags)
        .u64(sid);
    let mut frame = b.0;
    let mut body = inner.to_vec();
    let tag = frame
        .get(AAD_AT..TRANSFORM_LEN)
        .and_then(|aad| key.encrypt_in_place(&nonce, aad, &mut body))
        .unwrap_or([0; 16]);
    if let Some(sig) = frame.get_mut(4..20) {
        sig.copy_from_slice(&tag);
    }
    if m == Mutation::FlipTag {
        let bit = usize::from(arg % 128);
        if let Some(byte) = frame.get_mut(4 + bit / 8) {
            *byte ^= 1 << (bit % 8);
        }
    }
    frame.extend_from_slice(&body);
    if m == Mutation::Truncate {
        frame.truncate(frame.len().saturating_sub(usize::from(arg) + 1));
    }
    frame
}

/// Checks an answer that came in a transform and returns its plaintext.
/// Every failed check is a server bug, so it panics.
fn open_answer(resp: &[u8], s: &ClientSession, seen: &mut HashSet<[u8; 16]>) -> Vec<u8> {
    assert!(
        resp.len() >= TRANSFORM_LEN && resp.get(..4) == Some(&TRANSFORM_ID[..]),
        "answer to a transform is not a transform: {:02x?}",
        resp.get(..resp.len().min(64))
    );
    let (head, body) = resp.split_at(TRANSFORM_LEN);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&head[4..20]);
    let mut nonce = [0u8; 16];
    nonce.copy_from_slice(&head[20..36]);
    let size = sh::u32_at(head, 36).unwrap_or(0);
    let reserved = sh::u16_at(head, 40).unwrap_or(0);
    let flags = sh::u16_at(head, 42).unwrap_or(0);
    let sid = sh::u64_at(head, 44).unwrap_or(0);
    assert_eq!(flags, FLAG_ENCRYPTED, "transform answer Flags");
    assert_eq!(reserved, 0, "transform answer Reserved");
    assert_eq!(sid, s.id, "transform answer SessionId");
    assert_eq!(
        size as usize,
        body.len(),
        "transform answer OriginalMessageSize"
    );
    let used = s.open.cipher().nonce_len();
    assert!(
        nonce[used..].iter().all(|b| *b == 0),
        "transform answer nonce has nonzero reserved bytes: {nonce:02x?}"
    );
    assert!(
        seen.insert(nonce),
        "the server used nonce {nonce:02x?} twice with one key"
    );
    let mut plain = body.to_vec();
    assert!(
        s.open
            .decrypt_in_place(&nonce, &head[AAD_AT..], &mut plain, &tag),
        "transform answer does not decrypt with the server-to-client key"
    );
    let parts = wire::header::split_compound(&plain)
        .unwrap_or_else(|e| panic!("decrypted answer is not SMB2 messages ({e:?}): {plain:02x?}"));
    for p in parts {
        let flags = sh::u32_at(p, 16).unwrap_or(0);
        assert!(
            flags & FLAGS_SERVER_TO_REDIR != 0,
            "decrypted answer element is not a response: {p:02x?}"
        );
    }
    plain
}

/// A NEGOTIATE request (MS-SMB2 2.2.3) for `dialects`, offering encryption
/// (capability and, for 3.1.1, an ENCRYPTION_CAPABILITIES context naming
/// only `cipher`), SHA-512 preauth integrity and GMAC/CMAC signing.
fn negotiate_request(dialects: &[u16], cipher: Cipher) -> Vec<u8> {
    let with_contexts = dialects.contains(&0x311);
    let mut b = Buf::default();
    b.u16(36)
        .u16(u16::try_from(dialects.len()).unwrap_or(0))
        .u16(1) // SIGNING_ENABLED
        .u16(0)
        .u32(0x7F) // every capability, ENCRYPTION (0x40) included
        .bytes(b"rsmbd-fuzz-guid!");
    let ctx_at = b.len();
    b.u32(0).u16(0).u16(0);
    for d in dialects {
        b.u16(*d);
    }
    if with_contexts {
        let id = cipher.wire_id().to_le_bytes();
        let ctxs: [(u16, Vec<u8>); 3] = [
            (1, [1, 0, 8, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8].to_vec()),
            (2, [1, 0, id[0], id[1]].to_vec()),
            (8, [2, 0, 2, 0, 1, 0].to_vec()),
        ];
        while (64 + b.len()) % 8 != 0 {
            b.u8(0);
        }
        let off = u32::try_from(64 + b.len()).unwrap_or(0).to_le_bytes();
        if let Some(f) = b.0.get_mut(ctx_at..ctx_at + 6) {
            f[..4].copy_from_slice(&off);
            f[4..].copy_from_slice(&3u16.to_le_bytes());
        }
        for (i, (ty, data)) in ctxs.iter().enumerate() {
            if i > 0 {
                while (64 + b.len()) % 8 != 0 {
                    b.u8(0);
                }
            }
            let len = u16::try_from(data.len()).unwrap_or(0);
            b.u16(*ty).u16(len).u32(0).bytes(data);
        }
    }
    message(Hdr::new(cmd::NEGOTIATE, 0), &b.0)
}

/// Negotiates through a real NEGOTIATE frame; a server that cannot answer
/// a well-formed one is broken.
fn negotiate(server: &Server, conn: &Connection, setup: Setup, track: &mut Track) {
    let mut frame = negotiate_request(setup.dialects, setup.cipher);
    let resp = server::transport::process_frame(server, conn, &mut frame)
        .ok()
        .flatten()
        .expect("a valid NEGOTIATE got no answer");
    assert_eq!(sh::u32_at(&resp, 8), Some(0), "NEGOTIATE failed");
    sh::learn(&resp, track);
}

/// Enters a logged-on session with known keys, as SESSION_SETUP does after
/// a user logon (3.3.5.5.3): user identity, signing key, encryption keys,
/// Session.EncryptData.
fn install_session(
    server: &Server,
    conn: &Connection,
    cipher: Cipher,
    c2s: &[u8; 32],
    s2c: &[u8; 32],
) -> Option<ClientSession> {
    let n = conn.negotiated()?;
    let key = |k: &[u8; 32]| CipherKey::new(cipher, k.get(..cipher.key_len())?);
    let crypto = SessionCrypto::new(key(s2c)?, key(c2s)?);
    let acceptor = auth::Acceptor::new(auth::AcceptorConfig {
        netbios_name: server.config.netbios_name.clone(),
        domain: server.config.workgroup.clone(),
        dns_name: String::new(),
        map_bad_user_to_guest: false,
    });
    let id = server.new_session_id();
    let session = Arc::new(Session::new(id, acceptor, n.preauth_hash));
    let alg = n
        .signing_algorithm
        .unwrap_or(crypto::SigningAlgorithm::HmacSha256);
    *lock(&session.state) = AuthState::Valid(Box::new(SessionAuth {
        identity: auth::Identity::User {
            name: USER.into(),
            domain: server.config.workgroup.clone(),
        },
        unix: None,
        user_name: USER.into(),
        signing_key: Some(crypto::SigningKey::new(alg, SIGNING_KEY)),
        session_key: *SIGNING_KEY,
        signing_required: false,
        crypto: Some(Arc::new(crypto)),
        encrypt_data: true,
    }));
    lock(&conn.sessions).insert(id, session.clone());
    server.register_session(&session, conn.pending.shared());
    Some(ClientSession {
        id,
        seal: key(c2s)?,
        open: key(s2c)?,
    })
}

/// One ECHO, patched with `track`'s next message id and session.
fn echo(track: &mut Track) -> Vec<u8> {
    let mut m = message(Hdr::new(cmd::ECHO, 0), &msg::empty_body());
    sh::patch(&mut m, PATCH_ALL, track);
    m
}

/// The scratch share, shared by every input of a process.
fn harness() -> &'static Harness {
    static HARNESS: std::sync::OnceLock<Harness> = std::sync::OnceLock::new();
    HARNESS.get_or_init(|| Harness::new().expect("cannot create the fuzz share directory"))
}

/// The `transform` fuzz target.
pub fn target(data: &[u8]) {
    let _ = run(data);
}

/// Runs one input through a fresh server, as described in the module docs.
pub fn run(data: &[u8]) -> Outcome {
    let h = harness();
    let out = run_in(h, data);
    h.clear_share();
    out
}

fn run_in(h: &Harness, data: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    let (setup_byte, records) = data.split_first().unwrap_or((&0, &[]));
    let setup = Setup::from_byte(*setup_byte);
    let mut cfg = h.config();
    cfg.ciphers = vec![setup.cipher.wire_id()];
    if setup.share_encrypt {
        if let Some(s) = cfg.shares.first_mut() {
            s.encryption = EncryptionPolicy::Desired;
        }
    }
    let mut users = auth::UserDb::new();
    users.set_password(USER, "Fuzz-Passw0rd");
    let Ok(server) = Server::new(cfg, users) else {
        return out;
    };
    let conn = Connection::new(1, "fuzz-peer".into());
    let other_conn = Connection::new(2, "fuzz-bystander".into());
    let sunk: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = sunk.clone();
    conn.pending
        .set_sink(Arc::new(move |m: Vec<u8>| lock(&sink).push(m)));

    let mut track = Track::default();
    let mut other_track = Track::default();
    negotiate(&server, &conn, setup, &mut track);
    negotiate(&server, &other_conn, setup, &mut other_track);
    let (Some(ours), Some(other)) = (
        install_session(&server, &conn, setup.cipher, C2S_KEY, S2C_KEY),
        install_session(
            &server,
            &other_conn,
            setup.cipher,
            OTHER_C2S_KEY,
            OTHER_S2C_KEY,
        ),
    ) else {
        panic!("cannot install the sessions");
    };
    track.session_id = ours.id;
    other_track.session_id = other.id;
    let mut c = Client {
        ours,
        other,
        next_nonce: 0,
        track,
        server_nonces: HashSet::new(),
    };
    if setup.smb3() {
        tree_connect(&server, &conn, &mut c);
    }

    for rec in crate::input::records(records).into_iter().take(MAX_FRAMES) {
        if !send(&server, &conn, &mut c, setup, rec, &mut out) {
            out.disconnected = true;
            break;
        }
        drain_sink(&sunk, &mut c, &mut out);
    }

    if setup.smb3() {
        out.bystander_answered = bystander_echo(&server, &other_conn, &mut c, &mut other_track);
        assert!(
            out.bystander_answered,
            "the other connection's session stopped answering"
        );
    }

    // What the transport does when a connection ends.
    for cn in [&conn, &other_conn] {
        cn.pending.drop_all();
        let sessions: Vec<_> = lock(&cn.sessions).drain().map(|(_, s)| s).collect();
        for s in sessions {
            server::smb2::close::close_session_opens(&server, &s);
        }
    }
    drain_sink(&sunk, &mut c, &mut out);
    out
}

/// TREE_CONNECT to the disk share inside a transform, as a client does once
/// its session must encrypt.
fn tree_connect(server: &Server, conn: &Connection, c: &mut Client) {
    let path = format!("\\\\RSMBD\\{SHARE}");
    let mut inner = message(
        Hdr::new(cmd::TREE_CONNECT, 0),
        &msg::tree_connect_body(&path),
    );
    sh::patch(&mut inner, PATCH_ALL, &mut c.track);
    let nonce = c.fresh_nonce();
    let mut frame = seal(&c.ours.seal, c.ours.id, nonce, &inner, Mutation::None, 0);
    let resp = server::transport::process_frame(server, conn, &mut frame)
        .ok()
        .flatten()
        .expect("an encrypted TREE_CONNECT got no answer");
    let plain = open_answer(&resp, &c.ours, &mut c.server_nonces);
    assert_eq!(
        sh::u32_at(&plain, 8),
        Some(0),
        "encrypted TREE_CONNECT failed"
    );
    sh::learn(&plain, &mut c.track);
}

/// Sends one record; false when the server asked to disconnect.
fn send(
    server: &Server,
    conn: &Connection,
    c: &mut Client,
    setup: Setup,
    rec: crate::input::Record<'_>,
    out: &mut Outcome,
) -> bool {
    let encrypt = rec.control & ENCRYPT != 0;
    let mutation = if encrypt {
        Mutation::from_control(rec.control)
    } else {
        Mutation::None
    };
    let (arg, data) = match (mutation, rec.data.split_first()) {
        (Mutation::None, _) | (_, None) => (0, rec.data),
        (_, Some((a, rest))) => (*a, rest),
    };
    let mut frame = data.to_vec();
    sh::patch(&mut frame, rec.control & PATCH_ALL, &mut c.track);
    if encrypt {
        let nonce = c.fresh_nonce();
        let (key, sid) = match (mutation, arg & 3) {
            (Mutation::Session, 0) => (&c.other.seal, c.other.id),
            (Mutation::Session, 1) => (&c.ours.seal, 0),
            (Mutation::Session, 2) => (&c.ours.seal, c.ours.id ^ (1u64 << (arg >> 2))),
            // Session ids stay below 2^32.
            (Mutation::Session, _) => (&c.ours.seal, u64::MAX - u64::from(arg)),
            _ => (&c.ours.seal, c.ours.id),
        };
        frame = seal(key, sid, nonce, &frame, mutation, arg);
    }
    let is_transform = frame.get(..4) == Some(&TRANSFORM_ID[..]);
    let r = server::transport::process_frame(server, conn, &mut frame);
    if encrypt && mutation != Mutation::None {
        assert!(
            r.is_err(),
            "a transform spoiled by {mutation:?} ({arg:#x}) did not end the connection: {r:02x?}"
        );
    }
    if is_transform && !setup.smb3() {
        assert!(r.is_err(), "a transform was accepted on a 2.x connection");
    }
    match r {
        Ok(Some(resp)) => {
            let answer = if is_transform {
                let plain = open_answer(&resp, &c.ours, &mut c.server_nonces);
                sh::learn(&plain, &mut c.track);
                Answer {
                    encrypted: true,
                    message: plain,
                }
            } else {
                sh::learn(&resp, &mut c.track);
                Answer {
                    encrypted: false,
                    message: resp,
                }
            };
            out.answers.push(answer);
            true
        }
        Ok(None) => true,
        Err(()) => false,
    }
}

/// Collects what went out of band (final async responses, break
/// notifications); the encrypted ones must open like any answer.
fn drain_sink(sunk: &Mutex<Vec<Vec<u8>>>, c: &mut Client, out: &mut Outcome) {
    let msgs: Vec<Vec<u8>> = lock(sunk).drain(..).collect();
    for m in msgs {
        let answer = if m.get(..4) == Some(&TRANSFORM_ID[..]) {
            Answer {
                encrypted: true,
                message: open_answer(&m, &c.ours, &mut c.server_nonces),
            }
        } else {
            Answer {
                encrypted: false,
                message: m,
            }
        };
        out.async_answers.push(answer);
    }
}

/// An encrypted ECHO on the other connection: whatever the input did to its
/// own connection, this session must be untouched.
fn bystander_echo(server: &Server, conn: &Connection, c: &mut Client, track: &mut Track) -> bool {
    let inner = echo(track);
    let nonce = c.fresh_nonce();
    let mut frame = seal(&c.other.seal, c.other.id, nonce, &inner, Mutation::None, 0);
    let Ok(Some(resp)) = server::transport::process_frame(server, conn, &mut frame) else {
        return false;
    };
    let mut seen = HashSet::new();
    let plain = open_answer(&resp, &c.other, &mut seen);
    sh::u32_at(&plain, 8) == Some(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::seeds;

    fn status(m: &[u8]) -> u32 {
        sh::u32_at(m, 8).unwrap()
    }

    fn command(m: &[u8]) -> u16 {
        sh::u16_at(m, 12).unwrap()
    }

    #[test]
    fn encrypted_echo_gets_an_encrypted_answer() {
        let o = run(&seeds::transform_echo());
        assert!(!o.disconnected);
        assert_eq!(o.answers.len(), 1);
        let a = &o.answers[0];
        assert!(a.encrypted);
        assert_eq!((command(&a.message), status(&a.message)), (0x0D, 0));
        assert!(o.bystander_answered);
    }

    #[test]
    fn flipped_tag_ends_the_connection() {
        let o = run(&seeds::transform_echo_tag_flipped());
        assert!(o.disconnected);
        // The echo before it was answered; nothing after it was sent.
        assert_eq!(o.answers.len(), 1);
        assert!(o.answers[0].encrypted);
        assert!(o.bystander_answered);
    }

    #[test]
    fn every_spoiled_envelope_ends_the_connection() {
        for m in [
            MUT_FLIP_TAG,
            MUT_SESSION,
            MUT_FLAGS,
            MUT_SIZE_PLUS,
            MUT_SIZE_MINUS,
            MUT_SIZE_HUGE,
            MUT_TRUNCATE,
        ] {
            for arg in [0u8, 1, 2, 3, 0x7f, 0xff] {
                let mut e = vec![arg];
                e.extend_from_slice(&message(Hdr::new(cmd::ECHO, 0), &msg::empty_body()));
                let input = seeds::transform_input(1, &[(ENCRYPT | PATCH_ALL | m, e)]);
                let o = run(&input);
                assert!(o.disconnected, "{m:#x} {arg:#x}");
                assert!(o.answers.is_empty());
            }
        }
    }

    #[test]
    fn create_close_and_read_seeds_decrypt() {
        let o = run(&seeds::transform_create_close());
        assert!(!o.disconnected);
        let a = &o.answers[0];
        assert!(a.encrypted);
        let parts = wire::header::split_compound(&a.message).unwrap();
        let st: Vec<_> = parts.iter().map(|p| (command(p), status(p))).collect();
        assert_eq!(st, [(0x05, 0), (0x06, 0)]);

        let o = run(&seeds::transform_read());
        assert!(!o.disconnected);
        let st: Vec<_> = o
            .answers
            .iter()
            .map(|a| (a.encrypted, command(&a.message), status(&a.message)))
            .collect();
        assert_eq!(
            st,
            [
                (true, 0x05, 0),
                (true, 0x09, 0),
                (true, 0x08, 0),
                (true, 0x06, 0),
            ]
        );
        let read = &o.answers[2].message;
        assert_eq!(read.get(80..80 + 11).unwrap(), seeds::FILE_DATA);
    }

    #[test]
    fn every_cipher_and_dialect() {
        for setup in [
            0u8,
            1,
            2,
            3,
            SETUP_SMB302,
            SETUP_SMB300 | SETUP_SHARE_ENCRYPT,
        ] {
            let o = run(&seeds::transform_input(
                setup,
                &[(
                    ENCRYPT | PATCH_ALL,
                    message(Hdr::new(cmd::ECHO, 0), &msg::empty_body()),
                )],
            ));
            assert!(!o.disconnected, "setup {setup:#x}");
            assert!(o.answers[0].encrypted);
        }
        // 2.1 has no encryption: the transform ends the connection.
        let o = run(&seeds::transform_input(
            SETUP_SMB210,
            &[(
                ENCRYPT | PATCH_ALL,
                message(Hdr::new(cmd::ECHO, 0), &msg::empty_body()),
            )],
        ));
        assert!(o.disconnected);
    }

    #[test]
    fn plain_requests_are_refused_and_garbage_disconnects() {
        let o = run(&seeds::transform_plain_refused());
        assert!(!o.disconnected);
        let a = &o.answers[0];
        assert!(!a.encrypted);
        assert_eq!(
            (command(&a.message), status(&a.message)),
            (0x05, 0xC000_0022)
        );

        let o = run(&seeds::transform_raw_garbage());
        assert!(o.disconnected);
        assert!(o.answers.is_empty());
    }

    #[test]
    fn plain_reauthentication_cannot_strip_encryption() {
        // MS-SMB2 3.3.5.2.9: on a session that encrypts, a plain SESSION_SETUP
        // (re-authentication) is refused like any plain request, so nobody on
        // the path can swap the user and drop the keys.
        let o = run(&seeds::transform_plain_reauth_guest());
        assert!(!o.disconnected);
        let plain: Vec<_> = o.answers.iter().filter(|a| !a.encrypted).collect();
        assert_eq!(plain.len(), 3);
        for a in &plain {
            assert_eq!(
                status(&a.message),
                0xC000_0022,
                "command {:#x}",
                command(&a.message)
            );
        }
        // The session kept its keys: the encrypted ECHO after them is answered.
        let last = o.answers.last().unwrap();
        assert!(last.encrypted);
        assert_eq!((command(&last.message), status(&last.message)), (0x0D, 0));
    }
}
