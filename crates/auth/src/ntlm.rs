//! The NTLMSSP acceptor (MS-NLMP): NEGOTIATE_MESSAGE parsing (2.2.1.1),
//! CHALLENGE_MESSAGE building (2.2.1.2, 3.2.5.1.1), AUTHENTICATE_MESSAGE
//! verification with NTLMv2 (2.2.1.3, 3.2.5.1.2, 3.3.2), key exchange
//! (3.4.5.1) and the MIC; plus the signing used for the SPNEGO mechListMIC
//! (3.4.4, 3.4.5.2, 3.4.5.3).
//!
//! NTLMv1 and LM responses are refused: only NTLMv2 proves the client knows
//! the password without exposing the hash to cheap offline attacks.

use crate::{AcceptorConfig, AuthError, UserDb};

/// Every NTLMSSP message starts with these 8 bytes (MS-NLMP 2.2.1).
pub const SIGNATURE: &[u8] = b"NTLMSSP\0";

const MSG_NEGOTIATE: u32 = 1;
const MSG_CHALLENGE: u32 = 2;
const MSG_AUTHENTICATE: u32 = 3;

// NegotiateFlags (MS-NLMP 2.2.2.5).
pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
pub const NEGOTIATE_OEM: u32 = 0x0000_0002;
pub const REQUEST_TARGET: u32 = 0x0000_0004;
pub const NEGOTIATE_SIGN: u32 = 0x0000_0010;
pub const NEGOTIATE_SEAL: u32 = 0x0000_0020;
pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;
pub const NEGOTIATE_ANONYMOUS: u32 = 0x0000_0800;
pub const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
pub const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
pub const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
pub const NEGOTIATE_VERSION: u32 = 0x0200_0000;
pub const NEGOTIATE_128: u32 = 0x2000_0000;
pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
pub const NEGOTIATE_56: u32 = 0x8000_0000;

/// Flags echoed to the client when it asks for them (MS-NLMP 3.2.5.1.1).
const ECHOED_FLAGS: u32 = REQUEST_TARGET
    | NEGOTIATE_SIGN
    | NEGOTIATE_SEAL
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_VERSION
    | NEGOTIATE_128
    | NEGOTIATE_KEY_EXCH
    | NEGOTIATE_56;

// AV_PAIR ids (MS-NLMP 2.2.2.1).
pub const AV_EOL: u16 = 0;
pub const AV_NB_COMPUTER_NAME: u16 = 1;
pub const AV_NB_DOMAIN_NAME: u16 = 2;
pub const AV_DNS_COMPUTER_NAME: u16 = 3;
pub const AV_DNS_DOMAIN_NAME: u16 = 4;
pub const AV_FLAGS: u16 = 6;
pub const AV_TIMESTAMP: u16 = 7;
/// MsvAvFlags bit: the AUTHENTICATE_MESSAGE carries a MIC.
pub const AV_FLAG_MIC_PRESENT: u32 = 0x2;

/// The Version structure we send (MS-NLMP 2.2.2.10): 10.0 build 20348,
/// NTLMSSP_REVISION_W2K3.
const VERSION: [u8; 8] = [10, 0, 0x7c, 0x4f, 0, 0, 0, 0x0f];

/// CHALLENGE_MESSAGE fixed part: through the Version field.
const CHALLENGE_HEADER_LEN: usize = 56;
/// AUTHENTICATE_MESSAGE fixed part without Version and MIC.
const AUTH_HEADER_LEN: usize = 64;
/// Where the MIC sits, and where it ends (MS-NLMP 2.2.1.3).
const MIC_OFFSET: usize = 72;
const MIC_END: usize = 88;
/// NTLMv2_CLIENT_CHALLENGE header before its AV pairs (MS-NLMP 2.2.2.7).
const CLIENT_CHALLENGE_HEADER_LEN: usize = 28;
/// NTProofStr length.
const PROOF_LEN: usize = 16;

/// Seconds between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH_SECS: u64 = 11_644_473_600;

/// Server state between CHALLENGE and AUTHENTICATE.
#[derive(Debug, Clone)]
pub struct ChallengeState {
    /// The client's NEGOTIATE_MESSAGE bytes as received (input of the MIC).
    pub negotiate: Vec<u8>,
    /// The CHALLENGE_MESSAGE bytes as sent (input of the MIC).
    pub challenge: Vec<u8>,
    pub server_challenge: [u8; 8],
    /// NegotiateFlags as sent in the CHALLENGE_MESSAGE.
    pub flags: u32,
}

