//! Credits over raw TCP against a live server (MS-SMB2 3.3.1.1, 3.3.1.2,
//! 3.3.5.2.3): a connection that floods requests whose message ids it holds
//! no credits for (far beyond the window, reused, or one past it) is closed
//! while other connections and the process carry on; grants are at least one,
//! never leave more than 8192 outstanding, and every credit granted can be
//! used with that many requests in flight at once.
//!
//! Messages are built by hand: MS-SMB2 2.2.1.2 (header), 2.2.3 (NEGOTIATE,
//! dialect 2.1 so that CreditCharge counts), 2.2.28 (ECHO), 2.2.19 (READ);
//! framing is the Direct TCP transport of MS-SMB2 2.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const NEGOTIATE: u16 = 0x0000;
const READ: u16 = 0x0008;
const ECHO: u16 = 0x000D;

/// The most credits a connection may hold (the `smb2 max credits` default).
const MAX_CREDITS: u64 = 8192;

fn server() -> TestServer {
    TestServer::start("", &[("test", "\tread only = no\n")])
}

/// MS-SMB2 2.2.1.2: the 64-byte sync header.
fn header(command: u16, message_id: u64, charge: u16, credit_request: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"\xfeSMB");
    h.extend_from_slice(&64u16.to_le_bytes()); // StructureSize
    h.extend_from_slice(&charge.to_le_bytes()); // CreditCharge
    h.extend_from_slice(&0u32.to_le_bytes()); // Status
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&credit_request.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // Flags
    h.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
    h.extend_from_slice(&message_id.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // Reserved (ProcessId)
    h.extend_from_slice(&0u32.to_le_bytes()); // TreeId
    h.extend_from_slice(&0u64.to_le_bytes()); // SessionId
    h.extend_from_slice(&[0u8; 16]); // Signature
    h
}

/// MS-SMB2 2.2.3: NEGOTIATE offering 2.0.2 and 2.1 (no contexts needed).
fn negotiate(credit_request: u16) -> Vec<u8> {
    let mut m = header(NEGOTIATE, 0, 0, credit_request);
    m.extend_from_slice(&36u16.to_le_bytes()); // StructureSize
    m.extend_from_slice(&2u16.to_le_bytes()); // DialectCount
    m.extend_from_slice(&1u16.to_le_bytes()); // SecurityMode: signing enabled
    m.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    m.extend_from_slice(&0u32.to_le_bytes()); // Capabilities
    m.extend_from_slice(&[0x22; 16]); // ClientGuid
    m.extend_from_slice(&0u64.to_le_bytes()); // ClientStartTime
    m.extend_from_slice(&0x0202u16.to_le_bytes());
    m.extend_from_slice(&0x0210u16.to_le_bytes());
    m
}

