//! GHASH (NIST SP 800-38D section 6.4) over additional data only, for
//! AES-GMAC signing (RFC 4543, MS-SMB2 3.1.4.1): GHASH_H(A || 0-pad ||
//! [len(A)]_64 || [0]_64).
//!
//! Blocks are `u128`s read big-endian, the convention of `gf128.rs`.
//!
//! On x86_64 with PCLMULQDQ the hash runs in the POLYVAL domain of RFC 8452
//! (appendix A): with K = mulX_POLYVAL(H), GHASH_H and POLYVAL_K agree on
//! these same `u128` values, and POLYVAL's field needs no bit reflection, so
//! a block loaded and byte-reversed is used as is. Sixteen blocks are hashed
//! per step against the precomputed powers K^16..K^1 (Karatsuba products,
//! summed unreduced) with a single Montgomery reduction (aggregated
//! reduction, as in Gueron and Kounavis' carry-less multiplication paper).
//! Sixteen rather than eight measured up to 20 % faster on large messages:
//! the chain from one step's hash to the next (multiply, then reduce) is
//! paid half as often.
//! On little-endian aarch64 with the ARMv8 Cryptographic Extension (PMULL,
//! 64x64 -> 128-bit carry-less multiply) the same algorithm runs with NEON
//! registers, same powers, same batches, same reduction: `arm` mirrors
//! `x86` line for line. Many small ARMv8 boards (Cortex-A53/A72 without the
//! extension, as on some routers and single-board computers) lack PMULL and
//! use the portable path.
//! Elsewhere, and as the reference in tests, the portable multiply of
//! `gf128.rs` runs one block at a time (Horner's rule).

use crate::gf128;

/// Blocks hashed per reduction on the fast path.
const AGG: usize = 16;

/// Which implementation [`Ghash`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// `gf128::mul`, one block at a time: any target.
    Portable,
    /// PCLMULQDQ + SSSE3, [`AGG`] blocks per reduction.
    #[cfg(target_arch = "x86_64")]
    Clmul,
    /// PMULL (ARMv8 Cryptographic Extension) + NEON, [`AGG`] blocks per
    /// reduction.
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    Pmull,
}

/// A GHASH key: H and what the fast path needs, prepared once per key.
#[derive(Clone)]
pub(crate) struct Ghash {
    /// The hash subkey H = E_K(0^128) (SP 800-38D 7.1 step 1).
    h: u128,
    /// For the fast path (the portable one ignores them): `keys[j]` holds
    /// K_i = mulX_POLYVAL(H^i) for i = AGG - j, the POLYVAL-domain power,
    /// and the XOR of its 64-bit halves (for Karatsuba).
    #[cfg_attr(
        not(any(
            target_arch = "x86_64",
            all(target_arch = "aarch64", target_endian = "little")
        )),
        allow(dead_code)
    )]
    keys: [[u128; 2]; AGG],
    backend: Backend,
}

impl Ghash {
    /// Prepares the hash subkey `h`, choosing the fastest implementation
    /// this CPU supports.
    pub(crate) fn new(h: u128) -> Ghash {
        Ghash::with_backend(h, Backend::best())
    }

    fn with_backend(h: u128, backend: Backend) -> Ghash {
        // GHASH multiplication by H^i equals POLYVAL multiplication by
        // mulX_POLYVAL(H^i) (RFC 8452 appendix A), so the powers are taken
        // in the GHASH field and then converted.
        let mut keys = [[0u128; 2]; AGG];
        let mut p = h;
        for slot in keys.iter_mut().rev() {
            let k = mulx_polyval(p);
            *slot = [k, u128::from((k as u64) ^ ((k >> 64) as u64))];
            p = gf128::mul(p, h);
        }
        Ghash { h, keys, backend }
    }