/// The outcome of a verified AUTHENTICATE_MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Anonymous,
    Guest,
    User {
        /// The name as stored in the user database.
        name: String,
        /// The domain the client sent.
        domain: String,
        exported_session_key: [u8; 16],
        /// The flags both sides agreed on.
        flags: u32,
    },
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// Checks the signature and message type of an NTLMSSP message.
fn check_header(msg: &[u8], kind: u32) -> Result<(), AuthError> {
    if !msg.starts_with(SIGNATURE) || u32_at(msg, 8) != Some(kind) {
        return Err(AuthError::InvalidToken);
    }
    Ok(())
}

/// The NegotiateFlags of a NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1). The domain
/// and workstation fields are informational and ignored.
pub fn parse_negotiate(msg: &[u8]) -> Result<u32, AuthError> {
    check_header(msg, MSG_NEGOTIATE)?;
    u32_at(msg, 12).ok_or(AuthError::InvalidToken)
}

/// The current time as a FILETIME (100 ns ticks since 1601).
pub fn filetime_now() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    unix.saturating_add(FILETIME_UNIX_EPOCH_SECS)
        .saturating_mul(10_000_000)
}

/// UTF-16LE, at most 255 code units so every length fits its u16 field.
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .take(255)
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// A string in the negotiated character set (MS-NLMP 2.2.2.5 flags A and B).
fn encode_str(s: &str, unicode: bool) -> Vec<u8> {
    if unicode {
        utf16le(s)
    } else {
        s.chars()
            .take(255)
            .map(|c| u8::try_from(c).unwrap_or(b'?'))
            .collect()
    }
}

fn decode_str(b: &[u8], unicode: bool) -> Result<String, AuthError> {
    if unicode {
        if !b.len().is_multiple_of(2) {
            return Err(AuthError::InvalidToken);
        }
        let units = b.chunks_exact(2).map(|c| match c {
            [lo, hi] => u16::from_le_bytes([*lo, *hi]),
            _ => 0,
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| AuthError::InvalidToken)
    } else {
        // OEM strings are taken as Latin-1, which keeps ASCII names intact.
        Ok(b.iter().map(|&c| char::from(c)).collect())
    }
}

fn push_av(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

/// A security buffer descriptor: Len, MaxLen, Offset (MS-NLMP 2.2.1).
fn push_sec_buf(out: &mut Vec<u8>, len: usize, offset: usize) {
    let len = len as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(offset as u32).to_le_bytes());
}

/// The flags the server answers with (MS-NLMP 3.2.5.1.1).
pub fn answer_flags(client: u32) -> u32 {
    let mut flags =
        NEGOTIATE_NTLM | NEGOTIATE_TARGET_INFO | TARGET_TYPE_SERVER | (client & ECHOED_FLAGS);
    flags |= if client & NEGOTIATE_UNICODE != 0 {
        NEGOTIATE_UNICODE
    } else {
        NEGOTIATE_OEM
    };
    flags
}

/// The TargetInfo AV pairs (MS-NLMP 2.2.2.1); AV strings are always UTF-16LE.
fn target_info(config: &AcceptorConfig, timestamp: u64) -> Vec<u8> {
    let mut ti = Vec::new();
    push_av(
        &mut ti,
        AV_NB_DOMAIN_NAME,
        &utf16le(&config.domain.to_uppercase()),
    );
    push_av(
        &mut ti,
        AV_NB_COMPUTER_NAME,
        &utf16le(&config.netbios_name.to_uppercase()),
    );
    push_av(
        &mut ti,
        AV_DNS_DOMAIN_NAME,
        &utf16le(&config.dns_name.to_lowercase()),
    );
    push_av(
        &mut ti,
        AV_DNS_COMPUTER_NAME,
        &utf16le(&config.dns_name.to_lowercase()),
    );
    push_av(&mut ti, AV_TIMESTAMP, &timestamp.to_le_bytes());
    push_av(&mut ti, AV_EOL, &[]);
    ti
}

/// Answers a NEGOTIATE_MESSAGE with a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2, 3.2.5.1.1).
pub fn challenge(
    config: &AcceptorConfig,
    negotiate: &[u8],
    server_challenge: [u8; 8],
    timestamp: u64,
) -> Result<ChallengeState, AuthError> {
    let client_flags = parse_negotiate(negotiate)?;
    let flags = answer_flags(client_flags);
    let target_name = encode_str(
        &config.netbios_name.to_uppercase(),
        flags & NEGOTIATE_UNICODE != 0,
    );
    let info = target_info(config, timestamp);

    // Lengths are bounded by `utf16le` (255 units per name), so the sums
    // below cannot overflow and every length fits its u16 field.
    let info_offset = CHALLENGE_HEADER_LEN.saturating_add(target_name.len());
    let mut msg = Vec::with_capacity(info_offset.saturating_add(info.len()));
    msg.extend_from_slice(SIGNATURE);
    msg.extend_from_slice(&MSG_CHALLENGE.to_le_bytes());
    push_sec_buf(&mut msg, target_name.len(), CHALLENGE_HEADER_LEN);
    msg.extend_from_slice(&flags.to_le_bytes());
    msg.extend_from_slice(&server_challenge);
    msg.extend_from_slice(&[0; 8]);
    push_sec_buf(&mut msg, info.len(), info_offset);
    if flags & NEGOTIATE_VERSION != 0 {
        msg.extend_from_slice(&VERSION);
    } else {
        msg.extend_from_slice(&[0; 8]);
    }
    msg.extend_from_slice(&target_name);
    msg.extend_from_slice(&info);

    Ok(ChallengeState {
        negotiate: negotiate.to_vec(),
        challenge: msg,
        server_challenge,
        flags,
    })
}

/// The fields of an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3).
#[derive(Debug, Clone)]
pub struct Authenticate<'a> {
    pub lm_response: &'a [u8],
    pub nt_response: &'a [u8],
    pub domain: &'a [u8],
    pub user: &'a [u8],
    pub workstation: &'a [u8],
    pub encrypted_session_key: &'a [u8],
    pub flags: u32,
    /// The lowest offset of any non-empty payload field: the fixed part
    /// (Version, MIC) ends before it.
    pub payload_start: usize,
}

