//! The keys of one authenticated session, derived from the GSS session key
//! as MS-SMB2 3.3.5.5.3 (server) and 3.2.5.3.1 (client) describe, with the
//! KDF of MS-SMB2 3.1.4.2.
//!
//! | dialect      | key         | label               | context              |
//! |--------------|-------------|---------------------|----------------------|
//! | 3.0, 3.0.2   | signing     | `SMB2AESCMAC\0`     | `SmbSign\0`          |
//! |              | application | `SMB2APP\0`         | `SmbRpc\0`           |
//! |              | encryption  | `SMB2AESCCM\0`      | `ServerOut\0`        |
//! |              | decryption  | `SMB2AESCCM\0`      | `ServerIn \0`        |
//! | 3.1.1        | signing     | `SMBSigningKey\0`   | preauth hash         |
//! |              | application | `SMBAppKey\0`       | preauth hash         |
//! |              | encryption  | `SMBS2CCipherKey\0` | preauth hash         |
//! |              | decryption  | `SMBC2SCipherKey\0` | preauth hash         |
//!
//! Which key and which length: Session.SessionKey is the first 16 bytes of
//! the GSS key, right-padded with zeros (MS-SMB2 3.3.1.8); the signing and
//! application keys are 128-bit (3.3.1.8, 3.3.1.14 "A 128-bit key") and are
//! derived from Session.SessionKey with L = 128. Only the encryption and
//! decryption keys follow the cipher: for AES-256-CCM/GCM they are 256-bit,
//! derived with L = 256 (3.1.4.2) from Session.FullSessionKey, the whole GSS
//! key (3.3.5.5.3). ksmbd derives the keys this way too: when it derived
//! the signing key with L = 256, AES-256 sessions with macOS and Windows 11
//! clients failed at the signed final SESSION_SETUP response.

use crate::encryption::Cipher;
use crate::kdf::kdf;

/// The keys of one session (MS-SMB2 3.3.5.5.3 and 3.2.5.3.1 for the
/// labels and contexts per dialect). `Debug` is deliberately not derived.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// Session.SigningKey (3.x) or Session.SessionKey (2.x: HMAC-SHA256).
    pub signing: [u8; 16],
    /// Session.ApplicationKey, handed to RPC over named pipes; for 2.x
    /// dialects, which have none, the session key as MS-RPCE uses it.
    pub application: [u8; 16],
    /// Session.EncryptionKey: server-to-client. Empty for 2.x dialects.
    pub encryption: Vec<u8>,
    /// Session.DecryptionKey: client-to-server. Empty for 2.x dialects.
    pub decryption: Vec<u8>,
}

/// One KDF input: (label, context).
type LabelContext<'a> = (&'a [u8], &'a [u8]);

/// The (label, context) pairs for the signing, application, encryption and
/// decryption keys of a 3.x dialect (MS-SMB2 3.3.5.5.3); None for 2.x.
fn labels(dialect: u16, preauth_hash: &[u8; 64]) -> Option<[LabelContext<'_>; 4]> {
    match dialect {
        0x0300 | 0x0302 => Some([
            (b"SMB2AESCMAC\0", b"SmbSign\0"),
            (b"SMB2APP\0", b"SmbRpc\0"),
            (b"SMB2AESCCM\0", b"ServerOut\0"),
            (b"SMB2AESCCM\0", b"ServerIn \0"),
        ]),
        0x0311 => Some([
            (b"SMBSigningKey\0", preauth_hash),
            (b"SMBAppKey\0", preauth_hash),
            (b"SMBS2CCipherKey\0", preauth_hash),
            (b"SMBC2SCipherKey\0", preauth_hash),
        ]),
        _ => None,
    }
}