    /// GHASH_H(A, C) with C empty and A the concatenation of `parts`
    /// (SP 800-38D 7.1 steps 4-5 with no ciphertext), length block
    /// included. Every part but the last must be a whole number of
    /// 16-byte blocks, so that splitting A does not change its padding;
    /// None otherwise, or if len(A) in bits does not fit in 64 bits.
    pub(crate) fn hash_aad(&self, parts: &[&[u8]]) -> Option<u128> {
        let mut total: u64 = 0;
        let mut rest = parts.iter().rev();
        if let Some(last) = rest.next() {
            total = u64::try_from(last.len()).ok()?;
        }
        for part in rest {
            if !part.len().is_multiple_of(16) {
                return None;
            }
            total = total.checked_add(u64::try_from(part.len()).ok()?)?;
        }
        // [len(A)]_64 || [len(C)]_64, lengths in bits.
        let len_block = u128::from(total.checked_mul(8)?) << 64;
        Some(match self.backend {
            Backend::Portable => portable(self.h, parts, len_block),
            #[cfg(target_arch = "x86_64")]
            Backend::Clmul => x86::ghash(&self.keys, parts, len_block)
                .unwrap_or_else(|| portable(self.h, parts, len_block)),
            #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
            Backend::Pmull => arm::ghash(&self.keys, parts, len_block)
                .unwrap_or_else(|| portable(self.h, parts, len_block)),
        })
    }
}

impl Backend {
    fn best() -> Backend {
        #[cfg(target_arch = "x86_64")]
        if x86::supported() {
            return Backend::Clmul;
        }
        #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
        if arm::supported() {
            return Backend::Pmull;
        }
        Backend::Portable
    }
}

/// mulX_POLYVAL of RFC 8452 appendix A: multiplication by x in POLYVAL's
/// field, reduction polynomial x^128 + x^127 + x^126 + x^121 + 1.
fn mulx_polyval(v: u128) -> u128 {
    let carry = v >> 127;
    (v << 1) ^ (carry * 0xC200_0000_0000_0000_0000_0000_0000_0001)
}

/// Horner's rule, Y_i = (Y_(i-1) xor X_i) * H (SP 800-38D Algorithm 2).
fn portable(h: u128, parts: &[&[u8]], len_block: u128) -> u128 {
    let mut y = 0u128;
    for part in parts {
        let (blocks, rest) = part.as_chunks::<16>();
        for b in blocks {
            y = gf128::mul(y ^ u128::from_be_bytes(*b), h);
        }
        if !rest.is_empty() {
            y = gf128::mul(y ^ u128::from_be_bytes(pad(rest)), h);
        }
    }
    gf128::mul(y ^ len_block, h)
}

/// The last, short batch of a part (fewer than AGG blocks, the final one
/// zero-padded) and how many blocks it holds.
fn tail_batch(rest: &[u8]) -> ([[u8; 16]; AGG], usize) {
    let (blocks, partial) = rest.as_chunks::<16>();
    let mut tail = [[0u8; 16]; AGG];
    for (d, s) in tail.iter_mut().zip(blocks) {
        *d = *s;
    }
    let mut n = blocks.len();
    if !partial.is_empty() {
        if let Some(d) = tail.get_mut(n) {
            *d = pad(partial);
        }
        n = n.saturating_add(1);
    }
    (tail, n)
}

