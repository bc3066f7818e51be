//! Hand-built SMB2 requests (MS-SMB2 2.2) and NTLMSSP tokens (MS-NLMP 2.2.1),
//! written field by field from the spec rather than with the server's own
//! encoders, so the seeds are an independent check of the parsers.

/// SMB2 command codes (MS-SMB2 2.2.1.2).
pub mod cmd {
    pub const NEGOTIATE: u16 = 0x00;
    pub const SESSION_SETUP: u16 = 0x01;
    pub const LOGOFF: u16 = 0x02;
    pub const TREE_CONNECT: u16 = 0x03;
    pub const TREE_DISCONNECT: u16 = 0x04;
    pub const CREATE: u16 = 0x05;
    pub const CLOSE: u16 = 0x06;
    pub const FLUSH: u16 = 0x07;
    pub const READ: u16 = 0x08;
    pub const WRITE: u16 = 0x09;
    pub const LOCK: u16 = 0x0A;
    pub const IOCTL: u16 = 0x0B;
    pub const ECHO: u16 = 0x0D;
    pub const QUERY_DIRECTORY: u16 = 0x0E;
    pub const CHANGE_NOTIFY: u16 = 0x0F;
    pub const QUERY_INFO: u16 = 0x10;
    pub const SET_INFO: u16 = 0x11;
}

/// FLAGS_RELATED_OPERATIONS (MS-SMB2 2.2.1.1).
pub const FLAG_RELATED: u32 = 0x4;
/// The FileId that names the open of an earlier CREATE in a related compound.
pub const RELATED_FILE_ID: [u8; 16] = [0xFF; 16];

/// Little-endian field appends.
#[derive(Default, Clone, Debug)]
pub struct Buf(pub Vec<u8>);

impl Buf {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// Length of a seed field as the u16/u32 the wire wants; seeds are small.
fn len16(b: &[u8]) -> u16 {
    u16::try_from(b.len()).unwrap_or(u16::MAX)
}

fn len32(b: &[u8]) -> u32 {
    u32::try_from(b.len()).unwrap_or(u32::MAX)
}

/// A sync SMB2 request header (MS-SMB2 2.2.1.2): 64 bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hdr {
    pub command: u16,
    pub credit_charge: u16,
    pub credits: u16,
    pub flags: u32,
    pub next_command: u32,
    pub message_id: u64,
    pub tree_id: u32,
    pub session_id: u64,
}

impl Hdr {
    pub fn new(command: u16, message_id: u64) -> Hdr {
        Hdr {
            command,
            credit_charge: 1,
            credits: 64,
            message_id,
            ..Default::default()
        }
    }

    pub fn write(&self, b: &mut Buf) {
        b.bytes(&[0xFE, b'S', b'M', b'B'])
            .u16(64)
            .u16(self.credit_charge)
            .u32(0) // ChannelSequence/Reserved
            .u16(self.command)
            .u16(self.credits)
            .u32(self.flags)
            .u32(self.next_command)
            .u64(self.message_id)
            .u32(0xFEFF) // ProcessId
            .u32(self.tree_id)
            .u64(self.session_id)
            .bytes(&[0; 16]);
    }
}

/// Header followed by `body`.
pub fn message(h: Hdr, body: &[u8]) -> Vec<u8> {
    let mut b = Buf::default();
    h.write(&mut b);
    b.bytes(body);
    b.0
}

/// Chains messages into one compound (MS-SMB2 3.2.4.1.4): each but the last
/// padded to 8 bytes, NextCommand set to its padded length.
pub fn compound(msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = msgs.len();
    for (i, m) in msgs.iter().enumerate() {
        let mut m = m.clone();
        if i + 1 < n {
            m.resize(m.len().div_ceil(8) * 8, 0);
            let next = u32::try_from(m.len()).unwrap_or(0).to_le_bytes();
            if let Some(f) = m.get_mut(20..24) {
                f.copy_from_slice(&next);
            }
        }
        out.extend_from_slice(&m);
    }
    out
}

