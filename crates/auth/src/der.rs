//! A small bounds-checked DER reader and writer (ITU-T X.690 section 8 and 10),
//! just enough for the SPNEGO tokens of RFC 4178 / MS-SPNG.
//!
//! Only single-byte tags (tag numbers below 31) and definite lengths of up to
//! four length octets are accepted; everything else is a [`DerError`]. The
//! reader never panics and never allocates.

/// A malformed or unsupported DER encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerError;

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed DER")
    }
}

impl std::error::Error for DerError {}

/// Universal SEQUENCE (constructed).
pub const SEQUENCE: u8 = 0x30;
/// Universal OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Universal OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// Universal ENUMERATED.
pub const ENUMERATED: u8 = 0x0a;
/// Universal GeneralString.
pub const GENERAL_STRING: u8 = 0x1b;
/// `[APPLICATION 0]` constructed: the GSS-API InitialContextToken (RFC 2743 3.1).
pub const APPLICATION_0: u8 = 0x60;

/// The constructed context-specific tag `[n]` (n below 31).
pub const fn context(n: u8) -> u8 {
    0xa0 | (n & 0x1f)
}

/// One decoded tag-length-value element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// The whole element: identifier, length and contents octets.
    pub raw: &'a [u8],
}

/// A cursor over a run of DER elements.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// True when every element has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads the next element.
    pub fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let all = self.buf;
        let (&tag, rest) = all.split_first().ok_or(DerError)?;
        // X.690 8.1.2.4: high tag numbers are never used by SPNEGO.
        if tag & 0x1f == 0x1f {
            return Err(DerError);
        }
        let (&first, mut rest) = rest.split_first().ok_or(DerError)?;
        let len: usize = if first < 0x80 {
            usize::from(first)
        } else {
            // X.690 8.1.3.5: long form; 0x80 alone is the indefinite form,
            // which DER forbids.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(DerError);
            }
            let (octets, after) = rest.split_at_checked(count).ok_or(DerError)?;
            rest = after;
            let mut n: u32 = 0;
            for &b in octets {
                n = n.checked_shl(8).ok_or(DerError)? | u32::from(b);
            }
            usize::try_from(n).map_err(|_| DerError)?
        };
        let (value, after) = rest.split_at_checked(len).ok_or(DerError)?;
        let header_len = all.len().checked_sub(rest.len()).ok_or(DerError)?;
        let total = header_len.checked_add(len).ok_or(DerError)?;
        let raw = all.get(..total).ok_or(DerError)?;
        self.buf = after;
        Ok(Tlv { tag, value, raw })
    }

    /// Reads the next element and checks its tag.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.read()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(DerError)
        }
    }

    /// Fails when bytes are left over.
    pub fn finish(self) -> Result<(), DerError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DerError)
        }
    }
}

/// Reads exactly one element of the given tag spanning all of `buf`.
pub fn single(buf: &[u8], tag: u8) -> Result<Tlv<'_>, DerError> {
    let mut r = Reader::new(buf);
    let tlv = r.expect(tag)?;
    r.finish()?;
    Ok(tlv)
}

/// Appends one element with a minimal (DER) length encoding.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
}

/// One element as a new vector.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len().saturating_add(6));
    push_tlv(&mut out, tag, value);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![0x5a; len];
            let enc = tlv(OCTET_STRING, &value);
            let t = single(&enc, OCTET_STRING).unwrap();
            assert_eq!(t.value.len(), len);
            assert_eq!(t.raw, &enc[..]);
        }
        assert_eq!(tlv(OCTET_STRING, &[0; 128])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(OCTET_STRING, &[0; 256])[..4], [0x04, 0x82, 0x01, 0x00]);
    }

    #[test]
    fn reader_walks_a_sequence() {
        let mut inner = tlv(OID, &[0x2b, 6, 1, 5, 5, 2]);
        push_tlv(&mut inner, ENUMERATED, &[1]);
        let seq = tlv(SEQUENCE, &inner);
        let outer = single(&seq, SEQUENCE).unwrap();
        let mut r = Reader::new(outer.value);
        let oid = r.expect(OID).unwrap();
        assert_eq!(oid.value, &[0x2b, 6, 1, 5, 5, 2]);
        assert_eq!(oid.raw.len(), 8);
        assert!(r.clone().expect(OID).is_err());
        assert_eq!(r.read().unwrap().value, &[1]);
        assert!(r.is_empty());
        r.finish().unwrap();
    }

    #[test]
    fn rejects_malformed() {
        // Truncated header, truncated contents, indefinite length,
        // high tag number, over-long length, trailing bytes.
        let bad: &[&[u8]] = &[
            &[],
            &[0x04],
            &[0x04, 0x02, 0x00],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x1f, 0x01, 0x00],
            &[0x04, 0x85, 0, 0, 0, 0, 1, 0],
            &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x04, 0x81],
            &[0x04, 0x00, 0x00],
        ];
        for b in bad {
            assert!(single(b, OCTET_STRING).is_err(), "{b:02x?}");
        }
        assert_eq!(context(3), 0xa3);
    }
}
