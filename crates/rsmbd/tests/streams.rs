//! Named streams through `smbclient` (MS-FSCC 2.1.5.3 `file:stream`),
//! stored as `user.DosStream.NAME:$DATA` xattrs the way Samba does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{all_output, TestServer, ALICE};

#[test]
fn stream_written_read_listed_and_stored_like_samba() {
    let srv = TestServer::start("", &[("s", "\tread only = no\n")]);
    std::fs::write(srv.dir().join("main.txt"), b"main data").unwrap();
    std::fs::write(srv.dir().join("side.txt"), b"stream data").unwrap();
    let out = all_output(&srv.smbclient(
        "s",
        ALICE,
        &["-m", "SMB3_11"],
        "put main.txt f.txt; put side.txt f.txt:Zone.Identifier; get f.txt:zone.identifier back.txt; allinfo f.txt",
    ));
    assert!(!out.contains("NT_STATUS_"), "{out}");
    assert_eq!(
        std::fs::read(srv.dir().join("back.txt")).unwrap(),
        b"stream data"
    );
    assert!(
        out.contains("[:Zone.Identifier:$DATA], 11 bytes"),
        "allinfo lists the stream: {out}"
    );
    assert!(out.contains("[::$DATA], 9 bytes"), "{out}");
    // The main data is untouched and the stream sits in Samba's xattr.
    let file = srv.share_path("s").join("f.txt");
    assert_eq!(std::fs::read(&file).unwrap(), b"main data");
    let c = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
    let name = std::ffi::CString::new("user.DosStream.Zone.Identifier:$DATA").unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: plain getxattr into a local buffer.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(n, 12, "data plus Samba's trailing NUL");
    assert_eq!(&buf[..12], b"stream data\0");
}

#[test]
fn missing_stream_and_bad_stream_type() {
    let srv = TestServer::start("", &[("s", "\tread only = no\n")]);
    std::fs::write(srv.share_path("s").join("f.txt"), b"x").unwrap();
    let out = all_output(&srv.smbclient("s", ALICE, &[], "get f.txt:nothere got.txt"));
    assert!(out.contains("NT_STATUS_OBJECT_NAME_NOT_FOUND"), "{out}");
    let out = all_output(&srv.smbclient("s", ALICE, &[], "get f.txt:s:$INDEX_ALLOCATION got.txt"));
    assert!(out.contains("NT_STATUS_OBJECT_NAME_INVALID"), "{out}");
}
