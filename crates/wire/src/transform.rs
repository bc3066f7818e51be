//! SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41): the envelope of an encrypted message.

use crate::reader::{Reader, Result, WireError};

pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
pub const TRANSFORM_HEADER_LEN: usize = 52;
/// Offset of the Nonce field: the associated data runs from here to the end of the header.
pub const AAD_OFFSET: usize = 20;
/// Flags (3.1.1) / EncryptionAlgorithm (3.0, 3.0.2): the only defined value.
pub const TRANSFORM_FLAG_ENCRYPTED: u16 = 0x0001;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformHeader {
    pub signature: [u8; 16],
    pub nonce: [u8; 16],
    pub original_message_size: u32,
    pub flags: u16,
    pub session_id: u64,
}

impl TransformHeader {
    pub fn parse(buf: &[u8]) -> Result<TransformHeader> {
        let mut r = Reader::new(buf);
        if r.array::<4>()? != TRANSFORM_PROTOCOL_ID {
            return Err(WireError::Invalid);
        }
        let signature = r.array::<16>()?;
        let nonce = r.array::<16>()?;
        let original_message_size = r.u32()?;
        r.skip(2)?;
        let flags = r.u16()?;
        let session_id = r.u64()?;
        Ok(TransformHeader {
            signature,
            nonce,
            original_message_size,
            flags,
            session_id,
        })
    }

    /// Appends the 52-byte header.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// The 52-byte header (no allocation: it goes in front of a message
    /// encrypted in place).
    pub fn to_bytes(&self) -> [u8; TRANSFORM_HEADER_LEN] {
        let mut b = [0u8; TRANSFORM_HEADER_LEN];
        let fields: [&[u8]; 7] = [
            &TRANSFORM_PROTOCOL_ID,
            &self.signature,
            &self.nonce,
            &self.original_message_size.to_le_bytes(),
            &0u16.to_le_bytes(),
            &self.flags.to_le_bytes(),
            &self.session_id.to_le_bytes(),
        ];
        let mut at = 0usize;
        for f in fields {
            if let Some(dst) = b.get_mut(at..at.saturating_add(f.len())) {
                dst.copy_from_slice(f);
            }
            at = at.saturating_add(f.len());
        }
        b
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
    fn round_trip_and_truncation() {
        let h = TransformHeader {
            signature: [1; 16],
            nonce: [2; 16],
            original_message_size: 100,
            flags: 1,
            session_id: 7,
        };
        let mut b = Vec::new();
        h.encode(&mut b);
        assert_eq!(b.len(), TRANSFORM_HEADER_LEN);
        assert_eq!(TransformHeader::parse(&b).unwrap(), h);
        for n in 0..b.len() {
            assert!(TransformHeader::parse(&b[..n]).is_err());
        }
    }
}
