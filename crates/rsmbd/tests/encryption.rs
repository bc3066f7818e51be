//! SMB3 encryption and signing against a live rsmbd.
//!
//! - smbclient with `--client-protection=encrypt` on SMB 3.0, 3.0.2 and 3.1.1:
//!   a 32 MiB random file put and got back intact; the `server smb encrypt`
//!   policies (global and per share) let encrypting clients in and keep the
//!   others out (MS-SMB2 3.3.5.5 SESSION_SETUP, 3.3.5.7 TREE_CONNECT).
//! - Python smbprotocol (tests/python/crypto_check.py): each of the four
//!   ciphers of MS-SMB2 2.2.3.1.2 negotiated in turn and used for a write and
//!   read back, the server's cipher preference and restriction, each signing
//!   algorithm (HMAC-SHA256, AES-CMAC, AES-GMAC; MS-SMB2 3.1.4.1), unencrypted
//!   requests on encrypted sessions and shares refused (3.3.5.2.9, 3.3.5.2.11),
//!   and altered TRANSFORM messages on a real session ending the connection.
//! - Raw TCP: malformed TRANSFORM_HEADERs (MS-SMB2 2.2.41) right after a
//!   NEGOTIATE 3.1.1 close that connection (3.3.5.2.1.1) and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{all_output, Rng, TestServer, ALICE};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What smbclient (Samba 4.x, debug level 5 and up) logs for each message it
/// encrypts and decrypts.
const ENCRYPTED_LINE: &str = "Encrypted SMB2 message";
const DECRYPTED_LINE: &str = "Decrypted SMB2 message";

fn rw_share() -> (&'static str, &'static str) {
    ("test", "\tread only = no\n")
}

