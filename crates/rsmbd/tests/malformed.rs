//! Hostile input over raw TCP to a live server: truncated and oversized
//! frames, bad protocol ids, NEGOTIATE and SESSION_SETUP with lying counts and
//! offsets, broken compound chains, message id reuse, and a few thousand
//! random PDUs. After each, the process must be alive and a normal `smbclient
//! ls` on another connection must work (DESIGN: malformed input costs at most
//! one connection). Messages are built by hand from MS-SMB2 2.2.1 (header),
//! 2.2.3 (NEGOTIATE), 2.2.5 (SESSION_SETUP), 2.2.28 (ECHO); framing is the
//! Direct TCP transport of MS-SMB2 2.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Rng, TestServer};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const NEGOTIATE: u16 = 0x0000;
const SESSION_SETUP: u16 = 0x0001;
const ECHO: u16 = 0x000D;
const STATUS_INVALID_PARAMETER: u32 = 0xC000_000D;

fn server() -> TestServer {
    TestServer::start("", &[("test", "\tread only = no\n")])
}

/// MS-SMB2 2.2.1.2: the 64-byte sync header.
fn header(command: u16, message_id: u64, next: u32, session: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"\xfeSMB");
    h.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    h.extend_from_slice(&1u16.to_le_bytes()); // CreditCharge
    h.extend_from_slice(&0u32.to_le_bytes()); // Status
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&31u16.to_le_bytes()); // CreditRequest
    h.extend_from_slice(&0u32.to_le_bytes()); // Flags
    h.extend_from_slice(&next.to_le_bytes()); // NextCommand
    h.extend_from_slice(&message_id.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    h.extend_from_slice(&0u32.to_le_bytes()); // TreeId
    h.extend_from_slice(&session.to_le_bytes());
    h.extend_from_slice(&[0u8; 16]); // Signature
    h
}

/// MS-SMB2 2.2.3: NEGOTIATE with the given counts (lying or not) and dialects.
fn negotiate_body(dialect_count: u16, dialects: &[u16], ctx_off: u32, ctx_count: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&36u16.to_le_bytes());
    b.extend_from_slice(&dialect_count.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0x7fu32.to_le_bytes()); // Capabilities
    b.extend_from_slice(&[0x11; 16]); // ClientGuid
    b.extend_from_slice(&ctx_off.to_le_bytes());
    b.extend_from_slice(&ctx_count.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    for d in dialects {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b
}

fn negotiate(mid: u64) -> Vec<u8> {
    let mut m = header(NEGOTIATE, mid, 0, 0);
    m.extend(negotiate_body(2, &[0x0202, 0x0210], 0, 0));
    m
}

fn echo(mid: u64, next: u32) -> Vec<u8> {
    let mut m = header(ECHO, mid, next, 0);
    m.extend_from_slice(&4u16.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    m
}

/// MS-SMB2 2.1: a 4-byte big-endian length (first byte zero) before each message.
fn frame(msg: &[u8]) -> Vec<u8> {
    let n = u32::try_from(msg.len()).unwrap();
    let mut f = n.to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    f
}

fn connect(srv: &TestServer) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// What came back for a request.
#[derive(Debug)]
enum Reply {
    /// A response message (without its frame length).
    Msg(Vec<u8>),
    /// The server closed (or reset) the connection.
    Closed,
    /// Nothing within the timeout.
    Silent,
}

fn read_reply(s: &mut TcpStream) -> Reply {
    let mut len = [0u8; 4];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            return Reply::Silent
        }
        Err(_) => return Reply::Closed,
    }
    let n = usize::try_from(u32::from_be_bytes(len) & 0x00ff_ffff).unwrap();
    let mut body = vec![0u8; n];
    match s.read_exact(&mut body) {
        Ok(()) => Reply::Msg(body),
        Err(_) => Reply::Closed,
    }
}

