//! Round trips through [`Pipe`] driven by hand-built PDUs, with a small independent
//! decoder for the responses.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::ndr::{NdrReader, NdrWriter};
use crate::pdu::{uuid, SyntaxId};

fn info() -> ServerInfo {
    ServerInfo {
        netbios_name: "FILESRV".into(),
        server_string: "rsmbd file server".into(),
        workgroup: "WORKGROUP".into(),
        shares: vec![
            ShareInfo {
                name: "data".into(),
                comment: "Team data".into(),
                share_type: ShareType::Disk,
                path: "/srv/data".into(),
            },
            ShareInfo {
                name: "IPC$".into(),
                comment: "IPC Service".into(),
                share_type: ShareType::Ipc,
                path: String::new(),
            },
        ],
        user_name: "alice".into(),
        user_domain: "FILESRV".into(),
    }
}

const NDR64: SyntaxId = SyntaxId {
    uuid: uuid(
        0x7171_0533,
        0xbeba,
        0x4937,
        [0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36],
    ),
    version: 1,
};

const FEATURES: SyntaxId = SyntaxId {
    uuid: uuid(0x6cb7_1c2c, 0x9812, 0x4540, [3, 0, 0, 0, 0, 0, 0, 0]),
    version: 1,
};

fn header(ptype: u8, flags: u8, call_id: u32, body_len: usize, auth_len: u16) -> Vec<u8> {
    let mut h = vec![5, 0, ptype, flags, 0x10, 0, 0, 0];
    h.extend_from_slice(&u16::try_from(16 + body_len).unwrap().to_le_bytes());
    h.extend_from_slice(&auth_len.to_le_bytes());
    h.extend_from_slice(&call_id.to_le_bytes());
    h
}

/// A bind (or alter_context) offering `ctxs` = (context id, abstract, transfer syntaxes).
fn bind_pdu(
    ptype: u8,
    call_id: u32,
    max_recv: u16,
    ctxs: &[(u16, SyntaxId, Vec<SyntaxId>)],
) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&max_recv.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[u8::try_from(ctxs.len()).unwrap(), 0, 0, 0]);
    for (id, abs, ts) in ctxs {
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&[u8::try_from(ts.len()).unwrap(), 0]);
        for s in std::iter::once(abs).chain(ts.iter()) {
            b.extend_from_slice(&s.uuid);
            b.extend_from_slice(&s.version.to_le_bytes());
        }
    }
    let mut p = header(ptype, 3, call_id, b.len(), 0);
    p.extend_from_slice(&b);
    p
}

fn request_pdu(flags: u8, call_id: u32, ctx: u16, opnum: u16, stub: &[u8]) -> Vec<u8> {
    let mut p = header(pdu::PTYPE_REQUEST, flags, call_id, 8 + stub.len(), 0);
    p.extend_from_slice(&u32::try_from(stub.len()).unwrap().to_le_bytes());
    p.extend_from_slice(&ctx.to_le_bytes());
    p.extend_from_slice(&opnum.to_le_bytes());
    p.extend_from_slice(stub);
    p
}

fn srvsvc() -> SyntaxId {
    Service::Srvsvc.interface()
}

/// Opens `name` and binds context 0 to its interface with NDR20.
fn bound(name: &str, iface: SyntaxId, max_recv: u16) -> Pipe {
    let mut p = Pipe::open(name).unwrap();
    p.write(
        &bind_pdu(pdu::PTYPE_BIND, 1, max_recv, &[(0, iface, vec![NDR20])]),
        &info(),
    )
    .unwrap();
    let ack = read_all(&mut p);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0][2], pdu::PTYPE_BIND_ACK);
    p
}

/// Reads every queued message, each whole.
fn read_all(p: &mut Pipe) -> Vec<Vec<u8>> {
    let mut msgs = Vec::new();
    while p.has_output() {
        let (m, more) = p.read(usize::MAX);
        assert!(!more);
        msgs.push(m);
    }
    msgs
}

