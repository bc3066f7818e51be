//! Oplock and lease wire formats: the lease create contexts (MS-SMB2
//! 2.2.13.2.8 / 2.2.13.2.10 request, 2.2.14.2.10 / 2.2.14.2.11 response), the
//! break notifications (2.2.23.1 oplock, 2.2.23.2 lease), the
//! acknowledgements (2.2.24.1, 2.2.24.2) and their responses (2.2.25.1, 2.2.25.2).

use crate::create::FileId;
use crate::header::HEADER_LEN;
use crate::reader::{Reader, Result, WireError};
use crate::writer::Writer;

/// SMB2_LEASE_* caching bits (MS-SMB2 2.2.13.2.8).
pub mod lease_state {
    pub const NONE: u32 = 0;
    pub const READ: u32 = 0x01;
    pub const HANDLE: u32 = 0x02;
    pub const WRITE: u32 = 0x04;
    pub const ALL: u32 = READ | HANDLE | WRITE;
}

/// LeaseFlags of the lease contexts (2.2.13.2.10, 2.2.14.2.10).
pub mod lease_flags {
    pub const BREAK_IN_PROGRESS: u32 = 0x02;
    pub const PARENT_LEASE_KEY_SET: u32 = 0x04;
}

/// Flags of the lease break notification (2.2.23.2).
pub const NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED: u32 = 0x01;

const LEASE_V1_LEN: usize = 32;
const LEASE_V2_LEN: usize = 52;

/// A lease request or response context ("RqLs"), version 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaseContext {
    pub key: [u8; 16],
    pub state: u32,
    pub flags: u32,
    pub duration: u64,
    /// Version 2 only.
    pub parent_key: [u8; 16],
    pub epoch: u16,
    pub v2: bool,
}

impl LeaseContext {
    /// Parses the context's data: 32 bytes is version 1, 52 version 2
    /// (MS-SMB2 3.3.5.9.8/3.3.5.9.11 tell them apart by DataLength).
    pub fn parse(data: &[u8]) -> Result<LeaseContext> {
        let v2 = match data.len() {
            LEASE_V1_LEN => false,
            LEASE_V2_LEN => true,
            _ => return Err(WireError::Invalid),
        };
        let mut r = Reader::new(data);
        let key = r.array::<16>()?;
        let state = r.u32()?;
        let flags = r.u32()?;
        let duration = r.u64()?;
        let (parent_key, epoch) = if v2 {
            let p = r.array::<16>()?;
            let e = r.u16()?;
            r.skip(2)?;
            (p, e)
        } else {
            ([0; 16], 0)
        };
        Ok(LeaseContext {
            key,
            state,
            flags,
            duration,
            parent_key,
            epoch,
            v2,
        })
    }

    /// The response context's data, in the request's version.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.bytes(&self.key);
        w.u32(self.state);
        w.u32(self.flags);
        w.u64(self.duration);
        if self.v2 {
            w.bytes(&self.parent_key);
            w.u16(self.epoch);
            w.u16(0);
        }
    }
}

/// An OPLOCK_BREAK acknowledgement from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakAck {
    /// 2.2.24.1.
    Oplock { level: u8, file_id: FileId },
    /// 2.2.24.2.
    Lease {
        flags: u32,
        key: [u8; 16],
        state: u32,
    },
}

impl BreakAck {
    /// Parses the request body after the header; the StructureSize says which kind.
    pub fn parse(msg: &[u8]) -> Result<BreakAck> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        match r.u16()? {
            24 => {
                let level = r.u8()?;
                r.skip(1 + 4)?;
                let file_id = FileId::read(&mut r)?;
                Ok(BreakAck::Oplock { level, file_id })
            }
            36 => {
                r.skip(2)?;
                let flags = r.u32()?;
                let key = r.array::<16>()?;
                let state = r.u32()?;
                r.skip(8)?;
                Ok(BreakAck::Lease { flags, key, state })
            }
            _ => Err(WireError::Invalid),
        }
    }
}

/// Oplock break notification (2.2.23.1) and acknowledgement response
/// (2.2.25.1) share one layout.
pub fn encode_oplock_break(out: &mut Vec<u8>, level: u8, file_id: FileId) {
    let mut w = Writer::new(out);
    w.u16(24);
    w.u8(level);
    w.u8(0);
    w.u32(0);
    file_id.write(&mut w);
}

/// Lease break notification (2.2.23.2).
pub fn encode_lease_break(
    out: &mut Vec<u8>,
    new_epoch: u16,
    flags: u32,
    key: &[u8; 16],
    current: u32,
    new: u32,
) {
    let mut w = Writer::new(out);
    w.u16(44);
    w.u16(new_epoch);
    w.u32(flags);
    w.bytes(key);
    w.u32(current);
    w.u32(new);
    w.u32(0); // BreakReason
    w.u32(0); // AccessMaskHint
    w.u32(0); // ShareMaskHint
}

/// Lease break acknowledgement response (2.2.25.2).
pub fn encode_lease_ack_response(out: &mut Vec<u8>, key: &[u8; 16], state: u32) {
    let mut w = Writer::new(out);
    w.u16(36);
    w.u16(0);
    w.u32(0);
    w.bytes(key);
    w.u32(state);
    w.u64(0);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lease_contexts_round_trip() {
        let v2 = LeaseContext {
            key: [7; 16],
            state: lease_state::ALL,
            flags: lease_flags::PARENT_LEASE_KEY_SET,
            duration: 0,
            parent_key: [9; 16],
            epoch: 3,
            v2: true,
        };
        let mut b = Vec::new();
        v2.encode(&mut b);
        assert_eq!(b.len(), 52);
        assert_eq!(LeaseContext::parse(&b).unwrap(), v2);
        let v1 = LeaseContext {
            key: [1; 16],
            state: lease_state::READ,
            ..Default::default()
        };
        let mut b = Vec::new();
        v1.encode(&mut b);
        assert_eq!(b.len(), 32);
        assert_eq!(&b[16..20], &[1, 0, 0, 0]);
        assert_eq!(LeaseContext::parse(&b).unwrap(), v1);
        for n in 0..b.len() {
            assert!(LeaseContext::parse(&b[..n]).is_err());
        }
    }

    #[test]
    fn acks_parse() {
        let mut m = vec![0u8; HEADER_LEN];
        encode_oplock_break(
            &mut m,
            1,
            FileId {
                persistent: 5,
                volatile: 6,
            },
        );
        assert_eq!(m.len(), HEADER_LEN + 24);
        assert_eq!(
            BreakAck::parse(&m).unwrap(),
            BreakAck::Oplock {
                level: 1,
                file_id: FileId {
                    persistent: 5,
                    volatile: 6
                }
            }
        );
        let mut m = vec![0u8; HEADER_LEN];
        encode_lease_ack_response(&mut m, &[4; 16], lease_state::READ);
        assert_eq!(m.len(), HEADER_LEN + 36);
        assert_eq!(
            BreakAck::parse(&m).unwrap(),
            BreakAck::Lease {
                flags: 0,
                key: [4; 16],
                state: 1
            }
        );
        for n in 0..m.len() {
            assert!(BreakAck::parse(&m[..n]).is_err());
        }
        let mut b = Vec::new();
        encode_lease_break(&mut b, 2, 1, &[3; 16], 7, 3);
        assert_eq!(b.len(), 44);
        assert_eq!(&b[0..4], &[44, 0, 2, 0]);
    }
}
