//! Tests of `encryption.rs`: Microsoft's published SMB 3.0 (AES-128-CCM)
//! and SMB 3.1.1 (AES-128-GCM) encryption examples, the GCM specification's
//! test case 14 (AES-256-GCM), AES-256-CCM with SMB's 11-byte nonce and
//! 16-byte tag checked against an independent implementation, and
//! rejection of every kind of tampering.

use super::*;
use crate::test_util::hex;

const ALL: [Cipher; 4] = [
    Cipher::Aes128Ccm,
    Cipher::Aes128Gcm,
    Cipher::Aes256Ccm,
    Cipher::Aes256Gcm,
];

/// Splits a whole transform message into (Signature, AAD = bytes 20..52,
/// Nonce field, payload).
fn split(msg: &[u8]) -> ([u8; 16], Vec<u8>, Vec<u8>, Vec<u8>) {
    (
        msg[4..20].try_into().unwrap(),
        msg[20..52].to_vec(),
        msg[20..36].to_vec(),
        msg[52..].to_vec(),
    )
}

fn check_encrypt(cipher: Cipher, key: &str, plain: &str, transformed: &str) {
    let k = CipherKey::new(cipher, &hex(key)).unwrap();
    let (tag, aad, nonce, ct) = split(&hex(transformed));
    let mut buf = hex(plain);
    assert_eq!(k.encrypt_in_place(&nonce, &aad, &mut buf), Some(tag));
    assert_eq!(buf, ct);
    assert!(k.decrypt_in_place(&nonce, &aad, &mut buf, &tag));
    assert_eq!(buf, hex(plain));
}

fn check_decrypt(cipher: Cipher, key: &str, transformed: &str, plain: &str) {
    let k = CipherKey::new(cipher, &hex(key)).unwrap();
    let (tag, aad, nonce, mut buf) = split(&hex(transformed));
    assert!(k.decrypt_in_place(&nonce, &aad, &mut buf, &tag));
    assert_eq!(buf, hex(plain));
}

// Microsoft, "Encryption in SMB 3.0: A protocol perspective": a WRITE
// request encrypted by the client with AES-128-CCM.
#[test]
fn smb30_ccm_encrypt_vector() {
    check_encrypt(
        Cipher::Aes128Ccm,
        "261B72350558F2E9DCF613070383EDBF",
        concat!(
            "FE534D4240000100000000000900400008000000000000000400000000000000",
            "FFFE0000010000001100001400E4080000000000000000000000000000000000",
            "3100700017000000000000000000000015010000390000020100000039020000",
            "00000000000000007000000000000000536D623320656E6372797074696F6E20",
            "74657374696E67"
        ),
        concat!(
            "FD534D4281A286535415445DAE393921E44FA42E66E69A111892584FB5ED524A",
            "744DA3EE87000000000001001100001400E4080025C8FEE16605A437832D1CD5",
            "2DA9F4645333482A175FE5384563F45FCDAFAEF38BC62BA4D5C62897996625A4",
            "4C29BE5658DE2E6117585779E7B59FFD971278D08580D7FA899E410E910EABF5",
            "AA1DB43050B33B49182637759AC15D84BFCDF5B6B238993C0F4CF4D6012023F6",
            "C627297075D84B7803912D0A9639634453595EF3E33FFE4E7AC2AB"
        ),
    );
}

// The same article: the server's WRITE response, AES-128-CCM.
#[test]
fn smb30_ccm_decrypt_vector() {
    check_decrypt(
        Cipher::Aes128Ccm,
        "8FE2B57EC34D2DB5B1A9727F526BBDB5",
        concat!(
            "FD534D42A6015530A18F6D9AFFE22AFAE8E66484860000000000000011000014",
            "00E4080050000000000001001100001400E40800DBF46435C5F14169293CE079",
            "E344479BF670227E49873F458672C3098DAC467DD5809F369D67409166515787",
            "1483E01F7BECD02064EAC3E235F913668BBC2F097980D4B378F1993EFF6E60D1",
            "77309E5B"
        ),
        concat!(
            "FE534D4240000100000000000900210009000000000000000400000000000000",
            "FFFE0000010000001100001400E4080000000000000000000000000000000000",
            "11000000170000000000000000000000"
        ),
    );
}