/// Calls `opnum` on context 0 and reassembles the response stub; Err(fault status).
fn call(p: &mut Pipe, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, u32> {
    p.write(&request_pdu(3, 9, 0, opnum, stub), &info())
        .unwrap();
    let msgs = read_all(p);
    response_stub(&msgs)
}

fn response_stub(msgs: &[Vec<u8>]) -> Result<Vec<u8>, u32> {
    let mut stub = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let h = pdu::parse_header(m).unwrap();
        assert_eq!(usize::from(h.frag_len), m.len());
        if h.ptype == pdu::PTYPE_FAULT {
            return Err(u32::from_le_bytes(m[24..28].try_into().unwrap()));
        }
        assert_eq!(h.ptype, pdu::PTYPE_RESPONSE);
        assert_eq!(h.flags & pdu::PFC_FIRST_FRAG != 0, i == 0);
        assert_eq!(h.flags & pdu::PFC_LAST_FRAG != 0, i + 1 == msgs.len());
        stub.extend_from_slice(&m[24..]);
    }
    Ok(stub)
}

/// bind_ack results: (result, reason, transfer syntax).
fn ack_results(ack: &[u8]) -> (String, Vec<(u16, u16, SyntaxId)>) {
    let addr_len = usize::from(u16::from_le_bytes([ack[24], ack[25]]));
    let addr = String::from_utf8(ack[26..26 + addr_len.saturating_sub(1)].to_vec()).unwrap();
    let mut pos = (26 + addr_len + 3) & !3;
    let n = ack[pos];
    pos += 4;
    let mut out = Vec::new();
    for _ in 0..n {
        let r = u16::from_le_bytes([ack[pos], ack[pos + 1]]);
        let reason = u16::from_le_bytes([ack[pos + 2], ack[pos + 3]]);
        let s = SyntaxId {
            uuid: ack[pos + 4..pos + 20].try_into().unwrap(),
            version: u32::from_le_bytes(ack[pos + 20..pos + 24].try_into().unwrap()),
        };
        out.push((r, reason, s));
        pos += 24;
    }
    assert_eq!(pos, ack.len());
    (addr, out)
}

fn share_enum_stub(level: u32) -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.pointer();
    w.wstring("\\\\FILESRV");
    w.u32(level);
    w.u32(level);
    w.pointer(); // container
    w.u32(0);
    w.null_pointer();
    w.u32(0xffff_ffff); // PreferedMaximumLength
    w.pointer(); // ResumeHandle
    w.u32(0);
    w.into_bytes()
}

/// Independent decoder of a NetrShareEnum level 1 answer: (name, type, remark), total,
/// resume handle, WERROR.
type ShareEnum1 = (Vec<(String, u32, String)>, u32, Option<u32>, u32);

fn decode_share_enum_1(stub: &[u8]) -> ShareEnum1 {
    let mut r = NdrReader::new(stub);
    assert_eq!(r.u32().unwrap(), 1);
    assert_eq!(r.u32().unwrap(), 1);
    assert!(r.pointer().unwrap());
    let n = r.u32().unwrap();
    assert!(r.pointer().unwrap());
    assert_eq!(r.u32().unwrap(), n);
    let mut scalars = Vec::new();
    for _ in 0..n {
        assert!(r.pointer().unwrap());
        let t = r.u32().unwrap();
        assert!(r.pointer().unwrap());
        scalars.push(t);
    }
    let mut shares = Vec::new();
    for t in scalars {
        let name = r.wstring().unwrap();
        let remark = r.wstring().unwrap();
        shares.push((name, t, remark));
    }
    let total = r.u32().unwrap();
    let resume = if r.pointer().unwrap() {
        Some(r.u32().unwrap())
    } else {
        None
    };
    let status = r.u32().unwrap();
    assert_eq!(r.remaining(), 0);
    (shares, total, resume, status)
}

#[test]
fn pipe_names() {
    for n in [
        "srvsvc",
        "\\srvsvc",
        "\\PIPE\\srvsvc",
        "SRVSVC",
        "wkssvc",
        "lsarpc",
        "lsass",
        "\\pipe\\LSARPC",
    ] {
        assert!(pipe_exists(n), "{n}");
    }
    for n in ["", "samr", "\\PIPE\\", "srvsvc2", "pipe\\"] {
        assert!(!pipe_exists(n), "{n}");
    }
    assert!(Pipe::open("spoolss").is_none());
}

