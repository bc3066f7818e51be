//! rsmbd protocol server: protocol state, dispatch, one module per SMB2
//! command, and the TCP transport.
pub mod brlock;
pub mod config;
pub mod credits;
pub mod dispatch;
pub mod encryption;
pub mod errno;
pub mod filetable;
pub mod inotify;
pub mod mangle;
pub mod netinfo;
pub mod notify;
pub mod oplock;
pub mod path;
pub mod pending;
pub mod smb2;
pub mod state;
pub mod transport;
pub mod util;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::net::{SocketAddr, TcpListener};

/// A listening address that could not be bound.
#[derive(Debug)]
pub struct BindError {
    pub addr: SocketAddr,
    pub error: std::io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.error)
    }
}

/// Binds every configured address before anything else starts, so a port in
/// use is reported before the server is half up.
pub fn bind(config: &config::ServerConfig) -> Result<Vec<TcpListener>, BindError> {
    let mut out = Vec::new();
    for addr in &config.listen {
        let l = TcpListener::bind(addr).map_err(|error| BindError { addr: *addr, error })?;
        l.set_nonblocking(true)
            .map_err(|error| BindError { addr: *addr, error })?;
        out.push(l);
    }
    Ok(out)
}

/// Serves SMB on the given listeners until the future is dropped.
pub async fn run(
    config: config::ServerConfig,
    users: auth::UserDb,
    listeners: Vec<TcpListener>,
) -> std::io::Result<()> {
    let max_conns = config.max_connections;
    let server = state::Server::new(config, users)?.into_arc();
    let next_id = Arc::new(AtomicU64::new(1));
    let mut tasks = Vec::new();
    for l in listeners {
        let listener = tokio::net::TcpListener::from_std(l)?;
        let server = server.clone();
        let next_id = next_id.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        log::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let current = server.connections.load(Ordering::Relaxed);
                if max_conns != 0 && current >= max_conns {
                    log::warn!(
                        "refusing connection from {peer}: max connections ({max_conns}) reached"
                    );
                    drop(stream);
                    continue;
                }
                server.connections.fetch_add(1, Ordering::Relaxed);
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let server = server.clone();
                tokio::spawn(async move {
                    transport::serve_connection(server.clone(), stream, id).await;
                    server.connections.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
