//! READ (MS-SMB2 2.2.19, 2.2.20).

use crate::create::FileId;
use crate::header::HEADER_LEN;
use crate::reader::{Reader, Result};
use crate::Writer;

pub const READFLAG_READ_UNBUFFERED: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub flags: u8,
    pub length: u32,
    pub offset: u64,
    pub file_id: FileId,
    pub minimum_count: u32,
    pub channel: u32,
}

impl ReadRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(49)?;
        r.skip(1)?;
        let flags = r.u8()?;
        let length = r.u32()?;
        let offset = r.u64()?;
        let file_id = FileId::read(&mut r)?;
        let minimum_count = r.u32()?;
        let channel = r.u32()?;
        Ok(ReadRequest {
            flags,
            length,
            offset,
            file_id,
            minimum_count,
            channel,
        })
    }
}

/// The READ response body up to its data (16 bytes); the data follows at
/// header offset 80.
pub const READ_RESPONSE_DATA_OFFSET: u8 = (HEADER_LEN + 16) as u8;

pub fn encode_read_response_head(out: &mut Vec<u8>, data_len: u32, remaining: u32) {
    let mut w = Writer::new(out);
    w.u16(17);
    w.u8(READ_RESPONSE_DATA_OFFSET);
    w.u8(0);
    w.u32(data_len);
    w.u32(remaining);
    w.u32(0);
}
