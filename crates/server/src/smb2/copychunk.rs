//! Server-side copy (MS-SMB2 3.3.5.15.6): FSCTL_SRV_COPYCHUNK and
//! FSCTL_SRV_COPYCHUNK_WRITE copy ranges from the open named by a resume key
//! (FSCTL_SRV_REQUEST_RESUME_KEY, 2.2.32.3) into the open the IOCTL names,
//! without the data crossing the network.
//!
//! Touches: the session's open table (the source is looked up there, so a key
//! only ever names an open of the caller's own session), byte-range locks
//! (both ranges are checked as READ and WRITE check them), oplocks and leases
//! (the destination's are broken as a WRITE breaks them). The data moves with
//! `vfs::Handle::copy_range` (copy_file_range, else a buffer); named streams,
//! which live in xattrs, go through a buffer.
//!
//! Statuses follow Windows Server 2012 and later, as smbtorture's
//! `smb2.ioctl.copy_chunk_*` expect: an unknown key is
//! STATUS_OBJECT_NAME_NOT_FOUND, a chunk reaching past the source's end
//! STATUS_INVALID_VIEW_SIZE, and every failure after validation still carries
//! an SRV_COPYCHUNK_RESPONSE counting what was written.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use wire::copychunk::{
    SrvCopychunk, SrvCopychunkCopy, SrvCopychunkResponse, RESPONSE_LEN, RESUME_KEY_LEN,
};
use wire::create::{access, options, FileId};
use wire::ioctl::fsctl;
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, Request};
use crate::errno;
use crate::state::Open;

/// ServerSideCopyMaxNumberofChunks (MS-SMB2 3.3.3.1; Windows' value).
pub const MAX_CHUNKS: u32 = 256;
/// ServerSideCopyMaxChunkSize: 1 MiB.
pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;
/// ServerSideCopyMaxDataSize: 16 MiB per request.
pub const MAX_DATA_SIZE: u32 = 16 * 1024 * 1024;

/// The SRV_COPYCHUNK_RESPONSE that announces the limits (3.3.5.15.6.2).
pub const LIMITS: SrvCopychunkResponse = SrvCopychunkResponse {
    chunks_written: MAX_CHUNKS,
    chunk_bytes_written: MAX_CHUNK_SIZE,
    total_bytes_written: MAX_DATA_SIZE,
};

/// The resume key of an open (2.2.32.3): its FileId and the session it
/// belongs to. It names the open only to its own session, so it needs no
/// secrecy: whoever can present it already holds the open.
pub fn resume_key(session_id: u64, file_id: FileId) -> [u8; RESUME_KEY_LEN] {
    let mut key = [0u8; RESUME_KEY_LEN];
    for (dst, src) in key.chunks_exact_mut(8).zip([
        file_id.persistent.to_le_bytes(),
        file_id.volatile.to_le_bytes(),
        session_id.to_le_bytes(),
    ]) {
        dst.copy_from_slice(&src);
    }
    key
}

/// The session id and FileId a resume key names.
pub fn parse_resume_key(key: &[u8; RESUME_KEY_LEN]) -> (u64, FileId) {
    let mut words = key.chunks_exact(8).map(|c| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        u64::from_le_bytes(b)
    });
    let persistent = words.next().unwrap_or(0);
    let volatile = words.next().unwrap_or(0);
    let session = words.next().unwrap_or(0);
    (
        session,
        FileId {
            persistent,
            volatile,
        },
    )
}

/// Whether a request stays within the server's limits (3.3.5.15.6): at most
/// MAX_CHUNKS chunks, each non-empty and at most MAX_CHUNK_SIZE, MAX_DATA_SIZE
/// in all, and no target offset beyond what a file can hold.
pub fn within_limits(c: &SrvCopychunkCopy<'_>) -> bool {
    if c.chunk_count > MAX_CHUNKS {
        return false;
    }
    let mut total = 0u64;
    for ch in c.chunks() {
        if ch.length == 0 || ch.length > MAX_CHUNK_SIZE || ch.target_offset > i64::MAX as u64 {
            return false;
        }
        total = total.saturating_add(u64::from(ch.length));
    }
    total <= u64::from(MAX_DATA_SIZE)
}