/// MS-SMB2 2.2.28: ECHO.
fn echo(mid: u64, credit_request: u16) -> Vec<u8> {
    let mut m = header(ECHO, mid, 1, credit_request);
    m.extend_from_slice(&4u16.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    m
}

/// MS-SMB2 2.2.19: a 4 KiB READ on no session and no open (the data path of
/// the server, which runs concurrently rather than inline).
fn read(mid: u64) -> Vec<u8> {
    let mut m = header(READ, mid, 1, 1);
    m.extend_from_slice(&49u16.to_le_bytes()); // StructureSize
    m.push(0); // Padding
    m.push(0); // Flags
    m.extend_from_slice(&4096u32.to_le_bytes()); // Length
    m.extend_from_slice(&0u64.to_le_bytes()); // Offset
    m.extend_from_slice(&[0xff; 16]); // FileId
    m.extend_from_slice(&0u32.to_le_bytes()); // MinimumCount
    m.extend_from_slice(&0u32.to_le_bytes()); // Channel
    m.extend_from_slice(&0u32.to_le_bytes()); // RemainingBytes
    m.extend_from_slice(&0u16.to_le_bytes()); // ReadChannelInfoOffset
    m.extend_from_slice(&0u16.to_le_bytes()); // ReadChannelInfoLength
    m.push(0); // Buffer
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
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// One response message (without its frame length), or None on EOF/reset.
fn recv(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("no response within the read timeout")
        }
        Err(_) => return None,
    }
    let n = usize::try_from(u32::from_be_bytes(len) & 0x00ff_ffff).unwrap();
    let mut body = vec![0u8; n];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn u16_at(m: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(m[at..at + 2].try_into().unwrap())
}

fn status(m: &[u8]) -> u32 {
    u32::from_le_bytes(m[8..12].try_into().unwrap())
}

fn message_id(m: &[u8]) -> u64 {
    u64::from_le_bytes(m[24..32].try_into().unwrap())
}

/// MS-SMB2 2.2.1.2: CreditResponse of a response header.
fn credits_granted(m: &[u8]) -> u64 {
    u64::from(u16_at(m, 14))
}

/// A connection after a successful NEGOTIATE (message id 0) and the credits
/// it was granted: the next usable ids are 1..=granted.
fn negotiated(srv: &TestServer, credit_request: u16) -> (TcpStream, u64) {
    let mut s = connect(srv);
    s.write_all(&frame(&negotiate(credit_request))).unwrap();
    let m = recv(&mut s).expect("connection closed after NEGOTIATE");
    assert_eq!(status(&m), 0, "negotiate failed: {m:02x?}");
    assert_eq!(u16_at(&m, 64 + 4), 0x0210, "dialect");
    let g = credits_granted(&m);
    (s, g)
}

/// Sends `bytes` in one write and waits for the server to end the
/// connection: EOF or a reset within `limit`, with nothing but responses
/// to requests that were in the window before it. Panics if the connection
/// stays open.
fn assert_closed_after(s: &mut TcpStream, bytes: &[u8], limit: Duration, what: &str) {
    // A write may already fail when the server has closed and reset.
    let _ = s.write_all(bytes);
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return, // reset: closed as well
        }
        assert!(
            Instant::now() < deadline,
            "{what}: connection still open after {limit:?}"
        );
    }
}

/// A negotiated bystander connection answers an ECHO with the id it holds.
fn assert_echo_works(s: &mut TcpStream, mid: u64, what: &str) {
    s.write_all(&frame(&echo(mid, 1))).unwrap();
    let m = recv(s).unwrap_or_else(|| panic!("{what}: bystander connection was closed"));
    assert_eq!(status(&m), 0, "{what}: echo failed");
    assert_eq!(message_id(&m), mid, "{what}: echo answered the wrong id");
}

/// Runs `smbclient ls` on its own thread while `flood` runs, then joins it.
fn with_concurrent_ls(srv: &TestServer, flood: impl FnOnce()) {
    std::thread::scope(|sc| {
        let ls = sc.spawn(|| srv.smbclient("test", common::ALICE, &[], "ls"));
        flood();
        let out = ls.join().unwrap();
        assert!(
            out.status.success(),
            "smbclient ls during the flood failed: {}",
            common::all_output(&out)
        );
    });
}

