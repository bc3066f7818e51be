//! Server-side copy (MS-SMB2 3.3.5.15.6, FSCTL_SRV_COPYCHUNK and _WRITE)
//! against a live rsmbd with the Python `smbprotocol` client's raw IOCTLs
//! (tests/python/copychunk_check.py): an 18 MiB file copied in two requests
//! arrives byte for byte, and requests beyond the limits, with an unknown
//! resume key or past the source's end get Windows' statuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{all_output, TestServer};

fn copy(dialect: &str) {
    let srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    let out = srv.python("copychunk_check.py", &["--dialect", dialect]);
    assert!(
        out.status.success(),
        "server-side copy checks failed for dialect {dialect}:\n{}",
        all_output(&out)
    );
}

#[test]
fn copychunk_smb3_1_1() {
    copy("3.1.1");
}

#[test]
fn copychunk_smb2_1() {
    copy("2.1");
}
