//! Share access rules and confinement through `smbclient`: read only,
//! valid/invalid users, write list, anonymous and guest logons (MS-SMB2
//! 3.3.5.5 SESSION_SETUP, 3.3.5.7 TREE_CONNECT, MaximalAccess), wrong
//! passwords (MS-NLMP 3.2.5.1.2), veto files, symlinks out of the share and
//! `..` (DESIGN: nothing escapes the share), sparse end-of-file growth
//! (MS-FSCC 2.4.13 FileEndOfFileInformation).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{all_output, TestServer, ALICE, BOB};
use std::os::unix::fs::MetadataExt;

fn out_of(srv: &TestServer, share: &str, user: &str, cmds: &str) -> String {
    all_output(&srv.smbclient(share, user, &[], cmds))
}

fn local_file(srv: &TestServer) {
    std::fs::write(srv.dir().join("up.txt"), b"upload").unwrap();
}

#[test]
fn read_only_share_refuses_put_allows_get() {
    let srv = TestServer::start("", &[("ro", "\tread only = yes\n")]);
    local_file(&srv);
    std::fs::write(srv.share_path("ro").join("there.txt"), b"readable").unwrap();
    let out = out_of(&srv, "ro", ALICE, "put up.txt up.txt");
    assert!(out.contains("NT_STATUS_ACCESS_DENIED"), "put on ro: {out}");
    assert!(!srv.share_path("ro").join("up.txt").exists());
    let out = out_of(&srv, "ro", ALICE, "get there.txt got.txt");
    assert!(!out.contains("NT_STATUS_"), "get on ro: {out}");
    assert_eq!(
        std::fs::read(srv.dir().join("got.txt")).unwrap(),
        b"readable"
    );
    for cmds in ["mkdir d", "del there.txt", "rename there.txt x.txt"] {
        let out = out_of(&srv, "ro", ALICE, cmds);
        assert!(
            out.contains("NT_STATUS_ACCESS_DENIED"),
            "{cmds} on ro: {out}"
        );
    }
    assert!(srv.share_path("ro").join("there.txt").exists());
}

#[test]
fn valid_users_refuses_others_at_tree_connect() {
    let srv = TestServer::start("", &[("only", "\tread only = no\n\tvalid users = alice\n")]);
    let out = out_of(&srv, "only", BOB, "ls");
    assert!(
        out.contains("tree connect failed: NT_STATUS_ACCESS_DENIED")
            || out.contains("NT_STATUS_ACCESS_DENIED"),
        "bob on valid users = alice: {out}"
    );
    let out = out_of(&srv, "only", ALICE, "ls");
    assert!(!out.contains("NT_STATUS_"), "alice: {out}");
}

#[test]
fn invalid_users_are_refused() {
    let srv = TestServer::start("", &[("s", "\tread only = no\n\tinvalid users = bob\n")]);
    let out = out_of(&srv, "s", BOB, "ls");
    assert!(out.contains("NT_STATUS_ACCESS_DENIED"), "bob: {out}");
    let out = out_of(&srv, "s", ALICE, "ls");
    assert!(!out.contains("NT_STATUS_"), "alice: {out}");
}

#[test]
fn write_list_on_read_only_share() {
    let srv = TestServer::start("", &[("ro", "\tread only = yes\n\twrite list = bob\n")]);
    local_file(&srv);
    let out = out_of(&srv, "ro", BOB, "put up.txt bob.txt");
    assert!(!out.contains("NT_STATUS_"), "bob (write list): {out}");
    assert_eq!(
        std::fs::read(srv.share_path("ro").join("bob.txt")).unwrap(),
        b"upload"
    );
    let out = out_of(&srv, "ro", ALICE, "put up.txt alice.txt");
    assert!(out.contains("NT_STATUS_ACCESS_DENIED"), "alice: {out}");
}

