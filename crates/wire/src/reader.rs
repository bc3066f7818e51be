//! The one cursor through which all wire input is read.

/// Why bytes could not be parsed. Small on purpose: the server maps every
/// variant to a status or a disconnect in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than the structure needs.
    Truncated,
    /// A length, offset or fixed field has a value the spec does not allow.
    Invalid,
}

pub type Result<T> = std::result::Result<T, WireError>;

/// A bounds-checked little-endian cursor over a borrowed buffer.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// A reader positioned at `pos` of `buf`.
    pub fn at(buf: &'a [u8], pos: usize) -> Result<Self> {
        if pos > buf.len() {
            return Err(WireError::Truncated);
        }
        Ok(Reader { buf, pos })
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        s.try_into().map_err(|_| WireError::Truncated)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_le_bytes(self.array::<1>()?))
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array::<2>()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }

    /// Checks a fixed StructureSize field.
    pub fn expect_u16(&mut self, v: u16) -> Result<()> {
        if self.u16()? == v {
            Ok(())
        } else {
            Err(WireError::Invalid)
        }
    }

    /// Skips to the next multiple of `align` (from the start of the buffer).
    pub fn align(&mut self, align: usize) -> Result<()> {
        let rem = self.pos.checked_rem(align).unwrap_or(0);
        if rem != 0 {
            self.skip(align.saturating_sub(rem))?;
        }
        Ok(())
    }
}

/// A variable-length field given by an offset from the start of `msg` (the
/// SMB2 header) and a length. A zero length is an empty field whatever the
/// offset says, as Windows treats it.
pub fn field(msg: &[u8], offset: usize, len: usize) -> Result<&[u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    let end = offset.checked_add(len).ok_or(WireError::Invalid)?;
    msg.get(offset..end).ok_or(WireError::Invalid)
}

/// Decodes UTF-16LE bytes. Odd lengths and unpaired surrogates are invalid.
pub fn utf16_to_string(bytes: &[u8]) -> Result<String> {
    if !bytes.len().is_multiple_of(2) {
        return Err(WireError::Invalid);
    }
    let units = bytes.chunks_exact(2).map(|c| {
        u16::from_le_bytes([
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
        ])
    });
    char::decode_utf16(units)
        .collect::<std::result::Result<String, _>>()
        .map_err(|_| WireError::Invalid)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let b = [1u8, 0, 2, 0, 0, 0];
        let mut r = Reader::new(&b);
        assert_eq!(r.u16().unwrap(), 1);
        assert_eq!(r.u32().unwrap(), 2);
        assert_eq!(r.u8(), Err(WireError::Truncated));
    }

    #[test]
    fn field_checks() {
        let b = [0u8; 10];
        assert!(field(&b, 8, 2).is_ok());
        assert!(field(&b, 9, 2).is_err());
        assert!(field(&b, usize::MAX, 2).is_err());
        assert_eq!(field(&b, 1000, 0).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn utf16() {
        assert_eq!(utf16_to_string(&[b'a', 0, b'b', 0]).unwrap(), "ab");
        assert!(utf16_to_string(b"a").is_err());
        assert!(utf16_to_string(&[0x00, 0xd8]).is_err());
    }
}