/// Reads the security buffer descriptor at `at`; checks it lies inside `msg`
/// and after the fixed header.
fn sec_buf<'a>(msg: &'a [u8], at: usize, payload_start: &mut usize) -> Result<&'a [u8], AuthError> {
    let len = usize::from(u16_at(msg, at).ok_or(AuthError::InvalidToken)?);
    if len == 0 {
        return Ok(&[]);
    }
    let offset = u32_at(msg, at.saturating_add(4)).ok_or(AuthError::InvalidToken)?;
    let offset = usize::try_from(offset).map_err(|_| AuthError::InvalidToken)?;
    if offset < AUTH_HEADER_LEN {
        return Err(AuthError::InvalidToken);
    }
    let end = offset.checked_add(len).ok_or(AuthError::InvalidToken)?;
    let value = msg.get(offset..end).ok_or(AuthError::InvalidToken)?;
    *payload_start = (*payload_start).min(offset);
    Ok(value)
}

/// Parses an AUTHENTICATE_MESSAGE without judging it.
pub fn parse_authenticate(msg: &[u8]) -> Result<Authenticate<'_>, AuthError> {
    check_header(msg, MSG_AUTHENTICATE)?;
    if msg.len() < AUTH_HEADER_LEN {
        return Err(AuthError::InvalidToken);
    }
    let mut start = msg.len();
    let lm_response = sec_buf(msg, 12, &mut start)?;
    let nt_response = sec_buf(msg, 20, &mut start)?;
    let domain = sec_buf(msg, 28, &mut start)?;
    let user = sec_buf(msg, 36, &mut start)?;
    let workstation = sec_buf(msg, 44, &mut start)?;
    let encrypted_session_key = sec_buf(msg, 52, &mut start)?;
    let flags = u32_at(msg, 60).ok_or(AuthError::InvalidToken)?;
    Ok(Authenticate {
        lm_response,
        nt_response,
        domain,
        user,
        workstation,
        encrypted_session_key,
        flags,
        payload_start: start,
    })
}

/// Finds one AV pair's value; malformed lists are errors (MS-NLMP 2.2.2.1).
pub fn find_av(mut pairs: &[u8], wanted: u16) -> Result<Option<&[u8]>, AuthError> {
    loop {
        let id = u16_at(pairs, 0).ok_or(AuthError::InvalidToken)?;
        let len = usize::from(u16_at(pairs, 2).ok_or(AuthError::InvalidToken)?);
        let end = len.checked_add(4).ok_or(AuthError::InvalidToken)?;
        let value = pairs.get(4..end).ok_or(AuthError::InvalidToken)?;
        if id == AV_EOL {
            return Ok(None);
        }
        if id == wanted {
            return Ok(Some(value));
        }
        pairs = pairs.get(end..).ok_or(AuthError::InvalidToken)?;
    }
}

