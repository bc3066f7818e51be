//! CREATE request and response (MS-SMB2 2.2.13, 2.2.14) and create contexts
//! (2.2.13.2, 2.2.14.2), parsed once into a typed list.

use crate::header::HEADER_LEN;
use crate::reader::{field, utf16_to_string, Reader, Result, WireError};
use crate::Writer;

/// An SMB2 FileId (2.2.14.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    pub persistent: u64,
    pub volatile: u64,
}

impl FileId {
    /// The placeholder that refers to the file opened earlier in a related compound.
    pub const RELATED: FileId = FileId {
        persistent: u64::MAX,
        volatile: u64::MAX,
    };

    pub fn read(r: &mut Reader<'_>) -> Result<FileId> {
        Ok(FileId {
            persistent: r.u64()?,
            volatile: r.u64()?,
        })
    }

    pub fn write(&self, w: &mut Writer<'_>) {
        w.u64(self.persistent);
        w.u64(self.volatile);
    }
}

pub mod disposition {
    pub const SUPERSEDE: u32 = 0;
    pub const OPEN: u32 = 1;
    pub const CREATE: u32 = 2;
    pub const OPEN_IF: u32 = 3;
    pub const OVERWRITE: u32 = 4;
    pub const OVERWRITE_IF: u32 = 5;
}

pub mod options {
    pub const DIRECTORY_FILE: u32 = 0x0000_0001;
    pub const WRITE_THROUGH: u32 = 0x0000_0002;
    pub const SEQUENTIAL_ONLY: u32 = 0x0000_0004;
    pub const NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
    pub const SYNCHRONOUS_IO_ALERT: u32 = 0x0000_0010;
    pub const SYNCHRONOUS_IO_NONALERT: u32 = 0x0000_0020;
    pub const NON_DIRECTORY_FILE: u32 = 0x0000_0040;
    pub const COMPLETE_IF_OPLOCKED: u32 = 0x0000_0100;
    pub const NO_EA_KNOWLEDGE: u32 = 0x0000_0200;
    pub const RANDOM_ACCESS: u32 = 0x0000_0800;
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
    pub const OPEN_BY_FILE_ID: u32 = 0x0000_2000;
    pub const OPEN_FOR_BACKUP_INTENT: u32 = 0x0000_4000;
    pub const NO_COMPRESSION: u32 = 0x0000_8000;
    pub const OPEN_REMOTE_INSTANCE: u32 = 0x0000_0400;
    pub const OPEN_REQUIRING_OPLOCK: u32 = 0x0001_0000;
    pub const DISALLOW_EXCLUSIVE: u32 = 0x0002_0000;
    pub const RESERVE_OPFILTER: u32 = 0x0010_0000;
    pub const OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    pub const OPEN_NO_RECALL: u32 = 0x0040_0000;
    pub const OPEN_FOR_FREE_SPACE_QUERY: u32 = 0x0080_0000;
}

pub mod action {
    pub const SUPERSEDED: u32 = 0;
    pub const OPENED: u32 = 1;
    pub const CREATED: u32 = 2;
    pub const OVERWRITTEN: u32 = 3;
}

/// Access mask bits (MS-SMB2 2.2.13.1, MS-DTYP 2.4.3).
pub mod access {
    pub const FILE_READ_DATA: u32 = 0x0000_0001;
    pub const FILE_LIST_DIRECTORY: u32 = 0x0000_0001;
    pub const FILE_WRITE_DATA: u32 = 0x0000_0002;
    pub const FILE_APPEND_DATA: u32 = 0x0000_0004;
    pub const FILE_READ_EA: u32 = 0x0000_0008;
    pub const FILE_WRITE_EA: u32 = 0x0000_0010;
    pub const FILE_EXECUTE: u32 = 0x0000_0020;
    pub const FILE_DELETE_CHILD: u32 = 0x0000_0040;
    pub const FILE_READ_ATTRIBUTES: u32 = 0x0000_0080;
    pub const FILE_WRITE_ATTRIBUTES: u32 = 0x0000_0100;
    pub const DELETE: u32 = 0x0001_0000;
    pub const READ_CONTROL: u32 = 0x0002_0000;
    pub const WRITE_DAC: u32 = 0x0004_0000;
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    pub const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
    pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    pub const GENERIC_READ: u32 = 0x8000_0000;
    /// Every specific and standard right a file can grant.
    pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
    pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
    pub const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
    pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
}

