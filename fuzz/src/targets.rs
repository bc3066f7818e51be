//! The body of each fuzz target, as a plain function so the seeds can be
//! replayed by `cargo test` without libFuzzer. Each feeds arbitrary bytes to
//! parsers that must never panic, and where an encoder exists checks that
//! parse → encode → parse gives the same value.

use wire::header::{self, Header, HEADER_LEN};

/// `frame_header`: the SMB2 header (MS-SMB2 2.2.1) and compound splitting
/// (3.3.5.2.7).
pub fn frame_header(data: &[u8]) {
    if let Ok(h) = Header::parse(data) {
        let mut enc = Vec::new();
        h.encode(&mut enc);
        assert_eq!(enc.len(), HEADER_LEN);
        // Every bit of the 64 bytes is a field, so the encoding is the input.
        assert_eq!(Some(&enc[..]), data.get(..HEADER_LEN));
        assert_eq!(Header::parse(&enc), Ok(h));
    }
    if let Ok(parts) = header::split_compound(data) {
        assert!(!parts.is_empty());
        let total: usize = parts.iter().map(|p| p.len()).sum();
        assert_eq!(total, data.len());
        let last = parts.len() - 1;
        for (i, p) in parts.iter().enumerate() {
            let h = Header::parse(p).expect("split_compound returned an unparsable element");
            if i < last {
                assert_eq!(h.next_command as usize, p.len());
                assert_eq!(p.len() % 8, 0);
            } else {
                assert_eq!(h.next_command, 0);
            }
        }
    }
}

/// `negotiate`: NEGOTIATE with its contexts (MS-SMB2 2.2.3, 2.2.3.1) and the
/// SMB1 negotiate (3.3.5.3); the response encoder round-trips its security
/// buffer and contexts.
pub fn negotiate(data: &[u8]) {
    use wire::negotiate::*;
    let _ = wire::smb1::parse_smb1_negotiate(data);
    let Ok(req) = NegotiateRequest::parse(data) else {
        return;
    };
    assert!(!req.dialects.is_empty());
    let c = &req.contexts;
    let ctx = ServerContexts {
        preauth_salt: c.preauth_hashes.as_ref().map(|_| [0x5a; 32]),
        cipher: c.ciphers.as_ref().and_then(|v| v.first().copied()),
        signing: c.signing.as_ref().and_then(|v| v.first().copied()),
        compression: c.compression.clone().map(|mut v| {
            v.truncate(16);
            v
        }),
    };
    let token = data.get(..data.len().min(256)).unwrap_or_default();
    let mut out = Vec::new();
    Header::default().encode(&mut out);
    NegotiateResponse {
        security_mode: req.security_mode,
        dialect: req.dialects.iter().copied().max().unwrap_or(0x0202),
        server_guid: req.client_guid,
        capabilities: req.capabilities,
        max_transact: 65536,
        max_read: 65536,
        max_write: 65536,
        system_time: 0,
        security_buffer: token,
        contexts: Some(&ctx),
    }
    .encode(&mut out, 0);
    assert_eq!(response_security_buffer(&out), Ok(token));
    // The response contexts have the request's layout: read them back.
    let ctx_off = u32_at(&out, HEADER_LEN + 60) as usize;
    let count = u16_at(&out, HEADER_LEN + 6);
    let mut back = Vec::new();
    let mut r = wire::Reader::at(&out, ctx_off).expect("context offset inside the response");
    for i in 0..count {
        if i > 0 {
            r.align(8).expect("aligned context");
        }
        let ty = r.u16().expect("context type");
        let len = r.u16().expect("context length") as usize;
        r.skip(4).expect("reserved");
        back.push((ty, r.take(len).expect("context data").to_vec()));
    }
    assert!(r.rest().is_empty());
    let types: Vec<u16> = back.iter().map(|(t, _)| *t).collect();
    let mut want = Vec::new();
    if ctx.preauth_salt.is_some() {
        want.push(CTX_PREAUTH_INTEGRITY);
    }
    if ctx.cipher.is_some() {
        want.push(CTX_ENCRYPTION);
    }
    if ctx.compression.is_some() {
        want.push(CTX_COMPRESSION);
    }
    if ctx.signing.is_some() {
        want.push(CTX_SIGNING);
    }
    assert_eq!(types, want);
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut r = wire::Reader::at(b, at).expect("offset inside the buffer");
    r.u16().expect("u16 inside the buffer")
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut r = wire::Reader::at(b, at).expect("offset inside the buffer");
    r.u32().expect("u32 inside the buffer")
}