/// smbclient arguments pinning the dialect, plus `extra`.
fn args_for(dialect: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        format!("--max-protocol={dialect}"),
        format!("--option=client min protocol={dialect}"),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn smbclient(srv: &TestServer, share: &str, args: &[String], cmds: &str) -> (bool, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = srv.smbclient(share, ALICE, &args, cmds);
    (out.status.success(), all_output(&out))
}

/// Runs `ls` at debug level 5 and asserts success and that traffic was
/// encrypted both ways.
fn assert_ls_encrypted(srv: &TestServer, share: &str, dialect: &str, extra: &[&str]) {
    let mut extra = extra.to_vec();
    extra.push("-d5");
    let (ok, out) = smbclient(srv, share, &args_for(dialect, &extra), "ls");
    assert!(ok, "{dialect} {extra:?}: ls on {share} failed:\n{out}");
    assert!(
        out.contains(ENCRYPTED_LINE) && out.contains(DECRYPTED_LINE),
        "{dialect} {extra:?}: ls on {share} was not encrypted both ways:\n{}",
        common::tail(&out)
    );
}

// ---------------------------------------------------------------- smbclient

fn encrypted_bulk(dialect: &str) {
    let srv = TestServer::start("", &[rw_share()]);
    let mut data = vec![0u8; 32 << 20];
    Rng::new(0x5eed ^ dialect.bytes().map(u64::from).sum::<u64>()).fill(&mut data);
    std::fs::write(srv.dir().join("big.bin"), &data).unwrap();

    let args = args_for(dialect, &["--client-protection=encrypt"]);
    let (ok, out) = smbclient(
        &srv,
        "test",
        &args,
        "put big.bin big.bin; get big.bin back.bin",
    );
    assert!(
        ok && !out.contains("NT_STATUS_"),
        "{dialect}: encrypted put/get failed:\n{out}"
    );
    let on_disk = std::fs::read(srv.share_path("test").join("big.bin")).unwrap();
    assert!(
        on_disk == data,
        "{dialect}: the file written through encryption differs on disk"
    );
    let back = std::fs::read(srv.dir().join("back.bin")).unwrap();
    assert_eq!(
        back.len(),
        data.len(),
        "{dialect}: size of the file read back"
    );
    assert!(
        back == data,
        "{dialect}: the file read back through encryption differs"
    );

    assert_ls_encrypted(&srv, "test", dialect, &["--client-protection=encrypt"]);
}

#[test]
fn smbclient_encrypted_put_get_smb3_00() {
    encrypted_bulk("SMB3_00");
}

#[test]
fn smbclient_encrypted_put_get_smb3_02() {
    encrypted_bulk("SMB3_02");
}

#[test]
fn smbclient_encrypted_put_get_smb3_11() {
    encrypted_bulk("SMB3_11");
}

/// A share with `server smb encrypt = required`: SMB 2.1 cannot encrypt and is
/// refused at TREE_CONNECT (MS-SMB2 3.3.5.7); 3.x clients encrypt for it, even
/// when they did not ask to, because the share flag tells them to.
#[test]
fn share_encryption_required() {
    let srv = TestServer::start(
        "",
        &[
            rw_share(),
            (
                "secret",
                "\tread only = no\n\tserver smb encrypt = required\n",
            ),
        ],
    );
    let (ok, out) = smbclient(&srv, "secret", &args_for("SMB2_10", &[]), "ls");
    assert!(
        !ok,
        "SMB 2.1 got into a share that requires encryption:\n{out}"
    );
    assert!(
        out.contains("tree connect failed: NT_STATUS_ACCESS_DENIED"),
        "SMB 2.1 on an encrypted share: expected ACCESS_DENIED at tree connect:\n{out}"
    );
    // The same client and session rules elsewhere are fine.
    let (ok, out) = smbclient(&srv, "test", &args_for("SMB2_10", &[]), "ls");
    assert!(ok, "SMB 2.1 on a share without encryption failed:\n{out}");

    for dialect in ["SMB3_00", "SMB3_02", "SMB3_11"] {
        assert_ls_encrypted(&srv, "secret", dialect, &["--client-protection=encrypt"]);
        // Not asked to encrypt, the client follows SMB2_SHAREFLAG_ENCRYPT_DATA.
        assert_ls_encrypted(&srv, "secret", dialect, &[]);
    }
    let (ok, out) = smbclient(
        &srv,
        "secret",
        &args_for("SMB3_11", &["--client-protection=encrypt"]),
        "put rsmbd.conf c.txt; get c.txt c-back.txt",
    );
    assert!(
        ok && !out.contains("NT_STATUS_"),
        "put/get on the encrypted share:\n{out}"
    );
    assert_eq!(
        std::fs::read(srv.dir().join("c-back.txt")).unwrap(),
        std::fs::read(srv.dir().join("rsmbd.conf")).unwrap()
    );
}

/// `server smb encrypt = required` in [global]: a 2.1 client cannot even log
/// on (MS-SMB2 3.3.5.5.3: no encryption without SMB 3), 3.x clients can.
#[test]
fn global_encryption_required() {
    let srv = TestServer::start("\tserver smb encrypt = required\n", &[rw_share()]);
    for d in ["SMB2_02", "SMB2_10"] {
        let (ok, out) = smbclient(&srv, "test", &args_for(d, &[]), "ls");
        assert!(!ok, "{d} logged on although encryption is required:\n{out}");
        assert!(
            out.contains("session setup failed: NT_STATUS_ACCESS_DENIED"),
            "{d} with global encryption required: expected ACCESS_DENIED at session setup:\n{out}"
        );
    }
    for d in ["SMB3_00", "SMB3_02", "SMB3_11"] {
        assert_ls_encrypted(&srv, "test", d, &[]);
    }
}

/// `server smb encrypt = off` in [global]: encryption is not offered, so a
/// client that insists on it stops, a plain one works, and a share requiring
/// encryption is closed to everybody.
#[test]
fn global_encryption_off() {
    let srv = TestServer::start(
        "\tserver smb encrypt = off\n",
        &[
            rw_share(),
            (
                "secret",
                "\tread only = no\n\tserver smb encrypt = required\n",
            ),
        ],
    );
    for d in ["SMB3_00", "SMB3_02", "SMB3_11"] {
        let (ok, out) = smbclient(
            &srv,
            "test",
            &args_for(d, &["--client-protection=encrypt"]),
            "ls",
        );
        assert!(
            !ok,
            "{d}: encrypting client connected with encryption off:\n{out}"
        );
        assert!(
            out.contains("server doesn't support SMB3 encryption"),
            "{d}: expected the client to find no encryption support:\n{out}"
        );
        let (ok, out) = smbclient(&srv, "test", &args_for(d, &["-d5"]), "ls");
        assert!(ok, "{d}: plain client failed with encryption off:\n{out}");
        assert!(
            !out.contains(ENCRYPTED_LINE),
            "{d}: traffic encrypted with encryption off"
        );
        let (ok, out) = smbclient(&srv, "secret", &args_for(d, &[]), "ls");
        assert!(
            !ok && out.contains("NT_STATUS_ACCESS_DENIED"),
            "{d}: share requiring encryption reachable with encryption off:\n{out}"
        );
    }
}

// ---------------------------------------------------- Python smbprotocol

fn py(srv: &TestServer, args: &[&str]) {
    let out = srv.python("crypto_check.py", args);
    assert!(
        out.status.success(),
        "crypto_check.py {args:?} failed:\n{}",
        all_output(&out)
    );
}

/// The client offers only `cipher` on 3.1.1 and must get it.
fn one_cipher(cipher: &str) {
    let srv = TestServer::start("", &[rw_share()]);
    py(
        &srv,
        &["--test", "encrypt", "--offer", cipher, "--expect", cipher],
    );
}

#[test]
fn python_cipher_aes_128_ccm() {
    one_cipher("AES-128-CCM");
}

#[test]
fn python_cipher_aes_128_gcm() {
    one_cipher("AES-128-GCM");
}

#[test]
fn python_cipher_aes_256_ccm() {
    one_cipher("AES-256-CCM");
}

#[test]
fn python_cipher_aes_256_gcm() {
    one_cipher("AES-256-GCM");
}

/// smbprotocol offers AES-128-GCM first; by default the server's own order
/// (AES-256-GCM first) decides (MS-SMB2 3.3.5.4).
#[test]
fn python_cipher_default_server_preference() {
    let srv = TestServer::start("", &[rw_share()]);
    py(&srv, &["--test", "encrypt", "--expect", "AES-256-GCM"]);
}

/// `server smb3 encryption algorithms` with one cipher: a client offering all
/// four gets it; one offering only others gets cipher 0 and no encryption.
#[test]
fn python_cipher_server_restricted_to_one() {
    for (cipher, others) in [
        ("AES-128-CCM", ["AES-128-GCM", "AES-256-GCM"]),
        ("AES-256-CCM", ["AES-128-CCM", "AES-256-GCM"]),
    ] {
        let srv = TestServer::start(
            &format!("\tserver smb3 encryption algorithms = {cipher}\n"),
            &[rw_share()],
        );
        py(&srv, &["--test", "encrypt", "--expect", cipher]);
        py(
            &srv,
            &[
                "--test",
                "no-cipher",
                "--offer",
                others[0],
                "--offer",
                others[1],
            ],
        );
    }
}

/// The server's list order wins over the client's.
#[test]
fn python_cipher_server_order() {
    let srv = TestServer::start(
        "\tserver smb3 encryption algorithms = AES-128-GCM, AES-256-CCM\n",
        &[rw_share()],
    );
    py(
        &srv,
        &[
            "--test",
            "encrypt",
            "--offer",
            "AES-256-CCM",
            "--offer",
            "AES-128-GCM",
            "--expect",
            "AES-128-GCM",
        ],
    );
}

/// SMB 3.0 and 3.0.2 encrypt with AES-128-CCM (MS-SMB2 3.1.4.3).
#[test]
fn python_encryption_smb3_0_and_3_0_2() {
    let srv = TestServer::start("", &[rw_share()]);
    for d in ["3.0", "3.0.2"] {
        py(
            &srv,
            &[
                "--test",
                "encrypt",
                "--dialect",
                d,
                "--expect",
                "AES-128-CCM",
            ],
        );
    }
}

fn signing(dialect: &str, offer: Option<&str>, expect: &str) {
    let srv = TestServer::start("", &[rw_share()]);
    let mut args = vec!["--test", "sign", "--dialect", dialect, "--expect", expect];
    if let Some(o) = offer {
        args.extend(["--offer", o]);
    }
    py(&srv, &args);
}

#[test]
fn python_signing_hmac_sha256_smb2_1() {
    signing("2.1", None, "HMAC-SHA256");
}

#[test]
fn python_signing_aes_cmac_smb3_0_2() {
    signing("3.0.2", None, "AES-CMAC");
}

#[test]
fn python_signing_aes_gmac_smb3_1_1() {
    signing("3.1.1", Some("AES-GMAC"), "AES-GMAC");
}

#[test]
fn python_signing_aes_cmac_smb3_1_1() {
    signing("3.1.1", Some("AES-CMAC"), "AES-CMAC");
}

#[test]
fn python_signing_hmac_sha256_smb3_1_1() {
    signing("3.1.1", Some("HMAC-SHA256"), "HMAC-SHA256");
}

/// Offered all three, the server picks its first: AES-GMAC by default, or
/// what `server smb3 signing algorithms` lists first.
#[test]
fn python_signing_server_preference() {
    signing("3.1.1", None, "AES-GMAC");
    let srv = TestServer::start(
        "\tserver smb3 signing algorithms = AES-128-CMAC, HMAC-SHA256\n",
        &[rw_share()],
    );
    py(&srv, &["--test", "sign", "--expect", "AES-CMAC"]);
}

/// An unencrypted request on a share that requires encryption is refused.
#[test]
fn python_unencrypted_request_on_encrypted_share() {
    let srv = TestServer::start(
        "",
        &[(
            "secret",
            "\tread only = no\n\tserver smb encrypt = required\n",
        )],
    );
    py(&srv, &["--test", "share-flag", "--share", "secret"]);
}

/// With global encryption required the session is marked for encryption and
/// an unencrypted request on it is refused.
#[test]
fn python_unencrypted_request_on_encrypted_session() {
    let srv = TestServer::start("\tserver smb encrypt = required\n", &[rw_share()]);
    py(&srv, &["--test", "session-flag"]);
}

/// Altered tag, ciphertext, nonce or session id on a real encrypted session:
/// the connection ends without an answer; the server stays up.
#[test]
fn python_altered_transform_drops_connection() {
    let mut srv = TestServer::start("", &[rw_share()]);
    py(&srv, &["--test", "bad-tag"]);
    srv.assert_healthy("test", "altered encrypted messages");
}

/// Requests of an encrypted session are processed in the order they came,
/// as unencrypted ones are: a CREATE in a directory sent right behind the
/// CREATE of that directory, in the same TCP write, finds it.
#[test]
fn python_encrypted_requests_keep_their_order() {
    let srv = TestServer::start("", &[rw_share()]);
    py(&srv, &["--test", "ordered"]);
}

// ------------------------------------------------------------- raw TCP

/// MS-SMB2 2.2.1.2: the 64-byte sync header (message id 0, no session).
fn sync_header(command: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"\xfeSMB");
    h.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    h.extend_from_slice(&1u16.to_le_bytes()); // CreditCharge
    h.extend_from_slice(&0u32.to_le_bytes()); // Status
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&31u16.to_le_bytes()); // CreditRequest
    h.extend_from_slice(&0u32.to_le_bytes()); // Flags
    h.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    h.extend_from_slice(&0u64.to_le_bytes()); // MessageId
    h.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    h.extend_from_slice(&0u32.to_le_bytes()); // TreeId
    h.extend_from_slice(&0u64.to_le_bytes()); // SessionId
    h.extend_from_slice(&[0u8; 16]); // Signature
    h
}