fn send_raw(s: &mut TcpStream, bytes: &[u8]) -> Reply {
    if s.write_all(bytes).is_err() {
        return Reply::Closed;
    }
    read_reply(s)
}

fn status(msg: &[u8]) -> u32 {
    u32::from_le_bytes(msg[8..12].try_into().unwrap())
}

/// Error response with STATUS_INVALID_PARAMETER or a dropped connection: both
/// are what MS-SMB2 3.3.5.4 / 3.3.5.2 allow for a malformed request.
fn assert_refused(r: &Reply, what: &str) {
    match r {
        Reply::Closed => {}
        Reply::Msg(m) => assert!(
            m.len() >= 64 && status(m) != 0,
            "{what}: answered with success: {m:02x?}"
        ),
        Reply::Silent => panic!("{what}: no answer and no disconnect"),
    }
}

/// A connection on which NEGOTIATE succeeded (message id 0 used).
fn negotiated(srv: &TestServer) -> TcpStream {
    let mut s = connect(srv);
    match send_raw(&mut s, &frame(&negotiate(0))) {
        Reply::Msg(m) => assert_eq!(status(&m), 0, "negotiate failed: {m:02x?}"),
        other => panic!("negotiate: {other:?}"),
    }
    s
}

#[test]
fn valid_negotiate_by_hand_succeeds() {
    let srv = server();
    let mut s = connect(&srv);
    match send_raw(&mut s, &frame(&negotiate(0))) {
        Reply::Msg(m) => {
            assert_eq!(&m[..4], b"\xfeSMB");
            assert_eq!(status(&m), 0);
            // MS-SMB2 2.2.4: DialectRevision at offset 4 of the body.
            let dialect = u16::from_le_bytes(m[68..70].try_into().unwrap());
            assert_eq!(dialect, 0x0210);
            // Flags: SERVER_TO_REDIR.
            assert_eq!(m[16] & 1, 1);
        }
        other => panic!("negotiate: {other:?}"),
    }
}

#[test]
fn truncated_and_oversized_frames() {
    let mut srv = server();
    let neg = negotiate(0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("length says 100, 10 bytes then close", {
            let mut f = 100u32.to_be_bytes().to_vec();
            f.extend_from_slice(&neg[..10]);
            f
        }),
        ("half a header", frame(&neg[..32])),
        ("header only", frame(&neg[..64])),
        ("body cut in half", frame(&neg[..80])),
        ("zero-length frame", vec![0, 0, 0, 0]),
        ("three bytes of length", vec![0, 0, 1]),
        ("length over the maximum", {
            let mut f = vec![0x00, 0xff, 0xff, 0xff];
            f.extend_from_slice(&neg);
            f
        }),
        ("NetBIOS session request type", {
            let mut f = frame(&neg);
            f[0] = 0x81;
            f
        }),
    ];
    for (what, bytes) in cases {
        let mut s = connect(&srv);
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = read_reply(&mut s);
        drop(s);
        srv.assert_healthy("test", what);
    }
}

#[test]
fn wrong_protocol_id_and_structure_size() {
    let mut srv = server();
    for (what, patch) in [
        ("protocol id FF 'SMB' (SMB1 header, SMB2 body)", 0usize),
        ("protocol id FD 'SMB' (transform) with no transform", 1),
        ("protocol id garbage", 2),
        ("header StructureSize 65", 3),
    ] {
        let mut m = negotiate(0);
        match patch {
            0 => m[0] = 0xff,
            1 => m[0] = 0xfd,
            2 => m[..4].copy_from_slice(b"ABCD"),
            _ => m[4] = 65,
        }
        let mut s = connect(&srv);
        let r = send_raw(&mut s, &frame(&m));
        assert_refused(&r, what);
        srv.assert_healthy("test", what);
    }
}