/// NTOWFv2 (MS-NLMP 3.3.2): HMAC_MD5(NT hash, UTF-16LE(Uppercase(User) + UserDom)).
pub fn ntowfv2(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    let mut ud: Vec<u8> = user
        .to_uppercase()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    ud.extend(domain.encode_utf16().flat_map(u16::to_le_bytes));
    crypto::hmac_md5(nt_hash, &[&ud])
}

/// Comparison whose time does not depend on where the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The domains tried for NTOWFv2, in order: what the client sent, its upper
/// case, none, and the server's own names. Clients disagree on which domain
/// they mix in, and Windows and Samba servers accept all of these.
fn domain_candidates(client: &str, config: &AcceptorConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(5);
    for d in [
        client.to_string(),
        client.to_uppercase(),
        String::new(),
        config.domain.clone(),
        config.netbios_name.clone(),
    ] {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// Verifies an AUTHENTICATE_MESSAGE (MS-NLMP 3.2.5.1.2, 3.3.2).
pub fn verify_authenticate(
    state: &ChallengeState,
    msg: &[u8],
    users: &UserDb,
    config: &AcceptorConfig,
) -> Result<Verified, AuthError> {
    let auth = parse_authenticate(msg)?;
    let unicode = state.flags & NEGOTIATE_UNICODE != 0;
    let user = decode_str(auth.user, unicode)?;
    let domain = decode_str(auth.domain, unicode)?;
    // The key-related flags both sides agreed on.
    let flags = state.flags & auth.flags;

    // MS-NLMP 3.2.5.1.2: anonymous is an empty user with an empty NT
    // response and an empty or Z(1) LM response.
    if user.is_empty() && auth.nt_response.is_empty() && matches!(auth.lm_response, [] | [0]) {
        return Ok(Verified::Anonymous);
    }
    let nt = auth.nt_response;
    if nt.len() <= 24 {
        // LM-only or NTLMv1 (24 bytes): refused by policy.
        return Err(AuthError::LogonFailure);
    }
    let (proof, temp) = nt
        .split_at_checked(PROOF_LEN)
        .ok_or(AuthError::InvalidToken)?;
    let client_av = temp
        .get(CLIENT_CHALLENGE_HEADER_LEN..)
        .ok_or(AuthError::InvalidToken)?;
    // The AV pairs are covered by NTProofStr, so they are checked for form
    // now and trusted only after the proof matched.
    let av_flags = match find_av(client_av, AV_FLAGS)? {
        Some(v) => u32_at(v, 0).ok_or(AuthError::InvalidToken)?,
        None => 0,
    };

    let (Some(name), Some(hash)) = (users.canonical_name(&user), users.nt_hash(&user)) else {
        return if config.map_bad_user_to_guest {
            Ok(Verified::Guest)
        } else {
            Err(AuthError::LogonFailure)
        };
    };

    let mut response_key = None;
    for d in domain_candidates(&domain, config) {
        let key = ntowfv2(&hash, &user, &d);
        let expect = crypto::hmac_md5(&key, &[&state.server_challenge, temp]);
        if ct_eq(&expect, proof) {
            response_key = Some(key);
            break;
        }
    }
    let key = response_key.ok_or(AuthError::LogonFailure)?;

    // MS-NLMP 3.3.2: SessionBaseKey; for NTLMv2 KeyExchangeKey is the same.
    let key_exchange_key = crypto::hmac_md5(&key, &[proof]);
    // MS-NLMP 3.2.5.1.2: ExportedSessionKey.
    let exported_session_key = if flags & NEGOTIATE_KEY_EXCH != 0 {
        let mut k: [u8; 16] = auth
            .encrypted_session_key
            .try_into()
            .map_err(|_| AuthError::InvalidToken)?;
        crypto::rc4_apply(&key_exchange_key, &mut k);
        k
    } else {
        key_exchange_key
    };

    if av_flags & AV_FLAG_MIC_PRESENT != 0 {
        verify_mic(state, msg, &auth, &exported_session_key)?;
    }

    Ok(Verified::User {
        name: name.to_string(),
        domain,
        exported_session_key,
        flags,
    })
}

/// MS-NLMP 3.2.5.1.2: MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE ||
/// CHALLENGE || AUTHENTICATE with the MIC field zeroed).
fn verify_mic(
    state: &ChallengeState,
    msg: &[u8],
    auth: &Authenticate<'_>,
    exported_session_key: &[u8; 16],
) -> Result<(), AuthError> {
    if auth.payload_start < MIC_END {
        return Err(AuthError::InvalidToken);
    }
    let mic = msg
        .get(MIC_OFFSET..MIC_END)
        .ok_or(AuthError::InvalidToken)?;
    let mut zeroed = msg.to_vec();
    if let Some(field) = zeroed.get_mut(MIC_OFFSET..MIC_END) {
        field.fill(0);
    }
    let expect = crypto::hmac_md5(
        exported_session_key,
        &[&state.negotiate, &state.challenge, &zeroed],
    );
    if ct_eq(&expect, mic) {
        Ok(())
    } else {
        Err(AuthError::LogonFailure)
    }
}

/// Which side of the connection a key belongs to (MS-NLMP 3.4.5.2 "Mode").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

/// SIGNKEY (MS-NLMP 3.4.5.2), with extended session security.
pub fn sign_key(exported: &[u8; 16], dir: Direction) -> [u8; 16] {
    let magic: &[u8] = match dir {
        Direction::ClientToServer => {
            b"session key to client-to-server signing key magic constant\0"
        }
        Direction::ServerToClient => {
            b"session key to server-to-client signing key magic constant\0"
        }
    };
    md5_concat(exported, magic)
}

/// SEALKEY (MS-NLMP 3.4.5.3). LM_KEY and datagram mode are never negotiated
/// here, so without extended session security the key is the session key.
pub fn seal_key(exported: &[u8; 16], flags: u32, dir: Direction) -> [u8; 16] {
    if flags & NEGOTIATE_EXTENDED_SESSIONSECURITY == 0 {
        return *exported;
    }
    let key: &[u8] = if flags & NEGOTIATE_128 != 0 {
        exported
    } else if flags & NEGOTIATE_56 != 0 {
        exported.get(..7).unwrap_or(exported)
    } else {
        exported.get(..5).unwrap_or(exported)
    };
    let magic: &[u8] = match dir {
        Direction::ClientToServer => {
            b"session key to client-to-server sealing key magic constant\0"
        }
        Direction::ServerToClient => {
            b"session key to server-to-client sealing key magic constant\0"
        }
    };
    md5_concat(key, magic)
}

fn md5_concat(a: &[u8], b: &[u8]) -> [u8; 16] {
    let mut buf = Vec::with_capacity(a.len().saturating_add(b.len()));
    buf.extend_from_slice(a);
    buf.extend_from_slice(b);
    crypto::md5(&buf)
}

/// CRC-32 (IEEE, reflected) for the signature without extended session
/// security (MS-NLMP 3.4.4.1).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// The NTLMSSP_MESSAGE_SIGNATURE of `msg` made with a fresh sealing handle,
/// which is the state the first signature of a context is made in: that is
/// how SPNEGO's mechListMIC is computed (MS-NLMP 3.4.4, MS-SPNG 3.3.5.1).
pub fn signature(
    exported: &[u8; 16],
    flags: u32,
    dir: Direction,
    seq_num: u32,
    msg: &[u8],
) -> [u8; 16] {
    let mut out = [0u8; 16];
    let (version, rest) = out.split_at_mut(4);
    version.copy_from_slice(&1u32.to_le_bytes());
    let (checksum, seq) = rest.split_at_mut(8);
    if flags & NEGOTIATE_SIGN == 0 {
        // Integrity was not negotiated: SSPI sends the version and zeros.
        return out;
    }
    let seal = seal_key(exported, flags, dir);
    if flags & NEGOTIATE_EXTENDED_SESSIONSECURITY != 0 {
        // MS-NLMP 3.4.4.2.
        let mac = crypto::hmac_md5(&sign_key(exported, dir), &[&seq_num.to_le_bytes(), msg]);
        checksum.copy_from_slice(mac.get(..8).unwrap_or(&[0; 8]));
        if flags & NEGOTIATE_KEY_EXCH != 0 {
            crypto::rc4_apply(&seal, checksum);
        }
        seq.copy_from_slice(&seq_num.to_le_bytes());
    } else {
        // MS-NLMP 3.4.4.1: RandomPad, CRC32 and SeqNum encrypted in one RC4
        // run, then RandomPad set to zero.
        let mut stream = [0u8; 12];
        if let Some(c) = stream.get_mut(4..8) {
            c.copy_from_slice(&crc32(msg).to_le_bytes());
        }
        crypto::rc4_apply(&seal, &mut stream);
        let (_pad, tail) = stream.split_at(4);
        let (cs, sq) = tail.split_at(4);
        if let Some(dst) = checksum.get_mut(4..8) {
            dst.copy_from_slice(cs);
        }
        let sq: [u8; 4] = sq.try_into().unwrap_or([0; 4]);
        seq.copy_from_slice(&(u32::from_le_bytes(sq) ^ seq_num).to_le_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "ntlm_tests.rs"]
mod tests;
