//! HMAC-SHA256 and the SP800-108 counter-mode key derivation function that
//! SMB 3.x uses for every session key (MS-SMB2 3.1.4.2).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Builds an HMAC-SHA256 instance; HMAC accepts keys of any length.
pub(crate) fn hmac_sha256_keyed(key: &[u8]) -> HmacSha256 {
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(m) => m,
        // `new_from_slice` only fails for fixed-key-size MACs; HMAC
        // hashes over-long keys and pads short ones, so this is unreachable.
        Err(_) => unreachable_hmac(),
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // Never reached: see `hmac_sha256_keyed`. Aborting (instead of keying
    // with something else) keeps a broken library from producing weak MACs.
    std::process::abort()
}

/// HMAC-SHA256 (RFC 2104) over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_sha256_keyed(key);
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// MS-SMB2 3.1.4.2: SP800-108 counter-mode KDF, PRF = HMAC-SHA256, r = 32,
/// L = `out.len() * 8` bits.
///
/// Each PRF block is `HMAC(key, [i]_32 || label || 0x00 || context || [L]_32)`
/// for i = 1, 2, ...; the blocks are concatenated and cut to `out.len()`.
/// SMB passes labels and contexts that already end in a NUL (for example
/// `b"SMBSigningKey\0"`); the separator byte is added here in addition.
///
/// # Panics
///
/// If `out` is longer than `u32::MAX / 8` bytes: L is a 32-bit field
/// (SP800-108 section 5, r = 32). SMB keys are 16 or 32 bytes.
pub fn kdf(key: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) {
    let l_bits = u32::try_from(out.len()).ok().and_then(|n| n.checked_mul(8));
    let Some(l_bits) = l_bits else {
        panic!("SP800-108 output longer than 2^32 - 1 bits");
    };
    // The key schedule (inner and outer pads) is computed once and cloned
    // per block.
    let keyed = hmac_sha256_keyed(key);
    let mut counter: u32 = 0;
    for chunk in out.chunks_mut(32) {
        // At most ceil((2^32 - 1) / 256) blocks, so the counter never wraps.
        counter = counter.wrapping_add(1);
        let mut mac = keyed.clone();
        mac.update(&counter.to_be_bytes());
        mac.update(label);
        mac.update(&[0u8]);
        mac.update(context);
        mac.update(&l_bits.to_be_bytes());
        let block: [u8; 32] = mac.finalize().into_bytes().into();
        for (o, b) in chunk.iter_mut().zip(block.iter()) {
            *o = *b;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_util::hex;

    // RFC 4231 section 4.2, test case 1.
    #[test]
    fn hmac_sha256_rfc4231_case_1() {
        let key = [0x0bu8; 20];
        let mac = hmac_sha256(&key, &[b"Hi There"]);
        assert_eq!(
            mac.to_vec(),
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
    }

    // RFC 4231 section 4.3, test case 2, split across parts.
    #[test]
    fn hmac_sha256_rfc4231_case_2_parts() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"", b"for nothing?"]);
        assert_eq!(
            mac.to_vec(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    // RFC 4231 section 4.7, test case 6: a key longer than the block size.
    #[test]
    fn hmac_sha256_rfc4231_case_6_long_key() {
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            mac.to_vec(),
            hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
    }

    /// The KDF written out by hand for one block, to pin the input layout.
    fn one_block(key: &[u8], label: &[u8], ctx: &[u8], l_bits: u32) -> [u8; 32] {
        hmac_sha256(
            key,
            &[&1u32.to_be_bytes(), label, &[0], ctx, &l_bits.to_be_bytes()],
        )
    }

    #[test]
    fn kdf_layout_128_and_256() {
        let key = [0x11u8; 16];
        let mut k16 = [0u8; 16];
        kdf(&key, b"SMB2AESCMAC\0", b"SmbSign\0", &mut k16);
        assert_eq!(
            k16[..],
            one_block(&key, b"SMB2AESCMAC\0", b"SmbSign\0", 128)[..16]
        );
        // L is part of the PRF input, so a 256-bit key does not start with
        // the 128-bit key.
        let mut k32 = [0u8; 32];
        kdf(&key, b"SMB2AESCMAC\0", b"SmbSign\0", &mut k32);
        assert_eq!(k32, one_block(&key, b"SMB2AESCMAC\0", b"SmbSign\0", 256));
        assert_ne!(k32[..16], k16[..]);
    }

    #[test]
    fn kdf_multi_block_uses_counter() {
        let key = b"k";
        let mut out = [0u8; 40];
        kdf(key, b"L", b"C", &mut out);
        let b2 = hmac_sha256(
            key,
            &[&2u32.to_be_bytes(), b"L", &[0], b"C", &320u32.to_be_bytes()],
        );
        assert_eq!(out[..32], one_block(key, b"L", b"C", 320)[..]);
        assert_eq!(out[32..], b2[..8]);
    }

    #[test]
    fn kdf_empty_output_is_fine() {
        let mut out = [0u8; 0];
        kdf(b"key", b"l", b"c", &mut out);
    }

    // Microsoft's "SMB 3.0 encryption" test vector: session key
    // B4546771B515F766A86735532DD6C4F0 gives client-to-server key
    // 261B72350558F2E9DCF613070383EDBF.
    #[test]
    fn kdf_smb30_encryption_vector() {
        let sk = hex("B4546771B515F766A86735532DD6C4F0");
        let mut out = [0u8; 16];
        kdf(&sk, b"SMB2AESCCM\0", b"ServerIn \0", &mut out);
        assert_eq!(out.to_vec(), hex("261B72350558F2E9DCF613070383EDBF"));
    }
}
