//! Server-side copy payloads: SRV_COPYCHUNK_COPY and SRV_COPYCHUNK (MS-SMB2
//! 2.2.31.1, 2.2.31.1.1), SRV_COPYCHUNK_RESPONSE (2.2.32.1) and the
//! SRV_REQUEST_RESUME_KEY response (2.2.32.3).
//!
//! The chunk array stays borrowed: [`SrvCopychunkCopy::chunks`] decodes it
//! lazily, and `parse` has already checked that ChunkCount entries fit.

use crate::reader::{Reader, Result, WireError};
use crate::Writer;

/// Length of the opaque key naming the source open (2.2.31.1 SourceKey).
pub const RESUME_KEY_LEN: usize = 24;
/// Size of one SRV_COPYCHUNK entry (2.2.31.1.1).
pub const CHUNK_LEN: usize = 24;
/// Size of the fixed part of SRV_COPYCHUNK_COPY: key, ChunkCount, Reserved.
pub const COPY_HEADER_LEN: usize = 32;
/// Size of SRV_COPYCHUNK_RESPONSE (2.2.32.1).
pub const RESPONSE_LEN: usize = 12;
/// Size of the SRV_REQUEST_RESUME_KEY response as clients decode it: the key,
/// ContextLength and a 4-byte Context (2.2.32.3).
pub const RESUME_KEY_RESPONSE_LEN: usize = 32;

/// One range to copy (2.2.31.1.1 SRV_COPYCHUNK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrvCopychunk {
    pub source_offset: u64,
    pub target_offset: u64,
    pub length: u32,
}

/// FSCTL_SRV_COPYCHUNK / FSCTL_SRV_COPYCHUNK_WRITE input (2.2.31.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvCopychunkCopy<'a> {
    pub source_key: [u8; RESUME_KEY_LEN],
    pub chunk_count: u32,
    /// Exactly `chunk_count * CHUNK_LEN` bytes.
    chunks: &'a [u8],
}

impl<'a> SrvCopychunkCopy<'a> {
    /// Parses the IOCTL input buffer. The buffer must hold ChunkCount entries;
    /// bytes after them are ignored (the structure has no length of its own,
    /// and Windows and Samba accept trailing padding).
    pub fn parse(input: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(input);
        let source_key = r.array::<RESUME_KEY_LEN>()?;
        let chunk_count = r.u32()?;
        let _reserved = r.u32()?;
        let len = usize::try_from(chunk_count)
            .ok()
            .and_then(|n| n.checked_mul(CHUNK_LEN))
            .ok_or(WireError::Invalid)?;
        let chunks = r.take(len)?;
        Ok(SrvCopychunkCopy {
            source_key,
            chunk_count,
            chunks,
        })
    }

    /// The chunks, in request order.
    pub fn chunks(&self) -> impl ExactSizeIterator<Item = SrvCopychunk> + 'a {
        self.chunks.chunks_exact(CHUNK_LEN).map(|c| {
            let mut r = Reader::new(c);
            // chunks_exact gives CHUNK_LEN bytes: these reads cannot fail.
            let source_offset = r.u64().unwrap_or(0);
            let target_offset = r.u64().unwrap_or(0);
            let length = r.u32().unwrap_or(0);
            SrvCopychunk {
                source_offset,
                target_offset,
                length,
            }
        })
    }

    /// Encodes the structure (a client's side; used by tests and fuzzing).
    pub fn encode(source_key: &[u8; RESUME_KEY_LEN], chunks: &[SrvCopychunk], out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.bytes(source_key);
        w.u32(u32::try_from(chunks.len()).unwrap_or(u32::MAX));
        w.u32(0);
        for c in chunks {
            w.u64(c.source_offset);
            w.u64(c.target_offset);
            w.u32(c.length);
            w.u32(0);
        }
    }
}

/// SRV_COPYCHUNK_RESPONSE (2.2.32.1). On success and on a failed copy the
/// three fields count what was written; on STATUS_INVALID_PARAMETER for a
/// request beyond the server's limits they carry those limits instead
/// (MS-SMB2 3.3.5.15.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrvCopychunkResponse {
    pub chunks_written: u32,
    pub chunk_bytes_written: u32,
    pub total_bytes_written: u32,
}

impl SrvCopychunkResponse {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.u32(self.chunks_written);
        w.u32(self.chunk_bytes_written);
        w.u32(self.total_bytes_written);
    }

    pub fn parse(input: &[u8]) -> Result<Self> {
        let mut r = Reader::new(input);
        Ok(SrvCopychunkResponse {
            chunks_written: r.u32()?,
            chunk_bytes_written: r.u32()?,
            total_bytes_written: r.u32()?,
        })
    }
}