/// The last partial block, zero-padded (SP 800-38D 7.1 step 4, the 0^v).
fn pad(rest: &[u8]) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (d, s) in b.iter_mut().zip(rest) {
        *d = *s;
    }
    b
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    //! PCLMULQDQ GHASH in the POLYVAL domain. A register holds a field
    //! element as a little-endian 128-bit integer, bit i the coefficient
    //! of x^i (RFC 8452 section 3); byte-reversing a GHASH block on load
    //! gives exactly its big-endian `u128`, the value POLYVAL hashes.

    use super::{tail_batch, AGG};
    use core::arch::x86_64::{
        __m128i, _mm_clmulepi64_si128, _mm_loadu_si128, _mm_set_epi64x, _mm_set_epi8,
        _mm_setzero_si128, _mm_shuffle_epi32, _mm_shuffle_epi8, _mm_slli_si128, _mm_srli_si128,
        _mm_storeu_si128, _mm_xor_si128,
    };

    /// True if this CPU has what [`ghash`] needs.
    pub(super) fn supported() -> bool {
        std::is_x86_feature_detected!("pclmulqdq") && std::is_x86_feature_detected!("ssse3")
    }

    /// K^i and the XOR of its 64-bit halves, see `Ghash::keys`.
    type Key = [u128; 2];

    /// The three Karatsuba sums of a batch of unreduced products.
    struct Acc {
        lo: __m128i,
        hi: __m128i,
        mid: __m128i,
    }

    /// GHASH of `parts` (all but the last whole blocks) then `len_block`;
    /// None if this CPU lacks the instructions.
    pub(super) fn ghash(keys: &[Key; AGG], parts: &[&[u8]], len_block: u128) -> Option<u128> {
        if !supported() {
            return None;
        }
        // SAFETY: PCLMULQDQ and SSSE3 were just detected at run time, and
        // SSE2 is part of the x86_64 baseline.
        Some(unsafe { ghash_clmul(keys, parts, len_block) })
    }

    /// [`ghash`] itself; the CPU must support PCLMULQDQ, SSE2 and SSSE3.
    #[target_feature(enable = "pclmulqdq,sse2,ssse3")]
    fn ghash_clmul(keys: &[Key; AGG], parts: &[&[u8]], len_block: u128) -> u128 {
        // keys[j] = K^(AGG - j): the first block of a batch of n takes
        // keys[AGG - n], the last takes keys[AGG - 1] = K^1.
        let mut y = _mm_setzero_si128();
        for part in parts {
            let (batches, rest) = part.as_chunks::<{ 16 * AGG }>();
            for batch in batches {
                let (blocks, _) = batch.as_chunks::<16>();
                y = absorb(y, blocks, keys);
            }
            if !rest.is_empty() {
                // Fewer than AGG blocks: hash them in one batch against
                // K^n..K^1 (n blocks).
                let (tail, n) = tail_batch(rest);
                y = absorb(
                    y,
                    tail.get(..n).unwrap_or(&[]),
                    keys.get(AGG.saturating_sub(n)..).unwrap_or(&[]),
                );
            }
        }
        let last = [len_block.to_be_bytes()];
        y = absorb(y, &last, keys.get(AGG - 1..).unwrap_or(&[]));
        to_u128(y)
    }

    /// Y' = ((Y xor X_1) K^n + X_2 K^(n-1) + ... + X_n K^1) x^-128, the
    /// products summed unreduced and reduced once; `keys` holds exactly
    /// K^n..K^1 for the n = `blocks.len()` blocks.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2,ssse3")]
    fn absorb(y: __m128i, blocks: &[[u8; 16]], keys: &[Key]) -> __m128i {
        let mut acc = Acc {
            lo: _mm_setzero_si128(),
            hi: _mm_setzero_si128(),
            mid: _mm_setzero_si128(),
        };
        let mut pairs = blocks.iter().zip(keys);
        let Some((b, key)) = pairs.next() else {
            return y;
        };
        mul_acc(&mut acc, _mm_xor_si128(load_be(b), y), key);
        for (b, key) in pairs {
            mul_acc(&mut acc, load_be(b), key);
        }
        reduce(acc)
    }

    /// Adds the Karatsuba partial products of x * K to `acc`.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn mul_acc(acc: &mut Acc, x: __m128i, key: &Key) {
        let [k, k_mid] = key;
        let (k, k_mid) = (from_u128(*k), from_u128(*k_mid));
        let x_mid = _mm_xor_si128(x, _mm_shuffle_epi32(x, 0x4E));
        acc.lo = _mm_xor_si128(acc.lo, _mm_clmulepi64_si128(x, k, 0x00));
        acc.hi = _mm_xor_si128(acc.hi, _mm_clmulepi64_si128(x, k, 0x11));
        acc.mid = _mm_xor_si128(acc.mid, _mm_clmulepi64_si128(x_mid, k_mid, 0x00));
    }

    /// The 256-bit sum of products times x^-128 modulo the POLYVAL
    /// polynomial (RFC 8452 section 3, dot()): two Montgomery steps, each
    /// cancelling the low 64 bits with a multiple of
    /// x^128 + x^127 + x^126 + x^121 + 1 and dropping them.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn reduce(acc: Acc) -> __m128i {
        let mid = _mm_xor_si128(acc.mid, _mm_xor_si128(acc.lo, acc.hi));
        let lo = _mm_xor_si128(acc.lo, _mm_slli_si128(mid, 8));
        let hi = _mm_xor_si128(acc.hi, _mm_srli_si128(mid, 8));
        // High 64-bit half: x^63 + x^62 + x^57, the reduction polynomial's
        // terms below x^128 other than 1, divided by x^64.
        let poly = _mm_set_epi64x(0xC200_0000_0000_0000_u64 as i64, 1);
        // (V + V_0 * P) / x^64 = V / x^64 + V_0 * x^64 + V_0 * poly_hi.
        let t = _mm_clmulepi64_si128(lo, poly, 0x10);
        let lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4E), t);
        let t = _mm_clmulepi64_si128(lo, poly, 0x10);
        let lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4E), t);
        _mm_xor_si128(lo, hi)
    }

    /// Loads a block and reverses its bytes: the register then holds the
    /// block's big-endian `u128`.
    #[inline]
    #[target_feature(enable = "sse2,ssse3")]
    fn load_be(b: &[u8; 16]) -> __m128i {
        // pshufb: result byte i = source byte mask[i] = 15 - i.
        let reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        // SAFETY: `b` is 16 readable bytes; loadu has no alignment needs.
        let x = unsafe { _mm_loadu_si128(b.as_ptr().cast()) };
        _mm_shuffle_epi8(x, reverse)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn from_u128(v: u128) -> __m128i {
        let bytes = v.to_le_bytes();
        // SAFETY: `bytes` is 16 readable bytes; loadu has no alignment needs.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn to_u128(x: __m128i) -> u128 {
        let mut bytes = [0u8; 16];
        // SAFETY: `bytes` is 16 writable bytes; storeu has no alignment needs.
        unsafe { _mm_storeu_si128(bytes.as_mut_ptr().cast(), x) };
        u128::from_le_bytes(bytes)
    }
}