/// NEGOTIATE request body (2.2.3), with 3.1.1 negotiate contexts (2.2.3.1)
/// when `contexts` is true: PREAUTH_INTEGRITY (SHA-512), ENCRYPTION, SIGNING.
pub fn negotiate_body(dialects: &[u16], contexts: bool) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(36)
        .u16(u16::try_from(dialects.len()).unwrap_or(0))
        .u16(1) // SIGNING_ENABLED
        .u16(0)
        .u32(0x7F) // capabilities
        .bytes(b"rsmbd-fuzz-guid!");
    let ctx_at = b.len();
    b.u32(0).u16(0).u16(0);
    for d in dialects {
        b.u16(*d);
    }
    if contexts {
        let ctxs: [(u16, Vec<u8>); 3] = [
            // HashAlgorithmCount 1, SaltLength 8, SHA-512, salt.
            (1, [1, 0, 8, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8].to_vec()),
            // CipherCount 2: AES-128-GCM, AES-128-CCM.
            (2, [2, 0, 2, 0, 1, 0].to_vec()),
            // SigningAlgorithmCount 2: AES-GMAC, AES-CMAC.
            (8, [2, 0, 2, 0, 1, 0].to_vec()),
        ];
        // The first context is 8-byte aligned from the header; so is each next one.
        while (64 + b.len()) % 8 != 0 {
            b.u8(0);
        }
        let off = u32::try_from(64 + b.len()).unwrap_or(0).to_le_bytes();
        if let Some(f) = b.0.get_mut(ctx_at..ctx_at + 4) {
            f.copy_from_slice(&off);
        }
        if let Some(f) = b.0.get_mut(ctx_at + 4..ctx_at + 6) {
            f.copy_from_slice(&3u16.to_le_bytes());
        }
        for (i, (ty, data)) in ctxs.iter().enumerate() {
            if i > 0 {
                while (64 + b.len()) % 8 != 0 {
                    b.u8(0);
                }
            }
            b.u16(*ty).u16(len16(data)).u32(0).bytes(data);
        }
    }
    b.0
}

/// SESSION_SETUP request body (2.2.5); the token follows at offset 88.
pub fn session_setup_body(token: &[u8]) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(25)
        .u8(0)
        .u8(1)
        .u32(0)
        .u32(0)
        .u16(88)
        .u16(len16(token))
        .u64(0)
        .bytes(token);
    b.0
}

/// NTLMSSP NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1) asking for Unicode, NTLM,
/// extended session security, 128-bit keys and key exchange.
pub fn ntlm_negotiate() -> Vec<u8> {
    let mut b = Buf::default();
    b.bytes(b"NTLMSSP\0")
        .u32(1)
        .u32(0xE208_8215)
        .bytes(&[0; 16])
        .bytes(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
    b.0
}

/// NTLMSSP AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3) for `user` with a
/// well-formed but unverifiable NTLMv2 response: an unknown user maps to
/// guest when the server is configured so; an empty user is anonymous.
pub fn ntlm_authenticate(user: &str) -> Vec<u8> {
    let user = utf16(user);
    let mut nt = Buf::default();
    if !user.is_empty() {
        // NTProofStr, then NTLMv2_CLIENT_CHALLENGE (2.2.2.7): RespType,
        // HiRespType, reserved, TimeStamp, ChallengeFromClient, reserved,
        // AvPairs ending with MsvAvEOL.
        nt.bytes(&[0x11; 16])
            .u8(1)
            .u8(1)
            .u16(0)
            .u32(0)
            .u64(0x01D0_0000_0000_0000)
            .bytes(&[0x22; 8])
            .u32(0)
            .u32(0);
    }
    let nt = nt.0;
    // Fixed part: 64 bytes of fields, Version (8), MIC (16).
    let payload = 88u32;
    let user_off = payload + len32(&nt);
    let mut b = Buf::default();
    b.bytes(b"NTLMSSP\0").u32(3);
    // LmChallengeResponse: empty.
    b.u16(0).u16(0).u32(payload);
    b.u16(len16(&nt)).u16(len16(&nt)).u32(payload);
    // DomainName: empty.
    b.u16(0).u16(0).u32(user_off);
    b.u16(len16(&user)).u16(len16(&user)).u32(user_off);
    // Workstation, EncryptedRandomSessionKey: empty.
    let end = user_off + len32(&user);
    b.u16(0).u16(0).u32(end);
    b.u16(0).u16(0).u32(end);
    b.u32(0xE208_8215);
    b.bytes(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
    b.bytes(&[0; 16]);
    b.bytes(&nt).bytes(&user);
    b.0
}

/// TREE_CONNECT request body (2.2.9); the path follows at offset 72.
pub fn tree_connect_body(path: &str) -> Vec<u8> {
    let p = utf16(path);
    let mut b = Buf::default();
    b.u16(9).u16(0).u16(72).u16(len16(&p)).bytes(&p);
    b.0
}

/// CREATE request body (2.2.13); name at offset 120, contexts after it
/// (8-byte aligned).
pub fn create_body(
    name: &str,
    access: u32,
    disposition: u32,
    options: u32,
    contexts: &[u8],
) -> Vec<u8> {
    let n = utf16(name);
    let mut b = Buf::default();
    b.u16(57)
        .u8(0)
        .u8(0) // no oplock
        .u32(2) // impersonation
        .u64(0)
        .u64(0)
        .u32(access)
        .u32(0x80) // FILE_ATTRIBUTE_NORMAL
        .u32(7) // share read/write/delete
        .u32(disposition)
        .u32(options)
        .u16(120)
        .u16(len16(&n));
    let ctx_at = b.len();
    b.u32(0).u32(0);
    b.bytes(&n);
    if n.is_empty() {
        b.u8(0);
    }
    if !contexts.is_empty() {
        while (64 + b.len()) % 8 != 0 {
            b.u8(0);
        }
        let off = u32::try_from(64 + b.len()).unwrap_or(0);
        if let Some(f) = b.0.get_mut(ctx_at..ctx_at + 8) {
            f[..4].copy_from_slice(&off.to_le_bytes());
            f[4..].copy_from_slice(&len32(contexts).to_le_bytes());
        }
        b.bytes(contexts);
    }
    b.0
}

/// A chain of create contexts (2.2.13.2), each 8-byte aligned.
pub fn create_contexts(ctxs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, data)) in ctxs.iter().enumerate() {
        let start = out.len();
        let data_off = (16 + name.len()).div_ceil(8) * 8;
        let mut b = Buf::default();
        b.u32(0)
            .u16(16)
            .u16(len16(name))
            .u16(0)
            .u16(if data.is_empty() {
                0
            } else {
                u16::try_from(data_off).unwrap_or(0)
            })
            .u32(len32(data))
            .bytes(name);
        while b.len() < data_off {
            b.u8(0);
        }
        b.bytes(data);
        if i + 1 < ctxs.len() {
            while b.len() % 8 != 0 {
                b.u8(0);
            }
            let next = u32::try_from(b.len()).unwrap_or(0).to_le_bytes();
            if let Some(f) = b.0.get_mut(..4) {
                f.copy_from_slice(&next);
            }
        }
        out.truncate(start);
        out.extend_from_slice(&b.0);
    }
    out
}