fn pad8(m: &mut Vec<u8>) {
    while !m.len().is_multiple_of(8) {
        m.push(0);
    }
}

/// One negotiate context (MS-SMB2 2.2.3.1), padded to 8 bytes first.
fn context(m: &mut Vec<u8>, kind: u16, data: &[u8]) {
    pad8(m);
    m.extend_from_slice(&kind.to_le_bytes());
    m.extend_from_slice(&u16::try_from(data.len()).unwrap().to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(data);
}

/// NEGOTIATE offering `dialects`; with 3.1.1 the preauth integrity (SHA-512)
/// and encryption (AES-128-GCM, AES-128-CCM) contexts (MS-SMB2 2.2.3).
fn negotiate(dialects: &[u16]) -> Vec<u8> {
    let with_ctx = dialects.contains(&0x0311);
    let mut m = sync_header(0x0000);
    m.extend_from_slice(&36u16.to_le_bytes());
    m.extend_from_slice(&u16::try_from(dialects.len()).unwrap().to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&0x40u32.to_le_bytes()); // Capabilities: ENCRYPTION
    m.extend_from_slice(&[0x42; 16]); // ClientGuid
    let ctx_off_at = m.len();
    m.extend_from_slice(&0u32.to_le_bytes()); // NegotiateContextOffset
    m.extend_from_slice(&(if with_ctx { 2u16 } else { 0 }).to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    for d in dialects {
        m.extend_from_slice(&d.to_le_bytes());
    }
    if with_ctx {
        pad8(&mut m);
        let off = u32::try_from(m.len()).unwrap();
        m[ctx_off_at..ctx_off_at + 4].copy_from_slice(&off.to_le_bytes());
        let mut preauth = Vec::new();
        preauth.extend_from_slice(&1u16.to_le_bytes()); // HashAlgorithmCount
        preauth.extend_from_slice(&32u16.to_le_bytes()); // SaltLength
        preauth.extend_from_slice(&1u16.to_le_bytes()); // SHA-512
        preauth.extend_from_slice(&[0x5a; 32]);
        context(&mut m, 0x0001, &preauth);
        let mut enc = Vec::new();
        enc.extend_from_slice(&2u16.to_le_bytes()); // CipherCount
        enc.extend_from_slice(&2u16.to_le_bytes()); // AES-128-GCM
        enc.extend_from_slice(&1u16.to_le_bytes()); // AES-128-CCM
        context(&mut m, 0x0002, &enc);
    }
    m
}

/// MS-SMB2 2.1: a 4-byte big-endian length before each message.
fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = u32::try_from(msg.len()).unwrap().to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    f
}

fn read_msg(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("no response to NEGOTIATE");
    let n = usize::try_from(u32::from_be_bytes(len) & 0x00ff_ffff).unwrap();
    let mut body = vec![0u8; n];
    s.read_exact(&mut body).unwrap();
    body
}

/// A connection on which NEGOTIATE chose `dialect`.
fn negotiated(srv: &TestServer, dialect: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&frame(&negotiate(&[0x0202, dialect]))).unwrap();
    let r = read_msg(&mut s);
    assert!(r.len() >= 70, "short NEGOTIATE response: {r:02x?}");
    let status = u32::from_le_bytes(r[8..12].try_into().unwrap());
    assert_eq!(status, 0, "NEGOTIATE failed: {r:02x?}");
    let chosen = u16::from_le_bytes(r[68..70].try_into().unwrap());
    assert_eq!(chosen, dialect, "NEGOTIATE chose dialect {chosen:#06x}");
    s
}

