//! DCE/RPC over SMB named pipes (MS-RPCE 2.1.1.2, ncacn_np; C706 chapter 12 connection-
//! oriented protocol) with an NDR20 codec, serving the calls that Windows Explorer,
//! `smbclient -L`, `net rpc share` and `rpcclient` make on `srvsvc`, `wkssvc` and `lsarpc`.
//!
//! A [`Pipe`] is one open of a pipe name. SMB2 WRITE feeds it bytes ([`Pipe::write`]),
//! which may hold partial or several PDUs; it answers each complete PDU by queueing
//! response PDUs, which SMB2 READ drains ([`Pipe::read`]) one message (PDU) at a time,
//! as a message-mode pipe on Windows does. FSCTL_PIPE_TRANSCEIVE does both
//! ([`Pipe::transceive`]).
//!
//! ```text
//!  open ──► Unbound ──bind──► Bound{contexts} ──request/alter_context──► Bound
//!                │ bind_nak (unknown interface, auth)
//!                ▼
//!             Unbound
//! ```
#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

mod lsarpc;
mod ndr;
mod pdu;
mod srvsvc;
mod wkssvc;

use std::collections::VecDeque;

use pdu::{BindAck, ContextResult, FragmentOutcome, Header, Reassembly, SyntaxId, NDR20};

/// Kind of a share, as NetrShareEnum reports it (MS-SRVS 2.2.2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareType {
    Disk,
    Ipc,
}

/// One share the caller may see.
#[derive(Clone, Debug)]
pub struct ShareInfo {
    pub name: String,
    pub comment: String,
    pub share_type: ShareType,
    /// The share's local path (e.g. `/srv/data`). Level 2 and 502 show it the way Samba
    /// does, `C:\srv\data`; a path that already starts with a drive letter is shown as is.
    pub path: String,
}

/// What the RPC services may say about the server and the caller.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    pub netbios_name: String,
    pub server_string: String,
    pub workgroup: String,
    /// Already filtered to what this caller may see (browseable ones + IPC$).
    pub shares: Vec<ShareInfo>,
    pub user_name: String,
    pub user_domain: String,
}

/// A protocol violation that fails the SMB write (the server answers
/// STATUS_INVALID_PARAMETER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    Malformed,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed DCE/RPC PDU")
    }
}

impl std::error::Error for RpcError {}

/// The RPC interfaces served, one per pipe name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Srvsvc,
    Wkssvc,
    Lsarpc,
}

impl Service {
    /// Abstract syntax (interface UUID and version) of the service.
    fn interface(self) -> SyntaxId {
        match self {
            // MS-SRVS 1.9: 4B324FC8-1670-01D3-1278-5A47BF6EE188 v3.0
            Service::Srvsvc => SyntaxId {
                uuid: pdu::uuid(
                    0x4b32_4fc8,
                    0x1670,
                    0x01d3,
                    [0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88],
                ),
                version: 3,
            },
            // MS-WKST 1.9: 6BFFD098-A112-3610-9833-46C3F87E345A v1.0
            Service::Wkssvc => SyntaxId {
                uuid: pdu::uuid(
                    0x6bff_d098,
                    0xa112,
                    0x3610,
                    [0x98, 0x33, 0x46, 0xc3, 0xf8, 0x7e, 0x34, 0x5a],
                ),
                version: 1,
            },
            // MS-LSAT 1.9: 12345778-1234-ABCD-EF00-0123456789AB v0.0
            Service::Lsarpc => SyntaxId {
                uuid: pdu::uuid(
                    0x1234_5778,
                    0x1234,
                    0xabcd,
                    [0xef, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab],
                ),
                version: 0,
            },
        }
    }

    /// Secondary address in the bind_ack, as Windows reports it.
    fn sec_addr(self) -> &'static str {
        match self {
            Service::Srvsvc => "\\PIPE\\srvsvc",
            Service::Wkssvc => "\\PIPE\\wkssvc",
            Service::Lsarpc => "\\PIPE\\lsass",
        }
    }

    /// Whether a bind's abstract syntax names this interface: same UUID and major
    /// version, minor version not above ours (C706 12.6.3.2).
    fn matches(self, s: &SyntaxId) -> bool {
        let ours = self.interface();
        s.uuid == ours.uuid
            && (s.version & 0xffff) == (ours.version & 0xffff)
            && (s.version >> 16) <= (ours.version >> 16)
    }
}

