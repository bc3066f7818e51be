//! The older primitives NTLM needs (MS-NLMP 3.3, 3.4): MD4, MD5, HMAC-MD5, RC4.

use hmac::{Hmac, Mac};
use md4::Digest;

/// MD4 digest (the NT one-way function hashes the UTF-16LE password with it).
pub fn md4(data: &[u8]) -> [u8; 16] {
    let mut h = md4::Md4::new();
    h.update(data);
    h.finalize().into()
}

/// MD5 digest.
pub fn md5(data: &[u8]) -> [u8; 16] {
    let mut h = md5::Md5::new();
    h.update(data);
    h.finalize().into()
}

/// HMAC-MD5 over the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = match <Hmac<md5::Md5> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 16],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// RC4 applied in place (key exchange of MS-NLMP 3.4.5.1 uses a 16-byte key).
pub fn rc4_apply(key: &[u8; 16], data: &mut [u8]) {
    use rc4::{KeyInit, StreamCipher};
    let mut c = rc4::Rc4::<rc4::consts::U16>::new(key.into());
    c.apply_keystream(data);
}

/// Fills `buf` from the operating system's random source.
pub fn random_bytes(buf: &mut [u8]) {
    if getrandom::getrandom(buf).is_err() {
        // The kernel's random source does not fail after boot; if it ever
        // did, refusing to produce predictable keys is the only safe answer.
        std::process::abort();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hmac_md5_rfc2202_case_2() {
        let mac = hmac_md5(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            mac,
            [
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31, 0x0a, 0x5d,
                0xb7, 0x38
            ]
        );
    }

    #[test]
    fn rc4_round_trip() {
        let key = [7u8; 16];
        let mut data = *b"hello world";
        rc4_apply(&key, &mut data);
        assert_ne!(&data, b"hello world");
        rc4_apply(&key, &mut data);
        assert_eq!(&data, b"hello world");
    }
}
