//! DOS attributes on disk in Samba's layout (`user.DOSATTRIB`, the NDR blob
//! `xattr_DosAttrib` Samba 4.x writes; MS-FSCC 2.6 attribute bits, MS-DTYP
//! 2.3.3 FILETIME creation time), so a share moves between Samba and rsmbd
//! without losing attributes. Written through rsmbd and decoded here by an
//! independent reader; and blobs as Samba writes them, read through rsmbd.
//!
//! The full round trip with a real `smbd` is `scripts/samba-interop`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{all_output, TestServer, ALICE};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const HIDDEN: u32 = 0x2;
const SYSTEM: u32 = 0x4;
const READONLY: u32 = 0x1;
const ARCHIVE: u32 = 0x20;
/// XATTR_DOSINFO_ATTRIB and XATTR_DOSINFO_CREATE_TIME valid flags.
const VALID_ATTRIB: u32 = 0x1;
const VALID_CREATE_TIME: u32 = 0x10;
/// 2001-09-09 01:46:40 UTC as a FILETIME.
const KNOWN_FILETIME: u64 = (1_000_000_000 + 11_644_473_600) * 10_000_000;

fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let len = usize::try_from(r).ok()?;
    buf.truncate(len);
    Some(buf)
}

fn setxattr(path: &Path, name: &str, value: &[u8]) {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a value slice of the given length.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(r, 0, "setxattr {name} on {}", path.display());
}

/// The fields of a version 5 `xattr_DosAttrib` (Samba 4.17's layout):
/// NUL-terminated hex string, align 2, version u16, level u16, align 4,
/// valid_flags u32, attrib u32, create_time u64.
#[derive(Debug)]
struct DosInfo5 {
    hex: String,
    valid_flags: u32,
    attrib: u32,
    create_time: u64,
}

fn decode_v5(blob: &[u8]) -> DosInfo5 {
    let nul = blob
        .iter()
        .position(|&b| b == 0)
        .unwrap_or_else(|| panic!("no NUL-terminated hex string: {blob:02x?}"));
    let hex = String::from_utf8(blob[..nul].to_vec()).unwrap();
    let mut pos = (nul + 1 + 1) & !1;
    let u16_at = |p: usize| u16::from_le_bytes(blob[p..p + 2].try_into().unwrap());
    let u32_at = |p: usize| u32::from_le_bytes(blob[p..p + 4].try_into().unwrap());
    let version = u16_at(pos);
    let level = u16_at(pos + 2);
    assert_eq!(
        (version, level),
        (5, 5),
        "not a version 5 blob: {blob:02x?}"
    );
    pos = (pos + 4 + 3) & !3;
    assert_eq!(
        blob.len(),
        pos + 16,
        "v5 blob has trailing or missing bytes: {blob:02x?}"
    );
    DosInfo5 {
        hex,
        valid_flags: u32_at(pos),
        attrib: u32_at(pos + 4),
        create_time: u64::from_le_bytes(blob[pos + 8..pos + 16].try_into().unwrap()),
    }
}

/// The blob Samba 4.17 writes: empty hex string, version 5.
fn encode_v5(attrib: u32, create_time: u64) -> Vec<u8> {
    let mut b = vec![0u8, 0]; // "" + pad to 2
    b.extend_from_slice(&5u16.to_le_bytes());
    b.extend_from_slice(&5u16.to_le_bytes());
    b.extend_from_slice(&[0, 0]); // pad to 4
    b.extend_from_slice(&(VALID_ATTRIB | VALID_CREATE_TIME).to_le_bytes());
    b.extend_from_slice(&attrib.to_le_bytes());
    b.extend_from_slice(&create_time.to_le_bytes());
    b
}

fn server() -> TestServer {
    TestServer::start("", &[("test", "\tread only = no\n")])
}