#[test]
fn negotiate_with_lying_counts_and_offsets() {
    let mut srv = server();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("DialectCount 0", negotiate_body(0, &[], 0, 0)),
        (
            "DialectCount 65535 with 2 dialects",
            negotiate_body(0xffff, &[0x0202, 0x0311], 0, 0),
        ),
        (
            "DialectCount 3 with 2 dialects",
            negotiate_body(3, &[0x0202, 0x0210], 0, 0),
        ),
        (
            "only unknown dialects",
            negotiate_body(2, &[0x0999, 0x0100], 0, 0),
        ),
        (
            "3.1.1 with context offset past the end",
            negotiate_body(1, &[0x0311], 0x0001_0000, 2),
        ),
        (
            "3.1.1 with context offset inside the header",
            negotiate_body(1, &[0x0311], 8, 1),
        ),
        ("3.1.1 with 65535 contexts and none present", {
            negotiate_body(1, &[0x0311], 112, 0xffff)
        }),
        ("3.1.1 with a context whose DataLength runs past the end", {
            // MS-SMB2 2.2.3.1: ContextType, DataLength, Reserved, Data.
            let mut b = negotiate_body(1, &[0x0311], 0x70, 1);
            while !(64 + b.len()).is_multiple_of(8) {
                b.push(0);
            }
            b.extend_from_slice(&1u16.to_le_bytes()); // PREAUTH_INTEGRITY_CAPABILITIES
            b.extend_from_slice(&0xfff0u16.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&[1, 0, 0x20, 0, 1, 0]);
            b
        }),
        ("StructureSize 0", {
            let mut b = negotiate_body(1, &[0x0202], 0, 0);
            b[0] = 0;
            b
        }),
        ("body of two bytes", vec![36, 0]),
    ];
    for (what, body) in cases {
        let mut m = header(NEGOTIATE, 0, 0, 0);
        m.extend(body);
        let mut s = connect(&srv);
        let r = send_raw(&mut s, &frame(&m));
        if what == "DialectCount 0" {
            // MS-SMB2 3.3.5.4: DialectCount 0 fails with STATUS_INVALID_PARAMETER.
            if let Reply::Msg(m) = &r {
                assert_eq!(status(m), STATUS_INVALID_PARAMETER, "{what}");
            }
        }
        if what != "only unknown dialects" {
            assert_refused(&r, what);
        }
        srv.assert_healthy("test", what);
    }
}

#[test]
fn session_setup_with_bad_security_buffer() {
    let mut srv = server();
    for (what, off, len) in [
        ("SecurityBufferOffset past the end", 0x2000u16, 16u16),
        ("SecurityBufferLength past the end", 88, 0xffff),
        ("SecurityBufferOffset inside the header", 10, 40),
        ("empty security buffer", 88, 0),
    ] {
        let mut s = negotiated(&srv);
        let mut m = header(SESSION_SETUP, 1, 0, 0);
        m.extend_from_slice(&25u16.to_le_bytes());
        m.push(0); // Flags
        m.push(1); // SecurityMode
        m.extend_from_slice(&0u32.to_le_bytes()); // Capabilities
        m.extend_from_slice(&0u32.to_le_bytes()); // Channel
        m.extend_from_slice(&off.to_le_bytes());
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&0u64.to_le_bytes()); // PreviousSessionId
        m.extend_from_slice(b"\x60\x48\x06\x06+\x06\x01\x05\x05\x02"); // a GSS-API prefix
        let r = send_raw(&mut s, &frame(&m));
        assert_refused(&r, what);
        srv.assert_healthy("test", what);
    }
}

