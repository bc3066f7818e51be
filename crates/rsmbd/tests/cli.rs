//! Runs the built `rsmbd` binary as an operator would: check-config, the user
//! commands, a port already in use, and the first-run default.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rsmbd");

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "rsmbd-cli-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with an environment that cannot see the machine's own config.
fn rsmbd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env("RSMBD_DEFAULT_CONFIG", dir.join("no-such-default.conf"))
        .env_remove("RSMBD_LOG")
        .env_remove("RSMBD_FIRST_RUN_PORT");
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn help_and_version() {
    let d = TempDir::new("help");
    let out = run(rsmbd(d.path()).arg("--help"));
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("rsmbd serve"));
    let out = run(rsmbd(d.path()).arg("--version"));
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("rsmbd "));
    let out = run(rsmbd(d.path()).arg("bogus"));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_config_prints_the_effective_configuration() {
    let d = TempDir::new("check");
    let conf = d.path().join("rsmbd.conf");
    std::fs::write(
        &conf,
        "[global]\n\tworkgroup = lab\n\tguest ok = yes\n\tlog level = 2\n\
         [Data]\n\tpath = /srv/data\n\twriteable = yes\n\tvalid users = alice, bob\n",
    )
    .unwrap();
    let out = run(rsmbd(d.path())
        .args(["check-config", "--config"])
        .arg(&conf));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("[global]\n"), "{stdout}");
    assert!(stdout.contains("\tworkgroup = LAB\n"), "{stdout}");
    assert!(stdout.contains("\ttcp port = 445\n"), "{stdout}");
    assert!(stdout.contains("[Data]\n\tpath = /srv/data\n"), "{stdout}");
    assert!(stdout.contains("\tread only = no\n"), "{stdout}");
    assert!(stdout.contains("\tguest ok = yes\n"), "{stdout}");
    assert!(stdout.contains("\tvalid users = alice bob\n"), "{stdout}");
    // The unknown key is a warning naming file:line; the file still loads.
    assert!(
        stderr.contains(&format!("{}:4: unknown key `log level`", conf.display())),
        "{stderr}"
    );
    // The printed configuration is itself a valid config.
    let again = d.path().join("again.conf");
    std::fs::write(&again, &stdout).unwrap();
    let out = run(rsmbd(d.path()).args(["check-config", "-c"]).arg(&again));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn check_config_errors_name_file_and_line() {
    let d = TempDir::new("checkerr");
    let conf = d.path().join("bad.conf");
    for (body, line) in [
        (
            "[global]\nworkgroup = x\n[s]\npath = /s\nread only = perhaps\n",
            5,
        ),
        ("[global]\nserver max protocol = SMB9\n", 2),
        ("[global]\n\n[nopath]\ncomment = none\n", 3),
        ("[global]\nsmb2 max read = big\n", 2),
    ] {
        std::fs::write(&conf, body).unwrap();
        let out = run(rsmbd(d.path())
            .args(["check-config", "--config"])
            .arg(&conf));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{body}: {stderr}");
        assert!(
            stderr.contains(&format!("{}:{line}:", conf.display())),
            "{body}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    // A missing config file is an error naming the file.
    let missing = d.path().join("missing.conf");
    let out = run(rsmbd(d.path())
        .args(["check-config", "--config"])
        .arg(&missing));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.conf"));
}

#[test]
fn user_add_list_del_round_trip() {
    let d = TempDir::new("users");
    let db = d.path().join("sub/dir/users.db");
    let out = run(rsmbd(d.path())
        .args(["user", "add", "alice", "--password", "Password", "--users"])
        .arg(&db));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&db), 0o600);
    // ksmbd format: name:base64(NT hash); NTOWFv1("Password") from MS-NLMP 4.2.2.1.2.
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        "alice:pPScQGUQvcq2gk7nww/YUg==\n"
    );

    // Password from stdin.
    let mut child = rsmbd(d.path())
        .args(["user", "add", "bob", "--users"])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let content = std::fs::read_to_string(&db).unwrap();
    let bob = content.lines().find(|l| l.starts_with("bob:")).unwrap();
    let alice_line = content.lines().find(|l| l.starts_with("alice:")).unwrap();
    assert_ne!(
        bob.split_once(':').unwrap().1,
        alice_line.split_once(':').unwrap().1
    );

    let out = run(rsmbd(d.path()).args(["user", "list", "--users"]).arg(&db));
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "alice\nbob\n");

    // Adding again replaces the password.
    let out = run(rsmbd(d.path())
        .args(["user", "add", "alice", "--password", "other", "--users"])
        .arg(&db));
    assert!(out.status.success());
    let content = std::fs::read_to_string(&db).unwrap();
    assert_eq!(content.lines().count(), 2);
    assert!(!content.contains("pPScQGUQvcq2gk7nww/YUg=="));

    let out = run(rsmbd(d.path())
        .args(["user", "del", "alice", "--users"])
        .arg(&db));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(rsmbd(d.path()).args(["user", "list", "--users"]).arg(&db));
    assert_eq!(text(&out.stdout), "bob\n");
    assert_eq!(mode(&db), 0o600);

    // Deleting a missing user fails with status 1.
    let out = run(rsmbd(d.path())
        .args(["user", "del", "alice", "--users"])
        .arg(&db));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("alice"));
}

