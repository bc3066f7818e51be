//! A small `log` backend: one line per record on stderr,
//! `2024-05-01T12:00:00.123Z WARN  message` (UTC). The level comes from
//! `-v`/`-q` on the command line, else from `RSMBD_LOG`, else `info`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = record.level();
        let line = if level >= Level::Debug {
            format!(
                "{} {:<5} {}: {}\n",
                timestamp(SystemTime::now()),
                level,
                record.target(),
                record.args()
            )
        } else {
            format!(
                "{} {:<5} {}\n",
                timestamp(SystemTime::now()),
                level,
                record.args()
            )
        };
        // One write per record so lines from different threads do not interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Parses an `RSMBD_LOG` value.
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.trim().to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::Off),
        "error" => Some(LevelFilter::Error),
        "warn" | "warning" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        _ => None,
    }
}

/// The level for a `-v` count minus `-q` count, from `info`.
pub fn level_from_verbosity(v: i32) -> LevelFilter {
    match v {
        i32::MIN..=-2 => LevelFilter::Error,
        -1 => LevelFilter::Warn,
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger. `verbosity` is `Some` when `-v`/`-q` were given.
pub fn init(verbosity: Option<i32>) {
    let mut bad_env = None;
    let level = match verbosity {
        Some(v) => level_from_verbosity(v),
        None => match std::env::var("RSMBD_LOG") {
            Ok(s) => parse_level(&s).unwrap_or_else(|| {
                bad_env = Some(s);
                LevelFilter::Info
            }),
            Err(_) => LevelFilter::Info,
        },
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
    if let Some(s) = bad_env {
        log::warn!("RSMBD_LOG={s:?} is not one of error, warn, info, debug, trace; using info");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a time (UTC; no time zone database needed).
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (the well-known era-based conversion).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (leap day) 12:34:56.789
        let t = UNIX_EPOCH + Duration::from_millis(951_827_696_789);
        assert_eq!(timestamp(t), "2000-02-29T12:34:56.789Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_735_689_599);
        assert_eq!(timestamp(t), "2024-12-31T23:59:59.000Z");
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("DEBUG"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("warn"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("error"), Some(LevelFilter::Error));
        assert_eq!(parse_level("trace"), Some(LevelFilter::Trace));
        assert_eq!(parse_level("info"), Some(LevelFilter::Info));
        assert_eq!(parse_level("loud"), None);
        assert_eq!(level_from_verbosity(0), LevelFilter::Info);
        assert_eq!(level_from_verbosity(1), LevelFilter::Debug);
        assert_eq!(level_from_verbosity(5), LevelFilter::Trace);
        assert_eq!(level_from_verbosity(-1), LevelFilter::Warn);
        assert_eq!(level_from_verbosity(-3), LevelFilter::Error);
    }
}
