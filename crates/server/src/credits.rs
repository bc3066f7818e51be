//! The connection's window of valid message ids (MS-SMB2 3.3.1.1, 3.3.1.2,
//! 3.3.5.2.3). Ids below `low` are all used; `used` marks ids at and above
//! `low` that arrived out of order. Memory stays bounded by the window size.

use std::collections::VecDeque;

/// Most credits a connection may hold outstanding.
pub const MAX_CREDITS: u64 = 8192;

#[derive(Debug)]
pub struct CreditWindow {
    low: u64,
    /// One past the highest id granted.
    high: u64,
    used: VecDeque<bool>,
    /// How many entries of `used` are true, so a grant need not count them.
    used_count: u64,
}

impl Default for CreditWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl CreditWindow {
    /// A new connection may send message id 0 only (one credit).
    pub fn new() -> CreditWindow {
        CreditWindow {
            low: 0,
            high: 1,
            used: VecDeque::new(),
            used_count: 0,
        }
    }

    /// Consumes `charge` ids starting at `id`; false if any is outside the
    /// window or already used (the connection must then be dropped).
    pub fn consume(&mut self, id: u64, charge: u16) -> bool {
        let charge = u64::from(charge.max(1));
        let Some(end) = id.checked_add(charge) else {
            return false;
        };
        if id < self.low || end > self.high {
            return false;
        }
        let start = (id - self.low) as usize;
        let n = charge as usize;
        if self.used.len() < start + n {
            self.used.resize(start + n, false);
        }
        if self.used.range(start..start + n).any(|u| *u) {
            return false;
        }
        for u in self.used.range_mut(start..start + n) {
            *u = true;
        }
        self.used_count += charge;
        while self.used.front() == Some(&true) {
            self.used.pop_front();
            self.used_count -= 1;
            self.low += 1;
        }
        true
    }

    /// Grants up to `requested` new credits (at least one when the client
    /// would otherwise have none), never letting the window exceed the maximum.
    pub fn grant(&mut self, requested: u16, charge: u16) -> u16 {
        let outstanding = self.high - self.low - self.used_count;
        let room = MAX_CREDITS.saturating_sub(self.high - self.low);
        let want = u64::from(requested.max(charge).max(1));
        let mut g = want.min(room);
        if g == 0 && outstanding == 0 {
            g = 1;
        }
        self.high += g;
        g as u16
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_out_of_order() {
        let mut w = CreditWindow::new();
        assert!(w.consume(0, 1));
        assert!(!w.consume(0, 1), "reuse");
        assert_eq!(w.grant(10, 1), 10);
        assert!(w.consume(5, 1));
        assert!(w.consume(1, 4));
        assert!(!w.consume(3, 1));
        assert!(w.consume(6, 5));
        assert!(!w.consume(11, 1), "beyond the window");
    }

    #[test]
    fn window_is_bounded() {
        let mut w = CreditWindow::new();
        assert!(w.consume(0, 1));
        let mut total = 0u64;
        for _ in 0..100 {
            total += u64::from(w.grant(u16::MAX, 1));
        }
        assert!(total <= MAX_CREDITS);
    }
}