pub mod share_access {
    pub const READ: u32 = 0x1;
    pub const WRITE: u32 = 0x2;
    pub const DELETE: u32 = 0x4;
}

pub mod oplock {
    pub const NONE: u8 = 0x00;
    pub const LEVEL_II: u8 = 0x01;
    pub const EXCLUSIVE: u8 = 0x08;
    pub const BATCH: u8 = 0x09;
    pub const LEASE: u8 = 0xFF;
}

/// One create context: its 4-byte-or-longer name and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateContext<'a> {
    pub name: &'a [u8],
    pub data: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest<'a> {
    pub security_flags: u8,
    pub requested_oplock_level: u8,
    pub impersonation_level: u32,
    pub desired_access: u32,
    pub file_attributes: u32,
    pub share_access: u32,
    pub create_disposition: u32,
    pub create_options: u32,
    /// The UTF-16LE name bytes as sent (relative to the share, `\` separators).
    pub name: &'a [u8],
    pub contexts: Vec<CreateContext<'a>>,
}

impl<'a> CreateRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(57)?;
        let security_flags = r.u8()?;
        let requested_oplock_level = r.u8()?;
        let impersonation_level = r.u32()?;
        r.skip(16)?;
        let desired_access = r.u32()?;
        let file_attributes = r.u32()?;
        let share_access = r.u32()?;
        let create_disposition = r.u32()?;
        let create_options = r.u32()?;
        let name_off = r.u16()? as usize;
        let name_len = r.u16()? as usize;
        let ctx_off = r.u32()? as usize;
        let ctx_len = r.u32()? as usize;
        let name = field(msg, name_off, name_len)?;
        if !name.len().is_multiple_of(2) {
            return Err(WireError::Invalid);
        }
        let contexts = parse_contexts(field(msg, ctx_off, ctx_len)?)?;
        Ok(CreateRequest {
            security_flags,
            requested_oplock_level,
            impersonation_level,
            desired_access,
            file_attributes,
            share_access,
            create_disposition,
            create_options,
            name,
            contexts,
        })
    }

    pub fn name_string(&self) -> Result<String> {
        utf16_to_string(self.name)
    }

    pub fn context(&self, name: &[u8]) -> Option<&CreateContext<'a>> {
        self.contexts.iter().find(|c| c.name == name)
    }
}

/// Parses a chain of create contexts (each at an 8-byte-aligned `Next`).
pub fn parse_contexts(buf: &[u8]) -> Result<Vec<CreateContext<'_>>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    if buf.is_empty() {
        return Ok(out);
    }
    loop {
        let ctx = buf.get(at..).ok_or(WireError::Invalid)?;
        let mut r = Reader::new(ctx);
        let next = r.u32()? as usize;
        let name_off = r.u16()? as usize;
        let name_len = r.u16()? as usize;
        r.skip(2)?;
        let data_off = r.u16()? as usize;
        let data_len = r.u32()? as usize;
        let this = if next == 0 {
            ctx
        } else {
            ctx.get(..next).ok_or(WireError::Invalid)?
        };
        let name = field(this, name_off, name_len)?;
        let data = field(this, data_off, data_len)?;
        if name_len < 4 {
            return Err(WireError::Invalid);
        }
        out.push(CreateContext { name, data });
        if out.len() > 64 {
            return Err(WireError::Invalid);
        }
        if next == 0 {
            return Ok(out);
        }
        if !next.is_multiple_of(8) {
            return Err(WireError::Invalid);
        }
        at = at.checked_add(next).ok_or(WireError::Invalid)?;
    }
}

