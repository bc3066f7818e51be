//! Connection-oriented DCE/RPC PDUs (C706 chapter 12.6, MS-RPCE 2.2.2): the common header,
//! bind / alter_context and their acknowledgements, bind_nak, request, response and fault,
//! plus reassembly of multi-fragment requests and fragmentation of responses.
//!
//! Only the little-endian, ASCII, IEEE data representation is accepted; every client in
//! practice (Windows, Samba, impacket) sends it.

use crate::RpcError;

/// Common header length (C706 12.6.3.1).
pub const HEADER_LEN: usize = 16;
/// Request/response header length: common header + alloc_hint, p_cont_id, opnum or
/// cancel_count (C706 12.6.4.9, 12.6.4.10).
pub const REQUEST_HEADER_LEN: usize = 24;

// PDU types (C706 12.6.4).
pub const PTYPE_REQUEST: u8 = 0;
pub const PTYPE_RESPONSE: u8 = 2;
pub const PTYPE_FAULT: u8 = 3;
pub const PTYPE_BIND: u8 = 11;
pub const PTYPE_BIND_ACK: u8 = 12;
pub const PTYPE_BIND_NAK: u8 = 13;
pub const PTYPE_ALTER_CONTEXT: u8 = 14;
pub const PTYPE_ALTER_CONTEXT_RESP: u8 = 15;
pub const PTYPE_AUTH3: u8 = 16;
pub const PTYPE_SHUTDOWN: u8 = 17;
pub const PTYPE_CO_CANCEL: u8 = 18;
pub const PTYPE_ORPHANED: u8 = 19;

// pfc_flags (C706 12.6.3.1, MS-RPCE 2.2.2.3).
pub const PFC_FIRST_FRAG: u8 = 0x01;
pub const PFC_LAST_FRAG: u8 = 0x02;
pub const PFC_DID_NOT_EXECUTE: u8 = 0x20;
pub const PFC_OBJECT_UUID: u8 = 0x80;

/// packed_drep for little-endian integers, ASCII characters, IEEE floats (C706 14.1).
const DREP_LE: [u8; 4] = [0x10, 0, 0, 0];

// p_cont_def_result_t and p_provider_reason_t (C706 12.6.3.1, MS-RPCE 2.2.2.4).
pub const RESULT_ACCEPTANCE: u16 = 0;
pub const RESULT_PROVIDER_REJECTION: u16 = 2;
pub const RESULT_NEGOTIATE_ACK: u16 = 3;
pub const REASON_NOT_SPECIFIED: u16 = 0;
pub const REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED: u16 = 1;
pub const REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED: u16 = 2;
pub const REASON_LOCAL_LIMIT_EXCEEDED: u16 = 3;

// bind_nak reject reasons (C706 12.6.3.1, MS-RPCE 2.2.2.5).
pub const NAK_REASON_NOT_SPECIFIED: u16 = 0;
pub const NAK_AUTH_TYPE_NOT_RECOGNIZED: u16 = 8;

// Fault status codes (C706 appendix E, MS-RPCE 2.2.2.11).
pub const FAULT_ACCESS_DENIED: u32 = 0x0000_0005;
pub const FAULT_NDR: u32 = 0x0000_06f7;
pub const NCA_S_OP_RNG_ERROR: u32 = 0x1c01_0002;
pub const NCA_S_UNKNOWN_IF: u32 = 0x1c01_0003;
pub const NCA_S_PROTO_ERROR: u32 = 0x1c01_000b;

/// Builds a UUID in its NDR wire order (first three fields little-endian).
pub const fn uuid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> [u8; 16] {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ]
}

/// An interface or transfer syntax identifier: UUID and version (major in the low 16 bits,
/// minor in the high 16 bits, as p_syntax_id_t carries them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntaxId {
    pub uuid: [u8; 16],
    pub version: u32,
}

impl SyntaxId {
    pub const ZERO: SyntaxId = SyntaxId {
        uuid: [0; 16],
        version: 0,
    };
}

