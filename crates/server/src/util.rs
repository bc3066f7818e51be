//! Small helpers shared by the command modules.

/// NT time (100 ns intervals since 1601-01-01) of now.
pub fn nt_now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    unix_to_nt(d.as_secs() as i64, d.subsec_nanos())
}

pub fn unix_to_nt(sec: i64, nsec: u32) -> u64 {
    const EPOCH_DIFF: i64 = 11_644_473_600;
    let s = sec.saturating_add(EPOCH_DIFF);
    if s <= 0 {
        return 0;
    }
    (s as u64)
        .saturating_mul(10_000_000)
        .saturating_add(u64::from(nsec / 100))
}

/// FNV-1a, for stable small identifiers (volume serial numbers).
pub fn fnv32(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
