//! Samba's `smbclient` against a live rsmbd, once per dialect (SMB 2.0.2 to
//! 3.1.1) with and without signing: bulk transfer, namespace operations,
//! `allinfo`, large directory listings (MS-SMB2 3.3.5.9 CREATE, 3.3.5.12 READ,
//! 3.3.5.13 WRITE, 3.3.5.18 QUERY_DIRECTORY, 3.3.5.20 QUERY_INFO, 3.3.5.21
//! SET_INFO), and the share list over srvsvc (MS-SRVS 3.1.4.8 NetrShareEnum).
//!
//! Share access rules and path confinement are in `share_rules.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{all_output, Rng, TestServer, ALICE};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// A server with one writable share `test`.
fn rw_server() -> TestServer {
    TestServer::start("", &[("test", "\tread only = no\n")])
}

/// smbclient arguments pinning the dialect (max and min) and optionally signing.
fn dialect_args(dialect: &str, sign: bool) -> Vec<String> {
    let mut v = vec![
        format!("--max-protocol={dialect}"),
        format!("--option=client min protocol={dialect}"),
    ];
    if sign {
        v.push("--client-protection=sign".into());
    }
    v
}

fn run(srv: &TestServer, dialect: &str, sign: bool, cmds: &str) -> String {
    let args = dialect_args(dialect, sign);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = srv.smbclient("test", ALICE, &args, cmds);
    all_output(&out)
}

fn assert_no_error(out: &str, what: &str) {
    assert!(
        !out.contains("NT_STATUS_"),
        "{what} reported an error:\n{out}"
    );
}

/// One test per dialect, signed and unsigned, each calling `$f(dialect, sign)`.
macro_rules! per_dialect {
    ($module:ident, $f:ident) => {
        mod $module {
            #[test]
            fn smb2_02() {
                super::$f("SMB2_02", false)
            }
            #[test]
            fn smb2_02_signed() {
                super::$f("SMB2_02", true)
            }
            #[test]
            fn smb2_10() {
                super::$f("SMB2_10", false)
            }
            #[test]
            fn smb2_10_signed() {
                super::$f("SMB2_10", true)
            }
            #[test]
            fn smb3_00() {
                super::$f("SMB3_00", false)
            }
            #[test]
            fn smb3_00_signed() {
                super::$f("SMB3_00", true)
            }
            #[test]
            fn smb3_02() {
                super::$f("SMB3_02", false)
            }
            #[test]
            fn smb3_02_signed() {
                super::$f("SMB3_02", true)
            }
            #[test]
            fn smb3_11() {
                super::$f("SMB3_11", false)
            }
            #[test]
            fn smb3_11_signed() {
                super::$f("SMB3_11", true)
            }
        }
    };
}

/// put then get of 32 MiB of random bytes; both copies must match byte for byte.
fn transfer(dialect: &str, sign: bool) {
    let srv = rw_server();
    let mut data = vec![0u8; 32 * 1024 * 1024];
    Rng::new(0x5eed_0001).fill(&mut data);
    // A tail that is not a multiple of any I/O size.
    data.truncate(data.len() - 4095);
    std::fs::write(srv.dir().join("big.bin"), &data).unwrap();
    let out = run(
        &srv,
        dialect,
        sign,
        "put big.bin big.bin; get big.bin got.bin",
    );
    assert_no_error(&out, "put/get");
    let on_disk = std::fs::read(srv.share_path("test").join("big.bin")).unwrap();
    assert!(on_disk == data, "the file written through SMB differs");
    let got = std::fs::read(srv.dir().join("got.bin")).unwrap();
    assert!(got == data, "the file read back through SMB differs");
}
per_dialect!(transfer_32mib, transfer);

