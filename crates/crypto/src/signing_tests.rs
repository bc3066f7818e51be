//! Tests of `signing.rs`. Known answers come from RFC 4493, the NIST GCM
//! validation vectors, and SMB2 messages whose signatures were computed
//! with an independent AES/HMAC implementation over a zeroed Signature.

use super::*;
use crate::test_util::hex;
use aes_gcm::{AeadInPlace, Aes128Gcm};

const KEY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// The 135-byte SMB2 WRITE request of Microsoft's SMB 3.1.1 encryption
/// example, with 00112233..eeff in its Signature field.
const WRITE_CLIENT: &str = concat!(
    "fe534d4240000100000000000900010008000000000000000500000000000000",
    "fffe000001000000250000000010000000112233445566778899aabbccddeeff",
    "3100700017000000000000000000000006000000040000000100000004000000",
    "00000000000000007000000000000000536d623320656e6372797074696f6e20",
    "74657374696e67"
);
/// The same message with SMB2_FLAGS_SERVER_TO_REDIR set.
const WRITE_SERVER: &str = concat!(
    "fe534d4240000100000000000900010009000000000000000500000000000000",
    "fffe000001000000250000000010000000112233445566778899aabbccddeeff",
    "3100700017000000000000000000000006000000040000000100000004000000",
    "00000000000000007000000000000000536d623320656e6372797074696f6e20",
    "74657374696e67"
);

fn sig_of(alg: SigningAlgorithm, msg: &str) -> Vec<u8> {
    SigningKey::new(alg, &KEY).sign(&hex(msg)).unwrap().to_vec()
}

#[test]
fn wire_ids_round_trip() {
    for alg in [
        SigningAlgorithm::HmacSha256,
        SigningAlgorithm::AesCmac,
        SigningAlgorithm::AesGmac,
    ] {
        assert_eq!(SigningAlgorithm::from_wire(alg.wire_id()), Some(alg));
    }
    assert_eq!(SigningAlgorithm::AesGmac.wire_id(), 2);
    assert_eq!(SigningAlgorithm::from_wire(3), None);
    assert_eq!(SigningAlgorithm::from_wire(0xFFFF), None);
}

// RFC 4493 section 4: examples 1, 2 and 4, run through the prepared CMAC
// key held by `SigningKey`.
#[test]
fn cmac_rfc4493_examples() {
    let key: [u8; 16] = hex("2b7e151628aed2a6abf7158809cf4f3c").try_into().unwrap();
    let k = SigningKey::new(SigningAlgorithm::AesCmac, &key);
    let Inner::Cmac(prepared) = &k.inner else {
        panic!("not a CMAC key");
    };
    let m = hex(concat!(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
    ));
    for (len, want) in [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ] {
        let mut mac = Cmac::<Aes128>::clone(prepared);
        mac.update(&m[..len]);
        assert_eq!(mac.finalize().into_bytes().to_vec(), hex(want), "len {len}");
    }
}

// NIST CAVP gcmEncryptExtIV128, PTlen = 0, AADlen = 128, Count = 0: GMAC.
#[test]
fn gmac_nist_vector() {
    let key: [u8; 16] = hex("77be63708971c4e240d1cb79e8d77feb").try_into().unwrap();
    let nonce: [u8; 12] = hex("e0e00f19fed7ba0136a797f3").try_into().unwrap();
    let aad = hex("7a43ec1d9c0a5a78a0b16533a6213cab");
    let gcm = <Aes128Gcm as KeyInit>::new((&key).into());
    let tag = gcm
        .encrypt_in_place_detached((&nonce).into(), &aad, &mut [])
        .unwrap();
    assert_eq!(tag.to_vec(), hex("209fcc8d3675ed938e9c7166709dd946"));
}