fn service_for(name: &str) -> Option<Service> {
    let mut n = name.trim_start_matches(['\\', '/']);
    if n.len() > 5 && n.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("pipe\\")) {
        n = n.get(5..).unwrap_or("");
    }
    let n = n.to_ascii_lowercase();
    match n.as_str() {
        "srvsvc" => Some(Service::Srvsvc),
        "wkssvc" => Some(Service::Wkssvc),
        "lsarpc" | "lsass" => Some(Service::Lsarpc),
        _ => None,
    }
}

/// Which pipe names exist (case-insensitive; accept "srvsvc", "\\srvsvc", "\\PIPE\\srvsvc",
/// "wkssvc", "lsarpc", "lsass").
pub fn pipe_exists(name: &str) -> bool {
    service_for(name).is_some()
}

/// Largest fragment we send or advertise; Windows uses the same.
const MAX_FRAG: usize = 4280;
/// Every implementation must accept fragments of this size (C706 12.6.3.6, MUST_RECV_FRAG_SIZE),
/// so a smaller client value is raised to it.
const MIN_FRAG: usize = 1432;
/// Presentation contexts one pipe may hold.
const MAX_CONTEXTS: usize = 32;
/// Queued response bytes beyond which a client that writes without reading is refused.
const MAX_QUEUED: usize = 8 << 20;

/// Per-call error of an interface: a fault PDU with this status.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Fault(pub u32);

impl From<ndr::NdrError> for Fault {
    fn from(_: ndr::NdrError) -> Self {
        Fault(pdu::FAULT_NDR)
    }
}

/// One open of an RPC named pipe.
pub struct Pipe {
    service: Service,
    /// Set by a successful bind; fragment size we send (client's max_recv_frag, clamped).
    bound: Option<usize>,
    assoc_group_id: u32,
    /// Context ids accepted with NDR20.
    contexts: Vec<u16>,
    /// Bytes of a PDU not yet complete.
    inbuf: Vec<u8>,
    /// A multi-fragment request in progress.
    reassembly: Option<Reassembly>,
    /// Response PDUs, each a pipe message; `out_pos` bytes of the front one were read.
    out: VecDeque<Vec<u8>>,
    out_pos: usize,
    /// Bytes queued in `out`, counting the unread part of the front message.
    out_bytes: usize,
    lsa: lsarpc::LsaState,
}

impl Pipe {
    /// Opens a pipe by name; `None` when no such pipe exists.
    pub fn open(name: &str) -> Option<Pipe> {
        let service = service_for(name)?;
        Some(Pipe {
            service,
            bound: None,
            assoc_group_id: 0,
            contexts: Vec::new(),
            inbuf: Vec::new(),
            reassembly: None,
            out: VecDeque::new(),
            out_pos: 0,
            out_bytes: 0,
            lsa: lsarpc::LsaState::default(),
        })
    }

    /// A client write (SMB2 WRITE on the pipe). Consumes whole or partial PDUs (reassembles
    /// fragments across writes and multi-fragment requests), queues the responses.
    /// Err only on a protocol violation that should fail the write (the caller then returns
    /// STATUS_INVALID_PARAMETER); unknown interfaces get bind_nak, unknown opnums a fault PDU.
    pub fn write(&mut self, data: &[u8], info: &ServerInfo) -> Result<(), RpcError> {
        self.inbuf.extend_from_slice(data);
        let result = self.drain_input(info);
        if result.is_err() {
            // Resynchronising inside a byte stream is impossible: drop what is buffered.
            self.inbuf.clear();
            self.reassembly = None;
        }
        result
    }

