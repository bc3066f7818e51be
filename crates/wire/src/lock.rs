//! LOCK (MS-SMB2 2.2.26, 2.2.27).

use crate::create::FileId;
use crate::header::HEADER_LEN;
use crate::reader::{Reader, Result, WireError};

pub const LOCKFLAG_SHARED_LOCK: u32 = 0x01;
pub const LOCKFLAG_EXCLUSIVE_LOCK: u32 = 0x02;
pub const LOCKFLAG_UNLOCK: u32 = 0x04;
pub const LOCKFLAG_FAIL_IMMEDIATELY: u32 = 0x10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockElement {
    pub offset: u64,
    pub length: u64,
    pub flags: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRequest {
    pub lock_sequence: u32,
    pub file_id: FileId,
    pub locks: Vec<LockElement>,
}

impl LockRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(48)?;
        let count = r.u16()? as usize;
        let lock_sequence = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        if count == 0 {
            return Err(WireError::Invalid);
        }
        if r.remaining() < count.saturating_mul(24) {
            return Err(WireError::Truncated);
        }
        let mut locks = Vec::with_capacity(count);
        for _ in 0..count {
            let offset = r.u64()?;
            let length = r.u64()?;
            let flags = r.u32()?;
            r.skip(4)?;
            locks.push(LockElement {
                offset,
                length,
                flags,
            });
        }
        Ok(LockRequest {
            lock_sequence,
            file_id,
            locks,
        })
    }
}
