//! TREE_CONNECT (MS-SMB2 2.2.9, 2.2.10); TREE_DISCONNECT uses the empty body.

use crate::header::HEADER_LEN;
use crate::reader::{field, utf16_to_string, Reader, Result};
use crate::Writer;

pub const SHARE_TYPE_DISK: u8 = 0x01;
pub const SHARE_TYPE_PIPE: u8 = 0x02;

pub const SHAREFLAG_MANUAL_CACHING: u32 = 0x0000_0000;
pub const SHAREFLAG_NO_CACHING: u32 = 0x0000_0030;
pub const SHAREFLAG_ENCRYPT_DATA: u32 = 0x0000_8000;

pub const SHARE_CAP_DFS: u32 = 0x0000_0008;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeConnectRequest {
    pub flags: u16,
    /// `\\server\share` as sent.
    pub path: String,
}

impl TreeConnectRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(9)?;
        let flags = r.u16()?;
        let off = r.u16()? as usize;
        let len = r.u16()? as usize;
        let path = utf16_to_string(field(msg, off, len)?)?;
        Ok(TreeConnectRequest { flags, path })
    }

    /// The share name: the last component of `\\server\share`.
    pub fn share_name(&self) -> &str {
        let p = self.path.trim_start_matches('\\');
        match p.split_once('\\') {
            Some((_, share)) => share,
            None => p,
        }
    }
}

pub struct TreeConnectResponse {
    pub share_type: u8,
    pub share_flags: u32,
    pub capabilities: u32,
    pub maximal_access: u32,
}

impl TreeConnectResponse {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.u16(16);
        w.u8(self.share_type);
        w.u8(0);
        w.u32(self.share_flags);
        w.u32(self.capabilities);
        w.u32(self.maximal_access);
    }
}
