//! rsmbd: an SMB2/SMB3 file server for Linux. This binary reads the command
//! line and the smb.conf-style config, manages the users file, and runs the
//! server library in the foreground.

mod cli;
mod conf;
mod firstrun;
mod logger;
mod netif;
mod serve;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

/// Where the config file is looked for without `--config`.
pub const DEFAULT_CONFIG: &str = "/etc/rsmbd/rsmbd.conf";

/// The default config path; `RSMBD_DEFAULT_CONFIG` moves it (tests use that
/// to be independent of the machine's own config).
pub fn default_config_path() -> PathBuf {
    std::env::var_os("RSMBD_DEFAULT_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

/// Why a command failed; decides the exit status.
#[derive(Debug)]
pub enum Failure {
    /// Bad command line or config (exit 2).
    Config(String),
    /// Something failed while doing the work: a port in use, I/O (exit 1).
    Runtime(String),
}

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rsmbd: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    logger::init(cli.verbosity);
    let result = match cli.command {
        cli::Command::Help => {
            print!("{}", cli::USAGE);
            Ok(())
        }
        cli::Command::Version => {
            println!("rsmbd {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        cli::Command::Serve { config, users } => serve::serve(config, users),
        cli::Command::CheckConfig { config } => serve::check_config(config),
        cli::Command::UserAdd {
            name,
            password,
            users,
            config,
        } => users::add(&name, password, users, config),
        cli::Command::UserDel {
            name,
            users,
            config,
        } => users::del(&name, users, config),
        cli::Command::UserList { users, config } => users::list(users, config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(m)) => {
            eprintln!("rsmbd: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("rsmbd: {m}");
            ExitCode::from(1)
        }
    }
}
