//! Named streams (MS-FSCC 2.1.5.3, MS-FSA 2.1.5.1): `file:name:$DATA` opens,
//! their data kept in the `user.DosStream.NAME:$DATA` xattr as Samba's
//! streams_xattr does. A stream is small (an xattr), read and rewritten whole.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use wire::create::{action, disposition, options, CreateRequest, FileId, NetworkOpenInfo};
use wire::NtStatus;

use super::create::{register, Opened};
use super::fileinfo::{attr, FileMeta};
use crate::dispatch::{Error, Request};
use crate::errno;
use crate::state::{Open, OpenKind, ShareEntry, TreeConnect};

/// Largest stream this server keeps (the kernel's xattr value limit, less the NUL).
pub const MAX_STREAM: usize = 65535;

/// The share-mode key of a stream: the file's key with the stream name mixed in.
pub fn stream_key(dev: u64, ino: u64, name: &str) -> (u64, u64) {
    let h = u64::from(crate::util::fnv32(name.to_lowercase().as_bytes()));
    (dev ^ (0x8000_0000_0000_0000 | (h << 20)), ino)
}

/// The stream's name as stored, looked up case-insensitively.
pub fn find(h: &vfs::Handle, name: &str) -> Result<Option<String>, NtStatus> {
    let names = h.stream_names().map_err(errno::to_status)?;
    Ok(names
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(name) || n.to_lowercase() == name.to_lowercase()))
}

/// Data of an open stream.
pub fn read_data(open: &Open) -> Result<Vec<u8>, NtStatus> {
    let (Some(h), Some(s)) = (open.handle(), &open.stream) else {
        return Err(NtStatus::INVALID_PARAMETER);
    };
    Ok(h.stream_read(s)
        .map_err(errno::to_status)?
        .unwrap_or_default())
}

/// Replaces the data of an open stream.
pub fn write_data(open: &Open, data: &[u8]) -> Result<(), NtStatus> {
    let (Some(h), Some(s)) = (open.handle(), &open.stream) else {
        return Err(NtStatus::INVALID_PARAMETER);
    };
    if data.len() > MAX_STREAM {
        return Err(NtStatus::DISK_FULL);
    }
    h.stream_write(s, data).map_err(|e| match e {
        vfs::Errno::NOSPC | vfs::Errno::TOOBIG | vfs::Errno::RANGE => NtStatus::DISK_FULL,
        vfs::Errno::NOTSUP => NtStatus::NOT_SUPPORTED,
        other => errno::to_status(other),
    })
}

#[allow(clippy::too_many_arguments)]
pub fn open_stream(
    req: &Request<'_>,
    tree: &Arc<TreeConnect>,
    share: &Arc<ShareEntry>,
    rel: String,
    base_exists: bool,
    stream: String,
    r: &CreateRequest<'_>,
    desired: u32,
    eas: Option<Vec<wire::ea::Ea>>,
) -> Result<Opened, Error> {
    let fs = &share.fs;
    let opts = r.create_options;
    let disp = r.create_disposition;
    if opts & options::DIRECTORY_FILE != 0 {
        // A stream is never a directory.
        return Err(Error::Status(NtStatus::NOT_A_DIRECTORY));
    }
    if !fs.supports_xattrs() {
        return Err(Error::Status(NtStatus::OBJECT_NAME_INVALID));
    }
    let creating = !matches!(disp, disposition::OPEN | disposition::OVERWRITE);
    // The base file is created first when the stream may be created (MS-FSA 2.1.5.1).
    let base_created = if !base_exists {
        if !creating {
            return Err(Error::Status(NtStatus::OBJECT_NAME_NOT_FOUND));
        }
        if !tree.writable {
            return Err(Error::Status(NtStatus::ACCESS_DENIED));
        }
        let h = fs
            .open(
                &rel,
                &vfs::OpenHow {
                    read: true,
                    write: true,
                    create: vfs::CreateMode::CreateNew,
                    mode: share.config.create_mask,
                    directory: Some(false),
                },
            )
            .map_err(errno::to_status)?;
        let _ = h.set_dos_attrib(&vfs::DosAttrib {
            attributes: attr::ARCHIVE,
            create_time: Some(crate::util::nt_now()),
        });
        true
    } else {
        false
    };
    let handle = fs
        .open(
            &rel,
            &vfs::OpenHow {
                read: true,
                write: false,
                create: vfs::CreateMode::OpenExisting,
                mode: 0,
                directory: None,
            },
        )
        .map_err(errno::to_status)?;
    let existing = find(&handle, &stream)?;
    let (name, create_action) = match existing {
        Some(n) => {
            if disp == disposition::CREATE {
                return Err(Error::Status(NtStatus::OBJECT_NAME_COLLISION));
            }
            let overwrite = matches!(
                disp,
                disposition::OVERWRITE | disposition::OVERWRITE_IF | disposition::SUPERSEDE
            );
            if overwrite {
                if !tree.writable {
                    return Err(Error::Status(NtStatus::ACCESS_DENIED));
                }
                handle.stream_write(&n, &[]).map_err(errno::to_status)?;
                (
                    n,
                    if disp == disposition::SUPERSEDE {
                        action::SUPERSEDED
                    } else {
                        action::OVERWRITTEN
                    },
                )
            } else {
                (n, action::OPENED)
            }
        }
        None => {
            if !creating {
                return Err(Error::Status(NtStatus::OBJECT_NAME_NOT_FOUND));
            }
            if !tree.writable {
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            handle.stream_write(&stream, &[]).map_err(|e| match e {
                vfs::Errno::NOTSUP => NtStatus::OBJECT_NAME_INVALID,
                other => errno::to_status(other),
            })?;
            (stream, action::CREATED)
        }
    };
    if let Some(eas) = &eas {
        if base_created {
            super::ea::apply(&handle, eas)?;
        }
    }
    let stat = handle.stat().map_err(errno::to_status)?;
    let key = stream_key(stat.dev, stat.ino, &name);
    let id = req.server.new_file_id();
    req.server.files.add(key, id, desired, r.share_access)?;
    let size = handle
        .stream_read(&name)
        .ok()
        .flatten()
        .map(|d| d.len())
        .unwrap_or(0) as u64;
    let dos = handle.dos_attrib().ok().flatten();
    let meta = FileMeta::new(stat, dos, crate::path::file_name(&rel), &share.config);
    let mut info: NetworkOpenInfo = meta.network_open_info();
    info.end_of_file = size;
    info.allocation_size = size.div_ceil(4096) * 4096;
    info.file_attributes &= !attr::DIRECTORY;
    if info.file_attributes == 0 {
        info.file_attributes = attr::NORMAL;
    }
    let open = Open {
        file_id: FileId {
            persistent: id,
            volatile: id,
        },
        session_id: req.session()?.id,
        tree: tree.clone(),
        is_dir: false,
        file_key: key,
        kind: OpenKind::File(handle),
        granted_access: desired,
        share_access: r.share_access,
        path: Mutex::new(rel),
        stream: Some(name),
        delete_on_close: AtomicBool::new(opts & options::DELETE_ON_CLOSE != 0),
        position: AtomicU64::new(0),
        mode: AtomicU32::new(0),
        dir: Mutex::new(None),
        closed: AtomicBool::new(false),
        write_gate: std::sync::Mutex::new(()),
    };
    let open = register(req, open)?;
    Ok((open, create_action, info))
}
