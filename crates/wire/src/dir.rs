//! QUERY_DIRECTORY (MS-SMB2 2.2.33, 2.2.34) and CHANGE_NOTIFY (2.2.35).

use crate::create::FileId;
use crate::header::HEADER_LEN;
use crate::reader::{field, utf16_to_string, Reader, Result};
use crate::Writer;

pub const RESTART_SCANS: u8 = 0x01;
pub const RETURN_SINGLE_ENTRY: u8 = 0x02;
pub const INDEX_SPECIFIED: u8 = 0x04;
pub const REOPEN: u8 = 0x10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryDirectoryRequest {
    pub info_class: u8,
    pub flags: u8,
    pub file_index: u32,
    pub file_id: FileId,
    pub pattern: String,
    pub output_buffer_length: u32,
}

impl QueryDirectoryRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(33)?;
        let info_class = r.u8()?;
        let flags = r.u8()?;
        let file_index = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let off = r.u16()? as usize;
        let len = r.u16()? as usize;
        let output_buffer_length = r.u32()?;
        let pattern = utf16_to_string(field(msg, off, len)?)?;
        Ok(QueryDirectoryRequest {
            info_class,
            flags,
            file_index,
            file_id,
            pattern,
            output_buffer_length,
        })
    }
}

/// The response shape shared by QUERY_DIRECTORY, QUERY_INFO and CHANGE_NOTIFY:
/// StructureSize 9, OutputBufferOffset, OutputBufferLength, data.
pub fn encode_buffer_response(out: &mut Vec<u8>, data: &[u8]) {
    let mut w = Writer::new(out);
    w.u16(9);
    w.u16(if data.is_empty() {
        0
    } else {
        (HEADER_LEN + 8) as u16
    });
    w.u32(data.len() as u32);
    if data.is_empty() {
        w.u8(0);
    } else {
        w.bytes(data);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeNotifyRequest {
    pub flags: u16,
    pub output_buffer_length: u32,
    pub file_id: FileId,
    pub completion_filter: u32,
}

impl ChangeNotifyRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(32)?;
        let flags = r.u16()?;
        let output_buffer_length = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let completion_filter = r.u32()?;
        Ok(ChangeNotifyRequest {
            flags,
            output_buffer_length,
            file_id,
            completion_filter,
        })
    }
}
