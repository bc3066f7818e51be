//! The `user.DOSATTRIB` extended attribute: DOS attributes (MS-FSCC 2.6 FILE_ATTRIBUTE_*)
//! and the creation time, in the NDR layout Samba writes, so that a share keeps its
//! attributes when it moves between Samba, ksmbd and rsmbd.
//!
//! Layout (NDR, little-endian, alignment counted from the start of the blob):
//!
//! ```text
//! attrib_hex   NUL-terminated ASCII string ("" since Samba 4.11, "0x20"-style before)
//! (align 2)
//! version      u16
//! level        u16   union discriminant, equal to version
//! (align 4)
//! info         one of:
//!   0xFFFF  { attrib u32 }
//!   1       { attrib u32, ea_size u32, size u64, alloc_size u64, create_time u64, change_time u64 }
//!   2       { flags u32, attrib u32, ea_size u32, size u64, alloc_size u64,
//!             create_time u64, change_time u64, write_time u64, name string }
//!   3       { valid_flags u32, attrib u32, ea_size u32, size u64, alloc_size u64,
//!             create_time u64, change_time u64 }
//!   4       { valid_flags u32, attrib u32, itime u64, create_time u64 }
//!   5       { valid_flags u32, attrib u32, create_time u64 }      <- Samba 4.17 writes this
//! ```
//!
//! Samba before 3.5 stored only the hex string (`"0x22"`), with no NDR part; that is read too.
//! Valid flags: ATTRIB 0x01, CREATE_TIME 0x10, ITIME 0x40. Samba takes `attrib` whatever the
//! flags say, and the creation time only when CREATE_TIME is set and the time is not zero.

/// Name of the extended attribute.
pub const DOSATTRIB_XATTR: &str = "user.DOSATTRIB";

/// `XATTR_DOSINFO_ATTRIB`: the `attrib` field is valid.
const VALID_ATTRIB: u32 = 0x01;
/// `XATTR_DOSINFO_CREATE_TIME`: the `create_time` field is valid.
const VALID_CREATE_TIME: u32 = 0x10;

/// Samba-compatible DOS attributes (MS-FSCC 2.6 FILE_ATTRIBUTE_* bits) and creation time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DosAttrib {
    /// FILE_ATTRIBUTE_* bits as stored (Samba includes FILE_ATTRIBUTE_DIRECTORY for directories).
    pub attributes: u32,
    /// Creation time in NT time (MS-DTYP 2.3.3), when recorded.
    pub create_time: Option<u64>,
}

impl DosAttrib {
    /// Decode any version Samba has written. `None` for a blob Samba would reject too.
    pub fn decode(blob: &[u8]) -> Option<DosAttrib> {
        let mut r = Reader { buf: blob, pos: 0 };
        let hex = r.cstring();
        // Pre-3.5 Samba: only the hex string, possibly without its NUL.
        let Some(hex) = hex else {
            return parse_hex_only(blob);
        };
        if r.align(2).is_none() || r.remaining() < 4 {
            return parse_hex_only(hex);
        }
        let version = r.u16()?;
        let level = r.u16()?;
        if version != level {
            return None;
        }
        r.align(4)?;
        let (attributes, create_time) = match version {
            0xFFFF => (r.u32()?, 0),
            1 => {
                let attrib = r.u32()?;
                let _ea_size = r.u32()?;
                let _size = r.u64()?;
                let _alloc_size = r.u64()?;
                let create = r.u64()?;
                let _change = r.u64()?;
                (attrib, create)
            }
            2 => {
                let _flags = r.u32()?;
                let attrib = r.u32()?;
                let _ea_size = r.u32()?;
                let _size = r.u64()?;
                let _alloc_size = r.u64()?;
                let _create = r.u64()?;
                let _change = r.u64()?;
                let _write = r.u64()?;
                // Samba ignores every time of this version ("don't know what flags to check").
                (attrib, 0)
            }
            3 => {
                let valid = r.u32()?;
                let attrib = r.u32()?;
                let _ea_size = r.u32()?;
                let _size = r.u64()?;
                let _alloc_size = r.u64()?;
                let create = r.u64()?;
                let _change = r.u64()?;
                (
                    attrib,
                    if valid & VALID_CREATE_TIME != 0 {
                        create
                    } else {
                        0
                    },
                )
            }
            4 => {
                let valid = r.u32()?;
                let attrib = r.u32()?;
                let _itime = r.u64()?;
                let create = r.u64()?;
                (
                    attrib,
                    if valid & VALID_CREATE_TIME != 0 {
                        create
                    } else {
                        0
                    },
                )
            }
            5 => {
                let valid = r.u32()?;
                let attrib = r.u32()?;
                let create = r.u64()?;
                (
                    attrib,
                    if valid & VALID_CREATE_TIME != 0 {
                        create
                    } else {
                        0
                    },
                )
            }
            _ => return None,
        };
        Some(DosAttrib {
            attributes,
            create_time: (create_time != 0).then_some(create_time),
        })
    }

