//! NEGOTIATE request and response (MS-SMB2 2.2.3, 2.2.4) and their
//! negotiate contexts (2.2.3.1, 2.2.4.1).

use crate::header::HEADER_LEN;
use crate::reader::{field, Reader, Result, WireError};
use crate::Writer;

pub const SECURITY_SIGNING_ENABLED: u16 = 0x0001;
pub const SECURITY_SIGNING_REQUIRED: u16 = 0x0002;

pub const CAP_DFS: u32 = 0x0000_0001;
pub const CAP_LEASING: u32 = 0x0000_0002;
pub const CAP_LARGE_MTU: u32 = 0x0000_0004;
pub const CAP_MULTI_CHANNEL: u32 = 0x0000_0008;
pub const CAP_PERSISTENT_HANDLES: u32 = 0x0000_0010;
pub const CAP_DIRECTORY_LEASING: u32 = 0x0000_0020;
pub const CAP_ENCRYPTION: u32 = 0x0000_0040;

pub const CTX_PREAUTH_INTEGRITY: u16 = 0x0001;
pub const CTX_ENCRYPTION: u16 = 0x0002;
pub const CTX_COMPRESSION: u16 = 0x0003;
pub const CTX_NETNAME: u16 = 0x0005;
pub const CTX_TRANSPORT: u16 = 0x0006;
pub const CTX_RDMA_TRANSFORM: u16 = 0x0007;
pub const CTX_SIGNING: u16 = 0x0008;

pub const HASH_SHA512: u16 = 0x0001;

/// Dialect 0x02FF: the wildcard answered to an SMB1 negotiate (MS-SMB2 3.3.5.3.1).
pub const DIALECT_WILDCARD: u16 = 0x02FF;

/// Negotiate contexts of a 3.1.1 request, parsed into typed lists.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientContexts {
    /// None when the client sent no PREAUTH_INTEGRITY context.
    pub preauth_hashes: Option<Vec<u16>>,
    pub preauth_salt_len: usize,
    pub ciphers: Option<Vec<u16>>,
    pub compression: Option<Vec<u16>>,
    pub signing: Option<Vec<u16>>,
    pub netname: Option<String>,
    pub transport_seen: bool,
    /// More than one context of the same type (a protocol error, 3.3.5.4).
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateRequest {
    pub security_mode: u16,
    pub capabilities: u32,
    pub client_guid: [u8; 16],
    pub dialects: Vec<u16>,
    pub contexts: ClientContexts,
}

fn u16_list(r: &mut Reader<'_>, n: usize) -> Result<Vec<u16>> {
    let mut v = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        v.push(r.u16()?);
    }
    Ok(v)
}

impl NegotiateRequest {
    /// `msg` is the whole message starting at the SMB2 header.
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(36)?;
        let dialect_count = r.u16()? as usize;
        let security_mode = r.u16()?;
        r.skip(2)?;
        let capabilities = r.u32()?;
        let client_guid = r.array::<16>()?;
        let ctx_offset = r.u32()? as usize;
        let ctx_count = r.u16()? as usize;
        r.skip(2)?;
        if dialect_count == 0 {
            return Err(WireError::Invalid);
        }
        let dialects = u16_list(&mut r, dialect_count)?;
        let mut contexts = ClientContexts::default();
        if dialects.contains(&0x0311) && ctx_count > 0 {
            contexts = parse_contexts(msg, ctx_offset, ctx_count)?;
        }
        Ok(NegotiateRequest {
            security_mode,
            capabilities,
            client_guid,
            dialects,
            contexts,
        })
    }
}

