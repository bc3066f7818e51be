//! errno to NTSTATUS, in one place (what Windows returns for the same
//! condition; MS-ERREF 2.3.1).

use vfs::Errno;
use wire::NtStatus;

pub fn to_status(e: Errno) -> NtStatus {
    match e {
        Errno::NOENT => NtStatus::OBJECT_NAME_NOT_FOUND,
        Errno::NOTDIR => NtStatus::OBJECT_PATH_NOT_FOUND,
        Errno::EXIST => NtStatus::OBJECT_NAME_COLLISION,
        Errno::NOTEMPTY => NtStatus::DIRECTORY_NOT_EMPTY,
        Errno::ACCESS | Errno::PERM => NtStatus::ACCESS_DENIED,
        Errno::NOSPC => NtStatus::DISK_FULL,
        Errno::DQUOT => NtStatus::DISK_FULL,
        Errno::ROFS => NtStatus::MEDIA_WRITE_PROTECTED,
        Errno::NAMETOOLONG => NtStatus::OBJECT_NAME_INVALID,
        Errno::BUSY => NtStatus::SHARING_VIOLATION,
        Errno::ISDIR => NtStatus::FILE_IS_A_DIRECTORY,
        Errno::XDEV => NtStatus::ACCESS_DENIED,
        Errno::LOOP => NtStatus::OBJECT_PATH_NOT_FOUND,
        Errno::INVAL => NtStatus::INVALID_PARAMETER,
        Errno::NOMEM => NtStatus::NO_MEMORY,
        Errno::MFILE | Errno::NFILE => NtStatus::TOO_MANY_OPENED_FILES,
        Errno::FBIG => NtStatus::DISK_FULL,
        Errno::MLINK => NtStatus::TOO_MANY_LINKS,
        Errno::TXTBSY => NtStatus::SHARING_VIOLATION,
        Errno::BADF => NtStatus::INVALID_HANDLE,
        Errno::OPNOTSUPP => NtStatus::NOT_SUPPORTED,
        Errno::NODATA => NtStatus::NOT_FOUND,
        Errno::IO => NtStatus::IO_DEVICE_ERROR,
        Errno::AGAIN => NtStatus::INSUFFICIENT_RESOURCES,
        _ => NtStatus::UNSUCCESSFUL,
    }
}

/// For a failed lookup of a path: a missing parent is "path not found".
pub fn path_status(e: Errno) -> NtStatus {
    match e {
        Errno::NOENT | Errno::NOTDIR => NtStatus::OBJECT_PATH_NOT_FOUND,
        other => to_status(other),
    }
}