fn xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    std::fs::write(&probe, b"").unwrap();
    let p = CString::new(probe.as_os_str().as_bytes()).unwrap();
    let n = CString::new("user.probe").unwrap();
    // SAFETY: as in setxattr.
    let r = unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), b"1".as_ptr().cast(), 1, 0) };
    let _ = std::fs::remove_file(&probe);
    r == 0
}

#[test]
fn setmode_hidden_is_stored_in_samba_layout() {
    let srv = server();
    let share = srv.share_path("test");
    assert!(
        xattrs_supported(&share),
        "the temp dir's filesystem has no user xattrs: set TMPDIR to one that does (ext4, xfs, btrfs, tmpfs)"
    );
    std::fs::write(share.join("h.txt"), b"x").unwrap();
    let out = all_output(&srv.smbclient("test", ALICE, &[], "setmode h.txt +h"));
    assert!(!out.contains("NT_STATUS_"), "setmode: {out}");
    let blob = getxattr(&share.join("h.txt"), "user.DOSATTRIB")
        .expect("setmode +h wrote no user.DOSATTRIB");
    let info = decode_v5(&blob);
    assert!(info.valid_flags & VALID_ATTRIB != 0, "{info:?}");
    assert!(info.attrib & HIDDEN != 0, "hidden bit not stored: {info:?}");
    // Samba >= 4.11 writes an empty hex string; older ones "0x<attrib>".
    assert!(
        info.hex.is_empty() || info.hex == format!("0x{:x}", info.attrib),
        "hex string {:?} disagrees with attrib 0x{:x}",
        info.hex,
        info.attrib
    );
}

#[test]
fn creation_time_and_attributes_are_stored_in_samba_layout() {
    let srv = server();
    let out = srv.python(
        "smbproto_check.py",
        &["--test", "set-times", "--file", "t.txt"],
    );
    assert!(out.status.success(), "set-times: {}", all_output(&out));
    let blob = getxattr(&srv.share_path("test").join("t.txt"), "user.DOSATTRIB")
        .expect("no user.DOSATTRIB after SET_INFO FileBasicInformation");
    let info = decode_v5(&blob);
    assert!(info.valid_flags & VALID_CREATE_TIME != 0, "{info:?}");
    assert_eq!(info.create_time, KNOWN_FILETIME, "{info:?}");
    assert_eq!(info.attrib & (HIDDEN | SYSTEM), HIDDEN | SYSTEM, "{info:?}");
}

#[test]
fn samba_written_blobs_are_read() {
    let srv = server();
    let share = srv.share_path("test");
    // Version 5 as Samba 4.17 writes it.
    std::fs::write(share.join("v5.txt"), b"x").unwrap();
    setxattr(
        &share.join("v5.txt"),
        "user.DOSATTRIB",
        &encode_v5(READONLY | HIDDEN | ARCHIVE, KNOWN_FILETIME),
    );
    // Pre-3.5 Samba: only the hex string.
    std::fs::write(share.join("old.txt"), b"x").unwrap();
    setxattr(&share.join("old.txt"), "user.DOSATTRIB", b"0x6\0");
    let out = all_output(&srv.smbclient("test", ALICE, &[], "allinfo v5.txt; allinfo old.txt"));
    let attr_lines: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("attributes:"))
        .collect();
    assert_eq!(attr_lines.len(), 2, "allinfo output:\n{out}");
    assert!(
        attr_lines[0].contains("(23)"),
        "v5 blob READONLY|HIDDEN|ARCHIVE read as {}",
        attr_lines[0]
    );
    assert!(
        attr_lines[1].contains("(6)"),
        "hex-only blob HIDDEN|SYSTEM read as {}",
        attr_lines[1]
    );
    let create = out
        .lines()
        .find(|l| l.trim_start().starts_with("create_time:"))
        .unwrap_or_default();
    assert!(
        create.contains("2001") && create.contains("Sep"),
        "create time from the blob not used: {create:?}\n{out}"
    );
}
