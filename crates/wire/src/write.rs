//! WRITE (MS-SMB2 2.2.21, 2.2.22).

use crate::create::FileId;
use crate::header::HEADER_LEN;
use crate::reader::{field, Reader, Result};
use crate::Writer;

pub const WRITEFLAG_WRITE_THROUGH: u32 = 0x0000_0001;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest<'a> {
    pub offset: u64,
    pub file_id: FileId,
    pub flags: u32,
    pub data: &'a [u8],
}

impl<'a> WriteRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(49)?;
        let data_off = r.u16()? as usize;
        let length = r.u32()? as usize;
        let offset = r.u64()?;
        let file_id = FileId::read(&mut r)?;
        let _channel = r.u32()?;
        let _remaining = r.u32()?;
        let _ch_off = r.u16()?;
        let _ch_len = r.u16()?;
        let flags = r.u32()?;
        let data = field(msg, data_off, length)?;
        Ok(WriteRequest {
            offset,
            file_id,
            flags,
            data,
        })
    }
}

pub fn encode_write_response(out: &mut Vec<u8>, count: u32) {
    let mut w = Writer::new(out);
    w.u16(17);
    w.u16(0);
    w.u32(count);
    w.u32(0);
    w.u16(0);
    w.u16(0);
}