#[test]
fn flood_without_credits_drops_only_that_connection() {
    let mut srv = server();
    // A bystander negotiated before the floods: it must survive all of them.
    let (mut bystander, granted) = negotiated(&srv, 31);
    assert!(granted >= 3, "granted {granted}");
    let mut by_mid = 1u64;

    // 200 ECHOs with ids far beyond the 31 granted.
    let (mut s, g) = negotiated(&srv, 31);
    let mut flood = Vec::new();
    for i in 0..200u64 {
        flood.extend(frame(&echo(g + 10_000 + i, 1)));
    }
    with_concurrent_ls(&srv, || {
        assert_closed_after(
            &mut s,
            &flood,
            Duration::from_secs(5),
            "200 ECHOs beyond the window",
        );
    });
    assert_echo_works(&mut bystander, by_mid, "after ids beyond the window");
    by_mid += 1;
    srv.assert_healthy("test", "200 ECHOs beyond the window");

    // The same ids used again: one ECHO answered, then 200 reusing its id.
    let (mut s, _) = negotiated(&srv, 31);
    s.write_all(&frame(&echo(1, 1))).unwrap();
    let m = recv(&mut s).expect("first echo");
    assert_eq!(status(&m), 0);
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.extend(frame(&echo(1, 1)));
    }
    with_concurrent_ls(&srv, || {
        assert_closed_after(
            &mut s,
            &flood,
            Duration::from_secs(5),
            "200 ECHOs reusing id 1",
        );
    });
    assert_echo_works(&mut bystander, by_mid, "after reused ids");
    by_mid += 1;
    srv.assert_healthy("test", "200 ECHOs reusing an id");

    // Reuse of the NEGOTIATE's id 0 and of ids the client used out of order.
    let (mut s, g) = negotiated(&srv, 31);
    assert!(g >= 3);
    let mut valid = frame(&echo(3, 1));
    valid.extend(frame(&echo(2, 1)));
    s.write_all(&valid).unwrap();
    assert_eq!(status(&recv(&mut s).unwrap()), 0);
    assert_eq!(status(&recv(&mut s).unwrap()), 0);
    let mut flood = frame(&echo(0, 1));
    for _ in 0..200 {
        flood.extend(frame(&echo(3, 1)));
    }
    assert_closed_after(
        &mut s,
        &flood,
        Duration::from_secs(5),
        "ECHOs reusing ids 0 and 3",
    );

    // The data path (requests handled concurrently off the reader): 200
    // READs beyond the window.
    let (mut s, g) = negotiated(&srv, 31);
    let mut flood = Vec::new();
    for i in 0..200u64 {
        flood.extend(frame(&read(g + 5_000 + i)));
    }
    with_concurrent_ls(&srv, || {
        assert_closed_after(
            &mut s,
            &flood,
            Duration::from_secs(5),
            "200 READs beyond the window",
        );
    });
    assert_echo_works(&mut bystander, by_mid, "after READs beyond the window");
    by_mid += 1;

    // Before NEGOTIATE only id 0 is valid.
    let mut s = connect(&srv);
    let mut flood = Vec::new();
    for i in 1..=200u64 {
        flood.extend(frame(&echo(i, 1)));
    }
    assert_closed_after(
        &mut s,
        &flood,
        Duration::from_secs(5),
        "ECHOs before NEGOTIATE",
    );

    // One past the last credit granted: the first id the client holds no
    // credit for (MS-SMB2 3.3.5.2.3).
    let (mut s, g) = negotiated(&srv, 4);
    assert!((1..=4).contains(&g), "asked for 4, granted {g}");
    assert_closed_after(
        &mut s,
        &frame(&echo(g + 1, 1)),
        Duration::from_secs(5),
        "the id one past the window",
    );

    assert!(by_mid <= granted);
    assert_echo_works(&mut bystander, by_mid, "at the end");
    srv.assert_healthy("test", "all credit floods");
}

/// Sends `n` ECHOs with ids `first..first + n` back to back in one write
/// (none waits for another's answer), then reads the `n` responses: each
/// id answered once, with success. Returns the credits they granted.
fn echo_burst(s: &mut TcpStream, first: u64, n: u64, credit_request: u16) -> u64 {
    let mut out = Vec::new();
    for mid in first..first + n {
        out.extend(frame(&echo(mid, credit_request)));
    }
    s.write_all(&out).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut granted = 0;
    for _ in 0..n {
        let m = recv(s).unwrap_or_else(|| {
            panic!(
                "connection closed with {} of {n} responses in (ids {first}..{})",
                seen.len(),
                first + n
            )
        });
        assert_eq!(status(&m), 0, "echo failed: {:02x?}", &m[..64]);
        let mid = message_id(&m);
        assert!((first..first + n).contains(&mid), "unexpected id {mid}");
        assert!(seen.insert(mid), "id {mid} answered twice");
        granted += credits_granted(&m);
    }
    granted
}