#[test]
fn windows10_style_bind_ndr64_ndr20_and_features() {
    let mut p = Pipe::open("\\PIPE\\srvsvc").unwrap();
    let bind = bind_pdu(
        pdu::PTYPE_BIND,
        2,
        4280,
        &[
            (0, srvsvc(), vec![NDR20]),
            (1, srvsvc(), vec![NDR64]),
            (2, srvsvc(), vec![FEATURES]),
        ],
    );
    let (out, more) = p.transceive(&bind, 4280, &info()).unwrap();
    assert!(!more);
    assert!(!p.has_output());
    let h = pdu::parse_header(&out).unwrap();
    assert_eq!(h.ptype, pdu::PTYPE_BIND_ACK);
    assert_eq!(h.call_id, 2);
    assert_eq!(u16::from_le_bytes([out[16], out[17]]), 4280);
    assert_ne!(u32::from_le_bytes(out[20..24].try_into().unwrap()), 0);
    let (addr, res) = ack_results(&out);
    assert_eq!(addr, "\\PIPE\\srvsvc");
    assert_eq!(
        res,
        vec![
            (pdu::RESULT_ACCEPTANCE, 0, NDR20),
            (
                pdu::RESULT_PROVIDER_REJECTION,
                pdu::REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED,
                SyntaxId::ZERO
            ),
            (
                pdu::RESULT_NEGOTIATE_ACK,
                u16::from(pdu::FEATURE_KEEP_CONNECTION_ON_ORPHAN),
                SyntaxId::ZERO
            ),
        ]
    );
    // The NDR20 context works; the rejected NDR64 one does not.
    assert!(call(&mut p, 21, &server_get_info_stub(100)).is_ok());
    p.write(
        &request_pdu(3, 10, 1, 21, &server_get_info_stub(100)),
        &info(),
    )
    .unwrap();
    assert_eq!(response_stub(&read_all(&mut p)), Err(pdu::NCA_S_UNKNOWN_IF));
}

#[test]
fn unknown_interface_gets_bind_nak_and_auth_too() {
    let mut p = Pipe::open("srvsvc").unwrap();
    let wks = Service::Wkssvc.interface();
    p.write(
        &bind_pdu(pdu::PTYPE_BIND, 1, 4280, &[(0, wks, vec![NDR20])]),
        &info(),
    )
    .unwrap();
    let m = read_all(&mut p);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0][2], pdu::PTYPE_BIND_NAK);
    assert_eq!(m[0].len(), 24);

    // A bind carrying an auth verifier: nak, no crash.
    let mut b = bind_pdu(pdu::PTYPE_BIND, 2, 4280, &[(0, srvsvc(), vec![NDR20])]);
    let verifier = [10u8, 2, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    b.extend_from_slice(&verifier);
    let len = u16::try_from(b.len()).unwrap();
    b[8..10].copy_from_slice(&len.to_le_bytes());
    b[10..12].copy_from_slice(&8u16.to_le_bytes());
    p.write(&b, &info()).unwrap();
    let m = read_all(&mut p);
    assert_eq!(m[0][2], pdu::PTYPE_BIND_NAK);
    assert_eq!(
        u16::from_le_bytes([m[0][16], m[0][17]]),
        pdu::NAK_AUTH_TYPE_NOT_RECOGNIZED
    );
}

#[test]
fn request_before_bind_and_unbound_context_fault() {
    let mut p = Pipe::open("srvsvc").unwrap();
    p.write(&request_pdu(3, 5, 0, 15, &share_enum_stub(1)), &info())
        .unwrap();
    assert_eq!(
        response_stub(&read_all(&mut p)),
        Err(pdu::NCA_S_PROTO_ERROR)
    );

    let mut p = bound("srvsvc", srvsvc(), 4280);
    p.write(&request_pdu(3, 5, 7, 15, &share_enum_stub(1)), &info())
        .unwrap();
    let m = read_all(&mut p);
    assert_eq!(m[0][3] & pdu::PFC_DID_NOT_EXECUTE, pdu::PFC_DID_NOT_EXECUTE);
    assert_eq!(response_stub(&m), Err(pdu::NCA_S_UNKNOWN_IF));
    // Unknown opnum and garbage stub data.
    assert_eq!(call(&mut p, 99, &[]), Err(pdu::NCA_S_OP_RNG_ERROR));
    assert_eq!(call(&mut p, 15, &[1, 2, 3]), Err(pdu::FAULT_NDR));
}

