//! NDR 2.0 transfer syntax (C706 chapter 14, MS-RPCE 2.2.5): a bounds-checked reader for
//! request stubs and a writer for response stubs, little-endian only.
//!
//! Alignment is counted from the start of the stub data, which the PDU layer places at an
//! 8-byte boundary (C706 14.2.2). Pointers: a top-level `[ref]` pointer has no wire
//! representation; `[unique]` and full pointers are a 4-byte referent id, zero meaning NULL
//! (C706 14.3.10). Embedded pointees are deferred to after the containing construct; callers
//! write scalars first and pointees afterwards in the same order, as the rules require.

/// Malformed NDR data (truncated, inconsistent counts, bad alignment padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdrError;

/// First referent id handed out; Windows and Samba start here and step by 4.
const FIRST_REFERENT: u32 = 0x0002_0000;

/// Reads NDR20 little-endian data from a request stub.
pub struct NdrReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> NdrReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        NdrReader { data, pos: 0 }
    }

    /// Bytes not yet consumed.
    #[cfg(test)]
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Takes `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], NdrError> {
        let end = self.pos.checked_add(n).ok_or(NdrError)?;
        let s = self.data.get(self.pos..end).ok_or(NdrError)?;
        self.pos = end;
        Ok(s)
    }

    /// Skips padding up to a multiple of `n` (a power of two).
    pub fn align(&mut self, n: usize) -> Result<(), NdrError> {
        let rem = self.pos % n.max(1);
        if rem != 0 {
            self.take(n.saturating_sub(rem))?;
        }
        Ok(())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], NdrError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[cfg(test)]
    pub fn u8(&mut self) -> Result<u8, NdrError> {
        Ok(u8::from_le_bytes(self.fixed::<1>()?))
    }

    pub fn u16(&mut self) -> Result<u16, NdrError> {
        self.align(2)?;
        Ok(u16::from_le_bytes(self.fixed()?))
    }

    pub fn u32(&mut self) -> Result<u32, NdrError> {
        self.align(4)?;
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    /// A fixed-size byte array with the given alignment (e.g. a context handle, align 4).
    pub fn bytes<const N: usize>(&mut self, align: usize) -> Result<[u8; N], NdrError> {
        self.align(align)?;
        self.fixed()
    }

    /// A unique or full pointer's referent id: `true` when the pointee follows.
    pub fn pointer(&mut self) -> Result<bool, NdrError> {
        Ok(self.u32()? != 0)
    }

    /// Conformant-varying array header (C706 14.3.3.4): max count, offset, actual count.
    /// Returns the actual count after checking it fits in the maximum.
    fn varying_header(&mut self) -> Result<usize, NdrError> {
        let max = self.u32()?;
        let offset = self.u32()?;
        let actual = self.u32()?;
        if offset != 0 || actual > max {
            return Err(NdrError);
        }
        usize::try_from(actual).map_err(|_| NdrError)
    }

    fn utf16(&mut self, units: usize) -> Result<Vec<u16>, NdrError> {
        let bytes = self.take(units.checked_mul(2).ok_or(NdrError)?)?;
        Ok(bytes
            .chunks_exact(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect())
    }

    /// A `[string] wchar_t*` pointee: conformant varying UTF-16 string, NUL terminated
    /// on the wire (C706 14.3.4). The terminator is dropped.
    pub fn wstring(&mut self) -> Result<String, NdrError> {
        let n = self.varying_header()?;
        let mut units = self.utf16(n)?;
        if units.last() == Some(&0) {
            units.pop();
        }
        Ok(String::from_utf16_lossy(&units))
    }

    /// A `[in, string, unique] wchar_t*` parameter (e.g. a server name): pointer, then
    /// the string when non-NULL.
    pub fn unique_wstring(&mut self) -> Result<Option<String>, NdrError> {
        if self.pointer()? {
            Ok(Some(self.wstring()?))
        } else {
            Ok(None)
        }
    }

    /// The scalar part of an RPC_UNICODE_STRING (MS-DTYP 2.3.10): Length, MaximumLength
    /// (both in bytes) and whether the Buffer pointer is non-NULL.
    pub fn unicode_string_header(&mut self) -> Result<UnicodeStringHeader, NdrError> {
        // The structure holds a pointer, so it is 4-aligned as a whole.
        self.align(4)?;
        let length = self.u16()?;
        let maximum = self.u16()?;
        let present = self.pointer()?;
        if length > maximum || length % 2 != 0 {
            return Err(NdrError);
        }
        Ok(UnicodeStringHeader { length, present })
    }

    /// The deferred Buffer of an RPC_UNICODE_STRING (`size_is(MaximumLength/2),
    /// length_is(Length/2)`); empty when the pointer was NULL.
    pub fn unicode_string_body(&mut self, h: UnicodeStringHeader) -> Result<String, NdrError> {
        if !h.present {
            return Ok(String::new());
        }
        let n = self.varying_header()?;
        if n != usize::from(h.length / 2) {
            return Err(NdrError);
        }
        let units = self.utf16(n)?;
        Ok(String::from_utf16_lossy(&units))
    }
}

