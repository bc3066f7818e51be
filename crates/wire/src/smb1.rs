//! The SMB1 NEGOTIATE a client may open with (MS-SMB2 3.3.5.3): only the
//! dialect strings matter, to decide between SMB 2.002 and the wildcard.

use crate::reader::{Reader, Result, WireError};

/// What an SMB1 negotiate offers of SMB2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Smb1Negotiate {
    pub smb2_002: bool,
    pub smb2_wildcard: bool,
}

pub fn parse_smb1_negotiate(msg: &[u8]) -> Result<Smb1Negotiate> {
    let mut r = Reader::new(msg);
    if r.array::<4>()? != [0xFF, b'S', b'M', b'B'] {
        return Err(WireError::Invalid);
    }
    let command = r.u8()?;
    if command != 0x72 {
        return Err(WireError::Invalid);
    }
    r.skip(27)?;
    let word_count = r.u8()? as usize;
    r.skip(word_count.saturating_mul(2))?;
    let byte_count = r.u16()? as usize;
    let bytes = r.take(byte_count.min(r.remaining()))?;
    let mut out = Smb1Negotiate {
        smb2_002: false,
        smb2_wildcard: false,
    };
    for d in bytes.split(|b| *b == 0) {
        let name = d.strip_prefix(&[0x02]).unwrap_or(d);
        match name {
            b"SMB 2.002" => out.smb2_002 = true,
            b"SMB 2.???" => out.smb2_wildcard = true,
            _ => {}
        }
    }
    Ok(out)
}