#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
#[allow(unsafe_code)]
mod arm {
    //! PMULL GHASH in the POLYVAL domain, `x86` transcribed to NEON. A
    //! register holds a field element as a little-endian 128-bit integer,
    //! 64-bit lane 0 its low half (bit i the coefficient of x^i, RFC 8452
    //! section 3); byte-reversing a GHASH block on load gives exactly its
    //! big-endian `u128`, the value POLYVAL hashes. Little-endian only: the
    //! lane reinterpretations below assume it.

    use super::{tail_batch, AGG};
    use core::arch::aarch64::{
        uint64x2_t, vdupq_n_u64, veorq_u64, vextq_u64, vextq_u8, vgetq_lane_u64, vld1q_u8,
        vmull_high_p64, vmull_p64, vreinterpretq_p64_u64, vreinterpretq_u64_p128,
        vreinterpretq_u64_u8, vreinterpretq_u8_u64, vrev64q_u8, vst1q_u8,
    };

    /// True if this CPU has what [`ghash`] needs. "aes" (FEAT_AES, which
    /// the `aes` target feature stands for together with FEAT_PMULL) and
    /// "pmull" are both checked: only the latter is used, but enabling the
    /// former's target feature is only sound where it is present.
    pub(super) fn supported() -> bool {
        std::arch::is_aarch64_feature_detected!("neon")
            && std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }

    /// K^i and the XOR of its 64-bit halves, see `Ghash::keys`.
    type Key = [u128; 2];

    /// The three Karatsuba sums of a batch of unreduced products.
    struct Acc {
        lo: uint64x2_t,
        hi: uint64x2_t,
        mid: uint64x2_t,
    }

    /// The POLYVAL reduction polynomial's terms below x^128 other than 1,
    /// x^127 + x^126 + x^121, divided by x^64 (see [`reduce`]).
    const POLY_HI: u64 = 0xC200_0000_0000_0000;

    /// GHASH of `parts` (all but the last whole blocks) then `len_block`;
    /// None if this CPU lacks the instructions.
    pub(super) fn ghash(keys: &[Key; AGG], parts: &[&[u8]], len_block: u128) -> Option<u128> {
        if !supported() {
            return None;
        }
        // SAFETY: NEON, AES and PMULL were just detected at run time.
        Some(unsafe { ghash_pmull(keys, parts, len_block) })
    }

