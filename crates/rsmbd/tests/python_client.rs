//! The Python `smbprotocol` client (tests/python/smbproto_check.py) against a
//! live rsmbd, for each dialect 2.0.2 to 3.1.1 with signing required:
//! write/read, QUERY_DIRECTORY, FileBasicInformation times and attributes,
//! rename, delete-on-close, share-mode conflicts, FileAllInformation, and the
//! MxAc/QFid create contexts (MS-SMB2 2.2.13.2.5, 2.2.13.2.9, 3.3.5.9).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{all_output, TestServer};

fn basic(dialect: &str) {
    let srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    let out = srv.python(
        "smbproto_check.py",
        &["--test", "basic", "--dialect", dialect],
    );
    assert!(
        out.status.success(),
        "smbprotocol checks failed for dialect {dialect}:\n{}",
        all_output(&out)
    );
}

#[test]
fn smb2_0_2_signed() {
    basic("2.0.2");
}

#[test]
fn smb2_1_signed() {
    basic("2.1");
}

#[test]
fn smb3_0_signed() {
    basic("3.0");
}

#[test]
fn smb3_0_2_signed() {
    basic("3.0.2");
}

#[test]
fn smb3_1_1_signed() {
    basic("3.1.1");
}

/// Seven clients on their own connections rename, read, create and delete
/// the same names at once (the rename/unlink races of in-kernel servers):
/// only the statuses Windows gives for such races, every file still there
/// exactly once with its content, no scratch file left behind.
#[test]
fn concurrent_rename_read_and_delete_lose_nothing() {
    let mut srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    let out = srv.python("smbproto_check.py", &["--test", "races"]);
    assert!(
        out.status.success(),
        "race checks failed:\n{}\nserver log:\n{}",
        all_output(&out),
        srv.log()
    );
    srv.assert_healthy("test", "after the races");
}