    fn drain_input(&mut self, info: &ServerInfo) -> Result<(), RpcError> {
        // Walk the buffer with an offset and drop the consumed prefix once, so a large
        // write holding many small PDUs costs linear time.
        let buf = std::mem::take(&mut self.inbuf);
        let mut start = 0usize;
        let result = loop {
            let rest = buf.get(start..).unwrap_or(&[]);
            let len = match pdu::peek_frag_len(rest) {
                Ok(Some(len)) if rest.len() >= len => len,
                Ok(_) => break Ok(()),
                Err(e) => break Err(e),
            };
            let Some(one) = rest.get(..len) else {
                break Err(RpcError::Malformed);
            };
            if let Err(e) = self.handle_pdu(one, info) {
                break Err(e);
            }
            start = start.saturating_add(len);
            if self.out_bytes > MAX_QUEUED {
                break Err(RpcError::Malformed);
            }
        };
        self.inbuf = buf.get(start..).unwrap_or(&[]).to_vec();
        result
    }

    /// Drain up to `max` bytes of queued response. Returns (bytes, more_pending), where
    /// more_pending means the current message (PDU) has bytes left, the case in which an
    /// SMB read answers STATUS_BUFFER_OVERFLOW; further whole PDUs show in [`Pipe::has_output`].
    /// A read with nothing queued returns empty (the server turns that into the right SMB status).
    pub fn read(&mut self, max: usize) -> (Vec<u8>, bool) {
        let Some(front) = self.out.front() else {
            return (Vec::new(), false);
        };
        let rest = front.get(self.out_pos..).unwrap_or(&[]);
        let n = rest.len().min(max);
        let chunk = rest.get(..n).unwrap_or(&[]).to_vec();
        let more = n < rest.len();
        self.out_bytes = self.out_bytes.saturating_sub(n);
        if more {
            self.out_pos = self.out_pos.saturating_add(n);
        } else {
            self.out.pop_front();
            self.out_pos = 0;
        }
        (chunk, more)
    }

    /// Whether a response is queued.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// FSCTL_PIPE_TRANSCEIVE: write then read up to max_out; `more` -> STATUS_BUFFER_OVERFLOW.
    pub fn transceive(
        &mut self,
        data: &[u8],
        max_out: usize,
        info: &ServerInfo,
    ) -> Result<(Vec<u8>, bool), RpcError> {
        self.write(data, info)?;
        Ok(self.read(max_out))
    }

    fn handle_pdu(&mut self, pdu: &[u8], info: &ServerInfo) -> Result<(), RpcError> {
        let h = pdu::parse_header(pdu)?;
        match h.ptype {
            pdu::PTYPE_BIND => self.on_bind(&h, pdu),
            pdu::PTYPE_ALTER_CONTEXT => self.on_alter_context(&h, pdu),
            pdu::PTYPE_REQUEST => self.on_request(&h, pdu, info),
            pdu::PTYPE_ORPHANED | pdu::PTYPE_CO_CANCEL => {
                // MS-RPCE 3.3.3.5.x: the call is abandoned; no answer is sent.
                if self
                    .reassembly
                    .as_ref()
                    .is_some_and(|r| r.call_id == h.call_id)
                {
                    self.reassembly = None;
                }
                Ok(())
            }
            // No authentication is negotiated, so an auth3 has nothing to complete.
            pdu::PTYPE_AUTH3 | pdu::PTYPE_SHUTDOWN => Ok(()),
            _ => Err(RpcError::Malformed),
        }
    }

    fn queue(&mut self, pdu: Vec<u8>) {
        self.out_bytes = self.out_bytes.saturating_add(pdu.len());
        self.out.push_back(pdu);
    }

    fn fault(&mut self, call_id: u32, context_id: u16, status: u32, did_not_execute: bool) {
        self.queue(pdu::encode_fault(
            call_id,
            context_id,
            status,
            did_not_execute,
        ));
    }

