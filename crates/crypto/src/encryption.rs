//! SMB 3.x message encryption (MS-SMB2 3.1.4.3): AES-128/256 in CCM or GCM
//! mode with a 16-byte tag, over a message that follows an SMB2
//! TRANSFORM_HEADER (MS-SMB2 2.2.41). Cipher ids are those of
//! SMB2_ENCRYPTION_CAPABILITIES (MS-SMB2 2.2.3.1.2).
//!
//! The transform header layout is the wire crate's business; this module
//! takes the nonce, the additional data and the payload as slices.

use aes::{Aes128, Aes256};
use aes_gcm::{AeadInPlace, Aes128Gcm, Aes256Gcm, KeyInit};
use ccm::consts::{U11, U16};
use ccm::Ccm;

type Aes128Ccm = Ccm<Aes128, U16, U11>;
type Aes256Ccm = Ccm<Aes256, U16, U11>;

/// CCM nonce length: the first 11 bytes of the transform header's Nonce
/// (MS-SMB2 2.2.41, AES_CCM_NONCE).
const CCM_NONCE_LEN: usize = 11;
/// GCM nonce length: the first 12 bytes of the Nonce (AES_GCM_NONCE).
const GCM_NONCE_LEN: usize = 12;

/// An encryption algorithm of SMB2_ENCRYPTION_CAPABILITIES
/// (MS-SMB2 2.2.3.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// AES-128-CCM (0x0001): the only cipher of 3.0 and 3.0.2.
    Aes128Ccm,
    /// AES-128-GCM (0x0002).
    Aes128Gcm,
    /// AES-256-CCM (0x0003).
    Aes256Ccm,
    /// AES-256-GCM (0x0004).
    Aes256Gcm,
}

impl Cipher {
    /// Maps a wire id (MS-SMB2 2.2.3.1.2) to a cipher; None if unknown.
    pub fn from_wire(id: u16) -> Option<Self> {
        match id {
            0x0001 => Some(Self::Aes128Ccm),
            0x0002 => Some(Self::Aes128Gcm),
            0x0003 => Some(Self::Aes256Ccm),
            0x0004 => Some(Self::Aes256Gcm),
            _ => None,
        }
    }

    /// The wire id of MS-SMB2 2.2.3.1.2.
    pub fn wire_id(self) -> u16 {
        match self {
            Self::Aes128Ccm => 0x0001,
            Self::Aes128Gcm => 0x0002,
            Self::Aes256Ccm => 0x0003,
            Self::Aes256Gcm => 0x0004,
        }
    }

    /// Key length in bytes: 16 for AES-128, 32 for AES-256.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Ccm | Self::Aes128Gcm => 16,
            Self::Aes256Ccm | Self::Aes256Gcm => 32,
        }
    }

    /// Nonce length in bytes: 11 for CCM, 12 for GCM (MS-SMB2 2.2.41).
    pub fn nonce_len(self) -> usize {
        match self {
            Self::Aes128Ccm | Self::Aes256Ccm => CCM_NONCE_LEN,
            Self::Aes128Gcm | Self::Aes256Gcm => GCM_NONCE_LEN,
        }
    }

    /// True for AES-256-CCM and AES-256-GCM, whose session keys are derived
    /// with L = 256 (MS-SMB2 3.1.4.2).
    pub fn is_aes256(self) -> bool {
        self.key_len() == 32
    }
}

/// The prepared cipher state; large AES-256 schedules live on the heap so
/// the enum stays small.
#[derive(Clone)]
enum Inner {
    Aes128Ccm(Box<Aes128Ccm>),
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Ccm(Box<Aes256Ccm>),
    Aes256Gcm(Box<Aes256Gcm>),
    /// AES-128-GCM or AES-256-GCM through ring's assembly.
    #[cfg(feature = "ring")]
    RingGcm(Box<ring::aead::LessSafeKey>),
}

/// An encryption or decryption key with its AES key schedule (and, for GCM,
/// its GHASH key) prepared once.
#[derive(Clone)]
pub struct CipherKey {
    cipher: Cipher,
    inner: Inner,
}