#[test]
fn share_enum_level_1_decodes() {
    let mut p = bound("srvsvc", srvsvc(), 4280);
    let stub = call(&mut p, 15, &share_enum_stub(1)).unwrap();
    let (shares, total, resume, status) = decode_share_enum_1(&stub);
    assert_eq!(
        shares,
        vec![
            ("data".to_string(), 0, "Team data".to_string()),
            ("IPC$".to_string(), 0x8000_0003, "IPC Service".to_string()),
        ]
    );
    assert_eq!(total, 2);
    assert_eq!(resume, Some(0));
    assert_eq!(status, 0);
}

#[test]
fn share_enum_level_2_has_paths_and_bad_level_fails() {
    let mut p = bound("srvsvc", srvsvc(), 4280);
    let stub = call(&mut p, 15, &share_enum_stub(2)).unwrap();
    let mut r = NdrReader::new(&stub);
    for _ in 0..5 {
        r.u32().unwrap(); // level, switch, container ptr, count, array ptr
    }
    assert_eq!(r.u32().unwrap(), 2); // max count
    for _ in 0..2 {
        for _ in 0..8 {
            r.u32().unwrap();
        }
    }
    let strings: Vec<String> = (0..6).map(|_| r.wstring().unwrap()).collect();
    assert_eq!(
        strings,
        [
            "data",
            "Team data",
            "C:\\srv\\data",
            "IPC$",
            "IPC Service",
            ""
        ]
    );
    assert_eq!(r.u32().unwrap(), 2);

    let stub = call(&mut p, 15, &share_enum_stub(7)).unwrap();
    assert_eq!(stub[stub.len() - 4..], 124u32.to_le_bytes());
}

fn share_get_info_stub(name: &str, level: u32) -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.null_pointer();
    w.wstring(name);
    w.u32(level);
    w.into_bytes()
}

#[test]
fn share_get_info_levels() {
    let mut p = bound("srvsvc", srvsvc(), 4280);
    let stub = call(&mut p, 16, &share_get_info_stub("DATA", 1)).unwrap();
    let mut r = NdrReader::new(&stub);
    assert_eq!(r.u32().unwrap(), 1);
    assert!(r.pointer().unwrap());
    assert!(r.pointer().unwrap());
    assert_eq!(r.u32().unwrap(), 0);
    assert!(r.pointer().unwrap());
    assert_eq!(r.wstring().unwrap(), "data");
    assert_eq!(r.wstring().unwrap(), "Team data");
    assert_eq!(r.u32().unwrap(), 0);
    assert_eq!(r.remaining(), 0);

    let stub = call(&mut p, 16, &share_get_info_stub("data", 1005)).unwrap();
    assert_eq!(stub.len(), 16);
    let stub = call(&mut p, 16, &share_get_info_stub("data", 501)).unwrap();
    assert_eq!(stub[stub.len() - 4..], [0, 0, 0, 0]);

    let stub = call(&mut p, 16, &share_get_info_stub("nope", 1)).unwrap();
    assert_eq!(stub, [1, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x09, 0, 0]);
    let stub = call(&mut p, 16, &share_get_info_stub("data", 3)).unwrap();
    assert_eq!(stub, [3, 0, 0, 0, 0, 0, 0, 0, 124, 0, 0, 0]);
}

fn server_get_info_stub(level: u32) -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.pointer();
    w.wstring("FILESRV");
    w.u32(level);
    w.into_bytes()
}

#[test]
fn server_get_info_101() {
    let mut p = bound("srvsvc", srvsvc(), 4280);
    let stub = call(&mut p, 21, &server_get_info_stub(101)).unwrap();
    let mut r = NdrReader::new(&stub);
    assert_eq!(r.u32().unwrap(), 101);
    assert!(r.pointer().unwrap());
    assert_eq!(r.u32().unwrap(), 500);
    assert!(r.pointer().unwrap());
    assert_eq!(r.u32().unwrap(), 6);
    assert_eq!(r.u32().unwrap(), 1);
    assert_eq!(r.u32().unwrap() & 3, 3);
    assert!(r.pointer().unwrap());
    assert_eq!(r.wstring().unwrap(), "FILESRV");
    assert_eq!(r.wstring().unwrap(), "rsmbd file server");
    assert_eq!(r.u32().unwrap(), 0);
    assert_eq!(r.remaining(), 0);
    for level in [100, 102] {
        let s = call(&mut p, 21, &server_get_info_stub(level)).unwrap();
        assert_eq!(s[s.len() - 4..], [0, 0, 0, 0]);
    }
    let s = call(&mut p, 21, &server_get_info_stub(103)).unwrap();
    assert_eq!(s[s.len() - 4..], 124u32.to_le_bytes());
}

