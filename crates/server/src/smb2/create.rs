//! CREATE (MS-SMB2 3.3.5.9, MS-FSA 2.1.5.1): validates the request, resolves
//! the name case-insensitively beneath the share root, applies the
//! disposition, checks access and share modes, and records the Open.
//! Named pipes on IPC$ open an RPC endpoint instead.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use wire::create::{
    access, action, disposition, options, CreateRequest, CreateResponse, FileId, NetworkOpenInfo,
};
use wire::NtStatus;

use super::fileinfo::{attr, FileMeta};
use crate::dispatch::{Error, HandlerResult, Request};
use crate::state::{lock, Open, OpenKind, ShareEntry, TreeConnect, TreeKind};
use crate::{errno, oplock, path};
use wire::oplock_break::LeaseContext;

/// MS-DTYP 2.4.3 / MS-SMB2 2.2.13.1: the GENERIC_* bits in terms of file rights.
pub fn map_generic(mut a: u32) -> u32 {
    if a & access::GENERIC_READ != 0 {
        a |= access::FILE_GENERIC_READ;
    }
    if a & access::GENERIC_WRITE != 0 {
        a |= access::FILE_GENERIC_WRITE;
    }
    if a & access::GENERIC_EXECUTE != 0 {
        a |= access::FILE_GENERIC_EXECUTE;
    }
    if a & access::GENERIC_ALL != 0 {
        a |= access::FILE_ALL_ACCESS;
    }
    a & !(access::GENERIC_READ
        | access::GENERIC_WRITE
        | access::GENERIC_EXECUTE
        | access::GENERIC_ALL)
}

/// Bits of DesiredAccess MS-SMB2 2.2.13.1 leaves reserved.
const RESERVED_ACCESS: u32 = 0x0CE0_FE00;
/// CreateOptions bits this server refuses (3.3.5.9).
const UNSUPPORTED_OPTIONS: u32 = options::RESERVE_OPFILTER;

