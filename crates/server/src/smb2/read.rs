//! READ (MS-SMB2 3.3.5.12): file data through pread, pipe data from the RPC
//! endpoint.

use wire::create::access;
use wire::read::{encode_read_response_head, ReadRequest};
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::errno;
use crate::state::{lock, OpenKind};

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = ReadRequest::parse(req.msg)?;
    let n = req.conn.limits().ok_or(Error::Disconnect)?;
    if r.length > n.max_read {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let open = lookup_open(req, r.file_id)?;
    match &open.kind {
        OpenKind::Pipe(p) => {
            let (data, more) = lock(p).read(r.length as usize);
            if data.is_empty() {
                return Err(Error::Status(NtStatus::PIPE_EMPTY));
            }
            encode_read_response_head(out, data.len() as u32, 0);
            out.extend_from_slice(&data);
            Ok(if more {
                NtStatus::BUFFER_OVERFLOW
            } else {
                NtStatus::SUCCESS
            })
        }
        OpenKind::File(h) => {
            if open.is_dir {
                return Err(Error::Status(NtStatus::INVALID_DEVICE_REQUEST));
            }
            if open.granted_access & (access::FILE_READ_DATA | access::FILE_EXECUTE) == 0 {
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            if r.offset > i64::MAX as u64 {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            // MS-FSA 2.1.5.2: another open's exclusive byte-range lock blocks reads.
            req.server.locks.check_read(
                open.file_key,
                open.file_id.volatile,
                r.offset,
                u64::from(r.length),
            )?;
            if r.length as usize >= SENDFILE_MIN && open.stream.is_none() && can_send_from_file(req)
            {
                // The data will go from the page cache to the socket (sendfile):
                // only its length is decided here, from the file's size now.
                let size = h.stat().map_err(errno::to_status)?.size;
                let len = size.saturating_sub(r.offset).min(u64::from(r.length));
                if len == 0 || len < u64::from(r.minimum_count) {
                    return Err(Error::Status(NtStatus::END_OF_FILE));
                }
                encode_read_response_head(out, len as u32, 0);
                open.position
                    .store(r.offset + len, std::sync::atomic::Ordering::Relaxed);
                req.file_tail = Some(crate::dispatch::FileTail {
                    open: open.clone(),
                    offset: r.offset,
                    len: len as usize,
                });
                return Ok(NtStatus::SUCCESS);
            }
            let head = out.len();
            encode_read_response_head(out, 0, 0);
            let got = if open.stream.is_some() {
                let data = super::stream::read_data(&open)?;
                let from = usize::try_from(r.offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let chunk = data.get(from..).unwrap_or(&[]);
                let n = chunk.len().min(r.length as usize);
                out.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                n
            } else {
                // Straight into the response buffer, which is not zero-filled first.
                h.read_append(out, r.length as usize, r.offset)
                    .map_err(errno::to_status)?
            };
            // MS-SMB2 3.3.5.12: nothing read for a non-empty request, or less
            // than MinimumCount, is END_OF_FILE; a zero-length read succeeds.
            if (got == 0 && r.length > 0) || (got as u64) < u64::from(r.minimum_count) {
                out.truncate(head);
                return Err(Error::Status(NtStatus::END_OF_FILE));
            }
            if let Some(len) = out.get_mut(head + 4..head + 8) {
                len.copy_from_slice(&(got as u32).to_le_bytes());
            }
            open.position
                .store(r.offset + got as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(NtStatus::SUCCESS)
        }
    }
}

/// Reads at least this large are sent with sendfile when they can be.
const SENDFILE_MIN: usize = 16 * 1024;

/// A response neither signed nor encrypted and alone in its message can carry
/// its data straight from the file (the signature would have to cover it).
fn can_send_from_file(req: &Request<'_>) -> bool {
    if !req.single || req.encrypted.is_some() || req.hdr.is_signed() {
        return false;
    }
    match req.session.as_ref().map(|s| lock(&s.state)) {
        Some(st) => matches!(&*st, crate::state::AuthState::Valid(a) if !a.signing_required),
        None => false,
    }
}