#[test]
fn wksta_get_info_100() {
    let mut p = bound("wkssvc", Service::Wkssvc.interface(), 4280);
    let stub = call(&mut p, 0, &server_get_info_stub(100)).unwrap();
    let mut r = NdrReader::new(&stub);
    assert_eq!(r.u32().unwrap(), 100);
    assert!(r.pointer().unwrap());
    assert_eq!(r.u32().unwrap(), 500);
    assert!(r.pointer().unwrap());
    assert!(r.pointer().unwrap());
    r.u32().unwrap();
    r.u32().unwrap();
    assert_eq!(r.wstring().unwrap(), "FILESRV");
    assert_eq!(r.wstring().unwrap(), "WORKGROUP");
    assert_eq!(r.u32().unwrap(), 0);
    assert_eq!(r.remaining(), 0);
    for level in [101, 102] {
        let s = call(&mut p, 0, &server_get_info_stub(level)).unwrap();
        assert_eq!(s[s.len() - 4..], [0, 0, 0, 0]);
    }
}

fn many_shares() -> ServerInfo {
    let mut i = info();
    for n in 0..60 {
        i.shares.push(ShareInfo {
            name: format!("share{n:02}"),
            comment: format!("a fairly long comment for share number {n}"),
            share_type: ShareType::Disk,
            path: format!("/srv/share{n}"),
        });
    }
    i
}

#[test]
fn multi_fragment_response_respects_max_recv_frag() {
    let big = many_shares();
    let mut p = Pipe::open("srvsvc").unwrap();
    // The client asks for tiny fragments; C706's 1432-byte floor applies.
    p.write(
        &bind_pdu(pdu::PTYPE_BIND, 1, 1000, &[(0, srvsvc(), vec![NDR20])]),
        &big,
    )
    .unwrap();
    let ack = read_all(&mut p);
    assert_eq!(u16::from_le_bytes([ack[0][16], ack[0][17]]), 1432);
    p.write(&request_pdu(3, 4, 0, 15, &share_enum_stub(1)), &big)
        .unwrap();
    let msgs = read_all(&mut p);
    assert!(msgs.len() > 3, "{}", msgs.len());
    assert!(msgs.iter().all(|m| m.len() <= 1432));
    let stub = response_stub(&msgs).unwrap();
    let (shares, total, _, status) = decode_share_enum_1(&stub);
    assert_eq!(shares.len(), 62);
    assert_eq!(total, 62);
    assert_eq!(status, 0);
    assert_eq!(shares[61].0, "share59");

    // Partial reads of one fragment: more_pending until the message is drained.
    p.write(&request_pdu(3, 5, 0, 15, &share_enum_stub(1)), &big)
        .unwrap();
    let (a, more) = p.read(100);
    assert_eq!(a.len(), 100);
    assert!(more);
    let (b, more) = p.read(10_000);
    assert!(!more);
    assert_eq!(a.len() + b.len(), 1432);
    assert!(p.has_output());
    // Transceive returns the first fragment and leaves the rest queued.
    let mut p2 = bound("srvsvc", srvsvc(), 1432);
    let (first, more) = p2
        .transceive(&request_pdu(3, 6, 0, 15, &share_enum_stub(1)), 1024, &big)
        .unwrap();
    assert_eq!(first.len(), 1024);
    assert!(more);
}