fn validate(r: &CreateRequest<'_>) -> Result<(), NtStatus> {
    if r.impersonation_level > 3 {
        return Err(NtStatus::BAD_IMPERSONATION_LEVEL);
    }
    if r.create_disposition > disposition::OVERWRITE_IF {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if r.create_options & options::DIRECTORY_FILE != 0
        && r.create_options & options::NON_DIRECTORY_FILE != 0
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if r.create_options & UNSUPPORTED_OPTIONS != 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    if r.create_options & 0xFF00_0000 != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if r.desired_access & RESERVED_ACCESS != 0 {
        return Err(NtStatus::ACCESS_DENIED);
    }
    // MS-FSA 2.1.5.1: a directory cannot be created temporary.
    if r.file_attributes & attr::TEMPORARY != 0 && r.create_options & options::DIRECTORY_FILE != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if r.file_attributes & !attr::VALID != 0
        || r.file_attributes & attr::DIRECTORY != 0
            && r.create_options & options::NON_DIRECTORY_FILE != 0
    {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if r.create_options & options::OPEN_BY_FILE_ID != 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    Ok(())
}

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = CreateRequest::parse(req.msg)?;
    validate(&r)?;
    let tree = req.tree()?.clone();
    let name = r.name_string().map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
    let requested = requested_caching(req, &r);
    let opened = match &tree.kind {
        TreeKind::Ipc => open_pipe(req, &tree, &name, &r)?,
        TreeKind::Disk(share) => {
            match open_disk_retrying(req, &tree, share, &name, &r, &requested)? {
                Some(o) => o,
                // Waiting for an oplock or lease break: the interim response goes out.
                None => return Ok(NtStatus::PENDING),
            }
        }
    };
    let (open, create_action, info) = opened;
    let granted = match &tree.kind {
        TreeKind::Disk(_) => grant_caching(req, &open, requested),
        TreeKind::Ipc => oplock::Granted::default(),
    };
    let mut contexts: Vec<(&[u8], Vec<u8>)> = Vec::new();
    if let Some(lease) = &granted.lease {
        // MS-SMB2 2.2.14.2.10 / 2.2.14.2.11.
        let mut d = Vec::with_capacity(52);
        lease.encode(&mut d);
        contexts.push((b"RqLs", d));
    }
    if r.context(b"MxAc").is_some() {
        // MS-SMB2 2.2.14.2.5: QueryStatus, MaximalAccess.
        let mut d = Vec::with_capacity(8);
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&maximal_access(&tree, info.file_attributes).to_le_bytes());
        contexts.push((b"MxAc", d));
    }
    if r.context(b"QFid").is_some() {
        if let Some(share) = tree.share() {
            // MS-SMB2 2.2.14.2.9: DiskFileId (inode, device) and VolumeId.
            let mut d = Vec::with_capacity(32);
            d.extend_from_slice(&open.file_key.1.to_le_bytes());
            d.extend_from_slice(&open.file_key.0.to_le_bytes());
            d.extend_from_slice(&u64::from(share.volume_serial).to_le_bytes());
            d.extend_from_slice(&[0u8; 8]);
            contexts.push((b"QFid", d));
        }
    }
    CreateResponse {
        oplock_level: granted.oplock_level,
        flags: 0,
        create_action,
        info,
        file_id: open.file_id,
        contexts: &contexts,
    }
    .encode(out, 0);
    req.created_file_id = Some(open.file_id);
    if create_action == action::CREATED && open.stream.is_none() {
        if let Some(share) = tree.share() {
            let path = open.path();
            req.server.notify.report(
                &share.config.name,
                open.is_dir,
                &[(wire::dir::notify_action::ADDED, &path)],
            );
            let parent_key = match requested {
                oplock::Requested::Lease(_, ctx) if ctx.v2 => Some(oplock::LeaseId {
                    client_guid: client_guid(req),
                    key: ctx.parent_key,
                }),
                _ => None,
            };
            super::oplock_break::break_parent(req.server, share, &path, parent_key);
        }
    }
    Ok(NtStatus::SUCCESS)
}

fn client_guid(req: &Request<'_>) -> [u8; 16] {
    lock(&req.conn.negotiated)
        .as_ref()
        .map(|n| n.client_guid)
        .unwrap_or_default()
}

/// What the CREATE asks to cache (MS-SMB2 3.3.5.9.8, 3.3.5.9.11): a lease
/// when it carries a lease context, leasing is on and the dialect has it.
fn requested_caching(req: &Request<'_>, r: &CreateRequest<'_>) -> oplock::Requested {
    let level = r.requested_oplock_level;
    if level == wire::create::oplock::LEASE {
        let dialect = req.dialect();
        if !req.server.config.leases || dialect < crate::config::dialect::SMB2_10 {
            return oplock::Requested::None;
        }
        let Some(ctx) = r
            .context(b"RqLs")
            .and_then(|c| LeaseContext::parse(c.data).ok())
        else {
            return oplock::Requested::None;
        };
        // Version 2 contexts belong to 3.x (MS-SMB2 3.3.5.9.11).
        if ctx.v2 && dialect < crate::config::dialect::SMB3_00 {
            return oplock::Requested::None;
        }
        let id = oplock::LeaseId {
            client_guid: client_guid(req),
            key: ctx.key,
        };
        return oplock::Requested::Lease(id, ctx);
    }
    match level {
        wire::create::oplock::LEVEL_II
        | wire::create::oplock::EXCLUSIVE
        | wire::create::oplock::BATCH => oplock::Requested::Oplock(level),
        _ => oplock::Requested::None,
    }
}

