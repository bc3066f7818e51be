//! wkssvc, the Workstation Service Remote Protocol (MS-WKST): NetrWkstaGetInfo (opnum 0,
//! MS-WKST 3.2.4.1) levels 100, 101 and 102, which clients use to learn the server's
//! computer name and workgroup.

use crate::ndr::{NdrReader, NdrWriter};
use crate::pdu::NCA_S_OP_RNG_ERROR;
use crate::srvsvc::{PLATFORM_ID_NT, VERSION_MAJOR, VERSION_MINOR, WERR_INVALID_LEVEL};
use crate::{Fault, ServerInfo};

const OP_NETR_WKSTA_GET_INFO: u16 = 0;

/// Dispatches one wkssvc call.
pub(crate) fn call(opnum: u16, stub: &[u8], info: &ServerInfo) -> Result<Vec<u8>, Fault> {
    match opnum {
        OP_NETR_WKSTA_GET_INFO => wksta_get_info(stub, info),
        _ => Err(Fault(NCA_S_OP_RNG_ERROR)),
    }
}

/// NetrWkstaGetInfo with WKSTA_INFO_100/101/102 (MS-WKST 2.2.5.1-2.2.5.3).
fn wksta_get_info(stub: &[u8], info: &ServerInfo) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let _server = r.unique_wstring()?;
    let level = r.u32()?;

    let mut w = NdrWriter::new();
    w.u32(level); // union discriminant of the [out] LPWKSTA_INFO
    if !matches!(level, 100..=102) {
        w.null_pointer();
        w.u32(WERR_INVALID_LEVEL);
        return Ok(w.into_bytes());
    }
    w.pointer();
    w.u32(PLATFORM_ID_NT);
    w.pointer(); // wki*_computername
    w.pointer(); // wki*_langroup
    w.u32(VERSION_MAJOR);
    w.u32(VERSION_MINOR);
    if level >= 101 {
        w.pointer(); // wki*_lanroot
    }
    if level == 102 {
        w.u32(1); // wki102_logged_on_users: the caller
    }
    w.wstring(&info.netbios_name);
    w.wstring(&info.workgroup);
    if level >= 101 {
        w.wstring(""); // no LAN Manager root directory, as Samba answers
    }
    w.u32(0);
    Ok(w.into_bytes())
}
