//! The command line (a contract with operators and scripts):
//!
//! ```text
//! rsmbd [-v|-q]... serve [--config FILE] [--users FILE]
//! rsmbd [-v|-q]... check-config [--config FILE]
//! rsmbd user add NAME [--password PASS] [--users FILE] [--config FILE]
//! rsmbd user del NAME [--users FILE] [--config FILE]
//! rsmbd user list [--users FILE] [--config FILE]
//! rsmbd --help | --version
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
rsmbd: an SMB2/SMB3 file server

usage:
  rsmbd serve [--config FILE] [--users FILE]
      serve in the foreground until SIGINT/SIGTERM; without a config file
      (and none at /etc/rsmbd/rsmbd.conf) share ./share for a generated user
  rsmbd check-config [--config FILE]
      print the effective configuration, or the errors
  rsmbd user add NAME [--password PASS] [--users FILE]
      add a user or set its password (read from stdin without --password)
  rsmbd user del NAME [--users FILE]
  rsmbd user list [--users FILE]

options:
  -c, --config FILE   config file (default /etc/rsmbd/rsmbd.conf)
  -u, --users FILE    users file (default: `users file` of the config,
                      else /etc/rsmbd/users.db)
      --password PASS password for `user add`
  -v, --verbose       more log output (repeat for trace)
  -q, --quiet         less log output (repeat for errors only)
  -h, --help          this text
  -V, --version       the version

environment:
  RSMBD_LOG=error|warn|info|debug|trace   log level when no -v/-q is given
";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve {
        config: Option<PathBuf>,
        users: Option<PathBuf>,
    },
    CheckConfig {
        config: Option<PathBuf>,
    },
    UserAdd {
        name: String,
        password: Option<String>,
        users: Option<PathBuf>,
        config: Option<PathBuf>,
    },
    UserDel {
        name: String,
        users: Option<PathBuf>,
        config: Option<PathBuf>,
    },
    UserList {
        users: Option<PathBuf>,
        config: Option<PathBuf>,
    },
    Help,
    Version,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub command: Command,
    /// `-v` count minus `-q` count; `None` when neither was given.
    pub verbosity: Option<i32>,
}

/// Parses the arguments after the program name. Errors are usage errors (exit 2).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, String> {
    use lexopt::Arg::{Long, Short, Value};
    let mut p = lexopt::Parser::from_args(args);
    let mut verbosity: Option<i32> = None;
    let mut config = None;
    let mut users = None;
    let mut password = None;
    let mut help = false;
    let mut version = false;
    let mut words: Vec<String> = Vec::new();
    let err = |e: lexopt::Error| e.to_string();
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Short('v') | Long("verbose") => {
                verbosity = Some(verbosity.unwrap_or(0).saturating_add(1));
            }
            Short('q') | Long("quiet") => {
                verbosity = Some(verbosity.unwrap_or(0).saturating_sub(1));
            }
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") => version = true,
            Short('c') | Long("config") => config = Some(PathBuf::from(p.value().map_err(err)?)),
            Short('u') | Long("users") => users = Some(PathBuf::from(p.value().map_err(err)?)),
            Long("password") => {
                let v = p.value().map_err(err)?;
                password = Some(
                    v.into_string()
                        .map_err(|_| "--password is not valid UTF-8".to_string())?,
                );
            }
            Value(v) => words.push(
                v.into_string()
                    .map_err(|v| format!("argument {v:?} is not valid UTF-8"))?,
            ),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let command = if help {
        Command::Help
    } else if version {
        Command::Version
    } else {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["serve"] => Command::Serve { config, users },
            ["check-config"] => {
                reject(users.is_some(), "--users", "check-config")?;
                Command::CheckConfig { config }
            }
            ["user", "add", name] => Command::UserAdd {
                name: name.to_string(),
                password: password.take(),
                users,
                config,
            },
            ["user", "del" | "delete", name] => Command::UserDel {
                name: name.to_string(),
                users,
                config,
            },
            ["user", "list"] => Command::UserList { users, config },
            ["help"] => Command::Help,
            ["version"] => Command::Version,
            [] => return Err("no command given".into()),
            ["user", "add" | "del" | "delete"] => return Err("missing user NAME".into()),
            ["user", ..] => {
                return Err("expected `user add NAME`, `user del NAME` or `user list`".into())
            }
            _ => return Err(format!("unknown command `{}`", words.join(" "))),
        }
    };
    reject(
        password.is_some() && command != Command::Help && command != Command::Version,
        "--password",
        "this command",
    )?;
    Ok(Cli { command, verbosity })
}

fn reject(present: bool, option: &str, command: &str) -> Result<(), String> {
    if present {
        Err(format!("{option} is not an option of {command}"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Cli, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn serve_with_options_anywhere() {
        let c = p(&["-v", "serve", "--config", "a.conf", "-u", "u.db", "-v"]).unwrap();
        assert_eq!(c.verbosity, Some(2));
        assert_eq!(
            c.command,
            Command::Serve {
                config: Some("a.conf".into()),
                users: Some("u.db".into())
            }
        );
        let c = p(&["serve", "--config=b.conf", "-q"]).unwrap();
        assert_eq!(c.verbosity, Some(-1));
        assert_eq!(
            c.command,
            Command::Serve {
                config: Some("b.conf".into()),
                users: None
            }
        );
        assert_eq!(p(&["serve"]).unwrap().verbosity, None);
    }

    #[test]
    fn user_commands() {
        assert_eq!(
            p(&["user", "add", "alice", "--password", "pw"])
                .unwrap()
                .command,
            Command::UserAdd {
                name: "alice".into(),
                password: Some("pw".into()),
                users: None,
                config: None
            }
        );
        assert_eq!(
            p(&["user", "del", "bob", "--users", "x.db"])
                .unwrap()
                .command,
            Command::UserDel {
                name: "bob".into(),
                users: Some("x.db".into()),
                config: None
            }
        );
        assert_eq!(
            p(&["user", "list"]).unwrap().command,
            Command::UserList {
                users: None,
                config: None
            }
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p(&["--help"]).unwrap().command, Command::Help);
        assert_eq!(p(&["-h"]).unwrap().command, Command::Help);
        assert_eq!(p(&["--version"]).unwrap().command, Command::Version);
        assert_eq!(p(&["serve", "--help"]).unwrap().command, Command::Help);
    }

    #[test]
    fn usage_errors() {
        assert!(p(&[]).is_err());
        assert!(p(&["frobnicate"]).is_err());
        assert!(p(&["serve", "extra"]).is_err());
        assert!(p(&["user", "add"]).is_err());
        assert!(p(&["user", "rename", "a"]).is_err());
        assert!(p(&["serve", "--bogus"]).is_err());
        assert!(p(&["serve", "--config"]).is_err());
        assert!(p(&["serve", "--password", "x"]).is_err());
        assert!(p(&["check-config", "--users", "x"]).is_err());
    }
}
