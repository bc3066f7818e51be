//! QUERY_DIRECTORY (MS-SMB2 3.3.5.18, MS-FSA 2.1.5.6): a cursor per open
//! streams the directory (no re-reading per call), filtered by the Windows
//! wildcard pattern; entries encoded in the MS-FSCC 2.4 classes.

use wire::create::access;
use wire::dir::{
    encode_buffer_response, QueryDirectoryRequest, REOPEN, RESTART_SCANS, RETURN_SINGLE_ENTRY,
};
use wire::writer::utf16_len;
use wire::{NtStatus, Writer};

use super::close::lookup_open;
use super::fileinfo::FileMeta;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::errno;
use crate::state::{lock, DirState};

pub const FILE_DIRECTORY_INFORMATION: u8 = 1;
pub const FILE_FULL_DIRECTORY_INFORMATION: u8 = 2;
pub const FILE_BOTH_DIRECTORY_INFORMATION: u8 = 3;
pub const FILE_NAMES_INFORMATION: u8 = 12;
pub const FILE_ID_BOTH_DIRECTORY_INFORMATION: u8 = 37;
pub const FILE_ID_FULL_DIRECTORY_INFORMATION: u8 = 38;

/// One directory entry ready to encode.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub meta: FileMeta,
}

/// Fixed size of an entry of each class before its FileName.
fn fixed_len(class: u8) -> Option<usize> {
    Some(match class {
        FILE_DIRECTORY_INFORMATION => 64,
        FILE_FULL_DIRECTORY_INFORMATION => 68,
        FILE_BOTH_DIRECTORY_INFORMATION => 94,
        FILE_NAMES_INFORMATION => 12,
        FILE_ID_BOTH_DIRECTORY_INFORMATION => 104,
        FILE_ID_FULL_DIRECTORY_INFORMATION => 80,
        _ => return None,
    })
}