/// Records the new open in the oplock table and grants what it may cache.
fn grant_caching(req: &Request<'_>, open: &Open, requested: oplock::Requested) -> oplock::Granted {
    let mut requested = requested;
    if open.is_dir {
        // Directory leases: SMB 3.x with `smb3 directory leases`; never oplocks.
        let dir_ok =
            req.server.config.directory_leases && req.dialect() >= crate::config::dialect::SMB3_00;
        if !dir_ok || !matches!(requested, oplock::Requested::Lease(..)) {
            requested = oplock::Requested::None;
        }
    }
    req.server.oplocks.grant(
        open.file_key,
        open.file_id.volatile,
        open.file_id,
        open.granted_access,
        open.is_dir,
        break_target(req),
        requested,
    )
}

/// Where this connection's break notifications go; encrypted when the
/// session or tree requires it.
pub(super) fn break_target(req: &Request<'_>) -> oplock::BreakTarget {
    let encrypt = req.session.as_ref().and_then(|s| {
        let must = match &*lock(&s.state) {
            crate::state::AuthState::Valid(a) => a.encrypt_data,
            _ => false,
        } || req.tree.as_ref().is_some_and(|t| t.encrypt_data);
        if !must {
            return None;
        }
        Some((crate::encryption::session_crypto(s)?, s.id))
    });
    oplock::BreakTarget {
        conn_id: req.conn.id,
        notifier: req.conn.pending.notifier(),
        encrypt,
    }
}

fn maximal_access(tree: &TreeConnect, attributes: u32) -> u32 {
    if attributes & attr::READONLY != 0 {
        tree.maximal_access & !(access::FILE_WRITE_DATA | access::FILE_APPEND_DATA)
    } else {
        tree.maximal_access
    }
}

pub(super) fn register(req: &Request<'_>, open: Open) -> Result<Arc<Open>, Error> {
    let session = req.session()?;
    let open = Arc::new(open);
    lock(&session.opens).insert(open.file_id.volatile, open.clone());
    Ok(open)
}

pub(super) type Opened = (Arc<Open>, u32, NetworkOpenInfo);

fn open_pipe(
    req: &Request<'_>,
    tree: &Arc<TreeConnect>,
    name: &str,
    r: &CreateRequest<'_>,
) -> Result<Opened, Error> {
    let pipe = rpc::Pipe::open(name).ok_or(Error::Status(NtStatus::OBJECT_NAME_NOT_FOUND))?;
    let id = req.server.new_file_id();
    let open = Open {
        file_id: FileId {
            persistent: id,
            volatile: id,
        },
        session_id: req.session()?.id,
        tree: tree.clone(),
        kind: OpenKind::Pipe(Mutex::new(pipe)),
        granted_access: map_generic(r.desired_access),
        share_access: r.share_access,
        is_dir: false,
        path: Mutex::new(name.to_string()),
        stream: None,
        file_key: (0, 0),
        delete_on_close: AtomicBool::new(false),
        position: AtomicU64::new(0),
        mode: AtomicU32::new(0),
        dir: Mutex::new(None),
        closed: AtomicBool::new(false),
        write_gate: std::sync::Mutex::new(()),
    };
    let open = register(req, open)?;
    let info = NetworkOpenInfo {
        file_attributes: attr::NORMAL,
        ..Default::default()
    };
    Ok((open, action::OPENED, info))
}

fn vetoed(share: &ShareEntry, rel: &str) -> bool {
    !share.config.veto_files.is_empty()
        && rel.split('/').any(|c| {
            share
                .config
                .veto_files
                .iter()
                .any(|p| vfs::wildcard_match(p, c))
        })
}

/// Another client may create the same name between our lookup and our
/// create; for the dispositions that also open an existing file, that race
/// is an open, not a collision (MS-FSA 2.1.5.1): look again once.
fn open_disk_retrying(
    req: &mut Request<'_>,
    tree: &Arc<TreeConnect>,
    share: &Arc<ShareEntry>,
    name: &str,
    r: &CreateRequest<'_>,
    requested: &oplock::Requested,
) -> Result<Option<Opened>, Error> {
    match open_disk(req, tree, share, name, r, requested) {
        Err(Error::Status(NtStatus::OBJECT_NAME_COLLISION))
            if r.create_disposition != disposition::CREATE =>
        {
            open_disk(req, tree, share, name, r, requested)
        }
        other => other,
    }
}

