//! Server-side copy of a byte range between two open files, the filesystem
//! half of FSCTL_SRV_COPYCHUNK (MS-SMB2 3.3.5.15.6).
//!
//! `copy_file_range(2)` first: the data stays in the kernel, and filesystems
//! that share extents (btrfs, XFS with reflink, NFS 4.2) clone instead of
//! copying. Where the kernel refuses (older kernels, across filesystems,
//! special files, overlapping ranges of one file) the copy goes through a
//! bounded buffer with pread/pwrite.

use crate::handle::Handle;
use crate::Result;
use rustix::io::Errno;

/// Largest piece moved per buffered read/write (and per copy_file_range call).
const PIECE: usize = 1024 * 1024;

impl Handle {
    /// Copies `len` bytes at `src_off` of this file to `dst_off` of `dst`,
    /// growing `dst` as a write would. Returns the number of bytes copied:
    /// short only when the source ends first.
    ///
    /// `dst` may be this same file; overlapping ranges are then copied as
    /// `memmove` does (the result is as if the whole range were read first).
    pub fn copy_range(&self, src_off: u64, dst: &Handle, dst_off: u64, len: u64) -> Result<u64> {
        // Both ranges must fit in a loff_t.
        let end_ok = |off: u64| off.checked_add(len).is_some_and(|e| e <= i64::MAX as u64);
        if !end_ok(src_off) || !end_ok(dst_off) {
            return Err(Errno::INVAL);
        }
        if len == 0 {
            return Ok(0);
        }
        let overlap =
            src_off < dst_off.saturating_add(len) && dst_off < src_off.saturating_add(len);
        if overlap && self.same_file(dst)? {
            // copy_file_range refuses overlapping ranges of one file (EINVAL).
            return self.copy_buffered_overlapping(src_off, dst, dst_off, len);
        }
        let mut done = 0u64;
        while done < len {
            let mut from = src_off.saturating_add(done);
            let mut to = dst_off.saturating_add(done);
            let want = usize::try_from(len.saturating_sub(done))
                .unwrap_or(PIECE)
                .min(PIECE);
            match rustix::fs::copy_file_range(
                self.as_fd(),
                Some(&mut from),
                dst.as_fd(),
                Some(&mut to),
                want,
            ) {
                Ok(0) => return Ok(done),
                Ok(n) => done = done.saturating_add(n as u64),
                Err(Errno::INTR) => {}
                // The kernel cannot do this pair (no support, another
                // filesystem, a special file, an O_APPEND destination):
                // the rest goes through the buffer, which reports any real error.
                Err(
                    Errno::NOSYS
                    | Errno::XDEV
                    | Errno::OPNOTSUPP
                    | Errno::INVAL
                    | Errno::BADF
                    | Errno::TXTBSY
                    | Errno::PERM,
                ) => {
                    let rest = self.copy_buffered_forward(
                        src_off.saturating_add(done),
                        dst,
                        dst_off.saturating_add(done),
                        len.saturating_sub(done),
                    )?;
                    return Ok(done.saturating_add(rest));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Both handles name the same inode.
    fn same_file(&self, other: &Handle) -> Result<bool> {
        let a = rustix::fs::fstat(self.as_fd())?;
        let b = rustix::fs::fstat(other.as_fd())?;
        Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    }

    /// pread/pwrite from the low offsets up; short only at source EOF.
    fn copy_buffered_forward(
        &self,
        src_off: u64,
        dst: &Handle,
        dst_off: u64,
        len: u64,
    ) -> Result<u64> {
        let mut buf = vec![0u8; piece_len(len)];
        let mut done = 0u64;
        while done < len {
            let want = piece_len(len.saturating_sub(done));
            let piece = buf.get_mut(..want).ok_or(Errno::INVAL)?;
            let n = self.read_at(piece, src_off.saturating_add(done))?;
            let data = piece.get(..n).ok_or(Errno::INVAL)?;
            dst.write_at(data, dst_off.saturating_add(done))?;
            done = done.saturating_add(n as u64);
            if n < want {
                break;
            }
        }
        Ok(done)
    }

    /// One file, overlapping ranges: when the destination lies above the
    /// source, move pieces from the top down so no byte is overwritten
    /// before it is read.
    fn copy_buffered_overlapping(
        &self,
        src_off: u64,
        dst: &Handle,
        dst_off: u64,
        len: u64,
    ) -> Result<u64> {
        if dst_off <= src_off {
            return self.copy_buffered_forward(src_off, dst, dst_off, len);
        }
        // Only what the source holds is copied (as in the forward direction).
        let size = self.stat()?.size;
        let len = len.min(size.saturating_sub(src_off));
        let mut buf = vec![0u8; piece_len(len)];
        let mut left = len;
        while left > 0 {
            let want = piece_len(left);
            let at = left.saturating_sub(want as u64);
            let piece = buf.get_mut(..want).ok_or(Errno::INVAL)?;
            let n = self.read_at(piece, src_off.saturating_add(at))?;
            if n < want {
                // The file shrank under us: stop at what is certain.
                return Err(Errno::IO);
            }
            dst.write_at(piece, dst_off.saturating_add(at))?;
            left = at;
        }
        Ok(len)
    }
}

/// The piece to move next: all of `len` up to `PIECE`.
fn piece_len(len: u64) -> usize {
    usize::try_from(len).unwrap_or(PIECE).min(PIECE)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use crate::{CreateMode, Handle, OpenHow, Share};

    fn open(share: &Share, name: &str, create: CreateMode) -> Handle {
        share
            .open(
                name,
                &OpenHow {
                    read: true,
                    write: true,
                    create,
                    mode: 0o644,
                    directory: Some(false),
                },
            )
            .unwrap()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn read_all(h: &Handle) -> Vec<u8> {
        let size = h.stat().unwrap().size as usize;
        let mut v = vec![0u8; size];
        assert_eq!(h.read_at(&mut v, 0).unwrap(), size);
        v
    }

    #[test]
    fn copies_between_files_and_grows_the_destination() {
        let dir = crate::test_util::TempDir::new("copy");
        let share = Share::new(dir.path()).unwrap();
        let src = open(&share, "src", CreateMode::CreateNew);
        let dst = open(&share, "dst", CreateMode::CreateNew);
        let data = pattern(3 * 1024 * 1024 + 17);
        src.write_at(&data, 0).unwrap();
        let n = src.copy_range(0, &dst, 4096, data.len() as u64).unwrap();
        assert_eq!(n, data.len() as u64);
        let got = read_all(&dst);
        assert_eq!(got.len(), 4096 + data.len());
        assert!(
            got[..4096].iter().all(|&b| b == 0),
            "leading hole reads as zeros"
        );
        assert_eq!(&got[4096..], &data[..]);
    }

    #[test]
    fn short_at_source_end() {
        let dir = crate::test_util::TempDir::new("copy");
        let share = Share::new(dir.path()).unwrap();
        let src = open(&share, "src", CreateMode::CreateNew);
        let dst = open(&share, "dst", CreateMode::CreateNew);
        src.write_at(&pattern(1000), 0).unwrap();
        assert_eq!(src.copy_range(400, &dst, 0, 4096).unwrap(), 600);
        assert_eq!(read_all(&dst), &pattern(1000)[400..]);
        assert_eq!(src.copy_range(5000, &dst, 0, 10).unwrap(), 0);
        assert_eq!(src.copy_range(0, &dst, 0, 0).unwrap(), 0);
    }

    #[test]
    fn overlapping_ranges_in_one_file_copy_like_memmove() {
        let dir = crate::test_util::TempDir::new("copy");
        let share = Share::new(dir.path()).unwrap();
        let h = open(&share, "f", CreateMode::CreateNew);
        // Larger than one buffered piece, so the direction matters.
        let len = 2 * 1024 * 1024 + 100;
        let data = pattern(len + 4096);
        h.write_at(&data, 0).unwrap();
        // Upwards by 8 bytes.
        assert_eq!(h.copy_range(0, &h, 8, len as u64).unwrap(), len as u64);
        let got = read_all(&h);
        assert_eq!(&got[..8], &data[..8]);
        assert_eq!(&got[8..8 + len], &data[..len]);
        // Downwards: back to where it started.
        h.write_at(&data, 0).unwrap();
        assert_eq!(h.copy_range(8, &h, 0, len as u64).unwrap(), len as u64);
        let got = read_all(&h);
        assert_eq!(&got[..len], &data[8..8 + len]);
        // Another handle on the same file is the same file.
        h.write_at(&data, 0).unwrap();
        let h2 = open(&share, "f", CreateMode::OpenExisting);
        assert_eq!(h.copy_range(0, &h2, 2040, 2048).unwrap(), 2048);
        let got = read_all(&h);
        assert_eq!(&got[2040..2040 + 2048], &data[..2048]);
    }

    #[test]
    fn same_file_without_overlap_uses_the_kernel_path() {
        let dir = crate::test_util::TempDir::new("copy");
        let share = Share::new(dir.path()).unwrap();
        let h = open(&share, "f", CreateMode::CreateNew);
        let data = pattern(8192);
        h.write_at(&data[..4096], 0).unwrap();
        assert_eq!(h.copy_range(0, &h, 4096, 4096).unwrap(), 4096);
        let got = read_all(&h);
        assert_eq!(&got[..4096], &got[4096..]);
    }

    #[test]
    fn offsets_beyond_loff_t_are_invalid() {
        let dir = crate::test_util::TempDir::new("copy");
        let share = Share::new(dir.path()).unwrap();
        let src = open(&share, "src", CreateMode::CreateNew);
        let dst = open(&share, "dst", CreateMode::CreateNew);
        assert_eq!(
            src.copy_range(i64::MAX as u64, &dst, 0, 1),
            Err(rustix::io::Errno::INVAL)
        );
        assert_eq!(
            src.copy_range(0, &dst, u64::MAX, 1),
            Err(rustix::io::Errno::INVAL)
        );
    }
}