fn parse_contexts(msg: &[u8], offset: usize, count: usize) -> Result<ClientContexts> {
    let mut c = ClientContexts::default();
    let mut r = Reader::at(msg, offset).map_err(|_| WireError::Invalid)?;
    for i in 0..count {
        if i > 0 {
            r.align(8)?;
        }
        let ty = r.u16()?;
        let len = r.u16()? as usize;
        r.skip(4)?;
        let data = r.take(len)?;
        let mut d = Reader::new(data);
        let mut dup = |seen: bool| {
            if seen {
                c.duplicate = true;
            }
        };
        match ty {
            CTX_PREAUTH_INTEGRITY => {
                dup(c.preauth_hashes.is_some());
                let n = d.u16()? as usize;
                let salt = d.u16()? as usize;
                let algs = u16_list(&mut d, n)?;
                d.take(salt)?;
                c.preauth_salt_len = salt;
                c.preauth_hashes = Some(algs);
            }
            CTX_ENCRYPTION => {
                dup(c.ciphers.is_some());
                let n = d.u16()? as usize;
                c.ciphers = Some(u16_list(&mut d, n)?);
            }
            CTX_COMPRESSION => {
                dup(c.compression.is_some());
                let n = d.u16()? as usize;
                d.skip(6)?;
                c.compression = Some(u16_list(&mut d, n)?);
            }
            CTX_SIGNING => {
                dup(c.signing.is_some());
                let n = d.u16()? as usize;
                c.signing = Some(u16_list(&mut d, n)?);
            }
            CTX_NETNAME => {
                c.netname = crate::reader::utf16_to_string(data).ok();
            }
            CTX_TRANSPORT => c.transport_seen = true,
            _ => {}
        }
    }
    Ok(c)
}

/// Negotiate contexts the server answers with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerContexts {
    pub preauth_salt: Option<[u8; 32]>,
    pub cipher: Option<u16>,
    pub signing: Option<u16>,
    pub compression: Option<Vec<u16>>,
}

pub struct NegotiateResponse<'a> {
    pub security_mode: u16,
    pub dialect: u16,
    pub server_guid: [u8; 16],
    pub capabilities: u32,
    pub max_transact: u32,
    pub max_read: u32,
    pub max_write: u32,
    pub system_time: u64,
    pub security_buffer: &'a [u8],
    pub contexts: Option<&'a ServerContexts>,
}

impl NegotiateResponse<'_> {
    /// Appends the body; `out` already holds the 64-byte header at `base`.
    pub fn encode(&self, out: &mut Vec<u8>, base: usize) {
        let mut w = Writer::new(out);
        let ctx_count = self.contexts.map(count_contexts).unwrap_or(0);
        w.u16(65);
        w.u16(self.security_mode);
        w.u16(self.dialect);
        w.u16(ctx_count as u16);
        w.bytes(&self.server_guid);
        w.u32(self.capabilities);
        w.u32(self.max_transact);
        w.u32(self.max_read);
        w.u32(self.max_write);
        w.u64(self.system_time);
        w.u64(0);
        let sec_off = HEADER_LEN + 64;
        w.u16(sec_off as u16);
        w.u16(self.security_buffer.len() as u16);
        let ctx_off_at = w.len();
        w.u32(0);
        w.bytes(self.security_buffer);
        if self.security_buffer.is_empty() {
            w.u8(0);
        }
        if let Some(ctx) = self.contexts {
            w.align_from(base, 8);
            let off = w.len().saturating_sub(base);
            w.patch_u32(ctx_off_at, off as u32);
            let mut first = true;
            let mut put = |w: &mut Writer<'_>, ty: u16, data: &[u8]| {
                if !first {
                    w.align_from(base, 8);
                }
                first = false;
                w.u16(ty);
                w.u16(data.len() as u16);
                w.u32(0);
                w.bytes(data);
            };
            if let Some(salt) = &ctx.preauth_salt {
                let mut d = Vec::with_capacity(38);
                d.extend_from_slice(&1u16.to_le_bytes());
                d.extend_from_slice(&32u16.to_le_bytes());
                d.extend_from_slice(&HASH_SHA512.to_le_bytes());
                d.extend_from_slice(salt);
                put(&mut w, CTX_PREAUTH_INTEGRITY, &d);
            }
            if let Some(c) = ctx.cipher {
                let mut d = Vec::new();
                d.extend_from_slice(&1u16.to_le_bytes());
                d.extend_from_slice(&c.to_le_bytes());
                put(&mut w, CTX_ENCRYPTION, &d);
            }
            if let Some(algs) = &ctx.compression {
                let mut d = Vec::new();
                d.extend_from_slice(&(algs.len() as u16).to_le_bytes());
                d.extend_from_slice(&[0u8; 6]);
                for a in algs {
                    d.extend_from_slice(&a.to_le_bytes());
                }
                put(&mut w, CTX_COMPRESSION, &d);
            }
            if let Some(s) = ctx.signing {
                let mut d = Vec::new();
                d.extend_from_slice(&1u16.to_le_bytes());
                d.extend_from_slice(&s.to_le_bytes());
                put(&mut w, CTX_SIGNING, &d);
            }
        }
    }
}