/// Scalars of an RPC_UNICODE_STRING read by [`NdrReader::unicode_string_header`].
#[derive(Clone, Copy, Debug)]
pub struct UnicodeStringHeader {
    pub length: u16,
    pub present: bool,
}

/// Builds a response stub in NDR20, little-endian.
pub struct NdrWriter {
    buf: Vec<u8>,
    next_referent: u32,
}

impl Default for NdrWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl NdrWriter {
    pub fn new() -> Self {
        NdrWriter {
            buf: Vec::new(),
            next_referent: FIRST_REFERENT,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Zero padding to a multiple of `n`.
    pub fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n.max(1)) {
            self.buf.push(0);
        }
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.align(2);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Raw bytes with the given alignment (context handles, GUIDs, SID authorities).
    pub fn bytes(&mut self, align: usize, b: &[u8]) {
        self.align(align);
        self.buf.extend_from_slice(b);
    }

    /// A non-NULL unique pointer: a fresh referent id.
    pub fn pointer(&mut self) {
        let id = self.next_referent;
        self.next_referent = self.next_referent.wrapping_add(4);
        self.u32(id);
    }

    /// A NULL unique pointer.
    pub fn null_pointer(&mut self) {
        self.u32(0);
    }

    /// A unique pointer, NULL unless `present`.
    pub fn pointer_if(&mut self, present: bool) {
        if present {
            self.pointer();
        } else {
            self.null_pointer();
        }
    }

    fn units(&mut self, units: &[u16]) {
        for u in units {
            self.buf.extend_from_slice(&u.to_le_bytes());
        }
    }

    /// The pointee of a `[string] wchar_t*`: conformant varying, NUL included
    /// (C706 14.3.4).
    pub fn wstring(&mut self, s: &str) {
        let mut units: Vec<u16> = s.encode_utf16().collect();
        units.push(0);
        let n = u32::try_from(units.len()).unwrap_or(u32::MAX);
        self.u32(n);
        self.u32(0);
        self.u32(n);
        self.units(&units);
    }

    /// Scalars of an RPC_UNICODE_STRING (MS-DTYP 2.3.10); the Buffer pointer is NULL for
    /// an empty string. Pair with [`NdrWriter::unicode_string_body`].
    pub fn unicode_string_header(&mut self, s: &str) {
        // The structure holds a pointer, so it is 4-aligned as a whole.
        self.align(4);
        let bytes = u16::try_from(utf16_len(s).saturating_mul(2)).unwrap_or(u16::MAX - 1);
        self.u16(bytes);
        self.u16(bytes);
        self.pointer_if(!s.is_empty());
    }

    /// Deferred Buffer of an RPC_UNICODE_STRING: no terminator, counts in characters.
    pub fn unicode_string_body(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        let units: Vec<u16> = s.encode_utf16().take(MAX_UNICODE_STRING_UNITS).collect();
        let n = u32::try_from(units.len()).unwrap_or(u32::MAX);
        self.u32(n);
        self.u32(0);
        self.u32(n);
        self.units(&units);
    }

    /// An RPC_SID pointee (MS-DTYP 2.4.2.3): a conformant structure, so the conformance
    /// (sub-authority count) comes first.
    pub fn sid(&mut self, sid: &Sid) {
        let count = u8::try_from(sid.sub_authorities.len()).unwrap_or(u8::MAX);
        self.u32(u32::from(count));
        self.u8(sid.revision);
        self.u8(count);
        self.bytes(1, &sid.authority);
        for s in sid.sub_authorities.iter().take(usize::from(count)) {
            self.u32(*s);
        }
    }
}

/// Longest string an RPC_UNICODE_STRING can carry (Length is a u16 byte count).
const MAX_UNICODE_STRING_UNITS: usize = 32767;

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count().min(MAX_UNICODE_STRING_UNITS)
}