impl std::fmt::Debug for CipherKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CipherKey")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl CipherKey {
    /// Prepares `key` for `cipher`; None if `key` is not
    /// `cipher.key_len()` bytes long.
    pub fn new(cipher: Cipher, key: &[u8]) -> Option<CipherKey> {
        #[cfg(feature = "ring")]
        if let Some(alg) = match cipher {
            Cipher::Aes128Gcm => Some(&ring::aead::AES_128_GCM),
            Cipher::Aes256Gcm => Some(&ring::aead::AES_256_GCM),
            _ => None,
        } {
            let k = ring::aead::UnboundKey::new(alg, key).ok()?;
            return Some(CipherKey {
                cipher,
                inner: Inner::RingGcm(Box::new(ring::aead::LessSafeKey::new(k))),
            });
        }
        let inner = match cipher {
            Cipher::Aes128Ccm => Inner::Aes128Ccm(Box::new(Aes128Ccm::new_from_slice(key).ok()?)),
            Cipher::Aes128Gcm => Inner::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            Cipher::Aes256Ccm => Inner::Aes256Ccm(Box::new(Aes256Ccm::new_from_slice(key).ok()?)),
            Cipher::Aes256Gcm => Inner::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
        };
        Some(CipherKey { cipher, inner })
    }

    /// The cipher this key is for.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// MS-SMB2 3.1.4.3: encrypts `buf` in place and returns the 16-byte tag
    /// (the transform header's Signature).
    ///
    /// The nonce is the first `nonce_len()` bytes of `nonce` (pass the
    /// 16-byte Nonce field whole); `aad` is the transform header from offset
    /// 20 (Nonce) to its end, 32 bytes. None if `nonce` is too short or the
    /// message is longer than the mode allows (CCM with an 11-byte nonce
    /// takes at most 2^32 - 1 bytes); `buf` is then unchanged.
    pub fn encrypt_in_place(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8]) -> Option<[u8; 16]> {
        let n = nonce.get(..self.cipher.nonce_len())?;
        let tag = match &self.inner {
            #[cfg(feature = "ring")]
            Inner::RingGcm(k) => {
                let nonce = ring::aead::Nonce::try_assume_unique_for_key(n).ok()?;
                let tag = k
                    .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), buf)
                    .ok()?;
                return tag.as_ref().try_into().ok();
            }
            Inner::Aes128Ccm(c) => c.encrypt_in_place_detached(n.into(), aad, buf),
            Inner::Aes128Gcm(c) => c.encrypt_in_place_detached(n.into(), aad, buf),
            Inner::Aes256Ccm(c) => c.encrypt_in_place_detached(n.into(), aad, buf),
            Inner::Aes256Gcm(c) => c.encrypt_in_place_detached(n.into(), aad, buf),
        }
        .ok()?;
        Some(tag.into())
    }

    /// MS-SMB2 3.3.5.2.1.1: decrypts `buf` in place if `tag` authenticates
    /// it with `nonce` and `aad` (as for [`CipherKey::encrypt_in_place`]).
    ///
    /// Returns false on a wrong tag, a short nonce or an over-long message;
    /// `buf` then holds no plaintext (it is left as ciphertext or zeroed)
    /// and must be discarded.
    pub fn decrypt_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        let Some(n) = nonce.get(..self.cipher.nonce_len()) else {
            return false;
        };
        let t = tag.into();
        match &self.inner {
            #[cfg(feature = "ring")]
            Inner::RingGcm(k) => {
                let Ok(nonce) = ring::aead::Nonce::try_assume_unique_for_key(n) else {
                    return false;
                };
                let tag = ring::aead::Tag::from(*tag);
                return k
                    .open_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), tag, buf, 0..)
                    .is_ok();
            }
            Inner::Aes128Ccm(c) => c.decrypt_in_place_detached(n.into(), aad, buf, t),
            Inner::Aes128Gcm(c) => c.decrypt_in_place_detached(n.into(), aad, buf, t),
            Inner::Aes256Ccm(c) => c.decrypt_in_place_detached(n.into(), aad, buf, t),
            Inner::Aes256Gcm(c) => c.decrypt_in_place_detached(n.into(), aad, buf, t),
        }
        .is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "encryption_tests.rs"]
mod tests;
