//! Shared harness of the integration tests: a private `rsmbd serve` on a free
//! loopback port with its own config, users and share directories, plus
//! helpers that drive real clients (smbclient, Python smbprotocol) against it.
//!
//! Every test starts its own server, so tests run in parallel safely.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rsmbd");

/// The two accounts every test server has.
pub const ALICE: &str = "alice%Secret-1";
pub const BOB: &str = "bob%Secret-2";

/// Every dialect smbclient can be pinned to, oldest first.
pub const DIALECTS: [&str; 5] = ["SMB2_02", "SMB2_10", "SMB3_00", "SMB3_02", "SMB3_11"];

/// Fails the test (never skips it) when an external client is missing.
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed: run scripts/test (as root it installs smbclient, \
         attr and the Python smbprotocol package) instead of calling cargo test directly"
    );
}

/// Fails the test when Python or its `smbprotocol` package is missing.
pub fn require_smbprotocol() {
    require_tool("python3");
    let ok = Command::new("python3")
        .args(["-c", "import smbprotocol.connection"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the Python package `smbprotocol` is not importable by python3: run scripts/test \
         (as root it runs `pip install smbprotocol`) instead of calling cargo test directly"
    );
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "rsmbd-it-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `rsmbd serve`, stopped (SIGTERM, then wait) and cleaned up on drop.
pub struct TestServer {
    child: Child,
    pub port: u16,
    // Declared last: removed after the server is stopped.
    dir: TempDir,
}

/// A server running as root acts on files as the Unix account named like the
/// SMB user, else as `guest account` (nobody), which cannot write into the
/// root-owned temp dirs. The test accounts are no Unix accounts, so the
/// shares act as the test's own user unless a test sets `force user` itself.
fn identity_lines(extra: &str) -> String {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 || extra.to_ascii_lowercase().contains("force user") {
        return String::new();
    }
    "\tforce user = root\n".to_string()
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl TestServer {
    /// Starts a server. `extra_global` is appended to `[global]`; each share is
    /// `(name, extra lines)` and gets the directory `share_path(name)`.
    /// Users alice/Secret-1 and bob/Secret-2 exist.
    pub fn start(extra_global: &str, shares: &[(&str, &str)]) -> TestServer {
        Self::start_with(extra_global, shares, |_| {})
    }

    /// As `start`, with a hook that prepares the temp dir (share contents,
    /// symlinks...) before the server starts.
    pub fn start_with(
        extra_global: &str,
        shares: &[(&str, &str)],
        prepare: impl Fn(&Path),
    ) -> TestServer {
        let dir = TempDir::new("srv");
        let users = dir.path().join("users.db");
        for (name, pass) in [("alice", "Secret-1"), ("bob", "Secret-2")] {
            let out = Command::new(BIN)
                .args(["user", "add", name, "--password", pass, "--users"])
                .arg(&users)
                .env_remove("RSMBD_LOG")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "rsmbd user add {name} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(dir.path().join("empty.conf"), b"").unwrap();
        for (name, _) in shares {
            std::fs::create_dir_all(dir.path().join("shares").join(name)).unwrap();
        }
        prepare(dir.path());

        // A port found free can be taken by a parallel test before our server
        // binds it: then the server exits and we try another one.
        let mut last_log = String::new();
        for _attempt in 0..8 {
            let port = free_port();
            let mut conf = format!(
                "[global]\n\ttcp port = {port}\n\tinterfaces = 127.0.0.1\n\t\
                 bind interfaces only = yes\n\tusers file = {}\n{extra_global}\n",
                users.display()
            );
            for (name, extra) in shares {
                conf.push_str(&format!(
                    "[{name}]\n\tpath = {}\n{}{extra}\n",
                    dir.path().join("shares").join(name).display(),
                    identity_lines(extra)
                ));
            }
            let conf_path = dir.path().join("rsmbd.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let log_path = dir.path().join("server.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new(BIN)
                .arg("serve")
                .arg("--config")
                .arg(&conf_path)
                .env(
                    "RSMBD_LOG",
                    std::env::var("RSMBD_TEST_LOG").unwrap_or_else(|_| "info".into()),
                )
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut up = false;
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // Make sure it is our server that answered, not a neighbour's.
                    std::thread::sleep(Duration::from_millis(50));
                    up = child.try_wait().unwrap().is_none();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if up {
                return TestServer { child, port, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("rsmbd serve did not start; its log:\n{last_log}");
    }

    /// The temp dir of this server (config, users, logs, shares).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The local directory behind share `name`.
    pub fn share_path(&self, name: &str) -> PathBuf {
        self.dir.path().join("shares").join(name)
    }

    /// The empty client config given to smbclient so the machine's smb.conf is never read.
    pub fn empty_conf(&self) -> PathBuf {
        self.dir.path().join("empty.conf")
    }

    /// True while the server process runs.
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn smbclient_cmd(&self, user: &str, args: &[&str]) -> Command {
        require_tool("smbclient");
        let mut c = Command::new("smbclient");
        c.current_dir(self.dir.path())
            .arg(format!("--configfile={}", self.empty_conf().display()))
            .args(["-p", &self.port.to_string()])
            // Samba's client would otherwise try SMB1 or NetBIOS on other ports.
            .arg("--option=client min protocol=SMB2_02");
        if user.is_empty() {
            c.arg("-N");
        } else {
            c.args(["-U", user]);
        }
        c.args(args).stdin(Stdio::null());
        c
    }

    /// Runs `smbclient //127.0.0.1/SHARE -c CMDS` as `user` ("name%password",
    /// or "" for an anonymous `-N` logon) with extra `args`, in `dir()`.
    pub fn smbclient(&self, share: &str, user: &str, args: &[&str], cmds: &str) -> Output {
        let mut c = self.smbclient_cmd(user, args);
        c.arg(format!("//127.0.0.1/{share}")).args(["-c", cmds]);
        run_with_timeout(c, Duration::from_secs(300))
    }

    /// Runs `smbclient -L //127.0.0.1` (the share list over srvsvc).
    pub fn smbclient_list(&self, user: &str, args: &[&str]) -> Output {
        let mut c = self.smbclient_cmd(user, args);
        c.args(["-L", "//127.0.0.1"]);
        run_with_timeout(c, Duration::from_secs(120))
    }

    /// Runs a script of tests/python with `args`; the script gets the port as
    /// `--port` and the share directory root as `--dir`.
    pub fn python(&self, script: &str, args: &[&str]) -> Output {
        require_smbprotocol();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/python")
            .join(script);
        let mut c = Command::new("python3");
        c.arg(path)
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path().join("shares"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        run_with_timeout(c, Duration::from_secs(600))
    }

    /// Checks that a plain `ls` over a new connection works and the process is alive.
    pub fn assert_healthy(&mut self, share: &str, what: &str) {
        assert!(
            self.alive(),
            "server died after {what}; log:\n{}",
            tail(&self.log())
        );
        let out = self.smbclient(share, ALICE, &[], "ls");
        assert!(
            out.status.success(),
            "ls failed after {what}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(self.alive(), "server died after {what}");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SIGTERM asks for a clean shutdown; SIGKILL if it does not come.
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        if std::thread::panicking() {
            eprintln!("--- rsmbd log (tail) ---\n{}", tail(&self.log()));
        }
    }
}

/// Runs a command with a deadline (a hung client must fail the test, not hang it).
pub fn run_with_timeout(mut c: Command, limit: Duration) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let s = child.wait().unwrap();
            eprintln!("command timed out after {limit:?}: {c:?}");
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// stdout and stderr together (smbclient prints NT_STATUS errors on either).
pub fn all_output(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// The last 80 lines of a log.
pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let from = lines.len().saturating_sub(80);
    lines.get(from..).unwrap_or(&[]).join("\n")
}

/// A fixed-seed xorshift generator for reproducible "random" data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