#[test]
fn smb_message_known_answers() {
    use SigningAlgorithm::*;
    assert_eq!(
        sig_of(HmacSha256, WRITE_CLIENT),
        hex("25c4fb7154c630ab83b6aee286a22a70")
    );
    assert_eq!(
        sig_of(AesCmac, WRITE_CLIENT),
        hex("1319bd3aa131754f2e2e718fee61fc97")
    );
    assert_eq!(
        sig_of(AesGmac, WRITE_CLIENT),
        hex("65890875b1ee7bf4ff0db5c780e16cf9")
    );
    assert_eq!(
        sig_of(HmacSha256, WRITE_SERVER),
        hex("9a6d0a7d6b925e53f20051cd3058813e")
    );
    assert_eq!(
        sig_of(AesCmac, WRITE_SERVER),
        hex("096a2d0255d8a7a37aacb4d60ee8c9b0")
    );
    // The role bit of the GMAC nonce follows SMB2_FLAGS_SERVER_TO_REDIR.
    assert_eq!(
        sig_of(AesGmac, WRITE_SERVER),
        hex("96f4cd09bab7b0ae585e89a38562e6f5")
    );
}

// An SMB2 CANCEL request: the GMAC nonce carries the cancel bit.
#[test]
fn gmac_cancel_known_answer() {
    let msg = concat!(
        "fe534d4240000000000000000c0000000800000000000000efcdab8967452301",
        "00000000000000008877665544332211a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5",
        "04000000"
    );
    assert_eq!(
        sig_of(SigningAlgorithm::AesGmac, msg),
        hex("cbebc4b5fa95aa3d199e90417284a135")
    );
    let nonce = gmac_nonce(&hex(msg)).unwrap();
    assert_eq!(nonce.to_vec(), hex("efcdab896745230102000000"));
}

/// GMAC computed the plain way: copy the message, zero its Signature field.
fn gmac_reference(key: &[u8; 16], msg: &[u8]) -> [u8; 16] {
    let mut copy = msg.to_vec();
    copy[48..64].fill(0);
    let nonce = gmac_nonce(msg).unwrap();
    let gcm = <Aes128Gcm as KeyInit>::new(key.into());
    gcm.encrypt_in_place_detached((&nonce).into(), &copy, &mut [])
        .unwrap()
        .into()
}

