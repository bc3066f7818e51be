//! QUERY_INFO (MS-SMB2 3.3.5.20): file classes (MS-FSCC 2.4), filesystem
//! classes (2.5) and a security descriptor built from the Unix owner and mode.

use std::sync::atomic::Ordering;

use wire::create::access;
use wire::dir::encode_buffer_response;
use wire::query_info::*;
use wire::writer::utf16_len;
use wire::{NtStatus, Writer};

use super::close::lookup_open;
use super::fileinfo::{open_meta, FileMeta};
use crate::dispatch::{Error, HandlerResult, Request};
use crate::errno;
use crate::state::{Open, OpenKind};

pub mod class {
    pub const BASIC: u8 = 4;
    pub const STANDARD: u8 = 5;
    pub const INTERNAL: u8 = 6;
    pub const EA: u8 = 7;
    pub const ACCESS: u8 = 8;
    pub const NAME: u8 = 9;
    pub const RENAME: u8 = 10;
    pub const LINK: u8 = 11;
    pub const DISPOSITION: u8 = 13;
    pub const POSITION: u8 = 14;
    pub const FULL_EA: u8 = 15;
    pub const MODE: u8 = 16;
    pub const ALIGNMENT: u8 = 17;
    pub const ALL: u8 = 18;
    pub const ALLOCATION: u8 = 19;
    pub const END_OF_FILE: u8 = 20;
    pub const ALTERNATE_NAME: u8 = 21;
    pub const STREAM: u8 = 22;
    pub const PIPE: u8 = 23;
    pub const COMPRESSION: u8 = 28;
    pub const NETWORK_OPEN: u8 = 34;
    pub const ATTRIBUTE_TAG: u8 = 35;
    pub const VALID_DATA_LENGTH: u8 = 39;
    pub const SHORT_NAME: u8 = 40;
    pub const NORMALIZED_NAME: u8 = 48;
    pub const ID: u8 = 59;
    pub const DISPOSITION_EX: u8 = 64;
    pub const RENAME_EX: u8 = 65;
}

pub mod fs_class {
    pub const VOLUME: u8 = 1;
    pub const SIZE: u8 = 3;
    pub const DEVICE: u8 = 4;
    pub const ATTRIBUTE: u8 = 5;
    pub const CONTROL: u8 = 6;
    pub const FULL_SIZE: u8 = 7;
    pub const OBJECT_ID: u8 = 8;
    pub const SECTOR_SIZE: u8 = 11;
}

