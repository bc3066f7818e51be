//! CHANGE_NOTIFY (MS-SMB2 3.3.5.19): validated and answered
//! STATUS_NOT_IMPLEMENTED until change notification is built; never a dropped connection.

use wire::dir::ChangeNotifyRequest;
use wire::NtStatus;

use super::close::lookup_open;
use crate::dispatch::{Error, HandlerResult, Request};

pub fn handle(req: &mut Request<'_>, _out: &mut Vec<u8>) -> HandlerResult {
    let r = ChangeNotifyRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    if !open.is_dir {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    Err(Error::Status(NtStatus::NOT_IMPLEMENTED))
}
