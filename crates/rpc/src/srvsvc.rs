//! srvsvc, the Server Service Remote Protocol (MS-SRVS): share enumeration and share and
//! server information, which `smbclient -L`, `net rpc share` and Explorer use.
//!
//! Served: NetrShareEnum (opnum 15, MS-SRVS 3.1.4.8) levels 0, 1, 2; NetrShareGetInfo
//! (16, 3.1.4.10) levels 0, 1, 2, 501, 1005; NetrServerGetInfo (21, 3.1.4.17) levels 100,
//! 101, 102. Results are Win32 error codes (WERROR), not faults.

use crate::ndr::{NdrReader, NdrWriter};
use crate::pdu::{FAULT_NDR, NCA_S_OP_RNG_ERROR};
use crate::{Fault, ServerInfo, ShareInfo, ShareType};

const OP_NETR_SHARE_ENUM: u16 = 15;
const OP_NETR_SHARE_GET_INFO: u16 = 16;
const OP_NETR_SERVER_GET_INFO: u16 = 21;

const WERR_OK: u32 = 0;
/// ERROR_INVALID_LEVEL (MS-ERREF 2.2).
pub(crate) const WERR_INVALID_LEVEL: u32 = 124;
/// NERR_NetNameNotFound (MS-SRVS 3.1.4.10).
const NERR_NET_NAME_NOT_FOUND: u32 = 0x906;

// Share types (MS-SRVS 2.2.2.4).
const STYPE_DISKTREE: u32 = 0;
const STYPE_IPC: u32 = 3;
/// Set on administrative / hidden (`$`-suffixed) shares, as Windows and Samba report them.
const STYPE_SPECIAL: u32 = 0x8000_0000;
/// SHI_USES_UNLIMITED (MS-SRVS 2.2.4.24).
const SHI_USES_UNLIMITED: u32 = 0xffff_ffff;

/// PLATFORM_ID_NT (MS-SRVS 2.2.2.6).
pub(crate) const PLATFORM_ID_NT: u32 = 500;
/// Version we announce, as Windows 7 / Server 2008 R2 and Samba do.
pub(crate) const VERSION_MAJOR: u32 = 6;
pub(crate) const VERSION_MINOR: u32 = 1;
/// SV_TYPE_WORKSTATION | SV_TYPE_SERVER | SV_TYPE_SERVER_UNIX | SV_TYPE_NT |
/// SV_TYPE_SERVER_NT (MS-SRVS 2.2.2.7).
const SERVER_TYPE: u32 = 0x0000_0001 | 0x0000_0002 | 0x0000_0800 | 0x0000_1000 | 0x0000_8000;

/// Dispatches one srvsvc call; `stub` is the request's NDR data.
pub(crate) fn call(opnum: u16, stub: &[u8], info: &ServerInfo) -> Result<Vec<u8>, Fault> {
    match opnum {
        OP_NETR_SHARE_ENUM => share_enum(stub, info),
        OP_NETR_SHARE_GET_INFO => share_get_info(stub, info),
        OP_NETR_SERVER_GET_INFO => server_get_info(stub, info),
        _ => Err(Fault(NCA_S_OP_RNG_ERROR)),
    }
}

/// The shi*_type value of a share (MS-SRVS 2.2.2.4).
fn share_type(s: &ShareInfo) -> u32 {
    let base = match s.share_type {
        ShareType::Disk => STYPE_DISKTREE,
        ShareType::Ipc => STYPE_IPC,
    };
    if s.name.ends_with('$') {
        base | STYPE_SPECIAL
    } else {
        base
    }
}

/// The path as Samba shows it: `/srv/data` becomes `C:\srv\data`.
fn display_path(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    let mut b = path.chars();
    let drive = matches!((b.next(), b.next()), (Some(c), Some(':')) if c.is_ascii_alphabetic());
    if drive {
        path.to_string()
    } else {
        format!("C:{}", path.replace('/', "\\"))
    }
}

/// Scalars of a SHARE_INFO_0/1/2/501 structure (MS-SRVS 2.2.4.22, .23, .24, .27); its
/// strings follow in [`share_deferred`].
fn share_scalars(w: &mut NdrWriter, level: u32, s: &ShareInfo) {
    w.pointer(); // shi*_netname
    if level == 0 {
        return;
    }
    w.u32(share_type(s));
    w.pointer(); // shi*_remark
    match level {
        2 => {
            w.u32(0); // shi2_permissions: meaningless outside share-level security
            w.u32(SHI_USES_UNLIMITED);
            w.u32(0); // shi2_current_uses
            w.pointer(); // shi2_path
            w.null_pointer(); // shi2_passwd
        }
        501 => w.u32(0), // shi501_flags: no client-side caching policy
        _ => {}
    }
}

fn share_deferred(w: &mut NdrWriter, level: u32, s: &ShareInfo) {
    w.wstring(&s.name);
    if level == 0 {
        return;
    }
    w.wstring(&s.comment);
    if level == 2 {
        w.wstring(&display_path(&s.path));
    }
}

