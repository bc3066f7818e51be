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

/// FILE_NOTIFY_INFORMATION actions (MS-FSCC 2.4.42).
pub mod notify_action {
    pub const ADDED: u32 = 1;
    pub const REMOVED: u32 = 2;
    pub const MODIFIED: u32 = 3;
    pub const RENAMED_OLD_NAME: u32 = 4;
    pub const RENAMED_NEW_NAME: u32 = 5;
}

/// CHANGE_NOTIFY CompletionFilter bits (MS-SMB2 2.2.35).
pub mod notify_filter {
    pub const FILE_NAME: u32 = 0x0000_0001;
    pub const DIR_NAME: u32 = 0x0000_0002;
    pub const ATTRIBUTES: u32 = 0x0000_0004;
    pub const SIZE: u32 = 0x0000_0008;
    pub const LAST_WRITE: u32 = 0x0000_0010;
    pub const LAST_ACCESS: u32 = 0x0000_0020;
    pub const CREATION: u32 = 0x0000_0040;
    pub const EA: u32 = 0x0000_0080;
    pub const SECURITY: u32 = 0x0000_0100;
    pub const STREAM_NAME: u32 = 0x0000_0200;
    pub const STREAM_SIZE: u32 = 0x0000_0400;
    pub const STREAM_WRITE: u32 = 0x0000_0800;
}

/// CHANGE_NOTIFY flag: watch the whole subtree (MS-SMB2 2.2.35).
pub const WATCH_TREE: u16 = 0x0001;

/// A chain of FILE_NOTIFY_INFORMATION entries (MS-FSCC 2.4.42), each
/// 4-byte aligned, names in UTF-16LE relative to the watched directory.
pub fn encode_notify_information(out: &mut Vec<u8>, entries: &[(u32, &str)]) {
    for (i, (action, name)) in entries.iter().enumerate() {
        let name16: Vec<u16> = name.encode_utf16().collect();
        let name_len = name16.len().saturating_mul(2);
        let len = 12usize.saturating_add(name_len);
        let padded = len.saturating_add(3) & !3;
        let last = i.saturating_add(1) == entries.len();
        let mut w = Writer::new(out);
        w.u32(if last { 0 } else { padded as u32 });
        w.u32(*action);
        w.u32(name_len as u32);
        for c in name16 {
            w.u16(c);
        }
        if !last {
            w.zeros(padded.saturating_sub(len));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod notify_tests {
    use super::*;

    #[test]
    fn notify_information_chain() {
        let mut out = Vec::new();
        encode_notify_information(
            &mut out,
            &[(notify_action::ADDED, "a"), (notify_action::REMOVED, "bc")],
        );
        // First entry: 12 + 2 bytes, padded to 16; second: 12 + 4, unpadded.
        assert_eq!(
            out,
            [
                16, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, b'a', 0, 0, 0, //
                0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, b'b', 0, b'c', 0,
            ]
        );
    }
}