    /// Encode as Samba 4.17 does: empty hex string, version 5, valid flags ATTRIB and
    /// (when known) CREATE_TIME. Always 24 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut valid = VALID_ATTRIB;
        if self.create_time.is_some() {
            valid |= VALID_CREATE_TIME;
        }
        let mut out = Vec::with_capacity(24);
        out.push(0); // attrib_hex = ""
        out.push(0); // align 2
        out.extend_from_slice(&5u16.to_le_bytes()); // version
        out.extend_from_slice(&5u16.to_le_bytes()); // union level
        out.extend_from_slice(&[0, 0]); // align 4
        out.extend_from_slice(&valid.to_le_bytes());
        out.extend_from_slice(&self.attributes.to_le_bytes());
        out.extend_from_slice(&self.create_time.unwrap_or(0).to_le_bytes());
        out
    }
}

/// The pre-NDR form: `"0x"` followed by hex digits (Samba 3.0-3.4).
fn parse_hex_only(s: &[u8]) -> Option<DosAttrib> {
    let s = s.strip_suffix(&[0]).unwrap_or(s);
    let text = std::str::from_utf8(s).ok()?;
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    let attributes = u32::from_str_radix(digits, 16).ok()?;
    Some(DosAttrib {
        attributes,
        create_time: None,
    })
}