/// A security identifier (MS-DTYP 2.4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sid {
    pub revision: u8,
    pub authority: [u8; 6],
    pub sub_authorities: Vec<u32>,
}

impl std::fmt::Display for Sid {
    /// The S-1-... string form (MS-DTYP 2.4.2.1).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut auth = [0u8; 8];
        if let Some(dst) = auth.get_mut(2..) {
            dst.copy_from_slice(&self.authority);
        }
        write!(f, "S-{}-{}", self.revision, u64::from_be_bytes(auth))?;
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wstring_round_trip_with_terminator() {
        let mut w = NdrWriter::new();
        w.u8(1); // forces 3 bytes of padding before the string
        w.wstring("IPC$");
        let b = w.into_bytes();
        // max 5, offset 0, actual 5, "IPC$\0"
        assert_eq!(
            b,
            [
                1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, b'I', 0, b'P', 0, b'C', 0, b'$', 0,
                0, 0
            ]
        );
        let mut r = NdrReader::new(&b);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.wstring().unwrap(), "IPC$");
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn pointers_get_increasing_referents() {
        let mut w = NdrWriter::new();
        w.pointer();
        w.null_pointer();
        w.pointer();
        let b = w.into_bytes();
        assert_eq!(b, [0, 0, 2, 0, 0, 0, 0, 0, 4, 0, 2, 0]);
        let mut r = NdrReader::new(&b);
        assert!(r.pointer().unwrap());
        assert!(!r.pointer().unwrap());
        assert!(r.pointer().unwrap());
    }

    #[test]
    fn unicode_string_round_trip() {
        let mut w = NdrWriter::new();
        w.unicode_string_header("WORKGROUP");
        w.unicode_string_body("WORKGROUP");
        w.unicode_string_header("");
        w.unicode_string_body("");
        let b = w.into_bytes();
        let mut r = NdrReader::new(&b);
        let h = r.unicode_string_header().unwrap();
        assert_eq!(h.length, 18);
        assert_eq!(r.unicode_string_body(h).unwrap(), "WORKGROUP");
        let h = r.unicode_string_header().unwrap();
        assert!(!h.present);
        assert_eq!(r.unicode_string_body(h).unwrap(), "");
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn reader_rejects_bad_counts_and_truncation() {
        // actual > max
        let b = [1u8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 65, 0, 65, 0];
        assert_eq!(NdrReader::new(&b).wstring(), Err(NdrError));
        // non-zero offset
        let b = [2u8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 65, 0];
        assert_eq!(NdrReader::new(&b).wstring(), Err(NdrError));
        // huge actual count, no data
        let b = [0xffu8, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(NdrReader::new(&b).wstring(), Err(NdrError));
        // truncated u32 after alignment
        let mut r = NdrReader::new(&[1, 2, 3, 4, 5]);
        r.u8().unwrap();
        assert_eq!(r.u32(), Err(NdrError));
    }

    #[test]
    fn sid_encoding_and_string_form() {
        let sid = Sid {
            revision: 1,
            authority: [0, 0, 0, 0, 0, 5],
            sub_authorities: vec![21, 1, 2, 3],
        };
        assert_eq!(sid.to_string(), "S-1-5-21-1-2-3");
        let mut w = NdrWriter::new();
        w.sid(&sid);
        let b = w.into_bytes();
        assert_eq!(b.len(), 4 + 8 + 16);
        assert_eq!(b.get(..12).unwrap(), [4, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 5]);
    }
}