/// A deterministic pseudo-random message of `len` bytes.
fn message(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

// The algebraic GMAC correction must equal GMAC over a zeroed copy for
// every length class: whole and partial last blocks, short and long.
#[test]
fn gmac_fixup_matches_copying_reference() {
    let k = SigningKey::new(SigningAlgorithm::AesGmac, &KEY);
    let mut lens: Vec<usize> = (64..=200).collect();
    lens.extend([255, 256, 257, 4095, 4096, 4097, 65_536 + 7, 1 << 20]);
    for len in lens {
        let msg = message(len, (len % 251) as u8);
        assert_eq!(
            k.sign(&msg).unwrap(),
            gmac_reference(&KEY, &msg),
            "len {len}"
        );
    }
}

#[test]
fn signature_field_is_ignored() {
    for alg in [
        SigningAlgorithm::HmacSha256,
        SigningAlgorithm::AesCmac,
        SigningAlgorithm::AesGmac,
    ] {
        let k = SigningKey::new(alg, &KEY);
        let mut msg = message(300, 7);
        let a = k.sign(&msg).unwrap();
        msg[48..64].fill(0);
        assert_eq!(k.sign(&msg).unwrap(), a, "{alg:?}");
        msg[48..64].fill(0xFF);
        assert_eq!(k.sign(&msg).unwrap(), a, "{alg:?}");
    }
}

#[test]
fn sign_verify_round_trip_and_tamper() {
    for alg in [
        SigningAlgorithm::HmacSha256,
        SigningAlgorithm::AesCmac,
        SigningAlgorithm::AesGmac,
    ] {
        let k = SigningKey::new(alg, &KEY);
        for len in [64usize, 65, 100, 1000] {
            let mut msg = message(len, 3);
            assert!(!k.verify(&msg), "{alg:?}: random signature accepted");
            let sig = k.sign(&msg).unwrap();
            msg[48..64].copy_from_slice(&sig);
            assert!(k.verify(&msg), "{alg:?} len {len}");
            // Flip one bit anywhere, header, signature or body: rejected.
            for pos in [0, 12, 16, 24, 47, 48, 63, len - 1] {
                let mut bad = msg.clone();
                bad[pos] ^= 0x01;
                assert!(!k.verify(&bad), "{alg:?} len {len} pos {pos}");
            }
            // Truncation and extension are rejected too.
            assert!(!k.verify(&msg[..len - 1]), "{alg:?} len {len} truncated");
            let mut longer = msg.clone();
            longer.push(0);
            assert!(!k.verify(&longer), "{alg:?} len {len} extended");
            // Another key rejects it.
            let other = SigningKey::new(alg, &[0x55; 16]);
            assert!(!other.verify(&msg));
        }
    }
}

#[test]
fn algorithms_differ() {
    let msg = message(128, 9);
    let h = sig_of_bytes(SigningAlgorithm::HmacSha256, &msg);
    let c = sig_of_bytes(SigningAlgorithm::AesCmac, &msg);
    let g = sig_of_bytes(SigningAlgorithm::AesGmac, &msg);
    assert_ne!(h, c);
    assert_ne!(c, g);
    assert_ne!(h, g);
}

fn sig_of_bytes(alg: SigningAlgorithm, msg: &[u8]) -> [u8; 16] {
    SigningKey::new(alg, &KEY).sign(msg).unwrap()
}

#[test]
fn short_inputs_do_not_panic() {
    for alg in [
        SigningAlgorithm::HmacSha256,
        SigningAlgorithm::AesCmac,
        SigningAlgorithm::AesGmac,
    ] {
        let k = SigningKey::new(alg, &KEY);
        for len in [0usize, 1, 12, 31, 47, 48, 63] {
            let msg = vec![0xAB; len];
            assert_eq!(k.sign(&msg), None, "{alg:?} len {len}");
            assert!(!k.verify(&msg), "{alg:?} len {len}");
        }
        assert!(k.sign(&[0u8; 64]).is_some());
    }
}

#[test]
fn clone_signs_the_same() {
    let k = SigningKey::new(SigningAlgorithm::AesGmac, &KEY);
    let c = k.clone();
    let msg = message(500, 1);
    assert_eq!(k.sign(&msg), c.sign(&msg));
    assert_eq!(c.algorithm(), SigningAlgorithm::AesGmac);
    // Debug output names the algorithm and never the key.
    let dbg = format!("{k:?}");
    assert!(dbg.contains("AesGmac"));
}

#[test]
fn ct_eq_behaviour() {
    let a = [7u8; 16];
    assert!(ct_eq(&a, &[7u8; 16]));
    let mut b = [7u8; 16];
    b[15] = 6;
    assert!(!ct_eq(&a, &b));
    assert!(!ct_eq(&a, &[7u8; 15]));
}

/// A reproducible pseudo-random key.
fn key_of(seed: u64) -> [u8; 16] {
    let mut x = seed | 1;
    let mut key = [0u8; 16];
    for b in key.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 32) as u8;
    }
    key
}

// GMAC through the GHASH of `ghash.rs` against RustCrypto's AES-GCM over a
// zeroed copy, for random keys and messages of 64..=300 bytes and a few
// large ones, the Signature field random (nonzero), zero, or all ones,
// client and server, CANCEL or not.
#[test]
fn gmac_matches_aes_gcm_random_keys_and_messages() {
    let mut lens: Vec<usize> = (64..=300).collect();
    lens.extend([4096 + 5, 65_536 + 13, 1 << 20]);
    for (round, seed) in [1u64, 0x5eed, 0xC0FF_EE00_1234].into_iter().enumerate() {
        let key = if round == 0 {
            let mut k = [0u8; 16];
            crate::legacy::random_bytes(&mut k);
            k
        } else {
            key_of(seed)
        };
        let k = SigningKey::new(SigningAlgorithm::AesGmac, &key);
        for &len in &lens {
            let mut msg = message(len, (len as u8) ^ (round as u8));
            // Flags bit 0 (server) and the CANCEL command vary the nonce.
            msg[16] = (len % 2) as u8;
            if len % 3 == 0 {
                msg[12..14].copy_from_slice(&SMB2_CANCEL.to_le_bytes());
            }
            let want = gmac_reference(&key, &msg);
            assert_eq!(k.sign(&msg).unwrap(), want, "key {key:02x?} len {len}");
            for fill in [0u8, 0xFF] {
                msg[48..64].fill(fill);
                assert_eq!(k.sign(&msg).unwrap(), want, "key {key:02x?} len {len}");
            }
            msg[48..64].copy_from_slice(&want);
            assert!(k.verify(&msg), "key {key:02x?} len {len}");
        }
    }
}
