//! User extended attributes of an open file, the store for SMB extended
//! attributes (EAs) in the layout Samba uses: EA `NAME` is xattr `user.NAME`.

use crate::handle::{proc_fd_path, Handle};
use crate::Result;
use rustix::fs::XattrFlags;
use rustix::io::Errno;

/// Xattrs that hold server metadata and are never shown as EAs.
const PRIVATE: [&str; 2] = ["user.DOSATTRIB", "user.DosStream."];

fn is_private(name: &str) -> bool {
    PRIVATE
        .iter()
        .any(|p| name == *p || (p.ends_with('.') && name.starts_with(p)))
}

/// Grows a buffer until the kernel's answer fits (ERANGE), up to 64 KiB (XATTR_SIZE_MAX).
fn with_buffer(mut f: impl FnMut(&mut [u8]) -> Result<usize>) -> Result<Vec<u8>> {
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0u8; size];
        match f(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) if size < 65536 => size = (size * 4).min(65536),
            Err(e) => return Err(e),
        }
    }
}

impl Handle {
    /// Names of the user EAs (without the `user.` prefix), server metadata excluded.
    pub fn ea_names(&self) -> Result<Vec<String>> {
        Ok(self
            .raw_list()?
            .iter()
            .filter(|n| n.starts_with("user.") && !is_private(n))
            .filter_map(|n| n.strip_prefix("user.").map(str::to_string))
            .collect())
    }

    /// The value of user EA `name`, None when absent.
    pub fn ea_get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let key = format!("user.{name}");
        if is_private(&key) {
            return Ok(None);
        }
        let fd = self.as_fd();
        match with_buffer(|b| match rustix::fs::fgetxattr(fd, key.as_str(), &mut *b) {
            Err(Errno::BADF) => rustix::fs::getxattr(proc_fd_path(fd), key.as_str(), b),
            r => r,
        }) {
            Ok(v) => Ok(Some(v)),
            Err(Errno::NODATA) | Err(Errno::NOTSUP) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets user EA `name`; an empty value deletes it (MS-FSCC 2.4.15).
    pub fn ea_set(&self, name: &str, value: &[u8]) -> Result<()> {
        let key = format!("user.{name}");
        if is_private(&key) {
            return Err(Errno::ACCESS);
        }
        let fd = self.as_fd();
        if value.is_empty() {
            let r = match rustix::fs::fremovexattr(fd, key.as_str()) {
                Err(Errno::BADF) => rustix::fs::removexattr(proc_fd_path(fd), key.as_str()),
                r => r,
            };
            return match r {
                Err(Errno::NODATA) => Ok(()),
                r => r,
            };
        }
        match rustix::fs::fsetxattr(fd, key.as_str(), value, XattrFlags::empty()) {
            Err(Errno::BADF) => {
                rustix::fs::setxattr(proc_fd_path(fd), key.as_str(), value, XattrFlags::empty())
            }
            r => r,
        }
    }
}

/// Named streams live in `user.DosStream.NAME:$DATA` with one trailing NUL
/// byte after the data, the layout of Samba's streams_xattr.
const STREAM_PREFIX: &str = "user.DosStream.";
const STREAM_SUFFIX: &str = ":$DATA";

fn stream_key(name: &str) -> String {
    format!("{STREAM_PREFIX}{name}{STREAM_SUFFIX}")
}

impl Handle {
    fn raw_list(&self) -> Result<Vec<String>> {
        let fd = self.as_fd();
        let raw = match with_buffer(|b| match rustix::fs::flistxattr(fd, &mut *b) {
            Err(Errno::BADF) => rustix::fs::listxattr(proc_fd_path(fd), b),
            r => r,
        }) {
            Ok(r) => r,
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(raw
            .split(|b| *b == 0)
            .filter_map(|n| std::str::from_utf8(n).ok())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Names of the file's named streams (without the `:$DATA` type).
    pub fn stream_names(&self) -> Result<Vec<String>> {
        Ok(self
            .raw_list()?
            .iter()
            .filter_map(|n| n.strip_prefix(STREAM_PREFIX))
            .filter_map(|n| n.strip_suffix(STREAM_SUFFIX))
            .map(str::to_string)
            .collect())
    }

    /// The data of stream `name`, None when it does not exist.
    pub fn stream_read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let key = stream_key(name);
        let fd = self.as_fd();
        match with_buffer(|b| match rustix::fs::fgetxattr(fd, key.as_str(), &mut *b) {
            Err(Errno::BADF) => rustix::fs::getxattr(proc_fd_path(fd), key.as_str(), b),
            r => r,
        }) {
            Ok(mut v) => {
                if v.last() == Some(&0) {
                    v.pop();
                }
                Ok(Some(v))
            }
            Err(Errno::NODATA) | Err(Errno::NOTSUP) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the data of stream `name`, creating it.
    pub fn stream_write(&self, name: &str, data: &[u8]) -> Result<()> {
        let key = stream_key(name);
        let mut v = Vec::with_capacity(data.len().saturating_add(1));
        v.extend_from_slice(data);
        v.push(0);
        let fd = self.as_fd();
        match rustix::fs::fsetxattr(fd, key.as_str(), &v, XattrFlags::empty()) {
            Err(Errno::BADF) => {
                rustix::fs::setxattr(proc_fd_path(fd), key.as_str(), &v, XattrFlags::empty())
            }
            r => r,
        }
    }

    /// Deletes stream `name`; a missing stream is not an error.
    pub fn stream_remove(&self, name: &str) -> Result<()> {
        let key = stream_key(name);
        let fd = self.as_fd();
        let r = match rustix::fs::fremovexattr(fd, key.as_str()) {
            Err(Errno::BADF) => rustix::fs::removexattr(proc_fd_path(fd), key.as_str()),
            r => r,
        };
        match r {
            Err(Errno::NODATA) => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::{CreateMode, OpenHow, Share};

    #[test]
    fn set_list_get_remove() {
        let dir = crate::test_util::TempDir::new("ea");
        let share = Share::new(dir.path()).unwrap();
        if !share.supports_xattrs() {
            return;
        }
        let h = share
            .open(
                "f",
                &OpenHow {
                    read: true,
                    write: true,
                    create: CreateMode::CreateNew,
                    mode: 0o644,
                    directory: Some(false),
                },
            )
            .unwrap();
        h.ea_set("EAONE", b"VALUE1").unwrap();
        h.set_dos_attrib(&crate::DosAttrib {
            attributes: 0x20,
            create_time: None,
        })
        .unwrap();
        assert_eq!(h.ea_names().unwrap(), vec!["EAONE".to_string()]);
        assert_eq!(h.ea_get("EAONE").unwrap().unwrap(), b"VALUE1");
        assert!(h.ea_get("DOSATTRIB").unwrap().is_none());
        assert!(h.ea_set("DOSATTRIB", b"x").is_err());
        h.ea_set("EAONE", b"").unwrap();
        assert!(h.ea_names().unwrap().is_empty());
        h.stream_write("Zone.Identifier", b"[ZoneTransfer]")
            .unwrap();
        assert_eq!(
            h.stream_names().unwrap(),
            vec!["Zone.Identifier".to_string()]
        );
        assert!(h.ea_names().unwrap().is_empty(), "streams are not EAs");
        assert_eq!(
            h.stream_read("Zone.Identifier").unwrap().unwrap(),
            b"[ZoneTransfer]"
        );
        h.stream_remove("Zone.Identifier").unwrap();
        assert!(h.stream_read("Zone.Identifier").unwrap().is_none());
    }
}
