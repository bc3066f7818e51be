//! Extended attributes (MS-FSCC 2.4.15) kept as `user.NAME` xattrs, the way
//! Samba stores them, shared by QUERY_INFO, SET_INFO and the CREATE ExtA context.

use wire::ea::{encode_full_ea_list, Ea};
use wire::NtStatus;

use crate::errno;

/// Every EA of a file, in the order the filesystem lists them.
pub fn read_all(h: &vfs::Handle) -> Result<Vec<Ea>, NtStatus> {
    let names = h.ea_names().map_err(errno::to_status)?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if let Some(value) = h.ea_get(&name).map_err(errno::to_status)? {
            out.push(Ea {
                flags: 0,
                name,
                value,
            });
        }
    }
    Ok(out)
}

/// FileEaInformation.EaSize: the size of the full EA list, 0 when there is none.
pub fn ea_size(h: &vfs::Handle) -> u32 {
    match read_all(h) {
        Ok(eas) if !eas.is_empty() => {
            let mut b = Vec::new();
            encode_full_ea_list(&mut b, &eas);
            b.len() as u32
        }
        _ => 0,
    }
}

/// Sets (or, with an empty value, removes) each EA.
pub fn apply(h: &vfs::Handle, eas: &[Ea]) -> Result<(), NtStatus> {
    for ea in eas {
        h.ea_set(&ea.name, &ea.value).map_err(|e| match e {
            vfs::Errno::NOTSUP => NtStatus::EAS_NOT_SUPPORTED,
            vfs::Errno::NOSPC | vfs::Errno::TOOBIG | vfs::Errno::RANGE => NtStatus::EA_TOO_LARGE,
            other => errno::to_status(other),
        })?;
    }
    Ok(())
}