// Microsoft, "SMB 3.1.1 Encryption in Windows 10": AES-128-GCM request.
#[test]
fn smb311_gcm_encrypt_vector() {
    check_encrypt(
        Cipher::Aes128Gcm,
        "A2F5E80E5D59103034F32E52F698E5EC",
        concat!(
            "FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000",
            "25000000001000000000000000000000000000000000000031007000170000000000000000000000",
            "0600000004000000010000000400000000000000000000007000000000000000536D623320656E63",
            "72797074696F6E2074657374696E67"
        ),
        concat!(
            "FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C0000000087000000",
            "0000010025000000001000006ECDD2A7AFC7B47763057A041B8FD4DAFFE990B70C9E09D36C084E02",
            "D14EF247F8BDE38ACF6256F8B1D3B56F77FBDEB312FEA5E92CBCC1ED8FB2EBBFAA75E49A4A394BB4",
            "4576545567C24D4C014D47C9FBDFDAFD2C4F9B72F8D256452620A299F48E29E53D6B61D1C13A19E9",
            "1AF013F00D17E3ABC2FC3D36C8C1B6B93973253852DBD442E46EE8"
        ),
    );
}

// The same article: the server's WRITE response, AES-128-GCM.
#[test]
fn smb311_gcm_decrypt_vector() {
    check_decrypt(
        Cipher::Aes128Gcm,
        "748C50868C90F302962A5C35F5F9A8BF",
        concat!(
            "FD534D42ACBE1CB7ED343ADF1725EF144D90D4B0E06831DD2E8EB7B40000000000000000",
            "5000000000000100250000000010000026BBBF949983A6C1C796559D0F2C510CB651D1F7",
            "B6AC8DED32A2A0B8F2D793A815C6F6B848D69767A215841A42D400AE6DDB5F0B44173A01",
            "4973321FDD7950DA6179159B82E03C9E18A050FF0EA1C967"
        ),
        concat!(
            "FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000",
            "25000000001000000000000000000000000000000000000011000000170000000000000000000000"
        ),
    );
}

// The GCM specification (McGrew and Viega), test case 14: 256-bit zero key,
// zero IV, one zero block, no AAD.
#[test]
fn gcm256_spec_test_case_14() {
    let k = CipherKey::new(Cipher::Aes256Gcm, &[0u8; 32]).unwrap();
    let mut buf = [0u8; 16];
    let tag = k.encrypt_in_place(&[0u8; 16], &[], &mut buf).unwrap();
    assert_eq!(buf.to_vec(), hex("cea7403d4d606b6e074ec5d3baf39d18"));
    assert_eq!(tag.to_vec(), hex("d0d1c8a799996bf0265b98b5d48ab919"));
}

/// 47 bytes of plaintext, key 00..1f, nonce field 40..4f, AAD 80..9f.
fn fixture() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let key: Vec<u8> = (0u8..32).collect();
    let nonce: Vec<u8> = (0x40u8..0x50).collect();
    let aad: Vec<u8> = (0x80u8..0xa0).collect();
    let plain = b"SMB 3.1.1 with AES-256-CCM, 48 bytes of text!!!".to_vec();
    (key, nonce, aad, plain)
}

// AES-256 with SMB's parameters, known answers from an independent AEAD
// implementation. Only the first 11 (CCM) or 12 (GCM) nonce bytes count.
#[test]
fn aes256_known_answers() {
    let (key, nonce, aad, plain) = fixture();
    for (cipher, ct, tag) in [
        (
            Cipher::Aes256Ccm,
            concat!(
                "2640318a38c4b31a5bf8bfe2f5cc6a71cdc8ca7844527b8afe1c47c35b5eef96",
                "51607ef14ee579ed4dd1e6fe7994ef"
            ),
            "e4acd7d1ad83242a836fdeebe7718737",
        ),
        (
            Cipher::Aes256Gcm,
            concat!(
                "b1f4ec031512b62dfce4605fef0c331a3c957f6e82032260340a62c5a32bcdb9",
                "e17c96dffed6b9745591731bb02cfe"
            ),
            "4646e0ecdc29df25b792e1a3b6124013",
        ),
    ] {
        let k = CipherKey::new(cipher, &key).unwrap();
        let mut buf = plain.clone();
        let t = k.encrypt_in_place(&nonce, &aad, &mut buf).unwrap();
        assert_eq!(buf, hex(ct), "{cipher:?}");
        assert_eq!(t.to_vec(), hex(tag), "{cipher:?}");
        // Bytes past nonce_len() are not used.
        let mut other_nonce = nonce.clone();
        other_nonce[15] ^= 0xFF;
        let mut buf2 = plain.clone();
        assert_eq!(k.encrypt_in_place(&other_nonce, &aad, &mut buf2), Some(t));
        assert!(k.decrypt_in_place(&nonce[..cipher.nonce_len()], &aad, &mut buf, &t));
        assert_eq!(buf, plain);
    }
}

