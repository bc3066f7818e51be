//! The SMB2 packet header (MS-SMB2 2.2.1).

use crate::reader::{Reader, Result, WireError};
use crate::NtStatus;

pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
pub const HEADER_LEN: usize = 64;
/// Offset of the Signature field within the header.
pub const SIGNATURE_OFFSET: usize = 48;

pub const FLAGS_SERVER_TO_REDIR: u32 = 0x0000_0001;
pub const FLAGS_ASYNC_COMMAND: u32 = 0x0000_0002;
pub const FLAGS_RELATED_OPERATIONS: u32 = 0x0000_0004;
pub const FLAGS_SIGNED: u32 = 0x0000_0008;
pub const FLAGS_PRIORITY_MASK: u32 = 0x0000_0070;
pub const FLAGS_DFS_OPERATIONS: u32 = 0x1000_0000;
pub const FLAGS_REPLAY_OPERATION: u32 = 0x2000_0000;

/// SMB2 command codes (MS-SMB2 2.2.1.2). Open enum.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Command(pub u16);

impl Command {
    pub const NEGOTIATE: Command = Command(0x0000);
    pub const SESSION_SETUP: Command = Command(0x0001);
    pub const LOGOFF: Command = Command(0x0002);
    pub const TREE_CONNECT: Command = Command(0x0003);
    pub const TREE_DISCONNECT: Command = Command(0x0004);
    pub const CREATE: Command = Command(0x0005);
    pub const CLOSE: Command = Command(0x0006);
    pub const FLUSH: Command = Command(0x0007);
    pub const READ: Command = Command(0x0008);
    pub const WRITE: Command = Command(0x0009);
    pub const LOCK: Command = Command(0x000A);
    pub const IOCTL: Command = Command(0x000B);
    pub const CANCEL: Command = Command(0x000C);
    pub const ECHO: Command = Command(0x000D);
    pub const QUERY_DIRECTORY: Command = Command(0x000E);
    pub const CHANGE_NOTIFY: Command = Command(0x000F);
    pub const QUERY_INFO: Command = Command(0x0010);
    pub const SET_INFO: Command = Command(0x0011);
    pub const OPLOCK_BREAK: Command = Command(0x0012);
}

/// A parsed SMB2 header. Sync and async forms share the struct: `async_id`
/// is set when FLAGS_ASYNC_COMMAND is, `tree_id` otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub credit_charge: u16,
    /// Status in responses; ChannelSequence (low 16 bits) in 3.x requests.
    pub status: u32,
    pub command: u16,
    /// CreditRequest in requests, CreditResponse in responses.
    pub credits: u16,
    pub flags: u32,
    pub next_command: u32,
    pub message_id: u64,
    pub async_id: u64,
    pub process_id: u32,
    pub tree_id: u32,
    pub session_id: u64,
    pub signature: [u8; 16],
}

impl Header {
    /// Parses the 64-byte header at the start of `msg`.
    pub fn parse(msg: &[u8]) -> Result<Header> {
        let mut r = Reader::new(msg);
        if r.array::<4>()? != PROTOCOL_ID {
            return Err(WireError::Invalid);
        }
        r.expect_u16(64)?;
        let credit_charge = r.u16()?;
        let status = r.u32()?;
        let command = r.u16()?;
        let credits = r.u16()?;
        let flags = r.u32()?;
        let next_command = r.u32()?;
        let message_id = r.u64()?;
        let (async_id, process_id, tree_id) = if flags & FLAGS_ASYNC_COMMAND != 0 {
            (r.u64()?, 0, 0)
        } else {
            (0, r.u32()?, r.u32()?)
        };
        let session_id = r.u64()?;
        let signature = r.array::<16>()?;
        Ok(Header {
            credit_charge,
            status,
            command,
            credits,
            flags,
            next_command,
            message_id,
            async_id,
            process_id,
            tree_id,
            session_id,
            signature,
        })
    }