/// MS-SMB2 2.2.41 TRANSFORM_HEADER followed by `body`.
fn transform(tag: [u8; 16], size: u32, flags: u16, session: u64, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(52 + body.len());
    m.extend_from_slice(b"\xfdSMB");
    m.extend_from_slice(&tag); // Signature
    m.extend_from_slice(&[0x33; 16]); // Nonce
    m.extend_from_slice(&size.to_le_bytes()); // OriginalMessageSize
    m.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    m.extend_from_slice(&flags.to_le_bytes()); // Flags (EncryptionAlgorithm on 3.0)
    m.extend_from_slice(&session.to_le_bytes());
    m.extend_from_slice(body);
    m
}

/// Asserts the server closes the connection, without answering, within 5 s.
fn assert_dropped(s: &mut TcpStream, what: &str) {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => panic!(
                "{what}: the server answered instead of closing: {:02x?}",
                &buf[..n]
            ),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: connection still open after {:?}", start.elapsed())
            }
            // A reset is a close too.
            Err(_) => return,
        }
    }
}

#[test]
fn raw_malformed_transforms_drop_only_their_connection() {
    let mut srv = TestServer::start("", &[rw_share()]);
    let mut rng = Rng::new(0x7a6f);
    let mut body = vec![0u8; 68]; // as long as an encrypted ECHO request
    rng.fill(&mut body);
    let mut tag = [0u8; 16];
    rng.fill(&mut tag);
    let n = u32::try_from(body.len()).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown session id",
            transform(tag, n, 1, 0x0000_1234_5678_9abc, &body),
        ),
        ("session id 0", transform(tag, n, 1, 0, &body)),
        ("Flags 0", transform(tag, n, 0, 1, &body)),
        ("Flags 2", transform(tag, n, 2, 1, &body)),
        ("Flags 0xffff", transform(tag, n, 0xffff, 1, &body)),
        (
            "truncated header (30 bytes)",
            transform(tag, n, 1, 1, &body)[..30].to_vec(),
        ),
        ("header only", transform(tag, 0, 1, 1, &[])),
        (
            "header only, size claims a message",
            transform(tag, 68, 1, 1, &[]),
        ),
        (
            "OriginalMessageSize > frame",
            transform(tag, n + 1, 1, 1, &body),
        ),
        (
            "OriginalMessageSize 16 MiB",
            transform(tag, 0x00ff_ffff, 1, 1, &body),
        ),
        (
            "OriginalMessageSize 4 GiB",
            transform(tag, u32::MAX, 1, 1, &body),
        ),
        (
            "OriginalMessageSize < frame",
            transform(tag, n - 8, 1, 1, &body),
        ),
        (
            "body shorter than an SMB2 header",
            transform(tag, 16, 1, 1, &body[..16]),
        ),
        ("bad tag", transform([0; 16], n, 1, 1, &body)),
    ];
    for (what, msg) in &cases {
        let mut s = negotiated(&srv, 0x0311);
        s.write_all(&frame(msg)).unwrap();
        assert_dropped(&mut s, what);
    }
    // Before any NEGOTIATE, and on a dialect without encryption.
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&frame(&transform(tag, n, 1, 1, &body)))
        .unwrap();
    assert_dropped(&mut s, "TRANSFORM before NEGOTIATE");
    let mut s = negotiated(&srv, 0x0210);
    s.write_all(&frame(&transform(tag, n, 1, 1, &body)))
        .unwrap();
    assert_dropped(&mut s, "TRANSFORM on SMB 2.1");

    srv.assert_healthy("test", "malformed TRANSFORM headers");
}