    /// Results for a bind or alter_context's presentation contexts (C706 12.6.3.2,
    /// MS-RPCE 3.3.1.5.3). Returns the results and whether any context was accepted.
    fn negotiate_contexts(&mut self, contexts: &[pdu::ContextElem]) -> (Vec<ContextResult>, bool) {
        let mut results = Vec::with_capacity(contexts.len());
        let mut any = false;
        let mut feature_acked = false;
        for c in contexts {
            let reject = |reason| ContextResult {
                result: pdu::RESULT_PROVIDER_REJECTION,
                reason,
                transfer_syntax: SyntaxId::ZERO,
            };
            // MS-RPCE 3.3.1.5.3: a context whose first transfer syntax is the bind time
            // feature negotiation one is answered with negotiate_ack and the features we
            // support, whatever its abstract syntax; only one such context is honoured.
            let features = c
                .transfer_syntaxes
                .first()
                .and_then(pdu::bind_time_features);
            if let Some(f) = features {
                if !feature_acked {
                    feature_acked = true;
                    results.push(ContextResult {
                        result: pdu::RESULT_NEGOTIATE_ACK,
                        reason: u16::from(f & pdu::FEATURE_KEEP_CONNECTION_ON_ORPHAN),
                        transfer_syntax: SyntaxId::ZERO,
                    });
                } else {
                    results.push(reject(pdu::REASON_NOT_SPECIFIED));
                }
                continue;
            }
            if !self.service.matches(&c.abstract_syntax) {
                results.push(reject(pdu::REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED));
                continue;
            }
            // Only NDR20; NDR64 and anything else are "proposed transfer syntaxes not
            // supported", which makes Windows fall back to the NDR20 context.
            if !c.transfer_syntaxes.contains(&NDR20) {
                results.push(reject(pdu::REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED));
                continue;
            }
            if !self.contexts.contains(&c.id) {
                if self.contexts.len() >= MAX_CONTEXTS {
                    results.push(reject(pdu::REASON_LOCAL_LIMIT_EXCEEDED));
                    continue;
                }
                self.contexts.push(c.id);
            }
            any = true;
            results.push(ContextResult {
                result: pdu::RESULT_ACCEPTANCE,
                reason: pdu::REASON_NOT_SPECIFIED,
                transfer_syntax: NDR20,
            });
        }
        (results, any)
    }

    /// bind (C706 12.6.4.3) -> bind_ack or bind_nak.
    fn on_bind(&mut self, h: &Header, pdu: &[u8]) -> Result<(), RpcError> {
        let bind = pdu::parse_bind(pdu)?;
        let whole = pdu::PFC_FIRST_FRAG | pdu::PFC_LAST_FRAG;
        if h.flags & whole != whole {
            return Err(RpcError::Malformed);
        }
        if h.auth_len != 0 {
            // Authenticated binds are not supported on these pipes.
            self.queue(pdu::encode_bind_nak(
                h.call_id,
                pdu::NAK_AUTH_TYPE_NOT_RECOGNIZED,
            ));
            return Ok(());
        }
        if self.bound.is_some() {
            // One bind per association; later contexts come by alter_context (C706 12.4.3.2).
            self.queue(pdu::encode_bind_nak(
                h.call_id,
                pdu::NAK_REASON_NOT_SPECIFIED,
            ));
            return Ok(());
        }
        let (results, any) = self.negotiate_contexts(&bind.contexts);
        if !any {
            self.queue(pdu::encode_bind_nak(
                h.call_id,
                pdu::NAK_REASON_NOT_SPECIFIED,
            ));
            return Ok(());
        }
        let frag = usize::from(bind.max_recv_frag).clamp(MIN_FRAG, MAX_FRAG);
        self.bound = Some(frag);
        self.assoc_group_id = if bind.assoc_group_id != 0 {
            bind.assoc_group_id
        } else {
            new_assoc_group_id()
        };
        let frag16 = u16::try_from(frag).unwrap_or(u16::MAX);
        let ack = pdu::encode_bind_ack(
            pdu::PTYPE_BIND_ACK,
            &BindAck {
                call_id: h.call_id,
                max_xmit_frag: frag16,
                max_recv_frag: frag16,
                assoc_group_id: self.assoc_group_id,
                sec_addr: self.service.sec_addr(),
                results: &results,
            },
        );
        self.queue(ack);
        Ok(())
    }