/// CLOSE (2.2.15) with POSTQUERY_ATTRIB.
pub fn close_body(file_id: &[u8; 16]) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(24).u16(1).u32(0).bytes(file_id);
    b.0
}

/// FLUSH (2.2.17).
pub fn flush_body(file_id: &[u8; 16]) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(24).u16(0).u32(0).bytes(file_id);
    b.0
}

/// WRITE (2.2.21); data at offset 112.
pub fn write_body(file_id: &[u8; 16], offset: u64, data: &[u8]) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(49)
        .u16(112)
        .u32(len32(data))
        .u64(offset)
        .bytes(file_id)
        .u32(0)
        .u32(0)
        .u16(0)
        .u16(0)
        .u32(0)
        .bytes(data);
    b.0
}

/// READ (2.2.19).
pub fn read_body(file_id: &[u8; 16], offset: u64, length: u32) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(49)
        .u8(0)
        .u8(0)
        .u32(length)
        .u64(offset)
        .bytes(file_id)
        .u32(0)
        .u32(0)
        .u32(0)
        .u16(0)
        .u16(0)
        .u8(0);
    b.0
}

/// LOCK (2.2.26) with one element (2.2.26.1).
pub fn lock_body(file_id: &[u8; 16], offset: u64, length: u64, flags: u32) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(48)
        .u16(1)
        .u32(0)
        .bytes(file_id)
        .u64(offset)
        .u64(length)
        .u32(flags)
        .u32(0);
    b.0
}

/// IOCTL (2.2.31) as an FSCTL; input at offset 120.
pub fn ioctl_body(ctl_code: u32, file_id: &[u8; 16], input: &[u8], max_out: u32) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(57)
        .u16(0)
        .u32(ctl_code)
        .bytes(file_id)
        .u32(120)
        .u32(len32(input))
        .u32(0)
        .u32(120)
        .u32(0)
        .u32(max_out)
        .u32(1) // SMB2_0_IOCTL_IS_FSCTL
        .u32(0)
        .bytes(input);
    b.0
}

/// QUERY_DIRECTORY (2.2.33); pattern at offset 96.
pub fn query_directory_body(file_id: &[u8; 16], class: u8, flags: u8, pattern: &str) -> Vec<u8> {
    let p = utf16(pattern);
    let mut b = Buf::default();
    b.u16(33)
        .u8(class)
        .u8(flags)
        .u32(0)
        .bytes(file_id)
        .u16(96)
        .u16(len16(&p))
        .u32(65536)
        .bytes(&p);
    b.0
}

/// CHANGE_NOTIFY (2.2.35).
pub fn change_notify_body(file_id: &[u8; 16]) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(32).u16(0).u32(4096).bytes(file_id).u32(0x17).u32(0);
    b.0
}

