//! SET_INFO (MS-SMB2 2.2.39, 2.2.40).

use crate::create::FileId;
use crate::header::HEADER_LEN;
use crate::reader::{field, Reader, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetInfoRequest<'a> {
    pub info_type: u8,
    pub info_class: u8,
    pub buffer: &'a [u8],
    pub additional_information: u32,
    pub file_id: FileId,
}

impl<'a> SetInfoRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(33)?;
        let info_type = r.u8()?;
        let info_class = r.u8()?;
        let len = r.u32()? as usize;
        let off = r.u16()? as usize;
        r.skip(2)?;
        let additional_information = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let buffer = field(msg, off, len)?;
        Ok(SetInfoRequest {
            info_type,
            info_class,
            buffer,
            additional_information,
            file_id,
        })
    }
}

pub fn encode_set_info_response(out: &mut Vec<u8>) {
    out.extend_from_slice(&2u16.to_le_bytes());
}