/// mkdir, put into it, rename, del, rmdir; the share directory shows each step.
fn namespace_ops(dialect: &str, sign: bool) {
    let srv = rw_server();
    let share = srv.share_path("test");
    std::fs::write(srv.dir().join("small.txt"), b"hello namespace\n").unwrap();

    let out = run(
        &srv,
        dialect,
        sign,
        "mkdir d1; put small.txt d1\\a.txt; rename d1\\a.txt d1\\b.txt",
    );
    assert_no_error(&out, "mkdir/put/rename");
    assert!(share.join("d1").is_dir());
    assert!(!share.join("d1/a.txt").exists(), "rename left the old name");
    assert_eq!(
        std::fs::read(share.join("d1/b.txt")).unwrap(),
        b"hello namespace\n"
    );

    // A non-empty directory cannot be removed (MS-FSCC 2.4.11 / STATUS_DIRECTORY_NOT_EMPTY).
    let out = run(&srv, dialect, sign, "rmdir d1");
    assert!(
        out.contains("NT_STATUS_DIRECTORY_NOT_EMPTY"),
        "rmdir of a non-empty directory: {out}"
    );
    assert!(share.join("d1/b.txt").exists());

    let out = run(&srv, dialect, sign, "del d1\\b.txt; rmdir d1");
    assert_no_error(&out, "del/rmdir");
    assert!(!share.join("d1").exists(), "rmdir left the directory");

    // Renaming onto an existing name without replace must fail.
    std::fs::write(share.join("x.txt"), b"x").unwrap();
    std::fs::write(share.join("y.txt"), b"y").unwrap();
    let out = run(&srv, dialect, sign, "rename x.txt y.txt");
    assert!(
        out.contains("NT_STATUS_OBJECT_NAME_COLLISION"),
        "rename onto an existing file: {out}"
    );
    assert_eq!(std::fs::read(share.join("y.txt")).unwrap(), b"y");
}
per_dialect!(namespace, namespace_ops);

/// `allinfo` prints the four times and the attributes of a file with a known mtime.
fn allinfo(dialect: &str, sign: bool) {
    let srv = rw_server();
    let p = srv.share_path("test").join("info.txt");
    std::fs::write(&p, b"0123456789").unwrap();
    // 2001-09-09 01:46:40 UTC.
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(when)
        .unwrap();
    let out = run(&srv, dialect, sign, "allinfo info.txt");
    assert_no_error(&out, "allinfo");
    for field in [
        "create_time:",
        "access_time:",
        "write_time:",
        "change_time:",
    ] {
        assert!(out.contains(field), "allinfo lacks {field}:\n{out}");
    }
    let write_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("write_time:"))
        .unwrap_or_default();
    assert!(
        write_line.contains("2001") && write_line.contains("Sep"),
        "write_time is not the file's mtime: {write_line:?}"
    );
    let attr_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("attributes:"))
        .unwrap_or_else(|| panic!("allinfo lacks attributes:\n{out}"));
    assert!(attr_line.contains('A'), "archive bit missing: {attr_line}");
    assert!(
        out.contains("stream: [::$DATA], 10 bytes"),
        "allinfo lacks the data stream size:\n{out}"
    );
}
per_dialect!(allinfo_times_attributes, allinfo);

/// `ls` of a directory of 2,000 files (several QUERY_DIRECTORY rounds) lists each once.
fn big_directory(dialect: &str, sign: bool) {
    let srv = rw_server();
    let dir = srv.share_path("test").join("many");
    std::fs::create_dir(&dir).unwrap();
    let expected: Vec<String> = (0..2000)
        .map(|i| format!("file-with-a-longish-name-{i:05}.dat"))
        .collect();
    for n in &expected {
        std::fs::write(dir.join(n), b"").unwrap();
    }
    let out = run(&srv, dialect, sign, "cd many; ls");
    assert_no_error(&out, "ls");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for line in out.lines() {
        if let Some(name) = line.split_whitespace().next() {
            *seen.entry(name).or_default() += 1;
        }
    }
    for n in &expected {
        assert_eq!(
            seen.get(n.as_str()).copied().unwrap_or(0),
            1,
            "{n} listed a wrong number of times"
        );
    }
    let listed = seen
        .keys()
        .filter(|k| k.starts_with("file-with-a-longish-name-"))
        .count();
    assert_eq!(listed, 2000);
}
per_dialect!(ls_2000_files, big_directory);