/// Derives the session's keys.
///
/// `dialect` is Connection.Dialect: 0x0202 and 0x0210 (and any value that is
/// not a 3.x dialect) give the 2.x keys, where signing uses the session key
/// itself and there is no encryption; 0x0300 and 0x0302 the 3.0 labels;
/// 0x0311 the 3.1.1 labels with `preauth_hash` (Session.PreauthIntegrityHashValue)
/// as context. `cipher` is Connection.CipherId; None means AES-128 key
/// lengths (3.0 and 3.0.2 only know AES-128-CCM).
pub fn derive_session_keys(
    dialect: u16,
    session_key: &[u8],
    preauth_hash: &[u8; 64],
    cipher: Option<Cipher>,
) -> SessionKeys {
    // MS-SMB2 3.3.1.8 Session.SessionKey: first 16 bytes, zero-padded.
    let mut sk16 = [0u8; 16];
    for (d, s) in sk16.iter_mut().zip(session_key.iter()) {
        *d = *s;
    }
    let Some([sign, app, enc, dec]) = labels(dialect, preauth_hash) else {
        // MS-SMB2 3.3.5.5.3, dialects 2.0.2 and 2.1: no derivation; signing
        // is HMAC-SHA256 keyed with Session.SessionKey (3.1.4.1).
        return SessionKeys {
            signing: sk16,
            application: sk16,
            encryption: Vec::new(),
            decryption: Vec::new(),
        };
    };

    let mut signing = [0u8; 16];
    kdf(&sk16, sign.0, sign.1, &mut signing);
    let mut application = [0u8; 16];
    kdf(&sk16, app.0, app.1, &mut application);

    // MS-SMB2 3.1.4.2: L = 256 for AES-256 ciphers, keyed with
    // Session.FullSessionKey (3.3.5.5.3); otherwise L = 128 from the
    // 16-byte Session.SessionKey.
    let (cipher_key, key_len): (&[u8], usize) = match cipher {
        Some(c) if c.is_aes256() => (session_key, c.key_len()),
        _ => (&sk16, 16),
    };
    let mut encryption = vec![0u8; key_len];
    kdf(cipher_key, enc.0, enc.1, &mut encryption);
    let mut decryption = vec![0u8; key_len];
    kdf(cipher_key, dec.0, dec.1, &mut decryption);

    SessionKeys {
        signing,
        application,
        encryption,
        decryption,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_util::{hex, MS_PREAUTH_FINAL};

    fn arr16(s: &str) -> [u8; 16] {
        hex(s).try_into().unwrap()
    }

    fn arr64(s: &str) -> [u8; 64] {
        hex(s).try_into().unwrap()
    }

    // Microsoft, "Encryption in SMB 3.0: A protocol perspective".
    #[test]
    fn smb30_vector() {
        let sk = hex("B4546771B515F766A86735532DD6C4F0");
        for dialect in [0x0300, 0x0302] {
            let k = derive_session_keys(dialect, &sk, &[0; 64], Some(Cipher::Aes128Ccm));
            assert_eq!(k.decryption, hex("261B72350558F2E9DCF613070383EDBF"));
            assert_eq!(k.encryption, hex("8FE2B57EC34D2DB5B1A9727F526BBDB5"));
            // Signing and application keys follow the same KDF layout.
            let mut s = [0u8; 16];
            kdf(&sk, b"SMB2AESCMAC\0", b"SmbSign\0", &mut s);
            assert_eq!(k.signing, s);
            kdf(&sk, b"SMB2APP\0", b"SmbRpc\0", &mut s);
            assert_eq!(k.application, s);
            // The preauth hash is not used before 3.1.1; None means AES-128.
            let k2 = derive_session_keys(dialect, &sk, &[0xAB; 64], None);
            assert!(k == k2);
        }
    }

    // Microsoft, "SMB 3.1.1 Encryption in Windows 10" (AES-128-GCM).
    #[test]
    fn smb311_encryption_vector() {
        let sk = hex("419FDDF34C1E001909D362AE7FB6AF79");
        let h = arr64(concat!(
            "B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDBA7DB256BA2EA30E9",
            "77F11F9B113247578E0E915C6D2A513B8F2FCA5707DC8770"
        ));
        let k = derive_session_keys(0x0311, &sk, &h, Some(Cipher::Aes128Gcm));
        assert_eq!(k.decryption, hex("A2F5E80E5D59103034F32E52F698E5EC"));
        assert_eq!(k.encryption, hex("748C50868C90F302962A5C35F5F9A8BF"));
        let mut app = [0u8; 16];
        kdf(&sk, b"SMBAppKey\0", &h, &mut app);
        assert_eq!(k.application, app);
    }

    // Microsoft, "SMB 3.1.1 Pre-authentication integrity in Windows 10":
    // the signing key from the final preauth hash of the exchange.
    #[test]
    fn smb311_signing_vector() {
        let sk = hex("270E1BA896585EEB7AF3472D3B4C75A7");
        let h = arr64(MS_PREAUTH_FINAL);
        let k = derive_session_keys(0x0311, &sk, &h, None);
        assert_eq!(k.signing, arr16("73FE7A9A77BEF0BDE49C650D8CCB5F76"));
        // The signing key does not depend on the cipher.
        for c in [
            Cipher::Aes128Ccm,
            Cipher::Aes128Gcm,
            Cipher::Aes256Ccm,
            Cipher::Aes256Gcm,
        ] {
            let kc = derive_session_keys(0x0311, &sk, &h, Some(c));
            assert_eq!(kc.signing, k.signing, "{c:?}");
            assert_eq!(kc.application, k.application, "{c:?}");
            assert_eq!(kc.encryption.len(), c.key_len());
            assert_eq!(kc.decryption.len(), c.key_len());
        }
    }

    #[test]
    fn aes256_uses_full_key_and_l256() {
        // A 32-byte GSS key, as Kerberos with AES-256 produces.
        let full: Vec<u8> = (1u8..=32).collect();
        let h = [0x5Au8; 64];
        let k = derive_session_keys(0x0311, &full, &h, Some(Cipher::Aes256Gcm));
        let mut want = [0u8; 32];
        kdf(&full, b"SMBS2CCipherKey\0", &h, &mut want);
        assert_eq!(k.encryption, want.to_vec());
        kdf(&full, b"SMBC2SCipherKey\0", &h, &mut want);
        assert_eq!(k.decryption, want.to_vec());
        // Signing: the truncated key, L = 128.
        let mut s = [0u8; 16];
        kdf(&full[..16], b"SMBSigningKey\0", &h, &mut s);
        assert_eq!(k.signing, s);
        // AES-128 ciphers use the truncated key for encryption as well.
        let k128 = derive_session_keys(0x0311, &full, &h, Some(Cipher::Aes128Gcm));
        let mut e = [0u8; 16];
        kdf(&full[..16], b"SMBS2CCipherKey\0", &h, &mut e);
        assert_eq!(k128.encryption, e.to_vec());
    }

    #[test]
    fn smb2x_uses_the_session_key() {
        let sk = hex("00112233445566778899AABBCCDDEEFF");
        for dialect in [0x0202, 0x0210, 0x02FF, 0x0000] {
            let k = derive_session_keys(dialect, &sk, &[1; 64], Some(Cipher::Aes128Gcm));
            assert_eq!(k.signing.to_vec(), sk);
            assert_eq!(k.application.to_vec(), sk);
            assert!(k.encryption.is_empty());
            assert!(k.decryption.is_empty());
        }
        // Shorter keys are zero-padded, longer ones truncated (3.3.1.8).
        let k = derive_session_keys(0x0210, &[9, 9, 9], &[0; 64], None);
        assert_eq!(k.signing, [9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let long: Vec<u8> = (0u8..40).collect();
        let k = derive_session_keys(0x0202, &long, &[0; 64], None);
        assert_eq!(k.signing.to_vec(), long[..16].to_vec());
        // An empty key does not panic.
        let k = derive_session_keys(0x0311, &[], &[0; 64], Some(Cipher::Aes256Ccm));
        assert_eq!(k.encryption.len(), 32);
    }
}