    /// [`ghash`] itself; the CPU must support NEON, AES and PMULL.
    #[target_feature(enable = "neon,aes")]
    fn ghash_pmull(keys: &[Key; AGG], parts: &[&[u8]], len_block: u128) -> u128 {
        // keys[j] = K^(AGG - j): the first block of a batch of n takes
        // keys[AGG - n], the last takes keys[AGG - 1] = K^1.
        let mut y = vdupq_n_u64(0);
        for part in parts {
            let (batches, rest) = part.as_chunks::<{ 16 * AGG }>();
            for batch in batches {
                let (blocks, _) = batch.as_chunks::<16>();
                y = absorb(y, blocks, keys);
            }
            if !rest.is_empty() {
                // Fewer than AGG blocks: hash them in one batch against
                // K^n..K^1 (n blocks).
                let (tail, n) = tail_batch(rest);
                y = absorb(
                    y,
                    tail.get(..n).unwrap_or(&[]),
                    keys.get(AGG.saturating_sub(n)..).unwrap_or(&[]),
                );
            }
        }
        let last = [len_block.to_be_bytes()];
        y = absorb(y, &last, keys.get(AGG - 1..).unwrap_or(&[]));
        to_u128(y)
    }

    /// Y' = ((Y xor X_1) K^n + X_2 K^(n-1) + ... + X_n K^1) x^-128, the
    /// products summed unreduced and reduced once; `keys` holds exactly
    /// K^n..K^1 for the n = `blocks.len()` blocks.
    #[inline]
    #[target_feature(enable = "neon,aes")]
    fn absorb(y: uint64x2_t, blocks: &[[u8; 16]], keys: &[Key]) -> uint64x2_t {
        let mut acc = Acc {
            lo: vdupq_n_u64(0),
            hi: vdupq_n_u64(0),
            mid: vdupq_n_u64(0),
        };
        let mut pairs = blocks.iter().zip(keys);
        let Some((b, key)) = pairs.next() else {
            return y;
        };
        mul_acc(&mut acc, veorq_u64(load_be(b), y), key);
        for (b, key) in pairs {
            mul_acc(&mut acc, load_be(b), key);
        }
        reduce(acc)
    }

    /// Adds the Karatsuba partial products of x * K to `acc`.
    #[inline]
    #[target_feature(enable = "neon,aes")]
    fn mul_acc(acc: &mut Acc, x: uint64x2_t, key: &Key) {
        let [k, k_mid] = key;
        let (k, k_mid) = (from_u128(*k), from_u128(*k_mid));
        // Lane 0: x's low half xor its high half.
        let x_mid = veorq_u64(x, vextq_u64::<1>(x, x));
        let lo = vmull_p64(vgetq_lane_u64::<0>(x), vgetq_lane_u64::<0>(k));
        let hi = vmull_high_p64(vreinterpretq_p64_u64(x), vreinterpretq_p64_u64(k));
        let mid = vmull_p64(vgetq_lane_u64::<0>(x_mid), vgetq_lane_u64::<0>(k_mid));
        acc.lo = veorq_u64(acc.lo, vreinterpretq_u64_p128(lo));
        acc.hi = veorq_u64(acc.hi, vreinterpretq_u64_p128(hi));
        acc.mid = veorq_u64(acc.mid, vreinterpretq_u64_p128(mid));
    }

    /// The 256-bit sum of products times x^-128 modulo the POLYVAL
    /// polynomial (RFC 8452 section 3, dot()): two Montgomery steps, each
    /// cancelling the low 64 bits with a multiple of
    /// x^128 + x^127 + x^126 + x^121 + 1 and dropping them.
    #[inline]
    #[target_feature(enable = "neon,aes")]
    fn reduce(acc: Acc) -> uint64x2_t {
        let zero = vdupq_n_u64(0);
        let mid = veorq_u64(acc.mid, veorq_u64(acc.lo, acc.hi));
        // vextq_u64::<1>(a, b) = [a.1, b.0]: mid << 64 and mid >> 64.
        let lo = veorq_u64(acc.lo, vextq_u64::<1>(zero, mid));
        let hi = veorq_u64(acc.hi, vextq_u64::<1>(mid, zero));
        // (V + V_0 * P) / x^64 = V / x^64 + V_0 * x^64 + V_0 * POLY_HI.
        let t = vmull_p64(vgetq_lane_u64::<0>(lo), POLY_HI);
        let lo = veorq_u64(vextq_u64::<1>(lo, lo), vreinterpretq_u64_p128(t));
        let t = vmull_p64(vgetq_lane_u64::<0>(lo), POLY_HI);
        let lo = veorq_u64(vextq_u64::<1>(lo, lo), vreinterpretq_u64_p128(t));
        veorq_u64(lo, hi)
    }