#[test]
fn share_list_shows_share_and_ipc() {
    let srv = TestServer::start(
        "",
        &[
            ("test", "\tread only = no\n\tcomment = the test share\n"),
            ("hidden", "\tbrowseable = no\n"),
        ],
    );
    let out = srv.smbclient_list(ALICE, &[]);
    let s = all_output(&out);
    let row = |name: &str| {
        s.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&name))
    };
    let test = row("test").unwrap_or_else(|| panic!("test not listed:\n{s}"));
    assert_eq!(test.get(1), Some(&"Disk"), "{s}");
    assert!(s.contains("the test share"), "comment missing:\n{s}");
    let ipc = row("IPC$").unwrap_or_else(|| panic!("IPC$ not listed:\n{s}"));
    assert_eq!(ipc.get(1), Some(&"IPC"), "{s}");
    assert!(
        row("hidden").is_none(),
        "browseable = no share listed:\n{s}"
    );
}

#[test]
fn case_insensitive_lookup() {
    let srv = rw_server();
    let share = srv.share_path("test");
    std::fs::create_dir(share.join("Dir")).unwrap();
    std::fs::write(share.join("Dir/file.txt"), b"lower case on disk").unwrap();
    let out = srv.smbclient("test", ALICE, &[], "get DIR\\FILE.TXT got.txt");
    assert_no_error(&all_output(&out), "get DIR\\FILE.TXT");
    assert_eq!(
        std::fs::read(srv.dir().join("got.txt")).unwrap(),
        b"lower case on disk"
    );
}

#[test]
fn hide_dot_files_sets_hidden_attribute() {
    let srv = TestServer::start(
        "",
        &[
            ("test", "\tread only = no\n"),
            ("shown", "\tread only = no\n\thide dot files = no\n"),
        ],
    );
    for share in ["test", "shown"] {
        std::fs::write(srv.share_path(share).join(".dotfile"), b"x").unwrap();
        std::fs::write(srv.share_path(share).join("plain"), b"x").unwrap();
    }
    let attrs = |share: &str, name: &str| -> String {
        let out = all_output(&srv.smbclient(share, ALICE, &[], "ls"));
        let line = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&name))
            .unwrap_or_else(|| panic!("{name} not listed on {share}:\n{out}"));
        // "name ATTRS size date...": ATTRS is absent when no attribute is set.
        line.get(1)
            .filter(|a| a.chars().all(|c| "ADHNRS".contains(c)))
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    assert!(
        attrs("test", ".dotfile").contains('H'),
        "dot file not hidden"
    );
    assert!(!attrs("test", "plain").contains('H'));
    assert!(
        !attrs("shown", ".dotfile").contains('H'),
        "hide dot files = no still hides"
    );
}

#[test]
fn setmode_hidden_round_trips() {
    let srv = rw_server();
    std::fs::write(srv.share_path("test").join("f.txt"), b"x").unwrap();
    let out = all_output(&srv.smbclient("test", ALICE, &[], "setmode f.txt +h; ls"));
    assert_no_error(&out, "setmode +h");
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("f.txt"))
        .unwrap_or_else(|| panic!("f.txt not listed:\n{out}"));
    assert!(
        line.split_whitespace().nth(1).unwrap_or("").contains('H'),
        "hidden attribute not kept: {line}"
    );
    let out = all_output(&srv.smbclient("test", ALICE, &[], "setmode f.txt -h; ls"));
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("f.txt"))
        .unwrap_or_default();
    assert!(
        !line.split_whitespace().nth(1).unwrap_or("").contains('H'),
        "hidden attribute not cleared: {line}"
    );
}