    pub fn command(&self) -> crate::Command {
        crate::Command(self.command)
    }

    pub fn is_async(&self) -> bool {
        self.flags & FLAGS_ASYNC_COMMAND != 0
    }

    pub fn is_related(&self) -> bool {
        self.flags & FLAGS_RELATED_OPERATIONS != 0
    }

    pub fn is_signed(&self) -> bool {
        self.flags & FLAGS_SIGNED != 0
    }

    pub fn nt_status(&self) -> NtStatus {
        NtStatus(self.status)
    }

    /// Appends the 64-byte header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&PROTOCOL_ID);
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&self.credit_charge.to_le_bytes());
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&self.command.to_le_bytes());
        out.extend_from_slice(&self.credits.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.next_command.to_le_bytes());
        out.extend_from_slice(&self.message_id.to_le_bytes());
        if self.is_async() {
            out.extend_from_slice(&self.async_id.to_le_bytes());
        } else {
            out.extend_from_slice(&self.process_id.to_le_bytes());
            out.extend_from_slice(&self.tree_id.to_le_bytes());
        }
        out.extend_from_slice(&self.session_id.to_le_bytes());
        out.extend_from_slice(&self.signature);
    }
}

/// Overwrites NextCommand (offset 20) of the header at the start of `msg`.
pub fn set_next_command(msg: &mut [u8], next: u32) {
    if let Some(s) = msg.get_mut(20..24) {
        s.copy_from_slice(&next.to_le_bytes());
    }
}

/// Sets bits in Flags (offset 16) of the header at the start of `msg`.
pub fn or_flags(msg: &mut [u8], flags: u32) {
    if let Some(s) = msg.get_mut(16..20) {
        let mut v = [0u8; 4];
        v.copy_from_slice(s);
        let f = u32::from_le_bytes(v) | flags;
        s.copy_from_slice(&f.to_le_bytes());
    }
}

/// Writes the Signature field of the header at the start of `msg`.
pub fn set_signature(msg: &mut [u8], sig: &[u8; 16]) {
    if let Some(s) = msg.get_mut(SIGNATURE_OFFSET..HEADER_LEN) {
        s.copy_from_slice(sig);
    }
}

/// Splits a compound chain (MS-SMB2 3.3.5.2.7) into its elements, checking
/// each NextCommand: 8-byte aligned, past the header, inside the message.
/// The last element runs to the end of the buffer.
pub fn split_compound(buf: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = buf;
    loop {
        let h = Header::parse(rest)?;
        let next = h.next_command as usize;
        if next == 0 {
            out.push(rest);
            return Ok(out);
        }
        if next < HEADER_LEN || !next.is_multiple_of(8) || next > rest.len() {
            return Err(WireError::Invalid);
        }
        let (this, tail) = rest.split_at(next);
        out.push(this);
        rest = tail;
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
    fn round_trip() {
        let h = Header {
            command: 5,
            credits: 10,
            message_id: 77,
            tree_id: 3,
            session_id: 0x1234,
            flags: FLAGS_SIGNED,
            ..Default::default()
        };
        let mut b = Vec::new();
        h.encode(&mut b);
        assert_eq!(b.len(), 64);
        assert_eq!(Header::parse(&b).unwrap(), h);
    }

    #[test]
    fn compound_split_rejects_bad_offsets() {
        let mut a = Vec::new();
        Header {
            next_command: 72,
            ..Default::default()
        }
        .encode(&mut a);
        a.extend_from_slice(&[0u8; 8]);
        Header::default().encode(&mut a);
        assert_eq!(split_compound(&a).unwrap().len(), 2);
        // NextCommand pointing inside the header, unaligned, or past the end.
        for bad in [8u32, 65, 4096] {
            let mut b = a.clone();
            set_next_command(&mut b, bad);
            assert!(split_compound(&b).is_err());
        }
        assert!(split_compound(&a[..63]).is_err());
    }
}