/// NetrShareEnum (MS-SRVS 3.1.4.8; Samba calls it NetShareEnumAll).
fn share_enum(stub: &[u8], info: &ServerInfo) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let _server = r.unique_wstring()?;
    // LPSHARE_ENUM_STRUCT (ref): Level, then the SHARE_ENUM_UNION with its discriminant.
    let level = r.u32()?;
    if r.u32()? != level {
        return Err(Fault(FAULT_NDR));
    }
    // A client may send a container with entries (it never needs to); then the trailing
    // parameters cannot be located without decoding them, and the resume handle is
    // assumed present, which is what every known client sends.
    let mut tail_known = true;
    if r.pointer()? {
        let _entries = r.u32()?;
        tail_known = !r.pointer()?;
    }
    let mut resume = true;
    if tail_known {
        let _preferred_max = r.u32()?;
        resume = r.pointer()?;
        if resume {
            let _ = r.u32()?;
        }
    }

    let mut w = NdrWriter::new();
    w.u32(level);
    w.u32(level);
    let shares = &info.shares;
    let (total, status) = if matches!(level, 0..=2) {
        w.pointer(); // SHARE_INFO_n_CONTAINER
        let n = u32::try_from(shares.len()).unwrap_or(u32::MAX);
        w.u32(n);
        w.pointer_if(!shares.is_empty());
        if !shares.is_empty() {
            w.u32(n); // conformant array: max count
            for s in shares {
                share_scalars(&mut w, level, s);
            }
            for s in shares {
                share_deferred(&mut w, level, s);
            }
        }
        (n, WERR_OK)
    } else {
        w.null_pointer();
        (0, WERR_INVALID_LEVEL)
    };
    w.u32(total);
    // Everything fits in one answer, so the resume handle goes back as 0.
    if resume {
        w.pointer();
        w.u32(0);
    } else {
        w.null_pointer();
    }
    w.u32(status);
    Ok(w.into_bytes())
}

/// NetrShareGetInfo (MS-SRVS 3.1.4.10).
fn share_get_info(stub: &[u8], info: &ServerInfo) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let _server = r.unique_wstring()?;
    let net_name = r.wstring()?;
    let level = r.u32()?;

    let mut w = NdrWriter::new();
    w.u32(level); // union discriminant of the [out] LPSHARE_INFO
    let known = matches!(level, 0 | 1 | 2 | 501 | 1005);
    let share = info
        .shares
        .iter()
        .find(|s| s.name.to_lowercase() == net_name.to_lowercase());
    let status = match (known, share) {
        (false, _) => WERR_INVALID_LEVEL,
        (true, None) => NERR_NET_NAME_NOT_FOUND,
        (true, Some(s)) => {
            w.pointer();
            if level == 1005 {
                w.u32(0); // shi1005_flags (MS-SRVS 2.2.4.29): no special behaviour
            } else {
                share_scalars(&mut w, level, s);
                share_deferred(&mut w, level, s);
            }
            WERR_OK
        }
    };
    if status != WERR_OK {
        w.null_pointer();
    }
    w.u32(status);
    Ok(w.into_bytes())
}

/// NetrServerGetInfo (MS-SRVS 3.1.4.17) with SERVER_INFO_100/101/102 (2.2.4.40-42).
fn server_get_info(stub: &[u8], info: &ServerInfo) -> Result<Vec<u8>, Fault> {
    let mut r = NdrReader::new(stub);
    let _server = r.unique_wstring()?;
    let level = r.u32()?;

    let mut w = NdrWriter::new();
    w.u32(level);
    if !matches!(level, 100..=102) {
        w.null_pointer();
        w.u32(WERR_INVALID_LEVEL);
        return Ok(w.into_bytes());
    }
    w.pointer();
    w.u32(PLATFORM_ID_NT);
    w.pointer(); // sv*_name
    if level >= 101 {
        w.u32(VERSION_MAJOR);
        w.u32(VERSION_MINOR);
        w.u32(SERVER_TYPE);
        w.pointer(); // sv*_comment
    }
    if level == 102 {
        w.u32(0xffff_ffff); // sv102_users: no limit
        w.u32(0xffff_fffe); // sv102_disc: SV_NODISC-like, never auto-disconnect
        w.u32(0); // sv102_hidden: SV_VISIBLE
        w.u32(240); // sv102_announce (seconds)
        w.u32(3000); // sv102_anndelta (milliseconds)
        w.u32(0); // sv102_licenses
        w.pointer(); // sv102_userpath
    }
    w.wstring(&info.netbios_name);
    if level >= 101 {
        w.wstring(&info.server_string);
    }
    if level == 102 {
        w.wstring("C:\\");
    }
    w.u32(WERR_OK);
    Ok(w.into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn share_type_values() {
        let ipc = ShareInfo {
            name: "IPC$".into(),
            comment: String::new(),
            share_type: ShareType::Ipc,
            path: String::new(),
        };
        assert_eq!(share_type(&ipc), 0x8000_0003);
        let mut disk = ipc.clone();
        disk.share_type = ShareType::Disk;
        disk.name = "data".into();
        assert_eq!(share_type(&disk), 0);
        disk.name = "C$".into();
        assert_eq!(share_type(&disk), 0x8000_0000);
    }

    #[test]
    fn paths_shown_as_samba_does() {
        assert_eq!(display_path("/srv/data"), "C:\\srv\\data");
        assert_eq!(display_path("D:\\x"), "D:\\x");
        assert_eq!(display_path(""), "");
    }
}
