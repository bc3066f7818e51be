//! Extended attribute lists: FILE_FULL_EA_INFORMATION (MS-FSCC 2.4.15) and
//! FILE_GET_EA_INFORMATION (2.4.15.1).

use crate::reader::{Reader, Result, WireError};
use crate::Writer;

/// One EA: an ASCII name and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ea {
    pub flags: u8,
    pub name: String,
    pub value: Vec<u8>,
}

/// Characters MS-FSCC 2.4.15 forbids in an EA name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !b"\"*+,/:;<=>?[\\]|".contains(&b))
}

/// Parses a chain of FILE_FULL_EA_INFORMATION entries; Err(Invalid) also
/// for a name that is not a valid EA name.
pub fn parse_full_ea_list(buf: &[u8]) -> Result<Vec<Ea>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        let entry = buf.get(at..).ok_or(WireError::Invalid)?;
        let mut r = Reader::new(entry);
        let next = r.u32()? as usize;
        let flags = r.u8()?;
        let name_len = r.u8()? as usize;
        let value_len = r.u16()? as usize;
        let name = r.take(name_len)?;
        if r.u8()? != 0 {
            return Err(WireError::Invalid);
        }
        let value = r.take(value_len)?;
        let name = std::str::from_utf8(name).map_err(|_| WireError::Invalid)?;
        if !valid_name(name) {
            return Err(WireError::Invalid);
        }
        out.push(Ea {
            flags,
            name: name.to_string(),
            value: value.to_vec(),
        });
        if next == 0 {
            return Ok(out);
        }
        if out.len() > 4096 || !next.is_multiple_of(4) {
            return Err(WireError::Invalid);
        }
        at = at.checked_add(next).ok_or(WireError::Invalid)?;
    }
}

/// Parses FILE_GET_EA_INFORMATION entries (the names a query asks for).
pub fn parse_get_ea_list(buf: &[u8]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        let entry = buf.get(at..).ok_or(WireError::Invalid)?;
        let mut r = Reader::new(entry);
        let next = r.u32()? as usize;
        let len = r.u8()? as usize;
        let name = std::str::from_utf8(r.take(len)?).map_err(|_| WireError::Invalid)?;
        out.push(name.to_string());
        if next == 0 {
            return Ok(out);
        }
        if out.len() > 4096 {
            return Err(WireError::Invalid);
        }
        at = at.checked_add(next).ok_or(WireError::Invalid)?;
    }
}

/// Encodes EAs as FILE_FULL_EA_INFORMATION entries, each 4-byte aligned.
pub fn encode_full_ea_list(out: &mut Vec<u8>, eas: &[Ea]) {
    let base = out.len();
    let mut prev: Option<usize> = None;
    for ea in eas {
        let mut w = Writer::new(out);
        w.align_from(base, 4);
        let start = w.len();
        if let Some(p) = prev {
            w.patch_u32(p, start.saturating_sub(p) as u32);
        }
        w.u32(0);
        w.u8(ea.flags);
        w.u8(ea.name.len().min(255) as u8);
        w.u16(ea.value.len().min(65535) as u16);
        w.bytes(
            ea.name
                .as_bytes()
                .get(..ea.name.len().min(255))
                .unwrap_or(&[]),
        );
        w.u8(0);
        w.bytes(ea.value.get(..ea.value.len().min(65535)).unwrap_or(&[]));
        prev = Some(start);
    }
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
    fn round_trip() {
        let eas = vec![
            Ea {
                flags: 0,
                name: "EAONE".into(),
                value: b"VALUE1".to_vec(),
            },
            Ea {
                flags: 0,
                name: "SECONDEA".into(),
                value: b"ValueTwo".to_vec(),
            },
        ];
        let mut b = Vec::new();
        encode_full_ea_list(&mut b, &eas);
        assert_eq!(parse_full_ea_list(&b).unwrap(), eas);
        for n in 0..b.len() {
            let _ = parse_full_ea_list(&b[..n]);
        }
    }

    #[test]
    fn bad_names_refused() {
        let mut b = Vec::new();
        encode_full_ea_list(
            &mut b,
            &[Ea {
                flags: 0,
                name: "a*b".into(),
                value: vec![1],
            }],
        );
        assert!(parse_full_ea_list(&b).is_err());
    }
}