/// Which request parser `requests` feeds (the first input byte, modulo the count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Req {
    SessionSetup = 0,
    TreeConnect,
    Create,
    Close,
    Flush,
    Read,
    Write,
    Lock,
    Ioctl,
    QueryDirectory,
    ChangeNotify,
    QueryInfo,
    SetInfo,
    Empty,
    ValidateNegotiate,
    Copychunk,
}

const REQ_COUNT: u8 = 16;

impl Req {
    fn from_byte(b: u8) -> Req {
        const ALL: [Req; REQ_COUNT as usize] = [
            Req::SessionSetup,
            Req::TreeConnect,
            Req::Create,
            Req::Close,
            Req::Flush,
            Req::Read,
            Req::Write,
            Req::Lock,
            Req::Ioctl,
            Req::QueryDirectory,
            Req::ChangeNotify,
            Req::QueryInfo,
            Req::SetInfo,
            Req::Empty,
            Req::ValidateNegotiate,
            Req::Copychunk,
        ];
        ALL[usize::from(b % REQ_COUNT)]
    }
}

/// `requests`: every request body parser of the wire crate (MS-SMB2 2.2.5 to
/// 2.2.39). The first byte picks the parser; the rest follows a valid
/// 64-byte header, since body offsets count from the header.
pub fn requests(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let mut msg = Vec::with_capacity(HEADER_LEN + body.len());
    Header::default().encode(&mut msg);
    msg.extend_from_slice(body);
    let msg = &msg[..];
    match Req::from_byte(sel) {
        Req::SessionSetup => {
            if let Ok(r) = wire::session_setup::SessionSetupRequest::parse(msg) {
                assert!(r.security_buffer.len() <= msg.len());
            }
        }
        Req::TreeConnect => {
            if let Ok(r) = wire::tree::TreeConnectRequest::parse(msg) {
                assert!(r.path.ends_with(r.share_name()));
            }
        }
        Req::Create => {
            if let Ok(r) = wire::create::CreateRequest::parse(msg) {
                assert_eq!(r.name.len() % 2, 0);
                let _ = r.name_string();
                contexts_round_trip(&r.contexts);
            }
        }
        Req::Close => {
            let _ = wire::close::CloseRequest::parse(msg);
        }
        Req::Flush => {
            let _ = wire::flush::FlushRequest::parse(msg);
        }
        Req::Read => {
            let _ = wire::read::ReadRequest::parse(msg);
        }
        Req::Write => {
            if let Ok(r) = wire::write::WriteRequest::parse(msg) {
                assert!(r.data.len() <= msg.len());
            }
        }
        Req::Lock => {
            if let Ok(r) = wire::lock::LockRequest::parse(msg) {
                assert!(!r.locks.is_empty());
                assert!(r.locks.len() * 24 <= body.len());
            }
        }
        Req::Ioctl => {
            if let Ok(r) = wire::ioctl::IoctlRequest::parse(msg) {
                if r.ctl_code == wire::ioctl::fsctl::VALIDATE_NEGOTIATE_INFO {
                    let _ = wire::ioctl::ValidateNegotiateInfo::parse(r.input);
                }
                if r.ctl_code == wire::ioctl::fsctl::SRV_COPYCHUNK
                    || r.ctl_code == wire::ioctl::fsctl::SRV_COPYCHUNK_WRITE
                {
                    copychunk_round_trip(r.input);
                }
            }
        }
        Req::QueryDirectory => {
            let _ = wire::dir::QueryDirectoryRequest::parse(msg);
        }
        Req::ChangeNotify => {
            let _ = wire::dir::ChangeNotifyRequest::parse(msg);
        }
        Req::QueryInfo => {
            let _ = wire::query_info::QueryInfoRequest::parse(msg);
        }
        Req::SetInfo => {
            let _ = wire::set_info::SetInfoRequest::parse(msg);
        }
        Req::Empty => {
            let _ = wire::echo::parse_empty_request(msg);
            let _ = wire::reader::utf16_to_string(body);
        }
        Req::ValidateNegotiate => {
            if let Ok(v) = wire::ioctl::ValidateNegotiateInfo::parse(body) {
                assert!(v.dialects.len() * 2 + 24 <= body.len());
            }
        }
        Req::Copychunk => {
            copychunk_round_trip(body);
            let _ = wire::copychunk::SrvCopychunkResponse::parse(body);
        }
    }
}