#[test]
fn fragmented_request_and_split_writes_reassemble() {
    let mut p = bound("srvsvc", srvsvc(), 4280);
    let stub = share_enum_stub(1);
    let (a, b) = stub.split_at(16);
    let (b, c) = b.split_at(9);
    let mut bytes = request_pdu(pdu::PFC_FIRST_FRAG, 8, 0, 15, a);
    bytes.extend(request_pdu(0, 8, 0, 15, b));
    bytes.extend(request_pdu(pdu::PFC_LAST_FRAG, 8, 0, 15, c));
    // Deliver the three fragments one byte at a time.
    for byte in &bytes {
        p.write(std::slice::from_ref(byte), &info()).unwrap();
    }
    let (shares, ..) = decode_share_enum_1(&response_stub(&read_all(&mut p)).unwrap());
    assert_eq!(shares.len(), 2);

    // A continuation fragment of no known call fails the write.
    assert_eq!(
        p.write(&request_pdu(pdu::PFC_LAST_FRAG, 77, 0, 15, &stub), &info()),
        Err(RpcError::Malformed)
    );
    // The pipe still works afterwards.
    assert!(call(&mut p, 15, &stub).is_ok());
}

#[test]
fn alter_context_adds_a_context() {
    let mut p = bound("srvsvc", srvsvc(), 4280);
    p.write(
        &bind_pdu(
            pdu::PTYPE_ALTER_CONTEXT,
            2,
            4280,
            &[(5, srvsvc(), vec![NDR64, NDR20])],
        ),
        &info(),
    )
    .unwrap();
    let m = read_all(&mut p);
    assert_eq!(m[0][2], pdu::PTYPE_ALTER_CONTEXT_RESP);
    let (addr, res) = ack_results(&m[0]);
    assert_eq!(addr, "");
    assert_eq!(res, vec![(0, 0, NDR20)]);
    p.write(
        &request_pdu(3, 3, 5, 21, &server_get_info_stub(100)),
        &info(),
    )
    .unwrap();
    assert!(response_stub(&read_all(&mut p)).is_ok());
    // A second bind is refused.
    p.write(
        &bind_pdu(pdu::PTYPE_BIND, 4, 4280, &[(0, srvsvc(), vec![NDR20])]),
        &info(),
    )
    .unwrap();
    assert_eq!(read_all(&mut p)[0][2], pdu::PTYPE_BIND_NAK);
}

#[test]
fn garbage_and_truncations_never_panic() {
    let valid = request_pdu(3, 9, 0, 15, &share_enum_stub(1));
    for cut in 0..valid.len() {
        // A truncated PDU whose frag_length still claims the whole: buffered, no output.
        let mut p = bound("srvsvc", srvsvc(), 4280);
        p.write(&valid[..cut], &info()).unwrap();
        assert!(!p.has_output());
        // The same bytes with frag_length patched to the truncated size.
        let mut t = valid[..cut].to_vec();
        if t.len() >= 10 {
            let l = u16::try_from(cut).unwrap();
            t[8..10].copy_from_slice(&l.to_le_bytes());
        }
        let mut p = bound("srvsvc", srvsvc(), 4280);
        let _ = p.write(&t, &info());
        // Truncated stubs inside a well-formed PDU.
        let stub = share_enum_stub(1);
        let short = request_pdu(3, 9, 0, 15, &stub[..cut.min(stub.len())]);
        let _ = p.write(&short, &info());
        let _ = read_all(&mut p);
    }
    // Stubs truncated at every length on every opnum of every pipe.
    let lsa = Service::Lsarpc.interface();
    let wks = Service::Wkssvc.interface();
    let long: Vec<u8> = (0..200u8).map(|b| b.wrapping_mul(37)).collect();
    for (name, iface, ops) in [
        ("srvsvc", srvsvc(), vec![15u16, 16, 21]),
        ("wkssvc", wks, vec![0]),
        ("lsarpc", lsa, vec![0, 6, 7, 14, 15, 44, 45, 46, 57, 58]),
    ] {
        let mut p = bound(name, iface, 4280);
        for op in ops {
            for cut in 0..long.len() {
                let _ = call(&mut p, op, &long[..cut]);
            }
        }
    }
    // Random-ish garbage of many lengths.
    let mut x: u32 = 12345;
    for len in 0..300 {
        let mut p = Pipe::open("lsarpc").unwrap();
        let g: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let _ = p.write(&g, &info());
        let mut g2 = g.clone();
        if g2.len() > 16 {
            g2[0] = 5;
            g2[1] = 0;
            g2[4] = 0x10;
            let l = u16::try_from(g2.len()).unwrap();
            g2[8..10].copy_from_slice(&l.to_le_bytes());
            for t in [0u8, 11, 14, 16, 17, 18, 19] {
                g2[2] = t;
                let _ = p.write(&g2, &info());
            }
        }
    }
}