    /// alter_context (C706 12.6.4.1) -> alter_context_resp; it cannot be nak'ed, so
    /// refusals are per context, and an auth verifier gets a fault.
    fn on_alter_context(&mut self, h: &Header, pdu: &[u8]) -> Result<(), RpcError> {
        let bind = pdu::parse_bind(pdu)?;
        let Some(frag) = self.bound else {
            self.fault(h.call_id, 0, pdu::NCA_S_PROTO_ERROR, true);
            return Ok(());
        };
        if h.auth_len != 0 {
            self.fault(h.call_id, 0, pdu::FAULT_ACCESS_DENIED, true);
            return Ok(());
        }
        let (results, _) = self.negotiate_contexts(&bind.contexts);
        let frag16 = u16::try_from(frag).unwrap_or(u16::MAX);
        let resp = pdu::encode_bind_ack(
            pdu::PTYPE_ALTER_CONTEXT_RESP,
            &BindAck {
                call_id: h.call_id,
                max_xmit_frag: frag16,
                max_recv_frag: frag16,
                assoc_group_id: self.assoc_group_id,
                sec_addr: "",
                results: &results,
            },
        );
        self.queue(resp);
        Ok(())
    }

    /// request (C706 12.6.4.9): reassemble, dispatch, answer with response PDUs or a fault.
    fn on_request(&mut self, h: &Header, pdu: &[u8], info: &ServerInfo) -> Result<(), RpcError> {
        if usize::from(h.frag_len) < pdu::REQUEST_HEADER_LEN {
            return Err(RpcError::Malformed);
        }
        let req = pdu::parse_request(h, pdu)?;
        let Some(frag) = self.bound else {
            self.fault(h.call_id, req.context_id, pdu::NCA_S_PROTO_ERROR, true);
            return Ok(());
        };
        if h.auth_len != 0 {
            // No security context exists, so a verifier cannot be checked.
            self.reassembly = None;
            self.fault(h.call_id, req.context_id, pdu::FAULT_ACCESS_DENIED, true);
            return Ok(());
        }
        let first = h.flags & pdu::PFC_FIRST_FRAG != 0;
        let last = h.flags & pdu::PFC_LAST_FRAG != 0;
        let mut call = if first {
            // A new call replaces any unfinished one (the client gave up on it).
            Reassembly::start(h.call_id, &req)
        } else {
            match self.reassembly.take() {
                Some(r) if r.call_id == h.call_id => r,
                // A middle or last fragment of no known call is a protocol violation.
                _ => return Err(RpcError::Malformed),
            }
        };
        match call.push(req.stub, last) {
            FragmentOutcome::Pending => {
                self.reassembly = Some(call);
                return Ok(());
            }
            FragmentOutcome::TooLarge => {
                self.reassembly = None;
                self.fault(h.call_id, call.context_id, pdu::NCA_S_PROTO_ERROR, true);
                return Ok(());
            }
            FragmentOutcome::Complete => self.reassembly = None,
        }
        if !self.contexts.contains(&call.context_id) {
            self.fault(h.call_id, call.context_id, pdu::NCA_S_UNKNOWN_IF, true);
            return Ok(());
        }
        let result = match self.service {
            Service::Srvsvc => srvsvc::call(call.opnum, &call.stub, info),
            Service::Wkssvc => wkssvc::call(call.opnum, &call.stub, info),
            Service::Lsarpc => lsarpc::call(call.opnum, &call.stub, info, &mut self.lsa),
        };
        match result {
            Ok(stub) => {
                for p in pdu::encode_responses(h.call_id, call.context_id, &stub, frag) {
                    self.queue(p);
                }
            }
            Err(Fault(status)) => {
                // Opnum and stub errors are found before the operation runs.
                self.fault(h.call_id, call.context_id, status, true);
            }
        }
        Ok(())
    }
}

/// A fresh association group id for a client that asked for a new one (0).
fn new_assoc_group_id() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hsh = std::collections::hash_map::RandomState::new().build_hasher();
    hsh.write_u8(0);
    // Keep it non-zero and in the small range Windows hands out.
    ((hsh.finish() as u32) & 0x00ff_fff0) | 0x10
}

#[cfg(test)]
mod tests;