/// NDR 2.0 transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860 v2 (C706 appendix I).
pub const NDR20: SyntaxId = SyntaxId {
    uuid: uuid(
        0x8a88_5d04,
        0x1ceb,
        0x11c9,
        [0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60],
    ),
    version: 2,
};

/// The first eight wire bytes of a bind time feature negotiation transfer syntax
/// 6cb71c2c-9812-4540-xxxx (MS-RPCE 2.2.2.14); byte 8 holds the feature bits.
const BIND_TIME_FEATURE_PREFIX: [u8; 8] = [0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45];
/// KeepConnectionOnOrphanSupported (MS-RPCE 2.2.2.14): the only feature we acknowledge;
/// security context multiplexing needs authenticated binds, which we do not support.
pub const FEATURE_KEEP_CONNECTION_ON_ORPHAN: u8 = 0x02;

/// If `s` is a bind time feature negotiation syntax, the feature bits it offers.
pub fn bind_time_features(s: &SyntaxId) -> Option<u8> {
    if s.uuid.get(..8) == Some(&BIND_TIME_FEATURE_PREFIX[..]) {
        s.uuid.get(8).copied()
    } else {
        None
    }
}

/// The common header (C706 12.6.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub ptype: u8,
    pub flags: u8,
    pub frag_len: u16,
    pub auth_len: u16,
    pub call_id: u32,
}

/// A cursor over one PDU; every read is bounds-checked.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Cursor { data, pos }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], RpcError> {
        let end = self.pos.checked_add(n).ok_or(RpcError::Malformed)?;
        let s = self.data.get(self.pos..end).ok_or(RpcError::Malformed)?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], RpcError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, RpcError> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, RpcError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, RpcError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn syntax(&mut self) -> Result<SyntaxId, RpcError> {
        Ok(SyntaxId {
            uuid: self.array()?,
            version: self.u32()?,
        })
    }
}

/// Reads the frag_length of a buffered PDU once 16 bytes are there, after checking the
/// version and data representation so garbage is rejected before waiting for more bytes.
pub fn peek_frag_len(buf: &[u8]) -> Result<Option<usize>, RpcError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let h = parse_header(buf)?;
    Ok(Some(usize::from(h.frag_len)))
}

/// Parses and checks the common header of a PDU (C706 12.6.3.1).
pub fn parse_header(pdu: &[u8]) -> Result<Header, RpcError> {
    let mut c = Cursor::new(pdu, 0);
    let vers = c.u8()?;
    let minor = c.u8()?;
    let ptype = c.u8()?;
    let flags = c.u8()?;
    let drep: [u8; 4] = c.array()?;
    let frag_len = c.u16()?;
    let auth_len = c.u16()?;
    let call_id = c.u32()?;
    // Version 5.0 and 5.1 share the CO PDU layout (MS-RPCE 1.7).
    if vers != 5 || minor > 1 {
        return Err(RpcError::Malformed);
    }
    if drep.first() != DREP_LE.first() {
        return Err(RpcError::Malformed);
    }
    if usize::from(frag_len) < HEADER_LEN {
        return Err(RpcError::Malformed);
    }
    Ok(Header {
        ptype,
        flags,
        frag_len,
        auth_len,
        call_id,
    })
}

fn write_header(out: &mut Vec<u8>, ptype: u8, flags: u8, call_id: u32) {
    out.extend_from_slice(&[5, 0, ptype, flags]);
    out.extend_from_slice(&DREP_LE);
    out.extend_from_slice(&[0, 0, 0, 0]); // frag_length, auth_length: patched by finish
    out.extend_from_slice(&call_id.to_le_bytes());
}

/// Patches frag_length once the PDU is complete.
fn finish(mut pdu: Vec<u8>) -> Vec<u8> {
    let len = u16::try_from(pdu.len()).unwrap_or(u16::MAX).to_le_bytes();
    if let Some(dst) = pdu.get_mut(8..10) {
        dst.copy_from_slice(&len);
    }
    pdu
}