#[test]
fn wire_ids_and_lengths() {
    for c in ALL {
        assert_eq!(Cipher::from_wire(c.wire_id()), Some(c));
    }
    assert_eq!(Cipher::from_wire(0), None);
    assert_eq!(Cipher::from_wire(5), None);
    assert_eq!(Cipher::Aes128Ccm.key_len(), 16);
    assert_eq!(Cipher::Aes256Gcm.key_len(), 32);
    assert_eq!(Cipher::Aes256Ccm.nonce_len(), 11);
    assert_eq!(Cipher::Aes128Gcm.nonce_len(), 12);
    assert!(Cipher::Aes256Ccm.is_aes256());
    assert!(!Cipher::Aes128Gcm.is_aes256());
}

#[test]
fn wrong_key_length_is_none() {
    for c in ALL {
        for len in [0usize, 15, 17, 24, 31, 33] {
            assert!(CipherKey::new(c, &vec![1; len]).is_none(), "{c:?} {len}");
        }
        let k = CipherKey::new(c, &vec![1; c.key_len()]).unwrap();
        assert_eq!(k.cipher(), c);
        assert!(format!("{k:?}").contains("CipherKey"));
    }
}

#[test]
fn tampering_is_rejected() {
    let (_, nonce, aad, plain) = fixture();
    for c in ALL {
        let k = CipherKey::new(c, &vec![7; c.key_len()]).unwrap();
        let mut ct = plain.clone();
        let tag = k.encrypt_in_place(&nonce, &aad, &mut ct).unwrap();

        let mut bad_tag = tag;
        bad_tag[0] ^= 1;
        let mut buf = ct.clone();
        assert!(
            !k.decrypt_in_place(&nonce, &aad, &mut buf, &bad_tag),
            "{c:?} tag"
        );
        assert_ne!(buf, plain, "{c:?}: plaintext released on failure");

        let mut buf = ct.clone();
        buf[10] ^= 0x80;
        assert!(
            !k.decrypt_in_place(&nonce, &aad, &mut buf, &tag),
            "{c:?} body"
        );

        let mut bad_aad = aad.clone();
        bad_aad[31] ^= 1;
        let mut buf = ct.clone();
        assert!(
            !k.decrypt_in_place(&nonce, &bad_aad, &mut buf, &tag),
            "{c:?} aad"
        );

        let mut bad_nonce = nonce.clone();
        bad_nonce[0] ^= 1;
        let mut buf = ct.clone();
        assert!(
            !k.decrypt_in_place(&bad_nonce, &aad, &mut buf, &tag),
            "{c:?} nonce"
        );

        let mut buf = ct[..ct.len() - 1].to_vec();
        assert!(
            !k.decrypt_in_place(&nonce, &aad, &mut buf, &tag),
            "{c:?} truncated"
        );

        let other = CipherKey::new(c, &vec![8; c.key_len()]).unwrap();
        let mut buf = ct.clone();
        assert!(
            !other.decrypt_in_place(&nonce, &aad, &mut buf, &tag),
            "{c:?} key"
        );

        let mut buf = ct.clone();
        assert!(k.decrypt_in_place(&nonce, &aad, &mut buf, &tag));
        assert_eq!(buf, plain);
    }
}

#[test]
fn short_nonce_and_empty_inputs() {
    for c in ALL {
        let k = CipherKey::new(c, &vec![3; c.key_len()]).unwrap();
        let mut buf = b"data".to_vec();
        let short = vec![0u8; c.nonce_len() - 1];
        assert_eq!(k.encrypt_in_place(&short, &[], &mut buf), None);
        assert_eq!(buf, b"data", "{c:?}: buffer changed on refusal");
        assert!(!k.decrypt_in_place(&short, &[], &mut buf, &[0; 16]));
        assert!(!k.decrypt_in_place(&[], &[], &mut buf, &[0; 16]));
        // Empty payload and empty AAD still authenticate.
        let mut empty: [u8; 0] = [];
        let tag = k.encrypt_in_place(&[9; 16], &[], &mut empty).unwrap();
        assert!(k.decrypt_in_place(&[9; 16], &[], &mut empty, &tag));
        assert!(!k.decrypt_in_place(&[9; 16], &[1], &mut empty, &tag));
    }
}