/// A bounds-checked little-endian cursor over the blob.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Bytes up to (not including) the next NUL; the cursor moves past the NUL.
    fn cstring(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let nul = rest.iter().position(|&b| b == 0)?;
        let s = rest.get(..nul)?;
        self.pos = self.pos.checked_add(nul)?.checked_add(1)?;
        Some(s)
    }

    /// NDR alignment: skip padding so `pos` is a multiple of `n` (a power of two).
    fn align(&mut self, n: usize) -> Option<()> {
        let pad = self.pos.wrapping_neg() & n.wrapping_sub(1);
        self.take(pad).map(|_| ())
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes(b.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Captured with `getfattr -e hex -n user.DOSATTRIB` on files that Samba 4.17.12
    // ("vfs objects = acl_xattr") created through smbclient `put` + `setmode`.
    /// File, `setmode +h`: HIDDEN|ARCHIVE, birth 2026-11-27 11:27:15.986083791 UTC.
    const SAMBA_FILE_HIDDEN: &str = "0000050005000000110000002200000065a26241627edd01";
    /// File, `setmode +rsa`: READONLY|SYSTEM|ARCHIVE.
    const SAMBA_FILE_RSA: &str = "00000500050000001100000025000000f6cb6241627edd01";
    /// Directory, `setmode +h`: HIDDEN|DIRECTORY.
    const SAMBA_DIR_HIDDEN: &str = "00000500050000001100000012000000866a6341627edd01";
    /// Plain file: ARCHIVE only.
    const SAMBA_FILE_PLAIN: &str = "000005000500000011000000200000002acd6341627edd01";

    #[test]
    fn decodes_samba_417_blobs() {
        let a = DosAttrib::decode(&hex(SAMBA_FILE_HIDDEN)).unwrap();
        assert_eq!(a.attributes, 0x22);
        assert_eq!(a.create_time, Some(134_402_524_359_860_837));
        // The stored creation time is the file's statx birth time.
        assert_eq!(
            crate::Timespec::from_nt(a.create_time.unwrap()),
            crate::Timespec {
                sec: 1_795_778_835,
                nsec: 986_083_700
            }
        );
        assert_eq!(
            DosAttrib::decode(&hex(SAMBA_FILE_RSA)).unwrap().attributes,
            0x25
        );
        assert_eq!(
            DosAttrib::decode(&hex(SAMBA_DIR_HIDDEN))
                .unwrap()
                .attributes,
            0x12
        );
        assert_eq!(
            DosAttrib::decode(&hex(SAMBA_FILE_PLAIN))
                .unwrap()
                .attributes,
            0x20
        );
    }

    #[test]
    fn encode_is_byte_identical_to_samba() {
        for blob in [
            SAMBA_FILE_HIDDEN,
            SAMBA_FILE_RSA,
            SAMBA_DIR_HIDDEN,
            SAMBA_FILE_PLAIN,
        ] {
            let bytes = hex(blob);
            let a = DosAttrib::decode(&bytes).unwrap();
            assert_eq!(a.encode(), bytes);
        }
    }

    #[test]
    fn round_trip_without_create_time() {
        let a = DosAttrib {
            attributes: 0x80,
            create_time: None,
        };
        let b = a.encode();
        assert_eq!(b.len(), 24);
        // Valid flags: ATTRIB only.
        assert_eq!(&b[8..12], &[1, 0, 0, 0]);
        assert_eq!(DosAttrib::decode(&b), Some(a));
    }

    #[test]
    fn decodes_version_4_as_samba_4_11_wrote_it() {
        // "" , version 4, level 4, valid = ATTRIB|CREATE_TIME|ITIME, attrib 0x21,
        // itime 0x0102030405060708, create_time 0x01dd7e624162a265.
        let b = hex("00000400040000005100000021000000080706050403020165a26241627edd01");
        let a = DosAttrib::decode(&b).unwrap();
        assert_eq!(a.attributes, 0x21);
        assert_eq!(a.create_time, Some(0x01dd_7e62_4162_a265));
        // Without CREATE_TIME in the valid flags the time is ignored.
        let b = hex("00000400040000004100000021000000080706050403020165a26241627edd01");
        assert_eq!(DosAttrib::decode(&b).unwrap().create_time, None);
    }

    #[test]
    fn decodes_version_3_with_hex_prefix() {
        // Samba 3.5-4.10: attrib_hex "0x20" (5 bytes), pad 1, version 3 at offset 6,
        // level at 8, pad 2, info3 at offset 12.
        let mut b = b"0x20\0".to_vec();
        b.push(0); // align 2
        b.extend_from_slice(&3u16.to_le_bytes());
        b.extend_from_slice(&3u16.to_le_bytes());
        b.extend_from_slice(&[0, 0]); // align 4
        assert_eq!(b.len(), 12);
        b.extend_from_slice(&0x11u32.to_le_bytes()); // valid_flags
        b.extend_from_slice(&0x20u32.to_le_bytes()); // attrib
        b.extend_from_slice(&0u32.to_le_bytes()); // ea_size
        b.extend_from_slice(&5u64.to_le_bytes()); // size
        b.extend_from_slice(&4096u64.to_le_bytes()); // alloc_size
        b.extend_from_slice(&1234u64.to_le_bytes()); // create_time
        b.extend_from_slice(&5678u64.to_le_bytes()); // change_time
        assert_eq!(
            DosAttrib::decode(&b),
            Some(DosAttrib {
                attributes: 0x20,
                create_time: Some(1234)
            })
        );
        // Truncated: rejected, never a panic.
        for n in 0..b.len() {
            let _ = DosAttrib::decode(&b[..n]);
        }
        assert_eq!(DosAttrib::decode(&b[..b.len() - 1]), None);
    }

    #[test]
    fn decodes_versions_1_2_and_ffff() {
        let mut v1 = vec![0, 0, 1, 0, 1, 0, 0, 0];
        v1.extend_from_slice(&0x02u32.to_le_bytes()); // attrib
        v1.extend_from_slice(&0u32.to_le_bytes()); // ea_size
        v1.extend_from_slice(&[0; 16]); // size, alloc_size
        v1.extend_from_slice(&99u64.to_le_bytes()); // create_time
        v1.extend_from_slice(&0u64.to_le_bytes()); // change_time
        assert_eq!(
            DosAttrib::decode(&v1),
            Some(DosAttrib {
                attributes: 2,
                create_time: Some(99)
            })
        );

        let mut v2 = vec![0, 0, 2, 0, 2, 0, 0, 0];
        v2.extend_from_slice(&0u32.to_le_bytes()); // flags
        v2.extend_from_slice(&0x04u32.to_le_bytes()); // attrib
        v2.extend_from_slice(&0u32.to_le_bytes()); // ea_size
        v2.extend_from_slice(&[7; 40]); // sizes and times
        v2.extend_from_slice(b"\0"); // name
        assert_eq!(
            DosAttrib::decode(&v2),
            Some(DosAttrib {
                attributes: 4,
                create_time: None
            })
        );

        let ffff = [0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0, 0, 0];
        assert_eq!(DosAttrib::decode(&ffff).unwrap().attributes, 1);
    }

    #[test]
    fn decodes_hex_only_legacy() {
        assert_eq!(DosAttrib::decode(b"0x22").unwrap().attributes, 0x22);
        assert_eq!(DosAttrib::decode(b"0x2f\0").unwrap().attributes, 0x2f);
        assert_eq!(DosAttrib::decode(b"junk"), None);
        assert_eq!(DosAttrib::decode(b""), None);
    }

    #[test]
    fn rejects_malformed() {
        // Level differs from version.
        assert_eq!(
            DosAttrib::decode(&hex("000005000400000011000000200000002acd6341627edd01")),
            None
        );
        // Unknown version.
        assert_eq!(
            DosAttrib::decode(&hex("000006000600000011000000200000002acd6341627edd01")),
            None
        );
        // Every truncation of a valid blob is handled without panicking.
        let b = hex(SAMBA_FILE_HIDDEN);
        for n in 0..b.len() {
            assert_eq!(DosAttrib::decode(&b[..n]), None, "len {n}");
        }
    }
}
