//! File metadata as SMB reports it: DOS attributes and times from stat and
//! the `user.DOSATTRIB` xattr (MS-FSCC 2.6, 2.4.7).

use wire::create::NetworkOpenInfo;
use wire::NtStatus;

use crate::config::ShareConfig;
use crate::errno;
use crate::state::Open;

pub mod attr {
    pub const READONLY: u32 = 0x0000_0001;
    pub const HIDDEN: u32 = 0x0000_0002;
    pub const SYSTEM: u32 = 0x0000_0004;
    pub const DIRECTORY: u32 = 0x0000_0010;
    pub const ARCHIVE: u32 = 0x0000_0020;
    pub const NORMAL: u32 = 0x0000_0080;
    pub const TEMPORARY: u32 = 0x0000_0100;
    pub const SPARSE_FILE: u32 = 0x0000_0200;
    pub const REPARSE_POINT: u32 = 0x0000_0400;
    pub const COMPRESSED: u32 = 0x0000_0800;
    pub const OFFLINE: u32 = 0x0000_1000;
    pub const NOT_CONTENT_INDEXED: u32 = 0x0000_2000;
    pub const ENCRYPTED: u32 = 0x0000_4000;
    pub const INTEGRITY_STREAM: u32 = 0x0000_8000;
    pub const NO_SCRUB_DATA: u32 = 0x0002_0000;
    pub const RECALL_ON_OPEN: u32 = 0x0004_0000;
    pub const PINNED: u32 = 0x0008_0000;
    pub const UNPINNED: u32 = 0x0010_0000;
    pub const RECALL_ON_DATA_ACCESS: u32 = 0x0040_0000;
    /// Bits a client may set and this server keeps (MS-FSA 2.1.5.14.2 lets the
    /// rest be ignored rather than refused, as Windows does for PINNED/UNPINNED).
    pub const SETTABLE: u32 = READONLY
        | HIDDEN
        | SYSTEM
        | ARCHIVE
        | TEMPORARY
        | OFFLINE
        | NOT_CONTENT_INDEXED
        | PINNED
        | UNPINNED;
    /// Every bit defined by MS-FSCC 2.6.
    pub const VALID: u32 = 0x007F_FFB7 | 0x0000_0008;
}

/// What SMB shows of one file.
#[derive(Debug, Clone)]
pub struct FileMeta {
    pub stat: vfs::Stat,
    pub attributes: u32,
    pub creation_time: u64,
}

impl FileMeta {
    pub fn new(
        stat: vfs::Stat,
        dos: Option<vfs::DosAttrib>,
        name: &str,
        share: &ShareConfig,
    ) -> FileMeta {
        let is_dir = stat.is_dir();
        let mut attributes = match &dos {
            Some(d) => d.attributes & !(attr::DIRECTORY | attr::NORMAL),
            None => {
                let mut a = if is_dir { 0 } else { attr::ARCHIVE };
                if stat.mode & 0o200 == 0 && !is_dir {
                    a |= attr::READONLY;
                }
                a
            }
        };
        if is_dir {
            attributes |= attr::DIRECTORY;
        }
        if share.hide_dot_files && name.starts_with('.') && name != "." && name != ".." {
            attributes |= attr::HIDDEN;
        }
        if attributes == 0 {
            attributes = attr::NORMAL;
        }
        let creation_time = dos
            .and_then(|d| d.create_time)
            .or_else(|| stat.btime.map(|t| t.to_nt()))
            .unwrap_or_else(|| stat.mtime.to_nt().min(stat.ctime.to_nt()));
        FileMeta {
            stat,
            attributes,
            creation_time,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.stat.is_dir()
    }

    pub fn end_of_file(&self) -> u64 {
        if self.is_dir() {
            0
        } else {
            self.stat.size
        }
    }

    pub fn allocation_size(&self) -> u64 {
        if self.is_dir() {
            0
        } else {
            self.stat.blocks_bytes
        }
    }

    /// The 64-bit file id (FileInternalInformation) is the inode number.
    pub fn index_number(&self) -> u64 {
        self.stat.ino
    }

    pub fn network_open_info(&self) -> NetworkOpenInfo {
        NetworkOpenInfo {
            creation_time: self.creation_time,
            last_access_time: self.stat.atime.to_nt(),
            last_write_time: self.stat.mtime.to_nt(),
            change_time: self.stat.ctime.to_nt().max(self.stat.mtime.to_nt()),
            allocation_size: self.allocation_size(),
            end_of_file: self.end_of_file(),
            file_attributes: self.attributes,
        }
    }
}

/// Current metadata of an open file.
pub fn open_meta(open: &Open) -> Result<FileMeta, NtStatus> {
    let handle = open.handle().ok_or(NtStatus::INVALID_DEVICE_REQUEST)?;
    let share = open.tree.share().ok_or(NtStatus::INVALID_DEVICE_REQUEST)?;
    let stat = handle.stat().map_err(errno::to_status)?;
    let dos = handle.dos_attrib().ok().flatten();
    let path = open.path();
    let name = crate::path::file_name(&path);
    Ok(FileMeta::new(stat, dos, name, &share.config))
}