#[test]
fn read_list_on_writable_share() {
    let srv = TestServer::start("", &[("rw", "\tread only = no\n\tread list = bob\n")]);
    local_file(&srv);
    let out = out_of(&srv, "rw", BOB, "put up.txt bob.txt");
    assert!(
        out.contains("NT_STATUS_ACCESS_DENIED"),
        "bob (read list): {out}"
    );
    let out = out_of(&srv, "rw", ALICE, "put up.txt alice.txt");
    assert!(!out.contains("NT_STATUS_"), "alice: {out}");
}

#[test]
fn anonymous_refused_on_disk_share() {
    let srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    std::fs::write(srv.share_path("test").join("secret.txt"), b"s").unwrap();
    let out = srv.smbclient("test", "", &[], "ls");
    let s = all_output(&out);
    assert!(!out.status.success(), "anonymous ls succeeded: {s}");
    assert!(!s.contains("secret.txt"), "anonymous saw files: {s}");
    assert!(s.contains("NT_STATUS_"), "no NT status in: {s}");
}

#[test]
fn wrong_password_is_logon_failure() {
    let srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    for user in ["alice%wrong", "alice%Secret-2", "nosuchuser%Secret-1"] {
        let out = out_of(&srv, "test", user, "ls");
        assert!(out.contains("NT_STATUS_LOGON_FAILURE"), "{user}: {out}");
    }
}

#[test]
fn bad_user_maps_to_guest_read_only() {
    let srv = TestServer::start(
        "\tmap to guest = bad user\n\tguest account = nobody\n",
        &[
            ("pub", "\tread only = yes\n\tguest ok = yes\n"),
            ("priv", "\tread only = no\n"),
        ],
    );
    std::fs::write(srv.share_path("pub").join("open.txt"), b"for all").unwrap();
    local_file(&srv);
    let out = out_of(&srv, "pub", "mallory%whatever", "ls; get open.txt got.txt");
    assert!(out.contains("open.txt"), "guest ls: {out}");
    assert!(!out.contains("NT_STATUS_"), "guest: {out}");
    assert_eq!(
        std::fs::read(srv.dir().join("got.txt")).unwrap(),
        b"for all"
    );
    let out = out_of(&srv, "pub", "mallory%whatever", "put up.txt up.txt");
    assert!(out.contains("NT_STATUS_ACCESS_DENIED"), "guest put: {out}");
    // A share without guest ok refuses the guest.
    let out = out_of(&srv, "priv", "mallory%whatever", "ls");
    assert!(
        out.contains("NT_STATUS_ACCESS_DENIED"),
        "guest on priv: {out}"
    );
    // A known user with a wrong password is still refused (bad user, not bad password).
    let out = out_of(&srv, "pub", "alice%wrong", "ls");
    assert!(
        out.contains("NT_STATUS_LOGON_FAILURE"),
        "alice%wrong: {out}"
    );
}

#[test]
fn veto_files_are_invisible_and_uncreatable() {
    let srv = TestServer::start(
        "",
        &[(
            "test",
            "\tread only = no\n\tveto files = /*.secret/Thumbs.db/\n",
        )],
    );
    let share = srv.share_path("test");
    std::fs::write(share.join("a.secret"), b"s").unwrap();
    std::fs::write(share.join("Thumbs.db"), b"t").unwrap();
    std::fs::write(share.join("ok.txt"), b"o").unwrap();
    local_file(&srv);
    let out = out_of(&srv, "test", ALICE, "ls");
    assert!(out.contains("ok.txt"), "{out}");
    assert!(!out.contains("a.secret"), "vetoed file listed: {out}");
    assert!(!out.contains("Thumbs.db"), "vetoed file listed: {out}");
    let out = out_of(&srv, "test", ALICE, "get a.secret got.txt");
    assert!(out.contains("NT_STATUS_"), "get of vetoed file: {out}");
    assert!(!srv.dir().join("got.txt").exists());
    let out = out_of(&srv, "test", ALICE, "put up.txt b.secret");
    assert!(out.contains("NT_STATUS_"), "put of vetoed name: {out}");
    assert!(!share.join("b.secret").exists());
}

