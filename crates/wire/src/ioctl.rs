//! IOCTL (MS-SMB2 2.2.31, 2.2.32) and the FSCTL payloads the server answers.

use crate::create::FileId;
use crate::header::HEADER_LEN;
use crate::reader::{field, Reader, Result};
use crate::Writer;

pub const IOCTL_IS_FSCTL: u32 = 0x0000_0001;

pub mod fsctl {
    pub const DFS_GET_REFERRALS: u32 = 0x0006_0194;
    pub const DFS_GET_REFERRALS_EX: u32 = 0x0006_01B0;
    pub const PIPE_PEEK: u32 = 0x0011_400C;
    pub const PIPE_WAIT: u32 = 0x0011_0018;
    pub const PIPE_TRANSCEIVE: u32 = 0x0011_C017;
    pub const SRV_COPYCHUNK: u32 = 0x0014_40F2;
    pub const SRV_COPYCHUNK_WRITE: u32 = 0x0014_80F2;
    pub const SRV_ENUMERATE_SNAPSHOTS: u32 = 0x0014_4064;
    pub const SRV_REQUEST_RESUME_KEY: u32 = 0x0014_0078;
    pub const SRV_READ_HASH: u32 = 0x0014_41BB;
    pub const LMR_REQUEST_RESILIENCY: u32 = 0x0014_01D4;
    pub const QUERY_NETWORK_INTERFACE_INFO: u32 = 0x0014_01FC;
    pub const VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;
    pub const SET_SPARSE: u32 = 0x0009_00C4;
    pub const SET_ZERO_DATA: u32 = 0x0009_80C8;
    pub const QUERY_ALLOCATED_RANGES: u32 = 0x0009_40CF;
    pub const GET_REPARSE_POINT: u32 = 0x0009_00A8;
    pub const CREATE_OR_GET_OBJECT_ID: u32 = 0x0009_00C0;
    pub const GET_OBJECT_ID: u32 = 0x0009_009C;
    pub const GET_COMPRESSION: u32 = 0x0009_003C;
    pub const SET_COMPRESSION: u32 = 0x0009_C040;
    pub const FILESYSTEM_GET_STATISTICS: u32 = 0x0009_0060;
    pub const GET_NTFS_VOLUME_DATA: u32 = 0x0009_0064;
    pub const IS_PATHNAME_VALID: u32 = 0x0009_002C;
    pub const FILE_LEVEL_TRIM: u32 = 0x0009_8208;
    pub const DUPLICATE_EXTENTS_TO_FILE: u32 = 0x0009_8344;
    pub const QUERY_FILE_REGIONS: u32 = 0x0009_0284;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoctlRequest<'a> {
    pub ctl_code: u32,
    pub file_id: FileId,
    pub input: &'a [u8],
    pub max_input_response: u32,
    pub max_output_response: u32,
    pub flags: u32,
}

impl<'a> IoctlRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(57)?;
        r.skip(2)?;
        let ctl_code = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let in_off = r.u32()? as usize;
        let in_len = r.u32()? as usize;
        let max_input_response = r.u32()?;
        let _out_off = r.u32()?;
        let _out_len = r.u32()?;
        let max_output_response = r.u32()?;
        let flags = r.u32()?;
        let input = field(msg, in_off, in_len)?;
        Ok(IoctlRequest {
            ctl_code,
            file_id,
            input,
            max_input_response,
            max_output_response,
            flags,
        })
    }
}

pub fn encode_ioctl_response(out: &mut Vec<u8>, ctl_code: u32, file_id: FileId, output: &[u8]) {
    let mut w = Writer::new(out);
    w.u16(49);
    w.u16(0);
    w.u32(ctl_code);
    file_id.write(&mut w);
    let off = (HEADER_LEN + 48) as u32;
    w.u32(off);
    w.u32(0);
    w.u32(off);
    w.u32(output.len() as u32);
    w.u32(0);
    w.u32(0);
    w.bytes(output);
}

/// FSCTL_VALIDATE_NEGOTIATE_INFO input (2.2.31.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateNegotiateInfo {
    pub capabilities: u32,
    pub guid: [u8; 16],
    pub security_mode: u16,
    pub dialects: Vec<u16>,
}

impl ValidateNegotiateInfo {
    pub fn parse(input: &[u8]) -> Result<Self> {
        let mut r = Reader::new(input);
        let capabilities = r.u32()?;
        let guid = r.array::<16>()?;
        let security_mode = r.u16()?;
        let count = r.u16()? as usize;
        let mut dialects = Vec::with_capacity(count.min(16));
        for _ in 0..count {
            dialects.push(r.u16()?);
        }
        Ok(ValidateNegotiateInfo {
            capabilities,
            guid,
            security_mode,
            dialects,
        })
    }
}

/// FSCTL_VALIDATE_NEGOTIATE_INFO output (2.2.32.6).
pub fn encode_validate_negotiate_response(
    out: &mut Vec<u8>,
    capabilities: u32,
    guid: &[u8; 16],
    security_mode: u16,
    dialect: u16,
) {
    let mut w = Writer::new(out);
    w.u32(capabilities);
    w.bytes(guid);
    w.u16(security_mode);
    w.u16(dialect);
}