/// SRV_REQUEST_RESUME_KEY response (2.2.32.3): the key, ContextLength 0 and
/// the 4 bytes of Context that clients (Windows, Samba) expect regardless.
pub fn encode_resume_key_response(key: &[u8; RESUME_KEY_LEN], out: &mut Vec<u8>) {
    let mut w = Writer::new(out);
    w.bytes(key);
    w.u32(0);
    w.zeros(4);
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    /// A request as smbtorture's copy_chunk_multi sends it (two 4 KiB chunks),
    /// written out by hand from the 2.2.31.1 layout.
    fn multi_request() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"ABCDEFGHIJKLMNOPQRSTUVWX"); // SourceKey
        v.extend_from_slice(&[2, 0, 0, 0]); // ChunkCount
        v.extend_from_slice(&[0, 0, 0, 0]); // Reserved
                                            // chunk 0: 0 -> 0, 4096
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&[0x00, 0x10, 0, 0, 0, 0, 0, 0]);
        // chunk 1: 4096 -> 0x1_0000_1000, 4096
        v.extend_from_slice(&[0x00, 0x10, 0, 0, 0, 0, 0, 0]);
        v.extend_from_slice(&[0x00, 0x10, 0, 0, 1, 0, 0, 0]);
        v.extend_from_slice(&[0x00, 0x10, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD]);
        v
    }

    #[test]
    fn parses_two_chunks() {
        let bytes = multi_request();
        assert_eq!(bytes.len(), COPY_HEADER_LEN + 2 * CHUNK_LEN);
        let c = SrvCopychunkCopy::parse(&bytes).unwrap();
        assert_eq!(&c.source_key, b"ABCDEFGHIJKLMNOPQRSTUVWX");
        assert_eq!(c.chunk_count, 2);
        let chunks: Vec<_> = c.chunks().collect();
        assert_eq!(
            chunks,
            vec![
                SrvCopychunk {
                    source_offset: 0,
                    target_offset: 0,
                    length: 4096
                },
                SrvCopychunk {
                    source_offset: 4096,
                    target_offset: 0x1_0000_1000,
                    length: 4096
                },
            ]
        );
    }

    #[test]
    fn encode_matches_hand_written_bytes() {
        let bytes = multi_request();
        let c = SrvCopychunkCopy::parse(&bytes).unwrap();
        let chunks: Vec<_> = c.chunks().collect();
        let mut out = Vec::new();
        SrvCopychunkCopy::encode(&c.source_key, &chunks, &mut out);
        // Reserved fields are written as zero, so only the last chunk's
        // Reserved (0xDDCCBBAA above) differs.
        let mut expect = bytes.clone();
        let n = expect.len();
        expect[n - 4..].copy_from_slice(&[0; 4]);
        assert_eq!(out, expect);
    }

    #[test]
    fn zero_chunks_is_valid() {
        let mut v = vec![7u8; 24];
        v.extend_from_slice(&[0; 8]);
        let c = SrvCopychunkCopy::parse(&v).unwrap();
        assert_eq!(c.chunk_count, 0);
        assert_eq!(c.chunks().count(), 0);
    }

    #[test]
    fn count_beyond_buffer_is_rejected() {
        let mut bytes = multi_request();
        bytes[24] = 3; // ChunkCount 3 with two chunks present
        assert_eq!(SrvCopychunkCopy::parse(&bytes), Err(WireError::Truncated));
        bytes[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(SrvCopychunkCopy::parse(&bytes).is_err());
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut bytes = multi_request();
        bytes.extend_from_slice(&[0xEE; 5]);
        let c = SrvCopychunkCopy::parse(&bytes).unwrap();
        assert_eq!(c.chunks().count(), 2);
    }

    #[test]
    fn every_truncation_fails_without_panic() {
        let bytes = multi_request();
        for n in 0..bytes.len() {
            assert!(SrvCopychunkCopy::parse(&bytes[..n]).is_err(), "len {n}");
        }
    }

    #[test]
    fn response_layout() {
        // The limits Windows and Samba announce (3.3.5.15.6.2).
        let r = SrvCopychunkResponse {
            chunks_written: 256,
            chunk_bytes_written: 1024 * 1024,
            total_bytes_written: 16 * 1024 * 1024,
        };
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(
            out,
            [0x00, 0x01, 0, 0, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01]
        );
        assert_eq!(out.len(), RESPONSE_LEN);
        assert_eq!(SrvCopychunkResponse::parse(&out).unwrap(), r);
        assert!(SrvCopychunkResponse::parse(&out[..11]).is_err());
    }

    #[test]
    fn resume_key_response_layout() {
        let key = [0x5Au8; RESUME_KEY_LEN];
        let mut out = Vec::new();
        encode_resume_key_response(&key, &mut out);
        assert_eq!(out.len(), RESUME_KEY_RESPONSE_LEN);
        assert_eq!(&out[..24], &key);
        assert_eq!(&out[24..], &[0; 8]);
    }
}