#[test]
fn symlinks_out_of_the_share_cannot_be_followed() {
    let srv = TestServer::start_with("", &[("test", "\tread only = no\n")], |dir| {
        let share = dir.join("shares/test");
        std::fs::write(dir.join("outside.txt"), b"outside secret").unwrap();
        std::os::unix::fs::symlink("/etc", share.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", share.join("passwd")).unwrap();
        std::os::unix::fs::symlink("../../outside.txt", share.join("rel-out")).unwrap();
        std::fs::write(share.join("inside.txt"), b"inside").unwrap();
        std::os::unix::fs::symlink("inside.txt", share.join("link-in")).unwrap();
        std::fs::create_dir(share.join("sub")).unwrap();
        std::os::unix::fs::symlink("../inside.txt", share.join("sub/up-in")).unwrap();
    });
    for (remote, local) in [
        ("passwd", "g1"),
        ("etc\\passwd", "g2"),
        ("etc\\hostname", "g3"),
        ("rel-out", "g4"),
    ] {
        let out = out_of(&srv, "test", ALICE, &format!("get {remote} {local}"));
        assert!(
            out.contains("NT_STATUS_"),
            "get {remote} did not fail: {out}"
        );
        let got = std::fs::read(srv.dir().join(local)).unwrap_or_default();
        assert!(got.is_empty(), "get {remote} read {} bytes", got.len());
    }
    let out = out_of(&srv, "test", ALICE, "cd etc; ls");
    assert!(
        !out.contains("os-release") && !out.contains("fstab"),
        "listed /etc through a symlink: {out}"
    );
    let out = out_of(&srv, "test", ALICE, "get link-in in1; get sub\\up-in in2");
    assert!(!out.contains("NT_STATUS_"), "symlinks inside: {out}");
    assert_eq!(std::fs::read(srv.dir().join("in1")).unwrap(), b"inside");
    assert_eq!(std::fs::read(srv.dir().join("in2")).unwrap(), b"inside");
}

#[test]
fn dotdot_in_a_path_is_refused() {
    let srv = TestServer::start_with("", &[("test", "\tread only = no\n")], |dir| {
        std::fs::write(dir.join("shares/outside.txt"), b"outside secret").unwrap();
        std::fs::create_dir(dir.join("shares/test/sub")).unwrap();
    });
    // smbclient cleans `..` itself, so the raw paths go through smbprotocol.
    let out = srv.python("smbproto_check.py", &["--test", "dotdot"]);
    assert!(out.status.success(), "dotdot check:\n{}", all_output(&out));
    // And whatever smbclient sends for these, the outside file is never read.
    for remote in ["..\\outside.txt", "sub\\..\\..\\outside.txt"] {
        let _ = out_of(&srv, "test", ALICE, &format!("get {remote} got.txt"));
        let got = std::fs::read(srv.dir().join("got.txt")).unwrap_or_default();
        assert!(got != b"outside secret", "{remote} escaped the share");
    }
}

#[test]
fn end_of_file_growth_is_sparse() {
    let srv = TestServer::start("", &[("test", "\tread only = no\n")]);
    let out = srv.python("smbproto_check.py", &["--test", "sparse-eof"]);
    assert!(
        out.status.success(),
        "sparse eof check:\n{}",
        all_output(&out)
    );
    let md = std::fs::metadata(srv.share_path("test").join("sparse.bin")).unwrap();
    assert_eq!(md.len(), 10 * 1024 * 1024 * 1024, "end of file not set");
    // 512-byte blocks: well under 1 MiB actually allocated for a 10 GiB file.
    assert!(md.blocks() < 2048, "{} blocks allocated", md.blocks());
}
