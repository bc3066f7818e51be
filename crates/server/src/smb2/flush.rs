//! FLUSH (MS-SMB2 3.3.5.11): a real fsync.

use wire::create::access;
use wire::flush::FlushRequest;
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::errno;

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = FlushRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    if open.granted_access & (access::FILE_WRITE_DATA | access::FILE_APPEND_DATA) == 0 {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    if let Some(h) = open.handle() {
        h.sync().map_err(errno::to_status)?;
    }
    wire::echo::encode_empty_response(out);
    Ok(NtStatus::SUCCESS)
}