fn count_contexts(c: &ServerContexts) -> usize {
    [
        c.preauth_salt.is_some(),
        c.cipher.is_some(),
        c.compression.is_some(),
        c.signing.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count()
}

/// Reads the security buffer out of a NEGOTIATE response (used by tests).
pub fn response_security_buffer(msg: &[u8]) -> Result<&[u8]> {
    let mut r = Reader::at(msg, HEADER_LEN + 56)?;
    let off = r.u16()? as usize;
    let len = r.u16()? as usize;
    field(msg, off, len)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::Header;

    fn request(dialects: &[u16], ctx: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = Vec::new();
        Header::default().encode(&mut m);
        let mut w = Writer::new(&mut m);
        w.u16(36);
        w.u16(dialects.len() as u16);
        w.u16(1);
        w.u16(0);
        w.u32(0);
        w.bytes(&[9; 16]);
        let off_at = w.len();
        w.u32(0);
        w.u16(ctx.len() as u16);
        w.u16(0);
        for d in dialects {
            w.u16(*d);
        }
        if !ctx.is_empty() {
            w.align_from(0, 8);
            let off = w.len() as u32;
            w.patch_u32(off_at, off);
            for (i, (t, d)) in ctx.iter().enumerate() {
                if i > 0 {
                    w.align_from(0, 8);
                }
                w.u16(*t);
                w.u16(d.len() as u16);
                w.u32(0);
                w.bytes(d);
            }
        }
        m
    }

    #[test]
    fn parses_contexts_in_any_order() {
        let sign = vec![2, 0, 2, 0, 1, 0];
        let pre = vec![1, 0, 4, 0, 1, 0, 1, 2, 3, 4];
        let enc = vec![1, 0, 2, 0];
        let m = request(
            &[0x202, 0x311],
            &[
                (CTX_SIGNING, sign),
                (CTX_ENCRYPTION, enc),
                (CTX_PREAUTH_INTEGRITY, pre),
            ],
        );
        let r = NegotiateRequest::parse(&m).unwrap();
        assert_eq!(r.dialects, vec![0x202, 0x311]);
        assert_eq!(r.contexts.signing, Some(vec![2, 1]));
        assert_eq!(r.contexts.ciphers, Some(vec![2]));
        assert_eq!(r.contexts.preauth_hashes, Some(vec![1]));
        assert!(!r.contexts.duplicate);
    }

    #[test]
    fn truncations_never_panic() {
        let m = request(
            &[0x311],
            &[(CTX_PREAUTH_INTEGRITY, vec![1, 0, 32, 0, 1, 0])],
        );
        for n in 0..m.len() {
            let _ = NegotiateRequest::parse(&m[..n]);
        }
    }

    #[test]
    fn response_layout() {
        let mut out = Vec::new();
        Header::default().encode(&mut out);
        let ctx = ServerContexts {
            preauth_salt: Some([7; 32]),
            cipher: Some(2),
            signing: Some(2),
            compression: None,
        };
        NegotiateResponse {
            security_mode: 1,
            dialect: 0x311,
            server_guid: [1; 16],
            capabilities: 0,
            max_transact: 65536,
            max_read: 65536,
            max_write: 65536,
            system_time: 0,
            security_buffer: b"token",
            contexts: Some(&ctx),
        }
        .encode(&mut out, 0);
        assert_eq!(response_security_buffer(&out).unwrap(), b"token");
        let off = u32::from_le_bytes(out[64 + 60..64 + 64].try_into().unwrap()) as usize;
        assert_eq!(off % 8, 0);
        assert_eq!(
            u16::from_le_bytes([out[off], out[off + 1]]),
            CTX_PREAUTH_INTEGRITY
        );
    }
}