/// SRV_COPYCHUNK_COPY (MS-SMB2 2.2.31.1): ChunkCount entries fit in the
/// input, and parse -> encode -> parse gives the same key and chunks.
fn copychunk_round_trip(input: &[u8]) {
    use wire::copychunk::{SrvCopychunkCopy, CHUNK_LEN, COPY_HEADER_LEN};
    let Ok(c) = SrvCopychunkCopy::parse(input) else {
        return;
    };
    let chunks: Vec<_> = c.chunks().collect();
    assert_eq!(chunks.len() as u64, u64::from(c.chunk_count));
    assert!(COPY_HEADER_LEN + chunks.len() * CHUNK_LEN <= input.len());
    let mut enc = Vec::new();
    SrvCopychunkCopy::encode(&c.source_key, &chunks, &mut enc);
    let back = SrvCopychunkCopy::parse(&enc).expect("encoded copychunk parses");
    assert_eq!(back.source_key, c.source_key);
    assert_eq!(back.chunk_count, c.chunk_count);
    assert!(back.chunks().eq(chunks.iter().copied()));
}

/// Encodes parsed create contexts and parses them again: same list.
fn contexts_round_trip(ctxs: &[wire::create::CreateContext<'_>]) {
    let owned: Vec<(&[u8], Vec<u8>)> = ctxs.iter().map(|c| (c.name, c.data.to_vec())).collect();
    let mut enc = Vec::new();
    wire::create::encode_contexts(&mut enc, &owned);
    let back = wire::create::parse_contexts(&enc).expect("encoded contexts parse");
    assert_eq!(back, ctxs);
}

/// `create_contexts`: the create context chain (MS-SMB2 2.2.13.2) alone.
pub fn create_contexts(data: &[u8]) {
    if let Ok(c) = wire::create::parse_contexts(data) {
        assert!(c.iter().all(|c| c.name.len() >= 4));
        contexts_round_trip(&c);
    }
}

/// `ntlmssp_spnego`: one to three client tokens through the acceptor (MS-SPNG,
/// MS-NLMP 3.2.5), against a database with one user; then the DER, SPNEGO
/// and NTLMSSP parsers on the last token, with SPNEGO round trips.
pub fn ntlmssp_spnego(data: &[u8]) {
    use auth::{spnego, AuthStep};
    let guest = data.first().is_some_and(|b| b & 0x80 != 0);
    let mut users = auth::UserDb::new();
    users.set_password("alice", "Secret-1");
    let mut acc = auth::Acceptor::new(auth::AcceptorConfig {
        netbios_name: "RSMBD".into(),
        domain: "WORKGROUP".into(),
        dns_name: "rsmbd.example".into(),
        map_bad_user_to_guest: guest,
    });
    let tokens = crate::input::split_tokens(data, 3);
    let mut done = false;
    for t in &tokens {
        let step = acc.step(t, &users);
        assert!(
            !done || matches!(step, AuthStep::Failed(_)),
            "step after the end"
        );
        match step {
            AuthStep::Continue(_) => assert!(!acc.is_finished()),
            AuthStep::Done { identity, .. } => {
                // No proof can be made for the random challenge, so a logon
                // is only ever anonymous or guest.
                assert!(acc.is_finished());
                assert!(
                    identity == auth::Identity::Anonymous || guest,
                    "{identity:?}"
                );
                done = true;
            }
            AuthStep::Failed(e) => {
                assert!(acc.is_finished());
                assert_ne!(e.ntstatus(), 0);
                done = true;
            }
        }
    }
    let last = tokens.last().copied().unwrap_or_default();
    der_walk(last, 0);
    match spnego::parse_client_token(last) {
        Ok(spnego::ClientToken::Init(init)) => {
            let enc = spnego::encode_init(&init.mech_types, init.mech_token, init.mech_list_mic);
            match spnego::parse_client_token(&enc) {
                Ok(spnego::ClientToken::Init(back)) => {
                    assert_eq!(back.mech_types, init.mech_types);
                    assert_eq!(back.mech_token, init.mech_token);
                    assert_eq!(back.mech_list_mic, init.mech_list_mic);
                }
                other => panic!("NegTokenInit did not round-trip: {other:?}"),
            }
        }
        Ok(spnego::ClientToken::Resp(resp)) => {
            let state = match resp.neg_state {
                None => Some(None),
                Some(0) => Some(Some(spnego::NegState::AcceptCompleted)),
                Some(1) => Some(Some(spnego::NegState::AcceptIncomplete)),
                Some(2) => Some(Some(spnego::NegState::Reject)),
                Some(3) => Some(Some(spnego::NegState::RequestMic)),
                Some(_) => None,
            };
            if let Some(state) = state {
                let enc = spnego::encode_resp(
                    state,
                    resp.supported_mech,
                    resp.response_token,
                    resp.mech_list_mic,
                );
                assert_eq!(
                    spnego::parse_client_token(&enc),
                    Ok(spnego::ClientToken::Resp(resp))
                );
            }
        }
        Ok(spnego::ClientToken::RawNtlm(m)) => ntlm_parsers(m),
        Err(_) => {}
    }
}

/// Walks DER elements (X.690) down to a small depth; each element re-encodes
/// to one that reads back the same.
fn der_walk(buf: &[u8], depth: usize) {
    let mut r = auth::der::Reader::new(buf);
    while let Ok(tlv) = r.read() {
        let enc = auth::der::tlv(tlv.tag, tlv.value);
        let back = auth::der::single(&enc, tlv.tag).expect("DER re-encoding reads back");
        assert_eq!(back.value, tlv.value);
        if depth < 6 && tlv.tag & 0x20 != 0 {
            der_walk(tlv.value, depth + 1);
        }
    }
}

/// The NTLMSSP message parsers (MS-NLMP 2.2.1) and the verifier against a
/// fixed challenge.
fn ntlm_parsers(m: &[u8]) {
    use auth::ntlm;
    let _ = ntlm::parse_negotiate(m);
    if let Ok(a) = ntlm::parse_authenticate(m) {
        assert!(a.payload_start <= m.len());
        let _ = ntlm::find_av(a.nt_response.get(44..).unwrap_or_default(), ntlm::AV_FLAGS);
        let cfg = auth::AcceptorConfig {
            netbios_name: "RSMBD".into(),
            domain: "WORKGROUP".into(),
            dns_name: String::new(),
            map_bad_user_to_guest: true,
        };
        let neg = crate::msg::ntlm_negotiate();
        if let Ok(state) = ntlm::challenge(&cfg, &neg, [7; 8], 0) {
            let _ = ntlm::verify_authenticate(&state, m, &auth::UserDb::new(), &cfg);
        }
    }
}

/// What the RPC services report in `ndr_rpc`.
fn rpc_info() -> rpc::ServerInfo {
    rpc::ServerInfo {
        netbios_name: "RSMBD".into(),
        server_string: "rsmbd".into(),
        workgroup: "WORKGROUP".into(),
        shares: vec![
            rpc::ShareInfo {
                name: "share".into(),
                comment: "fuzz share".into(),
                share_type: rpc::ShareType::Disk,
                path: "/srv/share".into(),
            },
            rpc::ShareInfo {
                name: "IPC$".into(),
                comment: "IPC Service".into(),
                share_type: rpc::ShareType::Ipc,
                path: String::new(),
            },
        ],
        user_name: "alice".into(),
        user_domain: "RSMBD".into(),
    }
}

/// `ndr_rpc`: DCE/RPC PDUs (C706 12.6) and NDR stubs through a pipe. The first
/// byte picks the pipe; then records whose control byte says write (even) or
/// transceive (odd), and how much to read after.
pub fn ndr_rpc(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let name = ["srvsvc", "lsarpc", "wkssvc", "\\PIPE\\lsass"][usize::from(sel % 4)];
    let Some(mut pipe) = rpc::Pipe::open(name) else {
        panic!("pipe {name} must exist");
    };
    let info = rpc_info();
    for rec in crate::input::records(rest).into_iter().take(64) {
        let max = 1usize << (rec.control >> 4);
        if rec.control & 1 == 0 {
            let _ = pipe.write(rec.data, &info);
            // Drain everything: `max` bytes at a time for a while, then the rest.
            let mut reads = 0;
            while pipe.has_output() {
                let want = if reads < 64 { max } else { usize::MAX };
                let (chunk, _more) = pipe.read(want);
                assert!(chunk.len() <= want);
                reads += 1;
            }
        } else if let Ok((out, more)) = pipe.transceive(rec.data, max, &info) {
            assert!(out.len() <= max);
            assert!(!more || out.len() == max);
        }
    }
}

/// `server_frame`: frames through the whole server (see [`crate::server_harness`]).
pub fn server_frame(data: &[u8]) {
    static HARNESS: std::sync::OnceLock<crate::server_harness::Harness> =
        std::sync::OnceLock::new();
    let h = HARNESS.get_or_init(|| {
        crate::server_harness::Harness::new().expect("cannot create the fuzz share directory")
    });
    let _ = h.run(data);
}

/// `credit_window`: arbitrary consume/grant sequences through
/// `server::credits::CreditWindow` (MS-SMB2 3.3.1.1, 3.3.1.2, 3.3.5.2.3),
/// checked against a plain set of used ids: exactly the granted, unused ids
/// are accepted, a consumed id is never accepted twice, at most
/// `MAX_CREDITS` ids are outstanding, and a client with none left gets one.
pub fn credit_window(data: &[u8]) {
    use server::credits::{CreditWindow, MAX_CREDITS};
    use std::collections::BTreeSet;

    let mut w = CreditWindow::new();
    // The model: ids 0..high were granted; ids below `low` and those in
    // `used` were consumed.
    let mut high: u64 = 1;
    let mut low: u64 = 0;
    let mut used: BTreeSet<u64> = BTreeSet::new();
    let mut input = Cursor(data);
    for _ in 0..2048 {
        let Some(op) = input.u8() else {
            break;
        };
        if op & 1 == 0 {
            let off = u64::from(input.u16());
            let charge = if op & 0x80 != 0 {
                input.u16()
            } else {
                u16::from((op >> 4) & 0x7)
            };
            let id = match (op >> 1) & 3 {
                // Next ids, the ordinary case (out of order when off > 0).
                0 => low.saturating_add(off % 64),
                // Around the top of the window.
                1 => high.saturating_sub(32).saturating_add(off % 64),
                // An id that may have been consumed before.
                2 => low.saturating_sub(off % 64 + 1),
                _ => input.u64(),
            };
            let n = u64::from(charge.max(1));
            let expected = match id.checked_add(n) {
                Some(end) if end <= high => (id..end).all(|x| x >= low && !used.contains(&x)),
                _ => false,
            };
            let got = w.consume(id, charge);
            assert_eq!(
                got, expected,
                "consume({id}, {charge}) low {low} high {high}"
            );
            if got {
                used.extend(id..id + n);
                while used.remove(&low) {
                    low += 1;
                }
            }
        } else {
            let requested = input.u16();
            let charge = if op & 0x80 != 0 { input.u16() } else { 1 };
            let consumed = low + used.len() as u64;
            let outstanding = high - consumed;
            let g = w.grant(requested, charge);
            let want = requested.max(charge).max(1);
            assert!(g <= want, "granted {g} for a request of {want}");
            if outstanding == 0 {
                assert!(g >= 1, "a client with no credits got none");
            }
            high += u64::from(g);
            assert!(
                high - consumed <= MAX_CREDITS,
                "{} credits outstanding",
                high - consumed
            );
            // The window (what the server remembers) stays bounded too.
            assert!(high - low <= MAX_CREDITS, "window of {} ids", high - low);
        }
    }
}

/// Reads little-endian integers from the front of a fuzz input; zeros once
/// it runs out.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8().unwrap_or(0), self.u8().unwrap_or(0)])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8().unwrap_or(0);
        }
        u64::from_le_bytes(b)
    }
}