#[test]
fn garbage_header_is_a_protocol_error() {
    let mut p = Pipe::open("srvsvc").unwrap();
    assert_eq!(p.write(&[0xff; 20], &info()), Err(RpcError::Malformed));
    // A response PDU from the client is not allowed.
    let mut r = request_pdu(3, 1, 0, 0, &[]);
    r[2] = pdu::PTYPE_RESPONSE;
    assert_eq!(p.write(&r, &info()), Err(RpcError::Malformed));
    // Nothing queued: read returns empty.
    assert_eq!(p.read(100), (Vec::new(), false));
}

fn open_policy2(p: &mut Pipe) -> [u8; 20] {
    let mut w = NdrWriter::new();
    w.pointer();
    w.wstring("\\\\FILESRV");
    w.u32(24);
    for _ in 0..5 {
        w.u32(0);
    }
    w.u32(0x0200_0000);
    let stub = call(p, 44, &w.into_bytes()).unwrap();
    assert_eq!(stub.len(), 24);
    assert_eq!(stub[20..], [0, 0, 0, 0]);
    stub[..20].try_into().unwrap()
}

fn query_stub(h: &[u8; 20], class: u16) -> Vec<u8> {
    let mut w = NdrWriter::new();
    w.bytes(4, h);
    w.u16(class);
    w.into_bytes()
}

#[test]
fn lsa_policy_handle_and_domain_info() {
    let mut p = bound("lsarpc", Service::Lsarpc.interface(), 4280);
    let h = open_policy2(&mut p);

    // Account domain: name = NetBIOS name, SID = machine SID.
    let stub = call(&mut p, 7, &query_stub(&h, 5)).unwrap();
    let mut r = NdrReader::new(&stub);
    assert!(r.pointer().unwrap());
    assert_eq!(r.u16().unwrap(), 5);
    let uh = r.unicode_string_header().unwrap();
    assert!(r.pointer().unwrap());
    assert_eq!(r.unicode_string_body(uh).unwrap(), "FILESRV");
    let count = r.u32().unwrap();
    assert_eq!(count, 4);
    assert_eq!(r.u8().unwrap(), 1);
    assert_eq!(r.u8().unwrap(), 4);
    assert_eq!(r.take(6).unwrap(), [0, 0, 0, 0, 0, 5]);
    let subs: Vec<u32> = (0..4).map(|_| r.u32().unwrap()).collect();
    let want = lsarpc::machine_sid("FILESRV");
    assert_eq!(subs, want.sub_authorities);
    assert_eq!(r.u32().unwrap(), 0);
    assert_eq!(r.remaining(), 0);

    // Primary domain via QueryInformationPolicy2: workgroup, no SID.
    let stub = call(&mut p, 46, &query_stub(&h, 3)).unwrap();
    let mut r = NdrReader::new(&stub);
    assert!(r.pointer().unwrap());
    assert_eq!(r.u16().unwrap(), 3);
    let uh = r.unicode_string_header().unwrap();
    assert!(!r.pointer().unwrap());
    assert_eq!(r.unicode_string_body(uh).unwrap(), "WORKGROUP");
    assert_eq!(r.u32().unwrap(), 0);

    let stub = call(&mut p, 46, &query_stub(&h, 12)).unwrap();
    assert_eq!(stub[stub.len() - 4..], [0, 0, 0, 0]);
    let stub = call(&mut p, 7, &query_stub(&h, 1)).unwrap();
    assert_eq!(stub, [0, 0, 0, 0, 3, 0, 0, 0xc0]);

    // Close, then the handle is dead.
    let mut w = NdrWriter::new();
    w.bytes(4, &h);
    let stub = call(&mut p, 0, &w.into_bytes()).unwrap();
    assert_eq!(stub, [0u8; 24]);
    let stub = call(&mut p, 7, &query_stub(&h, 5)).unwrap();
    assert_eq!(stub, [0, 0, 0, 0, 8, 0, 0, 0xc0]);
}