/// Encodes create contexts for a response, each 8-byte aligned.
pub fn encode_contexts(out: &mut Vec<u8>, contexts: &[(&[u8], Vec<u8>)]) {
    let mut w = Writer::new(out);
    let n = contexts.len();
    for (i, (name, data)) in contexts.iter().enumerate() {
        let start = w.len();
        w.u32(0);
        w.u16(16);
        w.u16(name.len() as u16);
        w.u16(0);
        let data_off = 16usize
            .saturating_add(name.len())
            .div_ceil(8)
            .saturating_mul(8);
        w.u16(if data.is_empty() { 0 } else { data_off as u16 });
        w.u32(data.len() as u32);
        w.bytes(name);
        w.align_from(start, 8);
        w.bytes(data);
        if i.saturating_add(1) < n {
            w.align_from(start, 8);
            let next = w.len().saturating_sub(start);
            w.patch_u32(start, next as u32);
        }
    }
}

/// Attributes and times of an open, as CREATE, CLOSE and several info
/// classes report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkOpenInfo {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
}

impl NetworkOpenInfo {
    pub fn write_times(&self, w: &mut Writer<'_>) {
        w.u64(self.creation_time);
        w.u64(self.last_access_time);
        w.u64(self.last_write_time);
        w.u64(self.change_time);
    }
}

pub struct CreateResponse<'a> {
    pub oplock_level: u8,
    pub flags: u8,
    pub create_action: u32,
    pub info: NetworkOpenInfo,
    pub file_id: FileId,
    pub contexts: &'a [(&'a [u8], Vec<u8>)],
}

impl CreateResponse<'_> {
    /// `base` is where the SMB2 header of this response starts in `out`.
    pub fn encode(&self, out: &mut Vec<u8>, base: usize) {
        let mut w = Writer::new(out);
        w.u16(89);
        w.u8(self.oplock_level);
        w.u8(self.flags);
        w.u32(self.create_action);
        self.info.write_times(&mut w);
        w.u64(self.info.allocation_size);
        w.u64(self.info.end_of_file);
        w.u32(self.info.file_attributes);
        w.u32(0);
        self.file_id.write(&mut w);
        let ctx_at = w.len();
        w.u32(0);
        w.u32(0);
        if self.contexts.is_empty() {
            w.u8(0);
            return;
        }
        w.align_from(base, 8);
        let off = w.len().saturating_sub(base);
        encode_contexts(w.buf, self.contexts);
        let len = out.len().saturating_sub(base).saturating_sub(off);
        let mut w = Writer::new(out);
        w.patch_u32(ctx_at, off as u32);
        w.patch_u32(ctx_at.saturating_add(4), len as u32);
    }
}

/// CLOSE request (2.2.15).
pub struct CloseRequest {
    pub flags: u16,
    pub file_id: FileId,
}

pub const CLOSE_FLAG_POSTQUERY_ATTRIB: u16 = 0x0001;

impl CloseRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(24)?;
        let flags = r.u16()?;
        r.skip(4)?;
        Ok(CloseRequest {
            flags,
            file_id: FileId::read(&mut r)?,
        })
    }
}

/// CLOSE response (2.2.16); `info` None leaves the attributes zero.
pub fn encode_close_response(out: &mut Vec<u8>, info: Option<&NetworkOpenInfo>) {
    let mut w = Writer::new(out);
    w.u16(60);
    match info {
        Some(i) => {
            w.u16(CLOSE_FLAG_POSTQUERY_ATTRIB);
            w.u32(0);
            i.write_times(&mut w);
            w.u64(i.allocation_size);
            w.u64(i.end_of_file);
            w.u32(i.file_attributes);
        }
        None => {
            w.u16(0);
            w.zeros(4 + 32 + 16 + 4);
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn contexts_round_trip() {
        let mut b = Vec::new();
        encode_contexts(
            &mut b,
            &[
                (b"MxAc", vec![1, 2, 3, 4, 5, 6, 7, 8]),
                (b"QFid", vec![9; 32]),
            ],
        );
        let c = parse_contexts(&b).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name, b"MxAc");
        assert_eq!(c[1].data, &[9; 32][..]);
        for n in 1..b.len() {
            let _ = parse_contexts(&b[..n]);
        }
    }

    #[test]
    fn context_chain_loop_rejected() {
        // Next = 0x18 repeated forever would loop; an unaligned Next is refused.
        let mut b = Vec::new();
        encode_contexts(&mut b, &[(b"MxAc", vec![]), (b"QFid", vec![])]);
        b[0] = 3;
        assert!(parse_contexts(&b).is_err());
    }
}
