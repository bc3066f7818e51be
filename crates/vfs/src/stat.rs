//! File metadata as the server needs it: `statx(2)` results, NT time conversion
//! (MS-DTYP 2.3.3 FILETIME: 100 ns intervals since 1601-01-01 UTC) and filesystem
//! sizes for FileFsSizeInformation / FileFsFullSizeInformation (MS-FSCC 2.5.8, 2.5.4).

use crate::Result;
use rustix::fd::AsFd;
use rustix::fs::{AtFlags, StatxFlags, StatxTimestamp};

/// Seconds between 1601-01-01 and 1970-01-01 (MS-DTYP 2.3.3).
const NT_EPOCH_OFFSET_SECS: i64 = 11_644_473_600;
/// 100 ns ticks per second.
const NT_TICKS_PER_SEC: u64 = 10_000_000;

/// A POSIX time: seconds since 1970 and nanoseconds (always < 1e9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: u32,
}

impl Timespec {
    /// NT time (MS-DTYP 2.3.3 FILETIME): 100 ns intervals since 1601-01-01.
    /// Times at or before 1601 give 0; times too far in the future saturate.
    pub fn to_nt(self) -> u64 {
        let Some(since_1601) = self.sec.checked_add(NT_EPOCH_OFFSET_SECS) else {
            return u64::MAX;
        };
        let Ok(secs) = u64::try_from(since_1601) else {
            return 0;
        };
        let ticks = u64::from(self.nsec.min(999_999_999) / 100);
        secs.checked_mul(NT_TICKS_PER_SEC)
            .and_then(|t| t.checked_add(ticks))
            .unwrap_or(u64::MAX)
    }

    /// The inverse of [`Timespec::to_nt`] (exact to the 100 ns tick).
    pub fn from_nt(nt: u64) -> Timespec {
        let secs_1601 = nt / NT_TICKS_PER_SEC;
        let ticks = nt % NT_TICKS_PER_SEC;
        // nt / 1e7 < 2^64 / 1e7 < 2^41: always fits in i64.
        let sec = i64::try_from(secs_1601)
            .unwrap_or(i64::MAX)
            .saturating_sub(NT_EPOCH_OFFSET_SECS);
        // ticks < 1e7, so ticks * 100 < 1e9 fits in u32.
        let nsec = u32::try_from(ticks.saturating_mul(100)).unwrap_or(0);
        Timespec { sec, nsec }
    }

    fn from_statx(t: &StatxTimestamp) -> Timespec {
        Timespec {
            sec: t.tv_sec,
            nsec: t.tv_nsec,
        }
    }
}

/// Metadata of one file, from `statx(2)`.
#[derive(Clone, Debug)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Bytes actually allocated (`st_blocks * 512`).
    pub blocks_bytes: u64,
    pub blksize: u32,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    /// Birth time, when the filesystem records one.
    pub btime: Option<Timespec>,
}

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
}

/// `statx(dirfd, name, flags)`; `name` "" with `AT_EMPTY_PATH` stats `dirfd` itself.
pub(crate) fn statx_at<Fd: AsFd>(dirfd: Fd, name: &str, flags: AtFlags) -> Result<Stat> {
    let mask = StatxFlags::BASIC_STATS | StatxFlags::BTIME;
    let x = rustix::fs::statx(dirfd, name, flags | AtFlags::STATX_SYNC_AS_STAT, mask)?;
    let btime = if StatxFlags::from_bits_retain(x.stx_mask).contains(StatxFlags::BTIME) {
        Some(Timespec::from_statx(&x.stx_btime))
    } else {
        None
    };
    Ok(Stat {
        dev: rustix::fs::makedev(x.stx_dev_major, x.stx_dev_minor),
        ino: x.stx_ino,
        mode: u32::from(x.stx_mode),
        nlink: u64::from(x.stx_nlink),
        uid: x.stx_uid,
        gid: x.stx_gid,
        size: x.stx_size,
        blocks_bytes: x.stx_blocks.saturating_mul(512),
        blksize: x.stx_blksize,
        atime: Timespec::from_statx(&x.stx_atime),
        mtime: Timespec::from_statx(&x.stx_mtime),
        ctime: Timespec::from_statx(&x.stx_ctime),
        btime,
    })
}

/// Sizes of the filesystem under a share (`fstatfs(2)`), for MS-FSCC 2.5.4 / 2.5.8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsStats {
    /// Unit of the block counts below, in bytes.
    pub block_size: u64,
    pub total_blocks: u64,
    pub free_blocks: u64,
    /// Blocks available to unprivileged users.
    pub avail_blocks: u64,
    /// `f_type`: the filesystem magic number.
    pub fs_type: i64,
    pub name_max: u64,
}

#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
pub(crate) fn fs_stats<Fd: AsFd>(fd: Fd) -> Result<FsStats> {
    let s = rustix::fs::fstatfs(fd)?;
    // Field widths differ between architectures; every value is non-negative.
    let frsize = s.f_frsize as i64;
    let bsize = s.f_bsize as i64;
    let block_size = if frsize > 0 { frsize } else { bsize };
    Ok(FsStats {
        block_size: u64::try_from(block_size).unwrap_or(0),
        total_blocks: s.f_blocks as u64,
        free_blocks: s.f_bfree as u64,
        avail_blocks: s.f_bavail as u64,
        fs_type: s.f_type as i64,
        name_max: u64::try_from(s.f_namelen as i64).unwrap_or(0),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nt_time_known_answers() {
        // 1970-01-01 is 116444736000000000 in NT time (MS-DTYP 2.3.3).
        assert_eq!(
            Timespec { sec: 0, nsec: 0 }.to_nt(),
            116_444_736_000_000_000
        );
        // 1601 and before clamp to 0.
        let t1601 = Timespec {
            sec: -NT_EPOCH_OFFSET_SECS,
            nsec: 0,
        };
        assert_eq!(t1601.to_nt(), 0);
        assert_eq!(
            Timespec {
                sec: -NT_EPOCH_OFFSET_SECS - 1,
                nsec: 5
            }
            .to_nt(),
            0
        );
        // The birth time of a file Samba 4.17 wrote into user.DOSATTRIB:
        // 2026-11-27 11:27:15.986083791 UTC.
        let t = Timespec {
            sec: 1_795_778_835,
            nsec: 986_083_791,
        };
        assert_eq!(t.to_nt(), 134_402_524_359_860_837);
        assert_eq!(
            Timespec::from_nt(134_402_524_359_860_837),
            Timespec {
                sec: 1_795_778_835,
                nsec: 986_083_700
            }
        );
        assert_eq!(Timespec::from_nt(0).sec, -NT_EPOCH_OFFSET_SECS);
        // Far future saturates instead of overflowing.
        assert_eq!(
            Timespec {
                sec: i64::MAX,
                nsec: 0
            }
            .to_nt(),
            u64::MAX
        );
        let back = Timespec::from_nt(u64::MAX);
        assert!(back.sec > 0 && back.nsec < 1_000_000_000);
    }

    #[test]
    fn file_type_predicates() {
        let mut s = statx_at(rustix::fs::CWD, ".", AtFlags::empty()).unwrap();
        assert!(s.is_dir() && !s.is_file() && !s.is_symlink());
        s.mode = S_IFREG | 0o644;
        assert!(s.is_file() && !s.is_dir());
        s.mode = S_IFLNK | 0o777;
        assert!(s.is_symlink() && !s.is_file());
    }
}