#[test]
fn granted_credits_can_all_be_in_flight() {
    let srv = server();
    // MS-SMB2 3.3.1.2: asked for 256, at least one is granted.
    let (mut s, g) = negotiated(&srv, 256);
    assert!((1..=256).contains(&g), "granted {g} for 256");
    // All of them in flight at once.
    let mut next = 1u64;
    let mut held = g;
    let got = echo_burst(&mut s, next, held, 256);
    next += held;
    held = got;
    assert!(held >= 1, "the burst left the client without credits");
    // Then as many as were granted back, twice (the window keeps moving).
    for _ in 0..2 {
        let n = held.min(2048);
        let got = echo_burst(&mut s, next, n, 256);
        next += n;
        held = held - n + got;
        assert!(held >= 1);
        assert!(
            held <= MAX_CREDITS,
            "{held} credits outstanding, more than {MAX_CREDITS}"
        );
    }
    // 512 in flight at once: the depth issue 5 asks to sustain.
    assert!(
        held >= 512,
        "only {held} credits after asking for 256 each time"
    );
    let got = echo_burst(&mut s, next, 512, 1);
    next += 512;
    held = held - 512 + got;
    assert!(held >= 1);
    // Still usable after all that: a single ECHO at the next id.
    assert!(echo_burst(&mut s, next, 1, 1) >= 1);
}

#[test]
fn grants_never_stall_and_never_exceed_the_maximum() {
    let srv = server();
    // Asking for no credits still leaves the client one (MS-SMB2 3.3.1.2).
    let (mut s, g) = negotiated(&srv, 0);
    assert!(g >= 1, "NEGOTIATE with CreditRequest 0 granted none");
    let mut held = g;
    // Spend one credit at a time, asking for none: every response must
    // still leave the client at least one.
    for mid in 1..=50u64 {
        let got = echo_burst(&mut s, mid, 1, 0);
        held = held - 1 + got;
        assert!(held >= 1, "CreditRequest 0 left the client with no credits");
    }

    // Asking for the most possible each time: never more than 8192 outstanding.
    let (mut s, g) = negotiated(&srv, u16::MAX);
    assert!(g <= MAX_CREDITS, "NEGOTIATE granted {g}");
    let mut next = 1u64;
    let mut held = g;
    for _ in 0..4 {
        let n = held.min(1024);
        let got = echo_burst(&mut s, next, n, u16::MAX);
        next += n;
        held = held - n + got;
        assert!(
            held <= MAX_CREDITS,
            "{held} credits outstanding, more than {MAX_CREDITS}"
        );
    }
    // All granted ids are usable; the one after them is not.
    assert_closed_after(
        &mut s,
        &frame(&echo(next + held, 1)),
        Duration::from_secs(5),
        "the id one past a full window",
    );
}

/// Resident memory of a process, KiB (Linux /proc).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn responses_a_client_never_reads_are_bounded() {
    // MS-SMB2 3.3.1.2 bounds requests in flight by credits; replies the
    // client leaves unread must be bounded too: the server stops reading.
    let mut srv = server();
    let (mut s, _) = negotiated(&srv, 8192);
    s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let before = rss_kib(srv.pid());
    let mut next = 1u64;
    let mut sent = 0u64;
    'send: while sent < 1_000_000 {
        let mut batch = Vec::with_capacity(2048 * 72);
        for _ in 0..2048 {
            batch.extend_from_slice(&frame(&echo(next, 1)));
            next += 1;
        }
        if s.write_all(&batch).is_err() {
            // The server stopped reading: its queue of replies is full.
            break 'send;
        }
        sent += 2048;
    }
    let after = rss_kib(srv.pid());
    assert!(
        after < before + 128 * 1024,
        "server RSS grew from {before} KiB to {after} KiB after {sent} unread ECHOs"
    );
    assert!(srv.alive());
    assert!(
        sent < 1_000_000,
        "the server kept reading although nothing was read back"
    );
}
