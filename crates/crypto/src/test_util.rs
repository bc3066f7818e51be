//! Helpers for the unit tests of this crate.

/// Decodes a hex string (either case); panics on bad input, tests only.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex at {i}")))
        .collect()
}

/// The final preauth integrity hash of Microsoft's "SMB 3.1.1
/// Pre-authentication integrity in Windows 10" example exchange.
pub(crate) const MS_PREAUTH_FINAL: &str = concat!(
    "0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB7928622DDDAD522D97",
    "51640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01"
);