/// FILE_CASE_SENSITIVE_SEARCH | FILE_CASE_PRESERVED_NAMES | FILE_UNICODE_ON_DISK
/// | FILE_SUPPORTS_SPARSE_FILES: only what this share really does (MS-FSCC 2.5.1).
const FS_ATTRIBUTES: u32 = 0x0000_0001 | 0x0000_0002 | 0x0000_0004 | 0x0000_0040;

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = QueryInfoRequest::parse(req.msg)?;
    let open = lookup_open(req, r.file_id)?;
    let n = req.conn.limits().ok_or(Error::Disconnect)?;
    if r.output_buffer_length > n.max_trans {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    let (data, min) = match r.info_type {
        INFO_FILE => file_info(req, &open, r.info_class, n.dialect, r.input)?,
        INFO_FILESYSTEM => fs_info(&open, r.info_class)?,
        INFO_SECURITY => {
            if open.granted_access & access::READ_CONTROL == 0 {
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            let d = security_descriptor(&open, r.additional_information)?;
            let l = d.len();
            (d, l)
        }
        INFO_QUOTA => return Err(Error::Status(NtStatus::NOT_SUPPORTED)),
        _ => return Err(Error::Status(NtStatus::INVALID_PARAMETER)),
    };
    let max = r.output_buffer_length as usize;
    if data.len() > max {
        if max < min || r.info_type == INFO_SECURITY {
            if r.info_type == INFO_SECURITY {
                // MS-SMB2 3.3.5.20.3: tell the client the size it needs.
                let mut out_len = Vec::new();
                out_len.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.truncate(64);
                wire::error::encode_error_response(out, &out_len);
                return Ok(NtStatus::BUFFER_TOO_SMALL);
            }
            return Err(Error::Status(NtStatus::INFO_LENGTH_MISMATCH));
        }
        encode_buffer_response(out, data.get(..max).unwrap_or(&[]));
        return Ok(NtStatus::BUFFER_OVERFLOW);
    }
    encode_buffer_response(out, &data);
    Ok(NtStatus::SUCCESS)
}

fn need(open: &Open, bits: u32) -> Result<(), Error> {
    if open.granted_access & bits == 0 {
        Err(Error::Status(NtStatus::ACCESS_DENIED))
    } else {
        Ok(())
    }
}

fn basic(w: &mut Writer<'_>, m: &FileMeta) {
    let i = m.network_open_info();
    i.write_times(w);
    w.u32(i.file_attributes);
    w.u32(0);
}

fn standard(w: &mut Writer<'_>, m: &FileMeta, delete_pending: bool) {
    w.u64(m.allocation_size());
    w.u64(m.end_of_file());
    w.u32(m.stat.nlink.min(u64::from(u32::MAX)) as u32);
    w.u8(u8::from(delete_pending));
    w.u8(u8::from(m.is_dir()));
    w.u16(0);
}

/// The name SMB shows for an open: `\dir\file` from the share root.
fn smb_name(open: &Open) -> String {
    format!("\\{}", share_name(open))
}

/// `dir\file` (and `:stream` for a stream open) from the share root.
fn share_name(open: &Open) -> String {
    let p = open.path().replace('/', "\\");
    match &open.stream {
        Some(s) => format!("{p}:{s}"),
        None => p,
    }
}

/// FileStreamInformation (MS-FSCC 2.4.43): the main stream of a file and
/// every named stream, each entry 8-byte aligned.
fn stream_list(w: &mut Writer<'_>, open: &Open, m: &FileMeta) -> Result<(), Error> {
    let mut entries: Vec<(String, u64)> = Vec::new();
    if !m.is_dir() || open.stream.is_some() {
        if let Some(h) = open.handle() {
            let st = h.stat().map_err(errno::to_status)?;
            if !st.is_dir() {
                entries.push(("::$DATA".to_string(), st.size));
            }
        }
    }
    if let Some(h) = open.handle() {
        for n in h.stream_names().unwrap_or_default() {
            let size = h
                .stream_read(&n)
                .ok()
                .flatten()
                .map(|d| d.len())
                .unwrap_or(0) as u64;
            entries.push((format!(":{n}:$DATA"), size));
        }
    }
    let base = w.len();
    let mut prev: Option<usize> = None;
    for (name, size) in entries {
        w.align_from(base, 8);
        let start = w.len();
        if let Some(p) = prev {
            w.patch_u32(p, (start - p) as u32);
        }
        w.u32(0);
        w.u32(utf16_len(&name) as u32);
        w.u64(size);
        w.u64(size.div_ceil(4096) * 4096);
        w.utf16(&name);
        prev = Some(start);
    }
    Ok(())
}

/// Returns the encoded class and its minimum size (smaller buffers get
/// INFO_LENGTH_MISMATCH, larger but short ones BUFFER_OVERFLOW).
fn file_info(
    req: &Request<'_>,
    open: &Open,
    class: u8,
    dialect: u16,
    input: &[u8],
) -> Result<(Vec<u8>, usize), Error> {
    if let OpenKind::Pipe(_) = open.kind {
        return pipe_info(open, class);
    }
    let mut m = open_meta(open)?;
    if open.stream.is_some() {
        // A stream shows its own size and is never a directory.
        let len = super::stream::read_data(open)?.len() as u64;
        m.stat.size = len;
        m.stat.blocks_bytes = len.div_ceil(4096) * 4096;
        m.stat.mode = (m.stat.mode & !0o170000) | 0o100000;
        m.attributes &= !super::fileinfo::attr::DIRECTORY;
        if m.attributes == 0 {
            m.attributes = super::fileinfo::attr::NORMAL;
        }
    }
    let delete_pending = req.server.files.delete_pending(open.file_key)
        || open.delete_on_close.load(Ordering::Relaxed);
    let mut d = Vec::with_capacity(128);
    let mut w = Writer::new(&mut d);
    let min = match class {
        class::BASIC => {
            need(open, access::FILE_READ_ATTRIBUTES)?;
            basic(&mut w, &m);
            40
        }
        class::STANDARD => {
            standard(&mut w, &m, delete_pending);
            24
        }
        class::INTERNAL => {
            w.u64(m.index_number());
            8
        }
        class::EA => {
            w.u32(open.handle().map(super::ea::ea_size).unwrap_or(0));
            4
        }
        class::ACCESS => {
            w.u32(open.granted_access);
            4
        }
        class::POSITION => {
            w.u64(open.position.load(Ordering::Relaxed));
            8
        }
        class::MODE => {
            w.u32(open.mode.load(Ordering::Relaxed));
            4
        }
        class::ALIGNMENT => {
            w.u32(0);
            4
        }
        class::NAME | class::NORMALIZED_NAME => {
            if class == class::NORMALIZED_NAME && dialect < crate::config::dialect::SMB3_11 {
                return Err(Error::Status(NtStatus::NOT_SUPPORTED));
            }
            let name = if class == class::NORMALIZED_NAME {
                share_name(open)
            } else {
                smb_name(open)
            };
            w.u32(utf16_len(&name) as u32);
            w.utf16(&name);
            4
        }
        class::ALL => {
            need(open, access::FILE_READ_ATTRIBUTES)?;
            basic(&mut w, &m);
            standard(&mut w, &m, delete_pending);
            w.u64(m.index_number());
            w.u32(open.handle().map(super::ea::ea_size).unwrap_or(0));
            w.u32(open.granted_access);
            w.u64(open.position.load(Ordering::Relaxed));
            w.u32(open.mode.load(Ordering::Relaxed));
            w.u32(0);
            let name = smb_name(open);
            w.u32(utf16_len(&name) as u32);
            w.utf16(&name);
            104
        }
        class::ALTERNATE_NAME => {
            let path = open.path();
            let (dir, long) = crate::path::split_parent(&path);
            let name = crate::mangle::short_name(long);
            if let Some(share) = open.tree.share() {
                share.mangled.remember(dir, long);
            }
            w.u32(utf16_len(&name) as u32);
            w.utf16(&name);
            8
        }
        class::STREAM => {
            stream_list(&mut w, open, &m)?;
            32
        }
        class::COMPRESSION => {
            w.u64(m.end_of_file());
            w.u16(0);
            w.u8(0);
            w.u8(0);
            w.u8(0);
            w.zeros(3);
            16
        }
        class::NETWORK_OPEN => {
            need(open, access::FILE_READ_ATTRIBUTES)?;
            let i = m.network_open_info();
            i.write_times(&mut w);
            w.u64(i.allocation_size);
            w.u64(i.end_of_file);
            w.u32(i.file_attributes);
            w.u32(0);
            56
        }
        class::ATTRIBUTE_TAG => {
            need(open, access::FILE_READ_ATTRIBUTES)?;
            w.u32(m.attributes);
            w.u32(0);
            8
        }
        class::ID => {
            let serial = open.tree.share().map(|s| s.volume_serial).unwrap_or(0);
            w.u64(u64::from(serial));
            w.u64(m.index_number());
            w.u64(m.stat.dev);
            24
        }
        class::FULL_EA => {
            // MS-FSA 2.1.5.12.12: FILE_READ_EA is checked before anything else.
            need(open, access::FILE_READ_EA)?;
            let h = open
                .handle()
                .ok_or(Error::Status(NtStatus::INVALID_PARAMETER))?;
            let mut eas = super::ea::read_all(h)?;
            if !input.is_empty() {
                // Only the EAs the client named, absent ones with an empty value.
                let wanted = wire::ea::parse_get_ea_list(input)?;
                eas = wanted
                    .into_iter()
                    .map(|n| {
                        eas.iter()
                            .find(|e| e.name.eq_ignore_ascii_case(&n))
                            .cloned()
                            .unwrap_or(wire::ea::Ea {
                                flags: 0,
                                name: n,
                                value: Vec::new(),
                            })
                    })
                    .collect();
            }
            if eas.is_empty() {
                return Err(Error::Status(NtStatus::NO_EAS_ON_FILE));
            }
            wire::ea::encode_full_ea_list(&mut d, &eas);
            0
        }
        _ => return Err(Error::Status(NtStatus::INVALID_INFO_CLASS)),
    };
    Ok((d, min))
}

fn pipe_info(open: &Open, class: u8) -> Result<(Vec<u8>, usize), Error> {
    let mut d = Vec::new();
    let mut w = Writer::new(&mut d);
    let min = match class {
        class::STANDARD => {
            w.u64(4096);
            w.u64(0);
            w.u32(1);
            w.u8(0);
            w.u8(0);
            w.u16(0);
            24
        }
        class::ACCESS => {
            w.u32(open.granted_access);
            4
        }
        class::PIPE => {
            // FilePipeInformation: message read mode, complete operation.
            w.u32(1);
            w.u32(0);
            8
        }
        _ => return Err(Error::Status(NtStatus::INVALID_PARAMETER)),
    };
    Ok((d, min))
}

fn fs_info(open: &Open, class: u8) -> Result<(Vec<u8>, usize), Error> {
    let share = open
        .tree
        .share()
        .ok_or(Error::Status(NtStatus::INVALID_PARAMETER))?;
    let mut d = Vec::with_capacity(64);
    let mut w = Writer::new(&mut d);
    let min = match class {
        fs_class::VOLUME => {
            let label = &share.config.name;
            w.u64(0);
            w.u32(share.volume_serial);
            w.u32(utf16_len(label) as u32);
            w.u8(0);
            w.u8(0);
            w.utf16(label);
            18
        }
        fs_class::SIZE | fs_class::FULL_SIZE => {
            let s = share.fs.statfs().map_err(errno::to_status)?;
            let (unit, sectors) = alloc_unit(s.block_size);
            let scale = |blocks: u64| blocks.saturating_mul(s.block_size) / unit;
            w.u64(scale(s.total_blocks));
            w.u64(scale(s.avail_blocks));
            if class == fs_class::FULL_SIZE {
                w.u64(scale(s.free_blocks));
            }
            w.u32(sectors);
            w.u32(512);
            if class == fs_class::FULL_SIZE {
                32
            } else {
                24
            }
        }
        fs_class::DEVICE => {
            w.u32(0x0000_0007); // FILE_DEVICE_DISK
            w.u32(0x0000_0020); // FILE_DEVICE_IS_MOUNTED
            8
        }
        fs_class::ATTRIBUTE => {
            let name = "NTFS";
            w.u32(FS_ATTRIBUTES);
            w.u32(255);
            w.u32(utf16_len(name) as u32);
            w.utf16(name);
            12
        }
        fs_class::OBJECT_ID => {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&share.volume_serial.to_le_bytes());
            w.bytes(&id);
            w.zeros(48);
            64
        }
        fs_class::SECTOR_SIZE => {
            for _ in 0..4 {
                w.u32(512);
            }
            w.u32(0x0000_0003); // ALIGNED_DEVICE | PARTITION_ALIGNED_ON_DEVICE
            w.u32(0);
            w.u32(0);
            28
        }
        fs_class::CONTROL => return Err(Error::Status(NtStatus::NOT_SUPPORTED)),
        _ => return Err(Error::Status(NtStatus::INVALID_INFO_CLASS)),
    };
    Ok((d, min))
}