#[test]
fn lsa_get_user_name() {
    let mut p = bound("lsass", Service::Lsarpc.interface(), 4280);
    let mut w = NdrWriter::new();
    w.null_pointer(); // SystemName
    w.null_pointer(); // *UserName
    w.pointer(); // DomainName
    w.null_pointer(); // *DomainName
    let stub = call(&mut p, 45, &w.into_bytes()).unwrap();
    let mut r = NdrReader::new(&stub);
    assert!(r.pointer().unwrap());
    let uh = r.unicode_string_header().unwrap();
    assert_eq!(r.unicode_string_body(uh).unwrap(), "alice");
    assert!(r.pointer().unwrap());
    assert!(r.pointer().unwrap());
    let dh = r.unicode_string_header().unwrap();
    assert_eq!(r.unicode_string_body(dh).unwrap(), "FILESRV");
    assert_eq!(r.u32().unwrap(), 0);
    assert_eq!(r.remaining(), 0);
}

#[test]
fn lsa_lookups_return_none_mapped() {
    let mut p = bound("lsarpc", Service::Lsarpc.interface(), 4280);
    let h = open_policy2(&mut p);
    let sid = lsarpc::machine_sid("X");
    for (op, ex) in [(15u16, false), (57, true)] {
        let mut w = NdrWriter::new();
        w.bytes(4, &h);
        w.u32(2);
        w.pointer();
        w.u32(2);
        w.pointer();
        w.pointer();
        w.sid(&sid);
        w.sid(&sid);
        w.u32(0); // TranslatedNames in: empty
        w.null_pointer();
        w.u16(1); // LookupLevel
        w.u32(0); // MappedCount
        if ex {
            w.u32(0);
            w.u32(2);
        }
        let stub = call(&mut p, op, &w.into_bytes()).unwrap();
        let mut r = NdrReader::new(&stub);
        assert!(r.pointer().unwrap());
        assert_eq!(r.u32().unwrap(), 0);
        assert!(!r.pointer().unwrap());
        assert_eq!(r.u32().unwrap(), 32);
        assert_eq!(r.u32().unwrap(), 2);
        assert!(r.pointer().unwrap());
        assert_eq!(r.u32().unwrap(), 2);
        for _ in 0..2 {
            assert_eq!(r.u16().unwrap(), 8);
            let nh = r.unicode_string_header().unwrap();
            assert!(!nh.present);
            assert_eq!(r.u32().unwrap(), u32::MAX);
            if ex {
                assert_eq!(r.u32().unwrap(), 0);
            }
        }
        assert_eq!(r.u32().unwrap(), 0);
        assert_eq!(r.u32().unwrap(), 0xC000_0073);
        assert_eq!(r.remaining(), 0);
    }

    let mut w = NdrWriter::new();
    w.bytes(4, &h);
    w.u32(1);
    w.u32(1);
    w.unicode_string_header("bob");
    w.unicode_string_body("bob");
    w.u32(0);
    w.null_pointer();
    w.u16(1);
    w.u32(0);
    let stub = call(&mut p, 14, &w.into_bytes()).unwrap();
    // domains ptr, 0, null, 32, entries 1, ptr, max 1, {use 8 + pad, rid 0, index -1}, mapped, status
    assert_eq!(stub.len(), 4 * 7 + 12 + 8);
    assert_eq!(stub[stub.len() - 4..], 0xC000_0073u32.to_le_bytes());
    // An oversized count is an NDR range violation.
    let mut w = NdrWriter::new();
    w.bytes(4, &h);
    w.u32(5000);
    w.u32(5000);
    assert_eq!(call(&mut p, 14, &w.into_bytes()), Err(pdu::FAULT_NDR));
}

#[test]
fn many_pdus_in_one_write_and_queue_limit() {
    let mut p = bound("srvsvc", srvsvc(), 4280);
    let one = request_pdu(3, 1, 0, 99, &[]);
    let batch: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * 10_000)
        .collect();
    p.write(&batch, &info()).unwrap();
    let faults = read_all(&mut p);
    assert_eq!(faults.len(), 10_000);
    assert!(faults.iter().all(|f| f[2] == pdu::PTYPE_FAULT));
    // A client that never reads is cut off once too much is queued.
    let flood: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * 300_000)
        .collect();
    assert_eq!(p.write(&flood, &info()), Err(RpcError::Malformed));
}