/// The access checks of 3.3.5.15.6: the source must be readable (FILE_EXECUTE
/// serves, as on Windows: it allows reading for execution), the destination
/// writable, and for FSCTL_SRV_COPYCHUNK (not _WRITE) readable as well.
pub fn access_allowed(ctl_code: u32, src_access: u32, dst_access: u32) -> bool {
    let src_ok = src_access & (access::FILE_READ_DATA | access::FILE_EXECUTE) != 0;
    let dst_write = dst_access & (access::FILE_WRITE_DATA | access::FILE_APPEND_DATA) != 0;
    let dst_read =
        ctl_code == fsctl::SRV_COPYCHUNK_WRITE || dst_access & access::FILE_READ_DATA != 0;
    src_ok && dst_write && dst_read
}

/// Handles FSCTL_SRV_COPYCHUNK / _WRITE on the open `file_id`, appending the
/// IOCTL output (an SRV_COPYCHUNK_RESPONSE, or nothing) to `output`. Returns
/// the status to send with it and the FileId of the response.
pub fn handle(
    req: &Request<'_>,
    ctl_code: u32,
    file_id: FileId,
    input: &[u8],
    max_out: usize,
    output: &mut Vec<u8>,
) -> Result<(NtStatus, FileId), Error> {
    let dest = lookup_open(req, file_id)?;
    let Ok(copy) = SrvCopychunkCopy::parse(input) else {
        // An input shorter than SRV_COPYCHUNK_COPY or than its ChunkCount
        // says is answered like a request beyond the limits (3.3.5.15.6).
        return limits_or_invalid(max_out, output, dest.file_id);
    };
    // MS-SMB2 3.3.5.15.6: the source is the open whose key this is.
    let src = find_source(req, &copy.source_key)?;
    if max_out < RESPONSE_LEN {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let (Some(src_h), Some(dst_h)) = (src.handle(), dest.handle()) else {
        // A pipe on either side (3.3.5.15.6: named pipe file system).
        return limits_or_invalid(max_out, output, dest.file_id);
    };
    if !within_limits(&copy) {
        return limits_or_invalid(max_out, output, dest.file_id);
    }
    if !access_allowed(ctl_code, src.granted_access, dest.granted_access) {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    if src.is_dir || dest.is_dir {
        return Err(Error::Status(NtStatus::INVALID_DEVICE_REQUEST));
    }
    // MS-FSA 2.1.5.3: the copy writes the destination, which breaks other
    // opens' read caching exactly as a WRITE does.
    req.server
        .oplocks
        .break_for_write(dest.file_key, dest.file_id.volatile);
    let ends = Ends {
        src: &src,
        src_h,
        dst: &dest,
        dst_h,
    };
    let mut progress = SrvCopychunkResponse::default();
    let mut status = NtStatus::SUCCESS;
    for chunk in copy.chunks() {
        if let Err(s) = copy_chunk(req, &ends, &chunk) {
            status = s;
            break;
        }
        progress.chunks_written = progress.chunks_written.saturating_add(1);
        progress.total_bytes_written = progress.total_bytes_written.saturating_add(chunk.length);
    }
    if progress.total_bytes_written > 0
        && dest.mode.load(Ordering::Relaxed) & options::WRITE_THROUGH != 0
    {
        dst_h.sync().map_err(errno::to_status)?;
    }
    // MS-SMB2 3.3.5.15.6.1: success or not, the response says how far it got.
    progress.encode(output);
    Ok((status, dest.file_id))
}

/// STATUS_INVALID_PARAMETER with the server's limits when the client left
/// room for them, else the bare error (3.3.5.15.6).
fn limits_or_invalid(
    max_out: usize,
    output: &mut Vec<u8>,
    file_id: FileId,
) -> Result<(NtStatus, FileId), Error> {
    if max_out < RESPONSE_LEN {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    LIMITS.encode(output);
    Ok((NtStatus::INVALID_PARAMETER, file_id))
}

/// The open a resume key names, within the caller's session.
fn find_source(req: &Request<'_>, key: &[u8; RESUME_KEY_LEN]) -> Result<Arc<Open>, Error> {
    let not_found = Error::Status(NtStatus::OBJECT_NAME_NOT_FOUND);
    let session = req.session()?;
    let (session_id, id) = parse_resume_key(key);
    if session_id != session.id {
        return Err(not_found);
    }
    let open = session.open(id.volatile).ok_or(not_found)?;
    if open.file_id.persistent != id.persistent || open.closed.load(Ordering::Acquire) {
        return Err(Error::Status(NtStatus::OBJECT_NAME_NOT_FOUND));
    }
    Ok(open)
}

/// Source and destination of one request.
struct Ends<'a> {
    src: &'a Open,
    src_h: &'a vfs::Handle,
    dst: &'a Open,
    dst_h: &'a vfs::Handle,
}

/// Copies one chunk, all of it or failing.
fn copy_chunk(req: &Request<'_>, e: &Ends<'_>, c: &SrvCopychunk) -> Result<(), NtStatus> {
    let len = u64::from(c.length);
    // Windows answers INVALID_VIEW_SIZE for a range past the source's end
    // (MS-SMB2 3.3.5.15.6 <footnote>: STATUS_END_OF_FILE in the text).
    let src_size = if e.src.stream.is_some() {
        super::stream::read_data(e.src)?.len() as u64
    } else {
        e.src_h.stat().map_err(errno::to_status)?.size
    };
    if c.source_offset
        .checked_add(len)
        .is_none_or(|end| end > src_size)
    {
        return Err(NtStatus::INVALID_VIEW_SIZE);
    }
    // MS-FSA 2.1.5.2 / 2.1.5.3: the copy reads and writes as READ and WRITE do,
    // so byte-range locks of other opens apply (Windows 2012 and later).
    req.server
        .locks
        .check_read(e.src.file_key, e.src.file_id.volatile, c.source_offset, len)?;
    req.server
        .locks
        .check_write(e.dst.file_key, e.dst.file_id.volatile, c.target_offset, len)?;
    if e.src.stream.is_none() && e.dst.stream.is_none() {
        let n = e
            .src_h
            .copy_range(c.source_offset, e.dst_h, c.target_offset, len)
            .map_err(errno::to_status)?;
        if n < len {
            // The source shrank since its size was read.
            return Err(NtStatus::INVALID_VIEW_SIZE);
        }
        return Ok(());
    }
    let data = read_range(e.src, e.src_h, c.source_offset, c.length)?;
    write_range(e.dst, e.dst_h, c.target_offset, &data)
}

/// `len` bytes at `offset` of an open's data (a named stream or the file).
fn read_range(open: &Open, h: &vfs::Handle, offset: u64, len: u32) -> Result<Vec<u8>, NtStatus> {
    let len = len as usize;
    let data = if open.stream.is_some() {
        let all = super::stream::read_data(open)?;
        let start = usize::try_from(offset).map_err(|_| NtStatus::INVALID_VIEW_SIZE)?;
        let end = start.checked_add(len).ok_or(NtStatus::INVALID_VIEW_SIZE)?;
        all.get(start..end)
            .ok_or(NtStatus::INVALID_VIEW_SIZE)?
            .to_vec()
    } else {
        let mut buf = Vec::with_capacity(len);
        h.read_append(&mut buf, len, offset)
            .map_err(errno::to_status)?;
        buf
    };
    if data.len() < len {
        return Err(NtStatus::INVALID_VIEW_SIZE);
    }
    Ok(data)
}

/// Writes `data` at `offset` of an open's data, growing it as WRITE does.
fn write_range(open: &Open, h: &vfs::Handle, offset: u64, data: &[u8]) -> Result<(), NtStatus> {
    if open.stream.is_none() {
        h.write_at(data, offset).map_err(errno::to_status)?;
        return Ok(());
    }
    let mut all = super::stream::read_data(open)?;
    let start = usize::try_from(offset).map_err(|_| NtStatus::DISK_FULL)?;
    let end = start.checked_add(data.len()).ok_or(NtStatus::DISK_FULL)?;
    if end > super::stream::MAX_STREAM {
        return Err(NtStatus::DISK_FULL);
    }
    if all.len() < end {
        all.resize(end, 0);
    }
    if let Some(dst) = all.get_mut(start..end) {
        dst.copy_from_slice(data);
    }
    super::stream::write_data(open, &all)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(chunks: &[SrvCopychunk]) -> Vec<u8> {
        let mut v = Vec::new();
        SrvCopychunkCopy::encode(&[1; RESUME_KEY_LEN], chunks, &mut v);
        v
    }

    fn chunk(length: u32) -> SrvCopychunk {
        SrvCopychunk {
            source_offset: 0,
            target_offset: 0,
            length,
        }
    }

    #[test]
    fn resume_key_round_trips() {
        let id = FileId {
            persistent: 0x0102_0304_0506_0708,
            volatile: 0x1112_1314_1516_1718,
        };
        let key = resume_key(0xAABB_CCDD_EEFF_0011, id);
        assert_eq!(&key[..8], &id.persistent.to_le_bytes());
        assert_eq!(&key[8..16], &id.volatile.to_le_bytes());
        assert_eq!(&key[16..], &0xAABB_CCDD_EEFF_0011u64.to_le_bytes());
        assert_eq!(parse_resume_key(&key), (0xAABB_CCDD_EEFF_0011, id));
        // smbtorture's bogus key decodes to ids no server hands out together.
        let (s, f) = parse_resume_key(b"deadbeefdeadbeefdeadbeef");
        assert_eq!(s, u64::from_le_bytes(*b"deadbeef"));
        assert_eq!(f.persistent, f.volatile);
    }

    #[test]
    fn limits_are_those_windows_announces() {
        let mut out = Vec::new();
        LIMITS.encode(&mut out);
        assert_eq!(
            SrvCopychunkResponse::parse(&out).unwrap(),
            SrvCopychunkResponse {
                chunks_written: 256,
                chunk_bytes_written: 1_048_576,
                total_bytes_written: 16_777_216,
            }
        );
    }

    #[test]
    fn within_limits_checks_each_bound() {
        let ok = |chunks: &[SrvCopychunk]| {
            let bytes = request(chunks);
            within_limits(&SrvCopychunkCopy::parse(&bytes).unwrap())
        };
        assert!(ok(&[chunk(4096)]));
        assert!(ok(&[chunk(MAX_CHUNK_SIZE)]));
        assert!(ok(&vec![chunk(MAX_CHUNK_SIZE); 16]), "exactly 16 MiB");
        assert!(!ok(&vec![chunk(MAX_CHUNK_SIZE); 17]), "over 16 MiB");
        assert!(!ok(&[chunk(MAX_CHUNK_SIZE + 1)]));
        assert!(!ok(&[chunk(u32::MAX)]), "copy_chunk_limits");
        assert!(!ok(&[chunk(0)]), "copy_chunk_zero_length");
        assert!(ok(&vec![chunk(1); 256]));
        assert!(!ok(&vec![chunk(1); 257]));
        assert!(!ok(&[SrvCopychunk {
            source_offset: 0,
            target_offset: 1 << 63,
            length: 1,
        }]));
        assert!(ok(&[]), "no chunks: nothing to copy, nothing exceeded");
    }

    #[test]
    fn access_rules_of_smbtorture_bad_access() {
        let all = access::FILE_READ_DATA | access::FILE_WRITE_DATA | access::FILE_APPEND_DATA;
        let cc = fsctl::SRV_COPYCHUNK;
        let ccw = fsctl::SRV_COPYCHUNK_WRITE;
        assert!(access_allowed(cc, access::FILE_READ_DATA, all));
        assert!(access_allowed(cc, access::FILE_EXECUTE, all));
        assert!(!access_allowed(cc, access::FILE_READ_ATTRIBUTES, all));
        let no_write = all & !(access::FILE_WRITE_DATA | access::FILE_APPEND_DATA);
        assert!(!access_allowed(cc, access::FILE_READ_DATA, no_write));
        assert!(!access_allowed(ccw, access::FILE_READ_DATA, no_write));
        let no_read = all & !access::FILE_READ_DATA;
        assert!(!access_allowed(cc, access::FILE_READ_DATA, no_read));
        assert!(access_allowed(ccw, access::FILE_READ_DATA, no_read));
        assert!(access_allowed(
            ccw,
            access::FILE_READ_DATA,
            access::FILE_APPEND_DATA
        ));
    }
}