#[test]
fn user_commands_use_the_users_file_of_the_default_config() {
    let d = TempDir::new("userscfg");
    let conf = d.path().join("default.conf");
    std::fs::write(&conf, "[global]\nusers file = people.db\n").unwrap();
    let out = run(rsmbd(d.path()).env("RSMBD_DEFAULT_CONFIG", &conf).args([
        "user",
        "add",
        "carol",
        "--password",
        "pw",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let db = d.path().join("people.db");
    assert!(std::fs::read_to_string(&db).unwrap().starts_with("carol:"));
}

#[test]
fn port_in_use_is_reported_with_the_address() {
    let d = TempDir::new("inuse");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let share = d.path().join("share");
    std::fs::create_dir(&share).unwrap();
    let users = d.path().join("users.db");
    std::fs::write(&users, "alice:pPScQGUQvcq2gk7nww/YUg==\n").unwrap();
    let conf = d.path().join("rsmbd.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\ntcp port = {port}\ninterfaces = 127.0.0.1\nbind interfaces only = yes\n\
             users file = {}\n[s]\npath = {}\n",
            users.display(),
            share.display()
        ),
    )
    .unwrap();
    let mut child = rsmbd(d.path())
        .args(["serve", "--config"])
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for_exit(&mut child, Duration::from_secs(20)).expect("serve did not exit");
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    drop(taken);
}

#[test]
fn serve_with_a_bad_config_exits_2_and_creates_nothing() {
    let d = TempDir::new("badserve");
    let conf = d.path().join("rsmbd.conf");
    std::fs::write(
        &conf,
        "[global]\nusers file = u.db\n[s]\npath = /s\nguest ok = maybe\n",
    )
    .unwrap();
    let out = run(rsmbd(d.path()).args(["serve", "--config"]).arg(&conf));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("{}:5:", conf.display())));
    assert!(!d.path().join("u.db").exists());
    assert!(!d.path().join("share").exists());
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `rsmbd serve` in first-run mode and returns it with its connect line.
fn start_first_run(dir: &Path, port: u16) -> (Child, String) {
    let mut child = rsmbd(dir)
        .arg("serve")
        .env("RSMBD_FIRST_RUN_PORT", port.to_string())
        .env("USER", "tester")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("smbclient ") => return (child, line),
            Ok(_) => continue,
            Err(_) => {
                let _ = child.kill();
                panic!("no smbclient line from rsmbd serve");
            }
        }
    }
}

fn stop(child: &mut Child, sig: i32) -> std::process::ExitStatus {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    wait_for_exit(child, Duration::from_secs(10)).expect("rsmbd did not stop promptly")
}

#[test]
fn first_run_shares_cwd_share_and_stops_on_signals() {
    let d = TempDir::new("firstrun");
    let port = free_port();
    let (mut child, line) = start_first_run(d.path(), port);
    let prefix = format!("smbclient //127.0.0.1/share -p {port} -U tester%");
    assert!(line.starts_with(&prefix), "{line}");
    let password = line.strip_prefix(&prefix).unwrap().to_string();
    assert_eq!(password.len(), 16);
    assert!(password.bytes().all(|b| b.is_ascii_alphanumeric()));

    assert!(d.path().join("share").is_dir());
    let db = d.path().join("rsmbd-users.db");
    assert_eq!(mode(&db), 0o600);
    assert!(std::fs::read_to_string(&db).unwrap().starts_with("tester:"));
    assert_eq!(mode(&d.path().join("rsmbd-password")), 0o600);

    let status = stop(&mut child, libc::SIGTERM);
    assert!(status.success(), "{status:?}");

    // A restart reuses the saved user and password; SIGINT stops it as well.
    let (mut child, line2) = start_first_run(d.path(), port);
    assert_eq!(line2, line);
    let status = stop(&mut child, libc::SIGINT);
    assert!(status.success(), "{status:?}");
}

#[test]
fn first_run_falls_back_to_the_second_port_and_says_why() {
    let d = TempDir::new("fallback");
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let port = free_port();
    let mut child = rsmbd(d.path())
        .arg("serve")
        .env("RSMBD_FIRST_RUN_PORT", format!("{busy},{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains(&format!(" -p {port} ")), "{line}");
    let status = stop(&mut child, libc::SIGTERM);
    assert!(status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains(&format!("0.0.0.0:{busy}")), "{stderr}");
    assert!(stderr.contains(&format!("trying port {port}")), "{stderr}");
    drop(taken);
}