/// One presentation context element of a bind or alter_context (C706 12.6.3.1 p_cont_elem_t).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextElem {
    pub id: u16,
    pub abstract_syntax: SyntaxId,
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// The body of a bind or alter_context PDU (C706 12.6.4.3, 12.6.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    pub max_xmit_frag: u16,
    pub max_recv_frag: u16,
    pub assoc_group_id: u32,
    pub contexts: Vec<ContextElem>,
}

/// Parses a bind or alter_context PDU (whole fragment, header included). Any auth
/// verifier after the context list is left to the caller (it checks auth_len).
pub fn parse_bind(pdu: &[u8]) -> Result<Bind, RpcError> {
    let mut c = Cursor::new(pdu, HEADER_LEN);
    let max_xmit_frag = c.u16()?;
    let max_recv_frag = c.u16()?;
    let assoc_group_id = c.u32()?;
    let n = c.u8()?;
    c.take(3)?; // reserved, reserved2
    let mut contexts = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let id = c.u16()?;
        let n_transfer = c.u8()?;
        c.take(1)?;
        let abstract_syntax = c.syntax()?;
        let mut transfer_syntaxes = Vec::with_capacity(usize::from(n_transfer));
        for _ in 0..n_transfer {
            transfer_syntaxes.push(c.syntax()?);
        }
        contexts.push(ContextElem {
            id,
            abstract_syntax,
            transfer_syntaxes,
        });
    }
    Ok(Bind {
        max_xmit_frag,
        max_recv_frag,
        assoc_group_id,
        contexts,
    })
}

/// One entry of a bind_ack's p_result_list (C706 12.6.3.1 p_result_t).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextResult {
    pub result: u16,
    pub reason: u16,
    pub transfer_syntax: SyntaxId,
}

/// Fields of a bind_ack / alter_context_resp (C706 12.6.4.4, 12.6.4.2).
pub struct BindAck<'a> {
    pub call_id: u32,
    pub max_xmit_frag: u16,
    pub max_recv_frag: u16,
    pub assoc_group_id: u32,
    /// Secondary address: `\PIPE\name` for a bind; empty for alter_context_resp.
    pub sec_addr: &'a str,
    pub results: &'a [ContextResult],
}

/// Encodes a bind_ack (`ptype` PTYPE_BIND_ACK) or alter_context_resp.
pub fn encode_bind_ack(ptype: u8, a: &BindAck<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_header(&mut out, ptype, PFC_FIRST_FRAG | PFC_LAST_FRAG, a.call_id);
    out.extend_from_slice(&a.max_xmit_frag.to_le_bytes());
    out.extend_from_slice(&a.max_recv_frag.to_le_bytes());
    out.extend_from_slice(&a.assoc_group_id.to_le_bytes());
    // port_any_t: length includes the NUL; an empty address has length 0.
    if a.sec_addr.is_empty() {
        out.extend_from_slice(&0u16.to_le_bytes());
    } else {
        let len = u16::try_from(a.sec_addr.len().saturating_add(1)).unwrap_or(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(a.sec_addr.as_bytes());
        out.push(0);
    }
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.push(u8::try_from(a.results.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&[0, 0, 0]);
    for r in a.results.iter().take(usize::from(u8::MAX)) {
        out.extend_from_slice(&r.result.to_le_bytes());
        out.extend_from_slice(&r.reason.to_le_bytes());
        out.extend_from_slice(&r.transfer_syntax.uuid);
        out.extend_from_slice(&r.transfer_syntax.version.to_le_bytes());
    }
    finish(out)
}

/// Encodes a bind_nak listing protocol version 5.0 as supported (C706 12.6.4.5).
pub fn encode_bind_nak(call_id: u32, reason: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    write_header(
        &mut out,
        PTYPE_BIND_NAK,
        PFC_FIRST_FRAG | PFC_LAST_FRAG,
        call_id,
    );
    out.extend_from_slice(&reason.to_le_bytes());
    out.extend_from_slice(&[1, 5, 0]); // n_protocols, {major 5, minor 0}
                                       // Padding to a multiple of 4 (24 bytes in all), as Windows and Samba send it.
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    finish(out)
}

/// A request fragment's fields (C706 12.6.4.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub context_id: u16,
    pub opnum: u16,
    pub stub: &'a [u8],
}

/// Parses a request fragment. The caller has rejected auth verifiers (auth_len > 0).
pub fn parse_request<'a>(h: &Header, pdu: &'a [u8]) -> Result<Request<'a>, RpcError> {
    let mut c = Cursor::new(pdu, HEADER_LEN);
    let _alloc_hint = c.u32()?;
    let context_id = c.u16()?;
    let opnum = c.u16()?;
    if h.flags & PFC_OBJECT_UUID != 0 {
        c.take(16)?;
    }
    let end = usize::from(h.frag_len);
    let stub = pdu.get(c.pos..end).ok_or(RpcError::Malformed)?;
    Ok(Request {
        context_id,
        opnum,
        stub,
    })
}