    /// Loads a block and reverses its bytes: the register then holds the
    /// block's big-endian `u128`.
    #[inline]
    #[target_feature(enable = "neon")]
    fn load_be(b: &[u8; 16]) -> uint64x2_t {
        // SAFETY: `b` is 16 readable bytes; vld1q_u8 has no alignment needs.
        let x = unsafe { vld1q_u8(b.as_ptr()) };
        // Reverse each 8-byte half, then swap the halves.
        let r = vrev64q_u8(x);
        vreinterpretq_u64_u8(vextq_u8::<8>(r, r))
    }

    #[inline]
    #[target_feature(enable = "neon")]
    fn from_u128(v: u128) -> uint64x2_t {
        let bytes = v.to_le_bytes();
        // SAFETY: `bytes` is 16 readable bytes; vld1q_u8 has no alignment
        // needs.
        vreinterpretq_u64_u8(unsafe { vld1q_u8(bytes.as_ptr()) })
    }

    #[inline]
    #[target_feature(enable = "neon")]
    fn to_u128(x: uint64x2_t) -> u128 {
        let mut bytes = [0u8; 16];
        // SAFETY: `bytes` is 16 writable bytes; vst1q_u8 has no alignment
        // needs.
        unsafe { vst1q_u8(bytes.as_mut_ptr(), vreinterpretq_u8_u64(x)) };
        u128::from_le_bytes(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aes::cipher::{BlockEncrypt, KeyInit};
    use aes::Aes128;
    use aes_gcm::{AeadInPlace, Aes128Gcm};

    /// xorshift64*: reproducible pseudo-random bytes.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn u128(&mut self) -> u128 {
            (u128::from(self.next()) << 64) | u128::from(self.next())
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| (self.next() >> 56) as u8).collect()
        }
    }

    /// Every backend this machine can run, the portable one first.
    fn backends() -> Vec<Backend> {
        #[cfg_attr(
            not(any(
                target_arch = "x86_64",
                all(target_arch = "aarch64", target_endian = "little")
            )),
            allow(unused_mut)
        )]
        let mut v = vec![Backend::Portable];
        #[cfg(target_arch = "x86_64")]
        if x86::supported() {
            v.push(Backend::Clmul);
        }
        #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
        if arm::supported() {
            v.push(Backend::Pmull);
        }
        v
    }

    /// x86_64 CPUs have had PCLMULQDQ since 2010: if this fails, the fast
    /// path is not being tested on this machine.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fast_path_is_available_and_chosen() {
        assert!(x86::supported(), "PCLMULQDQ/SSSE3 not detected");
        assert_eq!(Ghash::new(1).backend, Backend::Clmul);
    }

    /// PMULL is optional on ARMv8 (Cortex-A53/A72 boards often lack the
    /// Cryptographic Extension), so it is chosen exactly when detected.
    /// Set RSMBD_EXPECT_PMULL=1 (or 0) to also require that it is (or is
    /// not) detected, so that a run on a CPU known to have it cannot
    /// silently test the portable path only.
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    #[test]
    fn fast_path_is_chosen_when_available() {
        let have = arm::supported();
        let want = if have {
            Backend::Pmull
        } else {
            Backend::Portable
        };
        assert_eq!(Ghash::new(1).backend, want);
        eprintln!("PMULL detected: {have}, backend {want:?}");
        match std::env::var("RSMBD_EXPECT_PMULL").as_deref() {
            Ok("1") => assert!(have, "PMULL expected but not detected"),
            Ok("0") => assert!(!have, "PMULL detected but not expected"),
            _ => {}
        }
    }

    #[test]
    fn mulx_rfc8452_vector() {
        // RFC 8452 appendix A (with its erratum), blocks as little-endian.
        let x = u128::from_le_bytes(0x9c98c04df9387ded828175a92ba652d8u128.to_be_bytes());
        let want = u128::from_le_bytes(0x3931819bf271fada0503eb52574ca572u128.to_be_bytes());
        assert_eq!(mulx_polyval(x), want);
    }

    // The GCM specification's test case 2: H = 66e94bd4..., no AAD and
    // C = 0388dace...: GHASH(H, A, C) = f38cbb1ad69223dcc3457ae5b6b0f885.
    // With C moved into A the lengths differ, so check against Horner's
    // rule spelled out instead.
    #[test]
    fn one_block_is_horner() {
        let h = 0x66e9_4bd4_ef8a_2c3b_884c_fa59_ca34_2b2eu128;
        let c = 0x0388_dace_60b6_a392_f328_c2b9_71b2_fe78u128;
        let want = gf128::mul(gf128::mul(c, h) ^ (128u128 << 64), h);
        for b in backends() {
            let g = Ghash::with_backend(h, b);
            assert_eq!(g.hash_aad(&[&c.to_be_bytes()]), Some(want), "{b:?}");
        }
    }

    /// The fast backends against the portable one, for every length from 0
    /// to 300 bytes and a few large ones, whole and split into parts.
    #[test]
    fn backends_agree() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        let data = rng.bytes((1 << 20) + 64);
        let mut lens: Vec<usize> = (0..=300).collect();
        lens.extend([1024, 4096 + 1, 65_536 + 13, 1 << 20]);
        for round in 0..4 {
            let h = rng.u128();
            let reference = Ghash::with_backend(h, Backend::Portable);
            let fast: Vec<Ghash> = backends()
                .into_iter()
                .map(|b| Ghash::with_backend(h, b))
                .collect();
            for &len in &lens {
                // A different offset each time, so that loads are unaligned.
                let off = (len + round) % 64;
                let a = &data[off..off + len];
                let want = reference.hash_aad(&[a]).unwrap();
                for g in &fast {
                    assert_eq!(g.hash_aad(&[a]), Some(want), "{:?} len {len}", g.backend);
                    // Split after a whole number of blocks: same hash.
                    let cut = (len / 2) & !15;
                    let (x, y) = a.split_at(cut);
                    assert_eq!(g.hash_aad(&[x, y]), Some(want), "{:?} len {len}", g.backend);
                    assert_eq!(g.hash_aad(&[x, &[], y]), Some(want), "{:?}", g.backend);
                }
            }
        }
    }

    #[test]
    fn misaligned_parts_are_refused() {
        for b in backends() {
            let g = Ghash::with_backend(5, b);
            assert_eq!(g.hash_aad(&[&[1u8; 17], &[2u8; 16]]), None, "{b:?}");
            assert!(g.hash_aad(&[&[1u8; 16], &[2u8; 17]]).is_some());
            assert!(g.hash_aad(&[]).is_some());
            assert_eq!(g.hash_aad(&[]), g.hash_aad(&[&[]]));
        }
    }

    /// GMAC (RFC 4543) from this GHASH and AES against RustCrypto's AES-GCM
    /// with the data as AAD and no plaintext, the reference.
    #[test]
    fn gmac_matches_aes_gcm() {
        let mut rng = Rng(0xDEAD_BEEF_F00D_CAFE);
        let mut lens: Vec<usize> = (0..=300).collect();
        lens.extend([65_536 + 13, 1 << 20]);
        for round in 0..3 {
            let mut key = [0u8; 16];
            if round == 0 {
                crate::legacy::random_bytes(&mut key);
            } else {
                key = rng.u128().to_be_bytes();
            }
            let aes = Aes128::new(&key.into());
            let mut hb = aes::Block::default();
            aes.encrypt_block(&mut hb);
            let h = u128::from_be_bytes(hb.into());
            let gcm = Aes128Gcm::new(&key.into());
            for &len in &lens {
                let a = rng.bytes(len);
                let nonce: [u8; 12] = rng.bytes(12).try_into().unwrap();
                let want: [u8; 16] = gcm
                    .encrypt_in_place_detached((&nonce).into(), &a, &mut [])
                    .unwrap()
                    .into();
                let mut j0 = [0u8; 16];
                j0[..12].copy_from_slice(&nonce);
                j0[15] = 1;
                let mut ej0 = aes::Block::from(j0);
                aes.encrypt_block(&mut ej0);
                let ej0 = u128::from_be_bytes(ej0.into());
                for b in backends() {
                    let tag = Ghash::with_backend(h, b).hash_aad(&[&a]).unwrap() ^ ej0;
                    assert_eq!(tag.to_be_bytes(), want, "{b:?} key {key:02x?} len {len}");
                }
            }
        }
    }
}
