//! `rsmbd serve` and `rsmbd check-config`: find and check the config, load
//! the users, bind every address, and only then start the server, so a bad
//! config or a port in use stops everything before anything has started.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::{info, warn};
use server::config::ServerConfig;

use crate::{conf, firstrun, Failure};

/// The config file to read: `--config`, else the default path if it exists.
/// `None` means first run (no config anywhere).
pub fn config_source(explicit: Option<PathBuf>) -> Result<Option<PathBuf>, Failure> {
    if let Some(p) = explicit {
        return Ok(Some(p));
    }
    let default = crate::default_config_path();
    match std::fs::metadata(&default) {
        Ok(_) => Ok(Some(default)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Config(format!("{}: {e}", default.display()))),
    }
}

/// Loads a config file, logging its warnings.
pub fn load_conf(path: &Path) -> Result<conf::Conf, Failure> {
    let c = conf::load(path).map_err(|e| Failure::Config(e.to_string()))?;
    for w in &c.warnings {
        warn!("{w}");
    }
    Ok(c)
}

pub fn check_config(config: Option<PathBuf>) -> Result<(), Failure> {
    let path = config_source(config)?.unwrap_or_else(crate::default_config_path);
    let c = load_conf(&path)?;
    print!(
        "# effective configuration of {}\n{}",
        path.display(),
        conf::render(&c)
    );
    Ok(())
}

/// Everything `serve` needs once the checks passed and the ports are bound.
pub struct Prepared {
    pub config: ServerConfig,
    pub users: auth::UserDb,
    pub listeners: Vec<TcpListener>,
    /// Printed on stdout once the server is about to accept (first run).
    pub announce: Option<String>,
}

pub fn serve(config: Option<PathBuf>, users: Option<PathBuf>) -> Result<(), Failure> {
    let prepared = match config_source(config)? {
        Some(path) => prepare_from_config(&path, users)?,
        None => firstrun::prepare(users)?,
    };
    run(prepared)
}

fn prepare_from_config(path: &Path, users: Option<PathBuf>) -> Result<Prepared, Failure> {
    let c = load_conf(path)?;
    let users_path = users.unwrap_or_else(|| c.users_file.clone());
    let db = load_users_for_serve(&users_path, &c.server)?;
    let listeners = server::bind(&c.server).map_err(|e| Failure::Runtime(e.to_string()))?;
    for s in &c.server.shares {
        if !s.path.is_dir() {
            warn!(
                "share [{}]: path {} is not a directory; connections to it will fail",
                s.name,
                s.path.display()
            );
        }
    }
    info!(
        "configuration {}, users {}",
        path.display(),
        users_path.display()
    );
    Ok(Prepared {
        config: c.server,
        users: db,
        listeners,
        announce: None,
    })
}

/// The users file for `serve`. Missing is fine only when some share admits guests.
fn load_users_for_serve(path: &Path, config: &ServerConfig) -> Result<auth::UserDb, Failure> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if config.shares.iter().any(|s| s.guest_ok) {
                warn!(
                    "users file {} does not exist: guest access only",
                    path.display()
                );
                return Ok(auth::UserDb::new());
            }
            return Err(Failure::Runtime(format!(
                "{}: users file not found (add users with `rsmbd user add NAME`)",
                path.display()
            )));
        }
        Err(e) => return Err(Failure::Runtime(format!("{}: {e}", path.display()))),
        Ok(_) => {}
    }
    let db = auth::UserDb::load(path).map_err(|e| {
        if e.line > 0 {
            Failure::Config(e.to_string())
        } else {
            Failure::Runtime(e.to_string())
        }
    })?;
    if db.is_empty() {
        warn!("users file {} has no users", path.display());
    }
    Ok(db)
}

/// Runs the server on a current-thread runtime until SIGINT or SIGTERM.
fn run(p: Prepared) -> Result<(), Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt_err = |e: std::io::Error| Failure::Runtime(format!("cannot start the runtime: {e}"));
    limit_malloc_arenas();
    // File work runs on a bounded blocking pool; idle threads go after 10 s.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(64)
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .build()
        .map_err(rt_err)?;
    // Handlers go in before the server is announced, so a signal sent as soon
    // as the connect line appears is already a clean stop.
    let (mut term, mut int) = {
        let _guard = rt.enter();
        (
            signal(SignalKind::terminate()).map_err(rt_err)?,
            signal(SignalKind::interrupt()).map_err(rt_err)?,
        )
    };
    let addrs: Vec<String> = p
        .listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    info!(
        "rsmbd {} listening on {} with {} share(s)",
        env!("CARGO_PKG_VERSION"),
        addrs.join(", "),
        p.config.shares.len()
    );
    if let Some(line) = &p.announce {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    let result = rt.block_on(async move {
        tokio::spawn(release_freed_memory());
        tokio::select! {
            r = server::run(p.config, p.users, p.listeners) => r.map(|()| "the server stopped"),
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(why) => {
            info!("stopped ({why})");
            Ok(())
        }
        Err(e) => Err(Failure::Runtime(format!("server failed: {e}"))),
    }
}

/// glibc gives every thread that allocates its own arena and keeps freed
/// memory there; with a pool of I/O threads that is megabytes held idle.
/// One arena is plenty for this workload (threads keep small-block caches).
///
/// READ and WRITE buffers (up to the 8 MiB maximum I/O size) come from the
/// heap, not from a fresh mmap each: a new mapping costs a page fault and a
/// zeroed page per 4 KiB, a third of the CPU of an encrypted or signed
/// transfer. Freed memory stays in the heap while busy and is handed back
/// once requests pause (`release_freed_memory`).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning; called before other threads exist.
    unsafe {
        // One arena: malloc_trim gives back the top of the main heap only,
        // so buffers freed in another arena's top would stay resident.
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 9 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    }
}

/// Hands memory freed after a burst of large READs and WRITEs back to the
/// system once requests pause for a second, so an idle server stays small.
/// Not during a transfer: the buffers it frees are taken again at once, and
/// each page given back would be faulted in (and zeroed) again.
async fn release_freed_memory() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut seen = server::transport::frames_received();
    loop {
        tick.tick().await;
        let now = server::transport::frames_received();
        if std::mem::replace(&mut seen, now) != now {
            continue;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free heap pages to the kernel.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