/// Splits a response stub into response PDUs no longer than `max_frag` (C706 12.6.4.10).
/// Every fragment but the last carries a multiple of 8 stub bytes so NDR alignment holds
/// across the split; alloc_hint is the stub length still to come, as Windows sends it.
pub fn encode_responses(
    call_id: u32,
    context_id: u16,
    stub: &[u8],
    max_frag: usize,
) -> Vec<Vec<u8>> {
    let per_frag = (max_frag.saturating_sub(REQUEST_HEADER_LEN) & !7).max(8);
    let mut pdus = Vec::new();
    let mut rest = stub;
    let mut first = true;
    loop {
        let n = rest.len().min(per_frag);
        let (chunk, tail) = rest.split_at(n);
        let mut flags = 0;
        if first {
            flags |= PFC_FIRST_FRAG;
        }
        if tail.is_empty() {
            flags |= PFC_LAST_FRAG;
        }
        let mut out = Vec::with_capacity(REQUEST_HEADER_LEN.saturating_add(n));
        write_header(&mut out, PTYPE_RESPONSE, flags, call_id);
        out.extend_from_slice(&u32::try_from(rest.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&context_id.to_le_bytes());
        out.extend_from_slice(&[0, 0]); // cancel_count, reserved
        out.extend_from_slice(chunk);
        pdus.push(finish(out));
        rest = tail;
        first = false;
        if rest.is_empty() {
            break;
        }
    }
    pdus
}

/// Encodes a fault PDU (C706 12.6.4.7).
pub fn encode_fault(call_id: u32, context_id: u16, status: u32, did_not_execute: bool) -> Vec<u8> {
    let mut flags = PFC_FIRST_FRAG | PFC_LAST_FRAG;
    if did_not_execute {
        flags |= PFC_DID_NOT_EXECUTE;
    }
    let mut out = Vec::with_capacity(32);
    write_header(&mut out, PTYPE_FAULT, flags, call_id);
    out.extend_from_slice(&0u32.to_le_bytes()); // alloc_hint
    out.extend_from_slice(&context_id.to_le_bytes());
    out.extend_from_slice(&[0, 0]); // cancel_count, reserved
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // reserved2
    finish(out)
}

/// Largest reassembled request stub accepted; the calls we serve need a few KiB.
pub const MAX_REQUEST_STUB: usize = 1 << 20;

/// A request being reassembled from fragments (C706 12.6.3.3: the fragments of one call
/// share its call_id; context and opnum come from the first).
#[derive(Debug)]
pub struct Reassembly {
    pub call_id: u32,
    pub context_id: u16,
    pub opnum: u16,
    pub stub: Vec<u8>,
}

/// What a request fragment leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum FragmentOutcome {
    /// More fragments are expected.
    Pending,
    /// The call is complete.
    Complete,
    /// The stub grew beyond [`MAX_REQUEST_STUB`]; the call is dropped.
    TooLarge,
}