fn encode_entry(w: &mut Writer<'_>, class: u8, e: &Entry) {
    let name_len = utf16_len(&e.name) as u32;
    let i = e.meta.network_open_info();
    w.u32(0); // NextEntryOffset, patched by the caller
    w.u32(0); // FileIndex
    if class == FILE_NAMES_INFORMATION {
        w.u32(name_len);
        w.utf16(&e.name);
        return;
    }
    i.write_times(w);
    w.u64(i.end_of_file);
    w.u64(i.allocation_size);
    w.u32(i.file_attributes);
    w.u32(name_len);
    match class {
        FILE_DIRECTORY_INFORMATION => {}
        FILE_FULL_DIRECTORY_INFORMATION => w.u32(0),
        FILE_ID_FULL_DIRECTORY_INFORMATION => {
            w.u32(0);
            w.u32(0);
            w.u64(e.meta.index_number());
        }
        FILE_BOTH_DIRECTORY_INFORMATION | FILE_ID_BOTH_DIRECTORY_INFORMATION => {
            w.u32(0); // EaSize
            w.u8(0); // ShortNameLength: no 8.3 names
            w.u8(0);
            w.zeros(24);
            if class == FILE_ID_BOTH_DIRECTORY_INFORMATION {
                w.u16(0);
                w.u64(e.meta.index_number());
            }
        }
        _ => {}
    }
    w.utf16(&e.name);
}

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = QueryDirectoryRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    let Some(handle) = open.handle() else {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    };
    if !open.is_dir {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    if open.granted_access & access::FILE_LIST_DIRECTORY == 0 {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    let fixed = fixed_len(r.info_class).ok_or(Error::Status(NtStatus::INVALID_INFO_CLASS))?;
    let n = req.conn.limits().ok_or(Error::Disconnect)?;
    if r.output_buffer_length > n.max_trans {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let max = r.output_buffer_length as usize;
    let share = open
        .tree
        .share()
        .ok_or(Error::Status(NtStatus::INVALID_PARAMETER))?
        .clone();
    let mut guard = lock(&open.dir);
    // FileIndex is ignored (INDEX_SPECIFIED continues the scan), as Samba and NTFS do.
    let restart = r.flags & (RESTART_SCANS | REOPEN) != 0 || guard.is_none();
    if restart {
        let pattern = if r.pattern.is_empty() {
            "*".to_string()
        } else {
            r.pattern.clone()
        };
        if pattern.contains('\\') || pattern.contains('/') {
            return Err(Error::Status(NtStatus::OBJECT_NAME_INVALID));
        }
        let mut cursor = handle.read_dir().map_err(errno::to_status)?;
        cursor.rewind().map_err(errno::to_status)?;
        *guard = Some(DirState {
            pattern,
            cursor,
            dots_left: 2,
            pending: None,
            finished: false,
            any_returned: false,
        });
    }
    let Some(st) = guard.as_mut() else {
        return Err(Error::Status(NtStatus::INTERNAL_ERROR));
    };
    let single = r.flags & RETURN_SINGLE_ENTRY != 0;
    let mut data: Vec<u8> = Vec::with_capacity(max.min(64 * 1024));
    let mut last_entry: Option<usize> = None;
    let mut count = 0usize;
    while let Some(entry) = next_entry(st, handle, &share)? {
        // Entries are 8-byte aligned (MS-FSCC 2.4).
        let start = data.len().div_ceil(8) * 8;
        let need = start + fixed + utf16_len(&entry.name);
        if need > max {
            st.pending = Some(entry);
            if count == 0 {
                return Err(Error::Status(if max < fixed {
                    NtStatus::INFO_LENGTH_MISMATCH
                } else {
                    NtStatus::BUFFER_OVERFLOW
                }));
            }
            break;
        }
        data.resize(start, 0);
        if let Some(prev) = last_entry {
            let next = (start - prev) as u32;
            if let Some(s) = data.get_mut(prev..prev + 4) {
                s.copy_from_slice(&next.to_le_bytes());
            }
        }
        encode_entry(&mut Writer::new(&mut data), r.info_class, &entry);
        last_entry = Some(start);
        count += 1;
        if single {
            break;
        }
    }
    if count == 0 {
        let status = if st.any_returned {
            NtStatus::NO_MORE_FILES
        } else {
            NtStatus::NO_SUCH_FILE
        };
        st.any_returned = true;
        return Err(Error::Status(status));
    }
    st.any_returned = true;
    encode_buffer_response(out, &data);
    Ok(NtStatus::SUCCESS)
}

/// The next entry matching the pattern, or None at the end.
fn next_entry(
    st: &mut DirState,
    dir: &vfs::Handle,
    share: &crate::state::ShareEntry,
) -> Result<Option<Entry>, Error> {
    if let Some(e) = st.pending.take() {
        return Ok(Some(e));
    }
    while st.dots_left > 0 {
        let name = if st.dots_left == 2 { "." } else { ".." };
        st.dots_left -= 1;
        if vfs::wildcard_match(&st.pattern, name) {
            let stat = dir.stat().map_err(errno::to_status)?;
            let dos = dir.dos_attrib().ok().flatten();
            return Ok(Some(Entry {
                name: name.to_string(),
                meta: FileMeta::new(stat, dos, name, &share.config),
            }));
        }
    }
    if st.finished {
        return Ok(None);
    }
    let literal = !st.pattern.contains(['*', '?', '<', '>', '"']);
    loop {
        let Some(de) = st.cursor.next_entry().map_err(errno::to_status)? else {
            st.finished = true;
            return Ok(None);
        };
        if !vfs::wildcard_match(&st.pattern, &de.name) {
            continue;
        }
        if !share.config.veto_files.is_empty()
            && share
                .config
                .veto_files
                .iter()
                .any(|p| vfs::wildcard_match(p, &de.name))
        {
            continue;
        }
        let stat = match dir.stat_at(&de.name) {
            Ok(s) => s,
            // Raced with a delete, or a symlink pointing outside the share: skip it.
            Err(_) => continue,
        };
        let dos = dir.dos_attrib_at(&de.name).ok().flatten();
        if literal {
            st.finished = true;
        }
        let meta = FileMeta::new(stat, dos, &de.name, &share.config);
        return Ok(Some(Entry {
            name: de.name,
            meta,
        }));
    }
}