/// Allocation unit in bytes and sectors per unit for a block size.
fn alloc_unit(block: u64) -> (u64, u32) {
    let b = block.clamp(512, 1 << 20);
    (b, (b / 512) as u32)
}

/// A self-relative security descriptor (MS-DTYP 2.4.6) for the file: owner
/// and group as Samba's Unix SIDs (S-1-22-1-uid, S-1-22-2-gid), and a DACL
/// that grants Everyone what the Unix mode grants others and the owner full control.
fn security_descriptor(open: &Open, info: u32) -> Result<Vec<u8>, Error> {
    let stat = match open.handle() {
        Some(h) => h.stat().map_err(errno::to_status)?,
        None => return Err(Error::Status(NtStatus::NOT_SUPPORTED)),
    };
    let owner = sid(&[22, 1, stat.uid]);
    let group = sid(&[22, 2, stat.gid]);
    let everyone = sid_raw(1, &[0]);
    let mut aces = Vec::new();
    let mut ace = |sid: &[u8], mask: u32| {
        let size = 8 + sid.len();
        aces.push(0u8); // ACCESS_ALLOWED_ACE_TYPE
        aces.push(if open.is_dir { 0x03 } else { 0 });
        aces.extend_from_slice(&(size as u16).to_le_bytes());
        aces.extend_from_slice(&mask.to_le_bytes());
        aces.extend_from_slice(sid);
    };
    ace(&owner, access::FILE_ALL_ACCESS);
    let other = if stat.mode & 0o002 != 0 {
        access::FILE_ALL_ACCESS & !(access::WRITE_DAC | access::WRITE_OWNER)
    } else if stat.mode & 0o004 != 0 {
        access::FILE_GENERIC_READ | access::FILE_GENERIC_EXECUTE
    } else {
        0
    };
    if other != 0 {
        ace(&everyone, other);
    }
    let mut dacl = Vec::new();
    dacl.push(2u8);
    dacl.push(0);
    dacl.extend_from_slice(&((8 + aces.len()) as u16).to_le_bytes());
    dacl.extend_from_slice(&(if other != 0 { 2u16 } else { 1u16 }).to_le_bytes());
    dacl.extend_from_slice(&0u16.to_le_bytes());
    dacl.extend_from_slice(&aces);
    const OWNER: u32 = 1;
    const GROUP: u32 = 2;
    const DACL: u32 = 4;
    let mut sd = vec![1u8, 0];
    let mut control: u16 = 0x8000; // SE_SELF_RELATIVE
    if info & DACL != 0 {
        control |= 0x0004; // SE_DACL_PRESENT
    }
    sd.extend_from_slice(&control.to_le_bytes());
    let mut off = 20u32;
    let mut body = Vec::new();
    let mut field = |present: bool, bytes: &[u8], body: &mut Vec<u8>| -> u32 {
        if !present {
            return 0;
        }
        let o = off;
        body.extend_from_slice(bytes);
        off += bytes.len() as u32;
        o
    };
    let o_owner = field(info & OWNER != 0, &owner, &mut body);
    let o_group = field(info & GROUP != 0, &group, &mut body);
    let o_dacl = field(info & DACL != 0, &dacl, &mut body);
    sd.extend_from_slice(&o_owner.to_le_bytes());
    sd.extend_from_slice(&o_group.to_le_bytes());
    sd.extend_from_slice(&0u32.to_le_bytes());
    sd.extend_from_slice(&o_dacl.to_le_bytes());
    sd.extend_from_slice(&body);
    Ok(sd)
}

fn sid(sub: &[u32]) -> Vec<u8> {
    sid_raw(22, sub.get(1..).unwrap_or(&[]))
}

fn sid_raw(authority: u8, sub: &[u32]) -> Vec<u8> {
    let mut v = vec![1u8, sub.len() as u8, 0, 0, 0, 0, 0, authority];
    for s in sub {
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}