impl Reassembly {
    pub fn start(call_id: u32, r: &Request<'_>) -> Self {
        Reassembly {
            call_id,
            context_id: r.context_id,
            opnum: r.opnum,
            stub: Vec::new(),
        }
    }

    /// Appends one fragment's stub; `last` is the fragment's PFC_LAST_FRAG.
    pub fn push(&mut self, stub: &[u8], last: bool) -> FragmentOutcome {
        if self.stub.len().saturating_add(stub.len()) > MAX_REQUEST_STUB {
            return FragmentOutcome::TooLarge;
        }
        self.stub.extend_from_slice(stub);
        if last {
            FragmentOutcome::Complete
        } else {
            FragmentOutcome::Pending
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn ndr20_uuid_wire_bytes() {
        // C706 appendix I: 8a885d04-1ceb-11c9-9fe8-08002b104860 in NDR order.
        assert_eq!(
            NDR20.uuid,
            [
                0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10,
                0x48, 0x60
            ]
        );
    }

    #[test]
    fn header_checks() {
        let mut h = vec![5, 0, 11, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0];
        let p = parse_header(&h).unwrap();
        assert_eq!(p.ptype, 11);
        assert_eq!(p.call_id, 1);
        h[0] = 4;
        assert!(parse_header(&h).is_err());
        h[0] = 5;
        h[4] = 0; // big-endian drep
        assert!(parse_header(&h).is_err());
        h[4] = 0x10;
        h[8] = 15; // frag_length below the header
        assert!(parse_header(&h).is_err());
        assert_eq!(peek_frag_len(&h[..10]).unwrap(), None);
    }

    #[test]
    fn responses_fragment_on_eight_byte_boundaries() {
        let stub: Vec<u8> = (0..100u8).collect();
        let pdus = encode_responses(7, 1, &stub, 24 + 35);
        // 35 bytes of room -> 32 per fragment: 32, 32, 32, 4
        assert_eq!(pdus.len(), 4);
        let mut joined = Vec::new();
        for (i, p) in pdus.iter().enumerate() {
            let h = parse_header(p).unwrap();
            assert_eq!(usize::from(h.frag_len), p.len());
            assert!(p.len() <= 59);
            assert_eq!(h.flags & PFC_FIRST_FRAG != 0, i == 0);
            assert_eq!(h.flags & PFC_LAST_FRAG != 0, i == 3);
            let hint = u32::from_le_bytes(p[16..20].try_into().unwrap());
            assert_eq!(hint as usize, 100 - 32 * i);
            joined.extend_from_slice(&p[24..]);
        }
        assert_eq!(joined, stub);
        // An empty stub still yields one (first and last) fragment.
        let pdus = encode_responses(1, 0, &[], 4280);
        assert_eq!(pdus.len(), 1);
        assert_eq!(pdus[0][3], PFC_FIRST_FRAG | PFC_LAST_FRAG);
    }

    #[test]
    fn fault_and_nak_layout() {
        let f = encode_fault(9, 2, NCA_S_OP_RNG_ERROR, true);
        assert_eq!(f.len(), 32);
        assert_eq!(f[2], PTYPE_FAULT);
        assert_eq!(f[3], PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_DID_NOT_EXECUTE);
        assert_eq!(&f[24..28], &NCA_S_OP_RNG_ERROR.to_le_bytes());
        let n = encode_bind_nak(3, NAK_AUTH_TYPE_NOT_RECOGNIZED);
        assert_eq!(n.len(), 24);
        assert_eq!(u16::from_le_bytes([n[8], n[9]]), 24);
        assert_eq!(&n[16..21], &[8, 0, 1, 5, 0]);
    }

    #[test]
    fn feature_negotiation_syntax_is_recognised() {
        let s = SyntaxId {
            uuid: uuid(0x6cb7_1c2c, 0x9812, 0x4540, [3, 0, 0, 0, 0, 0, 0, 0]),
            version: 1,
        };
        assert_eq!(bind_time_features(&s), Some(3));
        assert_eq!(bind_time_features(&NDR20), None);
    }
}
