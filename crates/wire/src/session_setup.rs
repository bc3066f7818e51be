//! SESSION_SETUP (MS-SMB2 2.2.5, 2.2.6) and LOGOFF (2.2.7, 2.2.8).

use crate::header::HEADER_LEN;
use crate::reader::{field, Reader, Result};
use crate::Writer;

pub const SESSION_FLAG_BINDING: u8 = 0x01;
pub const SESSION_FLAG_IS_GUEST: u16 = 0x0001;
pub const SESSION_FLAG_IS_NULL: u16 = 0x0002;
pub const SESSION_FLAG_ENCRYPT_DATA: u16 = 0x0004;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetupRequest<'a> {
    pub flags: u8,
    pub security_mode: u8,
    pub capabilities: u32,
    pub previous_session_id: u64,
    pub security_buffer: &'a [u8],
}

impl<'a> SessionSetupRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(25)?;
        let flags = r.u8()?;
        let security_mode = r.u8()?;
        let capabilities = r.u32()?;
        r.skip(4)?;
        let off = r.u16()? as usize;
        let len = r.u16()? as usize;
        let previous_session_id = r.u64()?;
        let security_buffer = field(msg, off, len)?;
        Ok(SessionSetupRequest {
            flags,
            security_mode,
            capabilities,
            previous_session_id,
            security_buffer,
        })
    }
}

pub fn encode_session_setup_response(out: &mut Vec<u8>, session_flags: u16, token: &[u8]) {
    let mut w = Writer::new(out);
    w.u16(9);
    w.u16(session_flags);
    w.u16((HEADER_LEN + 8) as u16);
    w.u16(token.len() as u16);
    w.bytes(token);
    if token.is_empty() {
        w.u8(0);
    }
}

/// Checks the 4-byte body shared by LOGOFF, TREE_DISCONNECT, ECHO and CANCEL.
pub fn parse_empty_request(msg: &[u8]) -> Result<()> {
    let mut r = Reader::at(msg, HEADER_LEN)?;
    r.expect_u16(4)?;
    Ok(())
}

/// The 4-byte response body of LOGOFF, TREE_DISCONNECT, ECHO and FLUSH.
pub fn encode_empty_response(out: &mut Vec<u8>) {
    out.extend_from_slice(&[4, 0, 0, 0]);
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

    #[test]
    fn parse_and_truncate() {
        let mut m = Vec::new();
        Header::default().encode(&mut m);
        let mut w = Writer::new(&mut m);
        w.u16(25);
        w.u8(0);
        w.u8(1);
        w.u32(0);
        w.u32(0);
        w.u16(88);
        w.u16(3);
        w.u64(0);
        w.bytes(b"abc");
        let r = SessionSetupRequest::parse(&m).unwrap();
        assert_eq!(r.security_buffer, b"abc");
        for n in 0..m.len() {
            assert!(SessionSetupRequest::parse(&m[..n]).is_err());
        }
    }
}
