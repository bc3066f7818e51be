//! Little-endian encoding into a caller's buffer.

/// Appends little-endian fields to a `Vec<u8>`; offsets can be patched later.
pub struct Writer<'a> {
    pub buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len().saturating_add(n), 0);
    }
    /// Pads with zeros to a multiple of `align` counted from `base`.
    pub fn align_from(&mut self, base: usize, align: usize) {
        let rel = self.buf.len().saturating_sub(base);
        let rem = rel.checked_rem(align).unwrap_or(0);
        if rem != 0 {
            self.zeros(align.saturating_sub(rem));
        }
    }
    pub fn utf16(&mut self, s: &str) {
        for u in s.encode_utf16() {
            self.u16(u);
        }
    }
    pub fn patch_u16(&mut self, at: usize, v: u16) {
        if let Some(s) = self.buf.get_mut(at..at.saturating_add(2)) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(s) = self.buf.get_mut(at..at.saturating_add(4)) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// Length of `s` encoded as UTF-16LE, in bytes.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count().saturating_mul(2)
}
