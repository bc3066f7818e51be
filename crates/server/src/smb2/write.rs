//! WRITE (MS-SMB2 3.3.5.13): pwrite at the offset (growing the file as
//! needed), write-through honoured with fdatasync; pipe writes feed the RPC endpoint.

use std::sync::atomic::Ordering;

use wire::create::{access, options};
use wire::write::{encode_write_response, WriteRequest, WRITEFLAG_WRITE_THROUGH};
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::errno;
use crate::state::{lock, OpenKind};

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = WriteRequest::parse(req.msg)?;
    let n = req.conn.limits().ok_or(Error::Disconnect)?;
    if r.data.len() > n.max_write as usize {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let open = lookup_open(req, r.file_id)?;
    match &open.kind {
        OpenKind::Pipe(p) => {
            let info = crate::smb2::ioctl::rpc_info(req)?;
            lock(p)
                .write(r.data, &info)
                .map_err(|_| NtStatus::INVALID_PARAMETER)?;
            encode_write_response(out, r.data.len() as u32);
            Ok(NtStatus::SUCCESS)
        }
        OpenKind::File(h) => {
            if open.is_dir {
                return Err(Error::Status(NtStatus::INVALID_DEVICE_REQUEST));
            }
            if open.granted_access & (access::FILE_WRITE_DATA | access::FILE_APPEND_DATA) == 0 {
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            // 0xFFFFFFFF_FFFFFFFF with append access means "at end of file" (MS-SMB2 3.3.5.13).
            let offset =
                if r.offset == u64::MAX && open.granted_access & access::FILE_APPEND_DATA != 0 {
                    h.stat().map_err(errno::to_status)?.size
                } else {
                    r.offset
                };
            if offset > i64::MAX as u64
                || offset
                    .checked_add(r.data.len() as u64)
                    .is_none_or(|e| e > i64::MAX as u64)
            {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            // MS-FSA 2.1.5.3: shared locks, and other opens' exclusive ones, block writes.
            req.server.locks.check_write(
                open.file_key,
                open.file_id.volatile,
                offset,
                r.data.len() as u64,
            )?;
            // MS-FSA 2.1.5.3: a write breaks other opens' read caching.
            req.server
                .oplocks
                .break_for_write(open.file_key, open.file_id.volatile);
            let written = if r.data.is_empty() {
                0
            } else if open.stream.is_some() {
                let mut data = super::stream::read_data(&open)?;
                let start = usize::try_from(offset).map_err(|_| NtStatus::DISK_FULL)?;
                let end = start.checked_add(r.data.len()).ok_or(NtStatus::DISK_FULL)?;
                if end > super::stream::MAX_STREAM {
                    return Err(Error::Status(NtStatus::DISK_FULL));
                }
                if data.len() < end {
                    data.resize(end, 0);
                }
                if let Some(dst) = data.get_mut(start..end) {
                    dst.copy_from_slice(r.data);
                }
                super::stream::write_data(&open, &data)?;
                r.data.len()
            } else {
                let _gate = crate::state::lock(&open.write_gate);
                h.write_at(r.data, offset).map_err(errno::to_status)?
            };
            let through = r.flags & WRITEFLAG_WRITE_THROUGH != 0
                || open.mode.load(Ordering::Relaxed) & options::WRITE_THROUGH != 0;
            if through {
                h.sync().map_err(errno::to_status)?;
            }
            open.position
                .store(offset + written as u64, Ordering::Relaxed);
            encode_write_response(out, written as u32);
            Ok(NtStatus::SUCCESS)
        }
    }
}