#[test]
fn broken_compound_chains() {
    let mut srv = server();
    for (what, next) in [
        ("NextCommand inside the header", 32u32),
        ("NextCommand past the end", 10_000),
        ("NextCommand unaligned", 68),
        ("NextCommand u32::MAX", u32::MAX),
        ("NextCommand pointing at itself", 0xffff_ffc0),
    ] {
        let mut s = negotiated(&srv);
        let mut m = echo(1, next);
        m.extend_from_slice(&[0u8; 4]); // padding to 72
        m.extend(echo(2, 0));
        let r = send_raw(&mut s, &frame(&m));
        if let Reply::Msg(m) = &r {
            assert!(m.len() >= 64, "{what}: short reply");
        }
        srv.assert_healthy("test", what);
    }
    // A well-formed chain of two ECHOs at NextCommand 72 is answered.
    let mut s = negotiated(&srv);
    let mut m = echo(1, 72);
    m.extend_from_slice(&[0u8; 4]);
    m.extend(echo(2, 0));
    match send_raw(&mut s, &frame(&m)) {
        Reply::Msg(m) => assert_eq!(status(&m), 0, "compound echo: {m:02x?}"),
        other => panic!("compound echo: {other:?}"),
    }
}

#[test]
fn message_id_reuse_and_garbage() {
    let mut srv = server();
    let mut s = negotiated(&srv);
    match send_raw(&mut s, &frame(&echo(1, 0))) {
        Reply::Msg(m) => assert_eq!(status(&m), 0),
        other => panic!("first echo: {other:?}"),
    }
    // MS-SMB2 3.3.5.2.3: a message id outside the window is a protocol error.
    let r = send_raw(&mut s, &frame(&echo(1, 0)));
    assert_refused(&r, "message id reused");
    let mut s = negotiated(&srv);
    let r = send_raw(&mut s, &frame(&echo(u64::MAX, 0)));
    assert_refused(&r, "message id 0xffffffffffffffff");
    srv.assert_healthy("test", "message id reuse");

    let mut rng = Rng::new(7);
    let mut junk = vec![0u8; 1000];
    rng.fill(&mut junk);
    let mut s = connect(&srv);
    let _ = s.write_all(&junk);
    let _ = read_reply(&mut s);
    srv.assert_healthy("test", "1000 bytes of garbage");
}

/// One hostile PDU: random bytes, or a valid message with random bytes
/// flipped, truncated or appended.
fn random_pdu(rng: &mut Rng, mid: u64) -> Vec<u8> {
    let mut m = match rng.below(4) {
        0 => {
            let mut v = vec![0u8; usize::try_from(rng.below(300)).unwrap()];
            rng.fill(&mut v);
            v
        }
        1 => negotiate(mid),
        2 => echo(mid, 0),
        _ => {
            let mut h = header(
                u16::try_from(rng.below(20)).unwrap(),
                mid,
                0,
                rng.next_u64(),
            );
            let mut body = vec![0u8; usize::try_from(rng.below(200)).unwrap()];
            rng.fill(&mut body);
            h.extend(body);
            h
        }
    };
    for _ in 0..rng.below(8) {
        if m.is_empty() {
            break;
        }
        let i = usize::try_from(rng.below(m.len() as u64)).unwrap();
        m[i] = u8::try_from(rng.below(256)).unwrap();
    }
    if rng.below(5) == 0 {
        m.truncate(usize::try_from(rng.below(m.len() as u64 + 1)).unwrap());
    }
    frame(&m)
}

#[test]
fn random_pdus_do_not_hurt_the_server() {
    let mut srv = server();
    let mut rng = Rng::new(0x00c0_ffee_1234_5678);
    let mut s = connect(&srv);
    s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let mut sent_on_conn = 0u32;
    for i in 0..3000u64 {
        let pdu = random_pdu(&mut rng, i);
        let dead = s.write_all(&pdu).is_err();
        // Drain whatever came back without waiting for it.
        let mut buf = [0u8; 65536];
        let closed = matches!(s.read(&mut buf), Ok(0));
        sent_on_conn += 1;
        if dead || closed || sent_on_conn >= 50 {
            s = connect(&srv);
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            sent_on_conn = 0;
        }
        assert!(srv.alive(), "server died at random PDU {i}: {pdu:02x?}");
        if i % 500 == 499 {
            srv.assert_healthy("test", &format!("{} random PDUs", i + 1));
        }
    }
    drop(s);
    srv.assert_healthy("test", "3000 random PDUs");
}
