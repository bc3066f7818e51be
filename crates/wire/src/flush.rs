//! FLUSH (MS-SMB2 2.2.17, 2.2.18).

use crate::create::FileId;
use crate::header::HEADER_LEN;
use crate::reader::{Reader, Result};

pub struct FlushRequest {
    pub file_id: FileId,
}

impl FlushRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.expect_u16(24)?;
        r.skip(6)?;
        Ok(FlushRequest {
            file_id: FileId::read(&mut r)?,
        })
    }
}
