//! SET_INFO (MS-SMB2 3.3.5.21, MS-FSA 2.1.5.14): times and attributes,
//! end of file (sparse growth with ftruncate), allocation, disposition,
//! rename and hard link.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wire::create::access;
use wire::dir::notify_filter;
use wire::query_info::{INFO_FILE, INFO_FILESYSTEM, INFO_SECURITY};
use wire::reader::{utf16_to_string, Reader};
use wire::set_info::{encode_set_info_response, SetInfoRequest};
use wire::NtStatus;

use super::close::lookup_open;
use super::fileinfo::{attr, open_meta};
use super::query_info::class;
use crate::dispatch::{Error, HandlerResult, Request};
use crate::state::{lock, Open};
use crate::{errno, path};

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = SetInfoRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    let tree = req.tree()?.clone();
    if open.handle().is_none() {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    match r.info_type {
        INFO_FILE => {}
        INFO_FILESYSTEM => return Err(Error::Status(NtStatus::NOT_SUPPORTED)),
        INFO_SECURITY => {
            set_security(&open, r.additional_information, r.buffer)?;
            report_modified(req, &open, notify_filter::SECURITY);
            encode_set_info_response(out);
            return Ok(NtStatus::SUCCESS);
        }
        _ => return Err(Error::Status(NtStatus::INVALID_PARAMETER)),
    }
    if !tree.writable && !matches!(r.info_class, class::POSITION | class::MODE) {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    let b = r.buffer;
    match r.info_class {
        class::BASIC => {
            let changed = set_basic(&open, b)?;
            report_modified(req, &open, changed);
        }
        class::END_OF_FILE => {
            need(&open, access::FILE_WRITE_DATA)?;
            let len = Reader::new(b)
                .u64()
                .map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
            if open.is_dir {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            if len > i64::MAX as u64 {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            // MS-FSA 2.1.5.14.4: a size change breaks others' read caching.
            req.server
                .oplocks
                .break_for_write(open.file_key, open.file_id.volatile);
            if open.stream.is_some() {
                let mut data = super::stream::read_data(&open)?;
                let len = usize::try_from(len).map_err(|_| NtStatus::DISK_FULL)?;
                if len > super::stream::MAX_STREAM {
                    return Err(Error::Status(NtStatus::DISK_FULL));
                }
                data.resize(len, 0);
                super::stream::write_data(&open, &data)?;
            } else {
                // Growing is sparse: ftruncate never writes zeros.
                fh(&open)?.set_len(len).map_err(errno::to_status)?;
            }
            report_modified(req, &open, notify_filter::SIZE);
        }
        class::ALLOCATION => {
            need(&open, access::FILE_WRITE_DATA)?;
            let len = Reader::new(b)
                .u64()
                .map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
            if open.is_dir {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            let h = fh(&open)?;
            let size = h.stat().map_err(errno::to_status)?.size;
            if len != size {
                // Any change of the allocation, growing or shrinking, breaks
                // others' read caching (as Samba and Windows do).
                req.server
                    .oplocks
                    .break_for_write(open.file_key, open.file_id.volatile);
            }
            if len < size {
                h.set_len(len).map_err(errno::to_status)?;
            } else {
                // Reserve only where the filesystem does it cheaply; never by writing zeros.
                let _ = h.allocate(len);
            }
        }
        class::DISPOSITION => {
            let pending = Reader::new(b)
                .u8()
                .map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?
                != 0;
            set_disposition(req, &open, pending)?;
        }
        class::DISPOSITION_EX => {
            let flags = Reader::new(b)
                .u32()
                .map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
            set_disposition(req, &open, flags & 0x1 != 0)?;
        }
        class::POSITION => {
            let pos = Reader::new(b)
                .u64()
                .map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
            if pos > i64::MAX as u64 {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            open.position.store(pos, Ordering::Relaxed);
        }
        class::MODE => {
            let mode = Reader::new(b)
                .u32()
                .map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
            // MS-FSCC 2.4.26: only these bits may be set, and the two SYNCHRONOUS ones not together.
            if mode & !0x0000_103E != 0 || mode & 0x30 == 0x30 {
                return Err(Error::Status(NtStatus::INVALID_PARAMETER));
            }
            open.mode.store(mode, Ordering::Relaxed);
        }
        class::RENAME => rename(req, &open, b, false)?,
        class::LINK => rename(req, &open, b, true)?,
        class::VALID_DATA_LENGTH => {
            need(&open, access::FILE_WRITE_DATA)?;
        }
        class::FULL_EA => {
            need(&open, access::FILE_WRITE_EA)?;
            let eas = wire::ea::parse_full_ea_list(b).map_err(|_| NtStatus::INVALID_EA_NAME)?;
            super::ea::apply(fh(&open)?, &eas)?;
            report_modified(req, &open, notify_filter::EA);
        }
        class::SHORT_NAME => return Err(Error::Status(NtStatus::NOT_SUPPORTED)),
        _ => return Err(Error::Status(NtStatus::INVALID_INFO_CLASS)),
    }
    encode_set_info_response(out);
    Ok(NtStatus::SUCCESS)
}

fn fh(open: &Open) -> Result<&vfs::Handle, Error> {
    open.handle()
        .ok_or(Error::Status(NtStatus::INVALID_PARAMETER))
}

fn need(open: &Open, bits: u32) -> Result<(), Error> {
    if open.granted_access & bits == 0 {
        Err(Error::Status(NtStatus::ACCESS_DENIED))
    } else {
        Ok(())
    }
}

fn nt_to_system(nt: u64) -> SystemTime {
    let t = vfs::Timespec::from_nt(nt);
    if t.sec >= 0 {
        UNIX_EPOCH + Duration::new(t.sec as u64, t.nsec)
    } else {
        UNIX_EPOCH - Duration::from_secs(t.sec.unsigned_abs())
    }
}

/// FileBasicInformation (MS-FSA 2.1.5.14.2): 0 leaves a field unchanged,
/// -1 (and -2) only suspend automatic updates, which this server does not make.
/// Sets FILE_BASIC_INFORMATION; returns the notify_filter bits of what changed.
fn set_basic(open: &Open, b: &[u8]) -> Result<u32, Error> {
    need(open, access::FILE_WRITE_ATTRIBUTES)?;
    let mut r = Reader::new(b);
    let (creation, atime, mtime, _ctime, attributes) = (|| -> Result<_, wire::WireError> {
        Ok((r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u32()?))
    })()
    .map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
    let valid_time = |t: u64| t != 0 && t != u64::MAX && t != u64::MAX - 1;
    if [creation, atime, mtime]
        .iter()
        .any(|t| *t > i64::MAX as u64 && !(*t == u64::MAX || *t == u64::MAX - 1))
    {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    // MS-FSA 2.1.5.14.2: DIRECTORY on a file, or TEMPORARY on a directory, is invalid.
    if attributes & attr::TEMPORARY != 0 && open.is_dir {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    if attributes & attr::DIRECTORY != 0 && !open.is_dir {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let h = fh(open)?;
    if valid_time(atime) || valid_time(mtime) {
        h.set_times(
            valid_time(atime).then(|| nt_to_system(atime)),
            valid_time(mtime).then(|| nt_to_system(mtime)),
        )
        .map_err(errno::to_status)?;
    }
    if valid_time(creation) || attributes != 0 {
        let meta = open_meta(open)?;
        let mut dos = h.dos_attrib().ok().flatten().unwrap_or(vfs::DosAttrib {
            attributes: meta.attributes & !(attr::DIRECTORY | attr::NORMAL),
            create_time: Some(meta.creation_time),
        });
        if attributes != 0 {
            // Bits this server does not keep are accepted and ignored, as Windows does.
            dos.attributes = attributes & attr::SETTABLE;
            if open.is_dir {
                dos.attributes |= attr::DIRECTORY;
            }
        }
        if valid_time(creation) {
            dos.create_time = Some(creation);
        } else if dos.create_time.is_none() {
            dos.create_time = Some(meta.creation_time);
        }
        match h.set_dos_attrib(&dos) {
            Ok(()) => {}
            Err(vfs::Errno::OPNOTSUPP) => {
                // No xattrs: keep READONLY in the mode bits at least.
                let mode = meta.stat.mode & 0o7777;
                let new = if dos.attributes & attr::READONLY != 0 {
                    mode & !0o222
                } else {
                    mode | 0o200
                };
                h.chmod(new).map_err(errno::to_status)?;
            }
            Err(e) => return Err(Error::Status(errno::to_status(e))),
        }
    }
    let mut changed = 0;
    for (set, bit) in [
        (attributes != 0, notify_filter::ATTRIBUTES),
        (valid_time(creation), notify_filter::CREATION),
        (valid_time(mtime), notify_filter::LAST_WRITE),
        (valid_time(atime), notify_filter::LAST_ACCESS),
    ] {
        if set {
            changed |= bit;
        }
    }
    Ok(changed)
}

/// Tells change-notify subscriptions that the open's file changed
/// (MS-FSA 2.1.5.14: set-info operations report FILE_ACTION_MODIFIED).
fn report_modified(req: &Request<'_>, open: &Open, filter: u32) {
    let Some(share) = open.tree.share() else {
        return;
    };
    if filter == 0 {
        return;
    }
    let filter = if open.stream.is_some() {
        // A named stream's changes are stream changes of its file.
        notify_filter::STREAM_SIZE | notify_filter::STREAM_WRITE
    } else {
        filter
    };
    req.server
        .notify
        .report_modified(&share.config.name, &open.path(), filter);
}

fn set_disposition(req: &Request<'_>, open: &Open, pending: bool) -> Result<(), Error> {
    need(open, access::DELETE)?;
    if pending {
        let path = open.path();
        if path.is_empty() {
            return Err(Error::Status(NtStatus::CANNOT_DELETE));
        }
        let meta = open_meta(open)?;
        if meta.attributes & attr::READONLY != 0 {
            return Err(Error::Status(NtStatus::CANNOT_DELETE));
        }
        if open.is_dir {
            let h = fh(open)?;
            let mut c = h.read_dir().map_err(errno::to_status)?;
            if c.next_entry().map_err(errno::to_status)?.is_some() {
                return Err(Error::Status(NtStatus::DIRECTORY_NOT_EMPTY));
            }
        }
    }
    if pending {
        // MS-FSA 2.1.5.14.3: others' handle caching breaks.
        req.server
            .oplocks
            .break_handles(open.file_key, open.file_id.volatile);
    }
    open.delete_on_close.store(pending, Ordering::Release);
    req.server.files.set_delete_pending(open.file_key, pending);
    Ok(())
}

/// FileRenameInformation / FileLinkInformation (MS-FSCC 2.4.42, 2.4.27.1).
fn rename(req: &Request<'_>, open: &Open, b: &[u8], link: bool) -> Result<(), Error> {
    let mut r = Reader::new(b);
    let replace = r.u8().map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)? != 0;
    r.skip(7).map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
    let root = r.u64().map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
    let len = r.u32().map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)? as usize;
    let name_bytes = r.take(len).map_err(|_| NtStatus::INFO_LENGTH_MISMATCH)?;
    if root != 0 {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let name = utf16_to_string(name_bytes).map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
    if name.is_empty() {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    if !link {
        need(open, access::DELETE)?;
    }
    if open.stream.is_some() {
        // Renaming a named stream (MS-FSA 2.1.5.14.11.1) is not offered.
        return Err(Error::Status(NtStatus::NOT_SUPPORTED));
    }
    let share = open
        .tree
        .share()
        .ok_or(Error::Status(NtStatus::INVALID_PARAMETER))?;
    // Rename targets are full paths from the share root; some clients send a leading `\`.
    let target_rel = path::to_relative(name.strip_prefix('\\').unwrap_or(&name))?;
    if target_rel.is_empty() {
        return Err(Error::Status(NtStatus::OBJECT_NAME_INVALID));
    }
    let source = open.path();
    if link && open.is_dir {
        return Err(Error::Status(NtStatus::FILE_IS_A_DIRECTORY));
    }
    // Resolve the target's directory case-insensitively; keep the new name's case.
    let (parent, leaf) = path::split_parent(&target_rel);
    let parent_real = share.fs.lookup(parent).map_err(errno::path_status)?;
    if !parent_real.exists {
        return Err(Error::Status(NtStatus::OBJECT_PATH_NOT_FOUND));
    }
    let target_lookup = share.fs.lookup(&target_rel).map_err(errno::path_status)?;
    let target =
        if target_lookup.exists && target_lookup.path.eq_ignore_ascii_case(&source) && !link {
            // A case-only rename of the same file.
            if parent_real.path.is_empty() {
                leaf.to_string()
            } else {
                format!("{}/{}", parent_real.path, leaf)
            }
        } else if target_lookup.exists {
            if !replace {
                return Err(Error::Status(NtStatus::OBJECT_NAME_COLLISION));
            }
            let st = share
                .fs
                .stat(&target_lookup.path)
                .map_err(errno::to_status)?;
            if st.is_dir() {
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            if req.server.files.open_count((st.dev, st.ino)) > 0 {
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            target_lookup.path
        } else if parent_real.path.is_empty() {
            leaf.to_string()
        } else {
            format!("{}/{}", parent_real.path, leaf)
        };
    if link {
        share.fs.link(&source, &target).map_err(errno::to_status)?;
        return Ok(());
    }
    if open.is_dir && dir_has_open_children(req, open, &source) {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    if req
        .server
        .files
        .others_deny_delete(open.file_key, open.file_id.volatile)
    {
        return Err(Error::Status(NtStatus::SHARING_VIOLATION));
    }
    // MS-FSA 2.1.5.14.11: others' handle caching breaks.
    req.server
        .oplocks
        .break_handles(open.file_key, open.file_id.volatile);
    // An open of the parent directory that holds DELETE or denies it blocks
    // the rename of a file opened without FILE_SHARE_DELETE (as Windows and
    // Samba answer); a file that shares delete can always move.
    let (src_parent, _) = path::split_parent(&source);
    let shares_delete = open.share_access & wire::create::share_access::DELETE != 0;
    if let (false, Ok(ps)) = (shares_delete, share.fs.stat(src_parent)) {
        if req.server.files.parent_blocks_rename((ps.dev, ps.ino)) {
            return Err(Error::Status(NtStatus::SHARING_VIOLATION));
        }
    }
    share
        .fs
        .rename(&source, &target, replace)
        .map_err(errno::to_status)?;
    *lock(&open.path) = target.clone();
    if let Some(h) = open.handle() {
        h.set_path(&target);
    }
    update_child_paths(req, open, &source, &target);
    report_rename(req, &share.config.name, open.is_dir, &source, &target);
    // Directory leases of both parents break (not the renamer's own parent lease).
    let except = req
        .server
        .oplocks
        .lease_of(open.file_key, open.file_id.volatile);
    super::oplock_break::break_parent(req.server, share, &source, except);
    if path::split_parent(&source).0 != path::split_parent(&target).0 {
        super::oplock_break::break_parent(req.server, share, &target, except);
    }
    Ok(())
}

/// Tells change-notify watches about a rename: one OLD_NAME/NEW_NAME pair
/// within a directory, a removal and an addition across directories.
fn report_rename(req: &Request<'_>, share: &str, is_dir: bool, from: &str, to: &str) {
    use wire::dir::notify_action::{ADDED, REMOVED, RENAMED_NEW_NAME, RENAMED_OLD_NAME};
    let notify = &req.server.notify;
    if path::split_parent(from).0 == path::split_parent(to).0 {
        notify.report(
            share,
            is_dir,
            &[(RENAMED_OLD_NAME, from), (RENAMED_NEW_NAME, to)],
        );
    } else {
        notify.report(share, is_dir, &[(REMOVED, from)]);
        notify.report(share, is_dir, &[(ADDED, to)]);
    }
    // A renamed file (not a directory) also reports its attributes and
    // creation time as modified under the new name, as Windows does.
    if !is_dir {
        notify.report_modified(
            share,
            to,
            notify_filter::ATTRIBUTES | notify_filter::CREATION,
        );
    }
}

/// Windows refuses to rename a directory while files below it are open.
fn dir_has_open_children(req: &Request<'_>, open: &Open, dir: &str) -> bool {
    let prefix = format!("{dir}/");
    let Some(s) = &req.session else { return false };
    let opens = lock(&s.opens);
    opens.values().any(|o| {
        o.file_id != open.file_id && o.tree.id == open.tree.id && o.path().starts_with(&prefix)
    })
}

fn update_child_paths(req: &Request<'_>, open: &Open, from: &str, to: &str) {
    let prefix = format!("{from}/");
    let Some(s) = &req.session else { return };
    for o in lock(&s.opens).values() {
        if o.file_id == open.file_id {
            continue;
        }
        let p = o.path();
        if let Some(rest) = p.strip_prefix(&prefix) {
            let np = format!("{to}/{rest}");
            if let Some(h) = o.handle() {
                h.set_path(&np);
            }
            *lock(&o.path) = np;
        }
    }
}

/// SET_INFO of a security descriptor (MS-SMB2 3.3.5.21.3): the rights are
/// checked and the descriptor validated (MS-DTYP 2.4.6); this server keeps no
/// NT ACLs, so only what the Unix mode can say of the DACL is kept (`acl`).
fn set_security(open: &Open, info: u32, sd: &[u8]) -> Result<(), Error> {
    const OWNER: u32 = 0x1;
    const GROUP: u32 = 0x2;
    const DACL: u32 = 0x4;
    const SACL: u32 = 0x8;
    if info & (OWNER | GROUP) != 0 && open.granted_access & access::WRITE_OWNER == 0 {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    if info & DACL != 0 && open.granted_access & access::WRITE_DAC == 0 {
        return Err(Error::Status(NtStatus::ACCESS_DENIED));
    }
    if info & SACL != 0 {
        return Err(Error::Status(NtStatus::PRIVILEGE_NOT_HELD));
    }
    let mut r = Reader::new(sd);
    let parsed = (|| -> Result<[u32; 4], wire::WireError> {
        if r.u8()? != 1 {
            return Err(wire::WireError::Invalid);
        }
        r.skip(1)?;
        let _control = r.u16()?;
        Ok([r.u32()?, r.u32()?, r.u32()?, r.u32()?])
    })()
    .map_err(|_| NtStatus::INVALID_SECURITY_DESCR)?;
    for off in parsed {
        if off != 0 && (off as usize) >= sd.len() {
            return Err(Error::Status(NtStatus::INVALID_SECURITY_DESCR));
        }
    }
    // What the DACL says that the Unix mode can hold is kept there.
    if info & DACL != 0 && open.stream.is_none() {
        if let Some(h) = open.handle() {
            let st = h.stat().map_err(errno::to_status)?;
            if let Some(bits) = super::acl::dacl_to_mode(sd, st.uid, st.gid) {
                h.chmod((st.mode & 0o7000) | bits)
                    .map_err(errno::to_status)?;
            }
        }
    }
    Ok(())
}
