//! Cutting one fuzz input into the pieces a target feeds, in a way that
//! never fails: whatever the bytes, every byte ends up in some piece, and
//! the cut is stable so the fuzzer can learn it.

/// Splits `data` into at most `max` tokens. The low nibble of the first byte
/// picks how many (1 + nibble % max; the high bits are the target's); each token but the last is preceded by a little-endian
/// u16 length, clamped to what is left.
pub fn split_tokens(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let Some((&first, mut rest)) = data.split_first() else {
        out.push(data);
        return out;
    };
    let count = 1 + usize::from(first & 0x0f) % max.max(1);
    for _ in 1..count {
        let (len, after) = take_u16(rest);
        let (tok, after) = after.split_at(len.min(after.len()));
        out.push(tok);
        rest = after;
    }
    out.push(rest);
    out
}

/// One length-prefixed record of a multi-record input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// A control byte whose meaning belongs to the target.
    pub control: u8,
    pub data: &'a [u8],
}

/// Reads records `control: u8, len: u16 LE, data: [u8; len]` until the
/// input ends (a short last record takes what is left).
pub fn records(data: &[u8]) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&control, after)) = rest.split_first() {
        let (len, after) = take_u16(after);
        let (rec, after) = after.split_at(len.min(after.len()));
        out.push(Record { control, data: rec });
        rest = after;
    }
    out
}

/// Encodes records the way [`records`] reads them (used to build seeds).
pub fn encode_records(recs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (control, data) in recs {
        let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
        out.push(*control);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(data.get(..usize::from(len)).unwrap_or(data));
    }
    out
}

/// Encodes tokens the way [`split_tokens`] reads them with the same `max`.
pub fn encode_tokens(tokens: &[&[u8]], max: usize) -> Vec<u8> {
    let n = tokens.len().clamp(1, max.max(1));
    let mut out = vec![u8::try_from(n - 1).unwrap_or(0)];
    for (i, t) in tokens.iter().take(n).enumerate() {
        if i + 1 < n {
            let len = u16::try_from(t.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(t);
    }
    out
}

fn take_u16(b: &[u8]) -> (usize, &[u8]) {
    match b {
        [lo, hi, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), rest),
        [lo] => (usize::from(*lo), &[]),
        [] => (0, &[]),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let toks: [&[u8]; 3] = [b"abc", b"", b"tail bytes"];
        let enc = encode_tokens(&toks, 3);
        assert_eq!(split_tokens(&enc, 3), toks.to_vec());
        assert_eq!(split_tokens(&[], 3), vec![&[] as &[u8]]);
        // A length past the end is clamped, never a panic.
        assert_eq!(
            split_tokens(&[1, 0xff, 0xff, 7], 3),
            vec![&[7u8][..], &[][..]]
        );
    }

    #[test]
    fn records_round_trip() {
        let recs = vec![(1u8, b"first".to_vec()), (0x0f, vec![]), (2, vec![9; 300])];
        let enc = encode_records(&recs);
        let got = records(&enc);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].control, 1);
        assert_eq!(got[0].data, b"first");
        assert_eq!(got[2].data.len(), 300);
        // Truncated input: the last record takes what is left.
        let got = records(&enc[..6]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, b"fir");
    }
}