fn open_disk(
    req: &mut Request<'_>,
    tree: &Arc<TreeConnect>,
    share: &Arc<ShareEntry>,
    name: &str,
    r: &CreateRequest<'_>,
    requested: &oplock::Requested,
) -> Result<Option<Opened>, Error> {
    let (rel, stream) = path::parse_name(name)?;
    if vetoed(share, &rel) {
        return Err(Error::Status(NtStatus::OBJECT_NAME_NOT_FOUND));
    }
    let mut desired = map_generic(r.desired_access);
    if desired & access::ACCESS_SYSTEM_SECURITY != 0 {
        return Err(Error::Status(NtStatus::PRIVILEGE_NOT_HELD));
    }
    if desired & access::MAXIMUM_ALLOWED != 0 {
        desired = (desired & !access::MAXIMUM_ALLOWED) | tree.maximal_access;
    }
    if desired & !tree.maximal_access & !access::SYNCHRONIZE != 0 {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    let opts = r.create_options;
    let disp = r.create_disposition;
    // MS-SMB2 2.2.13.2.1: EAs to set on a created or overwritten file, validated first.
    let eas = match r.context(b"ExtA") {
        Some(c) => {
            Some(wire::ea::parse_full_ea_list(c.data).map_err(|_| NtStatus::INVALID_EA_NAME)?)
        }
        None => None,
    };
    let delete_on_close = opts & options::DELETE_ON_CLOSE != 0;
    if delete_on_close && desired & access::DELETE == 0 {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    let fs = &share.fs;
    let mut lookup = fs.lookup(&rel);
    if !matches!(&lookup, Ok(l) if l.exists) && rel.split('/').any(crate::mangle::looks_mangled) {
        if let Some(real) = crate::mangle::resolve(fs, &rel) {
            lookup = Ok(vfs::Lookup {
                path: real,
                exists: true,
            });
        } else if let Ok(l) = &lookup {
            // A short name handed out earlier still names its long name.
            let (dir, leaf) = path::split_parent(&l.path);
            if let Some(long) = share.mangled.long_name(dir, leaf) {
                let p = if dir.is_empty() {
                    long
                } else {
                    format!("{dir}/{long}")
                };
                if let Ok(l2) = fs.lookup(&p) {
                    lookup = Ok(l2);
                }
            }
        }
    }
    let lookup = lookup.map_err(errno::path_status)?;
    let rel = lookup.path;
    if let Some(stream) = stream {
        return super::stream::open_stream(
            req,
            tree,
            share,
            rel,
            lookup.exists,
            stream,
            r,
            desired,
            eas,
        )
        .map(Some);
    }
    let lease_id = match requested {
        oplock::Requested::Lease(id, ctx) => Some((*id, *ctx)),
        _ => None,
    };
    let id = req.server.new_file_id();
    let (handle, create_action) = if lookup.exists {
        let stat = fs.stat(&rel).map_err(errno::to_status)?;
        let is_dir = stat.is_dir();
        if disp == disposition::CREATE {
            return Err(Error::Status(NtStatus::OBJECT_NAME_COLLISION));
        }
        if opts & options::DIRECTORY_FILE != 0 && !is_dir {
            return Err(Error::Status(NtStatus::NOT_A_DIRECTORY));
        }
        if opts & options::NON_DIRECTORY_FILE != 0 && is_dir {
            return Err(Error::Status(NtStatus::FILE_IS_A_DIRECTORY));
        }
        let overwrite = matches!(
            disp,
            disposition::OVERWRITE | disposition::OVERWRITE_IF | disposition::SUPERSEDE
        );
        if overwrite && is_dir {
            return Err(Error::Status(NtStatus::INVALID_PARAMETER));
        }
        if overwrite && !tree.writable {
            return Err(Error::Status(NtStatus::ACCESS_DENIED));
        }
        if rel.is_empty() && desired & access::DELETE != 0 && delete_on_close {
            return Err(Error::Status(NtStatus::ACCESS_DENIED));
        }
        let dos = if is_dir { None } else { fs_dos(fs, &rel) };
        let readonly = dos
            .as_ref()
            .map(|d| d.attributes & attr::READONLY != 0)
            .unwrap_or(stat.mode & 0o200 == 0 && !is_dir);
        if readonly {
            if delete_on_close {
                return Err(Error::Status(NtStatus::CANNOT_DELETE));
            }
            if desired & (access::FILE_WRITE_DATA | access::FILE_APPEND_DATA) != 0 || overwrite {
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
        }
        if overwrite {
            // MS-FSA 2.1.5.1.2.1: overwriting a hidden/system file needs the same bits.
            if let Some(d) = &dos {
                let keep = d.attributes & (attr::HIDDEN | attr::SYSTEM);
                if keep & !r.file_attributes != 0 {
                    return Err(Error::Status(NtStatus::ACCESS_DENIED));
                }
            }
        }
        let key = (stat.dev, stat.ino);
        if let Some((id, _)) = &lease_id {
            req.server.oplocks.check_lease_key(id, Some(key))?;
        }
        let share_check = req.server.files.check(key, desired, r.share_access);
        // MS-FSA 2.1.5.1.2: a delete-pending file refuses new opens before
        // any oplock or lease is broken for them.
        if share_check == Err(NtStatus::DELETE_PENDING) {
            return Err(Error::Status(NtStatus::DELETE_PENDING));
        }
        // MS-FSA 2.1.4.12: break what this open conflicts with, maybe wait.
        // An open that truncates writes data, whatever access it asked for.
        let check = oplock::OpenCheck {
            lease: lease_id.map(|(id, _)| id),
            parent_key: lease_id.filter(|(_, c)| c.v2).map(|(_, c)| c.parent_key),
            stat_open: oplock::is_stat_open(desired) && !overwrite,
            oplock_stat_open: oplock::is_oplock_stat_open(desired) && !overwrite,
            overwrite,
            sharing_violation: share_check == Err(NtStatus::SHARING_VIOLATION),
            retry: req.async_id.is_some(),
        };
        if req.server.oplocks.has_holders(key) && !super::oplock_break::gate(req, key, &check)? {
            return Ok(None);
        }
        let how = vfs::OpenHow {
            read: !is_dir,
            write: !is_dir
                && (desired & (access::FILE_WRITE_DATA | access::FILE_APPEND_DATA) != 0
                    || overwrite),
            create: vfs::CreateMode::OpenExisting,
            mode: share.config.create_mask,
            directory: Some(is_dir),
        };
        let handle = open_with_fallback(fs, &rel, &how)?;
        req.server.files.add(key, id, desired, r.share_access)?;
        if overwrite {
            if let Err(e) = handle.set_len(0) {
                req.server.files.remove(key, id);
                return Err(Error::Status(errno::to_status(e)));
            }
            let keep_create = dos.and_then(|d| d.create_time);
            let _ = handle.set_dos_attrib(&vfs::DosAttrib {
                attributes: (r.file_attributes & attr::SETTABLE) | attr::ARCHIVE,
                create_time: keep_create.or(Some(crate::util::nt_now())),
            });
            let act = if disp == disposition::SUPERSEDE {
                action::SUPERSEDED
            } else {
                action::OVERWRITTEN
            };
            (handle, act)
        } else {
            (handle, action::OPENED)
        }
    } else {
        if disp == disposition::OPEN || disp == disposition::OVERWRITE {
            return Err(Error::Status(NtStatus::OBJECT_NAME_NOT_FOUND));
        }
        if !tree.writable {
            return Err(Error::Status(NtStatus::ACCESS_DENIED));
        }
        if let Some((id, _)) = &lease_id {
            // A lease key already naming another file cannot name a new one.
            req.server.oplocks.check_lease_key(id, None)?;
        }
        let is_dir = opts & options::DIRECTORY_FILE != 0;
        if delete_on_close && r.file_attributes & attr::READONLY != 0 {
            // MS-FSA 2.1.5.1.1: a new read-only file cannot be delete-on-close.
            return Err(Error::Status(NtStatus::CANNOT_DELETE));
        }
        let handle = if is_dir {
            fs.mkdir(&rel, share.config.directory_mask)
                .map_err(errno::to_status)?;
            fs.open(
                &rel,
                &vfs::OpenHow {
                    read: false,
                    write: false,
                    create: vfs::CreateMode::OpenExisting,
                    mode: 0,
                    directory: Some(true),
                },
            )
            .map_err(errno::to_status)?
        } else {
            fs.open(
                &rel,
                &vfs::OpenHow {
                    read: true,
                    write: true,
                    create: vfs::CreateMode::CreateNew,
                    mode: share.config.create_mask,
                    directory: Some(false),
                },
            )
            .map_err(errno::to_status)?
        };
        let mut attrs = r.file_attributes & attr::SETTABLE;
        if !is_dir {
            attrs |= attr::ARCHIVE;
        }
        let _ = handle.set_dos_attrib(&vfs::DosAttrib {
            attributes: attrs,
            create_time: Some(crate::util::nt_now()),
        });
        let stat = handle.stat().map_err(errno::to_status)?;
        req.server
            .files
            .add((stat.dev, stat.ino), id, desired, r.share_access)?;
        (handle, action::CREATED)
    };
    if let Some(eas) = &eas {
        if create_action != action::OPENED {
            super::ea::apply(&handle, eas)?;
        }
    }
    let stat = handle.stat().map_err(errno::to_status)?;
    let dos = handle.dos_attrib().ok().flatten();
    let meta = FileMeta::new(stat, dos, path::file_name(&rel), &share.config);
    let open = Open {
        file_id: FileId {
            persistent: id,
            volatile: id,
        },
        session_id: req.session()?.id,
        tree: tree.clone(),
        is_dir: meta.is_dir(),
        file_key: (meta.stat.dev, meta.stat.ino),
        kind: OpenKind::File(handle),
        granted_access: desired,
        share_access: r.share_access,
        path: Mutex::new(rel),
        stream: None,
        delete_on_close: AtomicBool::new(delete_on_close),
        position: AtomicU64::new(0),
        mode: AtomicU32::new(
            opts & (options::WRITE_THROUGH
                | options::SEQUENTIAL_ONLY
                | options::NO_INTERMEDIATE_BUFFERING
                | options::SYNCHRONOUS_IO_ALERT
                | options::SYNCHRONOUS_IO_NONALERT
                | options::DELETE_ON_CLOSE),
        ),
        dir: Mutex::new(None),
        closed: AtomicBool::new(false),
        write_gate: std::sync::Mutex::new(()),
    };
    let open = register(req, open)?;
    Ok(Some((open, create_action, meta.network_open_info())))
}

fn fs_dos(fs: &vfs::Share, rel: &str) -> Option<vfs::DosAttrib> {
    let h = fs
        .open(
            rel,
            &vfs::OpenHow {
                read: false,
                write: false,
                create: vfs::CreateMode::OpenExisting,
                mode: 0,
                directory: None,
            },
        )
        .ok()?;
    h.dos_attrib().ok().flatten()
}

/// Opens for data access; a file the user may not read can still be opened
/// for its attributes when no data access was asked for.
fn open_with_fallback(
    fs: &vfs::Share,
    rel: &str,
    how: &vfs::OpenHow,
) -> Result<vfs::Handle, Error> {
    match fs.open(rel, how) {
        Ok(h) => Ok(h),
        Err(e) => Err(Error::Status(errno::to_status(e))),
    }
}