/// QUERY_INFO (2.2.37) without an input buffer.
pub fn query_info_body(file_id: &[u8; 16], info_type: u8, class: u8, additional: u32) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(41)
        .u8(info_type)
        .u8(class)
        .u32(65536)
        .u16(0)
        .u16(0)
        .u32(0)
        .u32(additional)
        .u32(0)
        .bytes(file_id)
        .u8(0);
    b.0
}

/// SET_INFO (2.2.39); buffer at offset 96.
pub fn set_info_body(file_id: &[u8; 16], info_type: u8, class: u8, buffer: &[u8]) -> Vec<u8> {
    let mut b = Buf::default();
    b.u16(33)
        .u8(info_type)
        .u8(class)
        .u32(len32(buffer))
        .u16(96)
        .u16(0)
        .u32(0)
        .bytes(file_id)
        .bytes(buffer);
    b.0
}

/// The 4-byte body of ECHO, LOGOFF and TREE_DISCONNECT (2.2.28, 2.2.7, 2.2.11).
pub fn empty_body() -> Vec<u8> {
    vec![4, 0, 0, 0]
}

/// An SMB1 NEGOTIATE (MS-SMB 2.2.4.52.1; MS-SMB2 3.3.5.3) offering
/// NT LM 0.12, SMB 2.002 and SMB 2.???.
pub fn smb1_negotiate() -> Vec<u8> {
    let mut dialects = Vec::new();
    for d in ["NT LM 0.12", "SMB 2.002", "SMB 2.???"] {
        dialects.push(0x02);
        dialects.extend_from_slice(d.as_bytes());
        dialects.push(0);
    }
    let mut b = Buf::default();
    b.bytes(&[0xFF, b'S', b'M', b'B', 0x72])
        .u32(0) // status
        .u8(0x18) // flags
        .u16(0xC853) // flags2
        .bytes(&[0; 12]) // PIDHigh, SecurityFeatures, Reserved
        .u16(0xFFFF) // TID
        .u16(0xFEFF) // PIDLow
        .u16(0) // UID
        .u16(0) // MID
        .u8(0) // WordCount
        .u16(len16(&dialects))
        .bytes(&dialects);
    b.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builders_parse_with_the_wire_crate() {
        let fid = [3u8; 16];
        let neg = message(Hdr::new(cmd::NEGOTIATE, 0), &negotiate_body(&[0x311], true));
        let r = wire::negotiate::NegotiateRequest::parse(&neg).unwrap();
        assert_eq!(r.dialects, vec![0x311]);
        assert_eq!(r.contexts.preauth_hashes, Some(vec![1]));
        assert_eq!(r.contexts.signing, Some(vec![2, 1]));
        assert!(!r.contexts.duplicate);

        let ctx = create_contexts(&[(b"MxAc", b""), (b"QFid", b"")]);
        let c = message(
            Hdr::new(cmd::CREATE, 1),
            &create_body("dir\\a.txt", 0x12019F, 3, 0x40, &ctx),
        );
        let r = wire::create::CreateRequest::parse(&c).unwrap();
        assert_eq!(r.name_string().unwrap(), "dir\\a.txt");
        assert_eq!(r.contexts.len(), 2);
        assert_eq!(r.contexts[1].name, b"QFid");

        let w = message(Hdr::new(cmd::WRITE, 2), &write_body(&fid, 5, b"hello"));
        let r = wire::write::WriteRequest::parse(&w).unwrap();
        assert_eq!((r.offset, r.data), (5, &b"hello"[..]));

        let l = message(Hdr::new(cmd::LOCK, 3), &lock_body(&fid, 1, 2, 0x12));
        assert_eq!(wire::lock::LockRequest::parse(&l).unwrap().locks.len(), 1);

        let t = message(
            Hdr::new(cmd::TREE_CONNECT, 4),
            &tree_connect_body("\\\\srv\\share"),
        );
        let r = wire::tree::TreeConnectRequest::parse(&t).unwrap();
        assert_eq!(r.share_name(), "share");

        let s1 = wire::smb1::parse_smb1_negotiate(&smb1_negotiate()).unwrap();
        assert!(s1.smb2_002 && s1.smb2_wildcard);

        let a = ntlm_authenticate("guest");
        let p = auth::ntlm::parse_authenticate(&a).unwrap();
        assert_eq!(p.user, utf16("guest"));
        assert_eq!(p.nt_response.len(), 48);
    }

    #[test]
    fn compound_chains_split() {
        let a = message(Hdr::new(cmd::ECHO, 0), &empty_body());
        let b = message(Hdr::new(cmd::ECHO, 1), &empty_body());
        let c = compound(&[a, b]);
        let parts = wire::header::split_compound(&c).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].len(), 72);
    }
}
