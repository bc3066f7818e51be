//! SMB2 message signing and verification (MS-SMB2 3.1.4.1, 3.1.5.1) with
//! the three signing algorithms of MS-SMB2 2.2.3.1.7: HMAC-SHA256 (2.0.2
//! and 2.1), AES-128-CMAC (3.x), AES-128-GMAC (3.1.1 when negotiated).
//!
//! The Signature field (header bytes 48..64) is always treated as zero, as
//! 3.1.4.1 step 1 and 3.1.5.1 step 2 require, without mutating the message
//! or copying more than its header: HMAC and CMAC are fed the header in
//! three pieces, and GMAC hashes a 64-byte copy of the header with the field
//! zeroed, then the body in place (see [`gmac_sign`]).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use cmac::{Cmac, Mac};
use hmac::Hmac;
use sha2::Sha256;

use crate::ghash::Ghash;

/// Length of the SMB2 header (MS-SMB2 2.2.1).
const HEADER_LEN: usize = 64;
/// Offset of the 16-byte Signature field in the SMB2 header (MS-SMB2 2.2.1).
const SIGNATURE_OFFSET: usize = 48;
const SIGNATURE_END: usize = SIGNATURE_OFFSET + 16;
/// SMB2_FLAGS_SERVER_TO_REDIR in the header's Flags (MS-SMB2 2.2.1.2).
const FLAGS_SERVER_TO_REDIR: u32 = 0x0000_0001;
/// SMB2 CANCEL command code (MS-SMB2 2.2.1.2).
const SMB2_CANCEL: u16 = 0x000C;

/// A signing algorithm id of SMB2_SIGNING_CAPABILITIES (MS-SMB2 2.2.3.1.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 truncated to 16 bytes: dialects 2.0.2 and 2.1.
    HmacSha256,
    /// AES-128-CMAC (RFC 4493): 3.0, 3.0.2, and 3.1.1 by default.
    AesCmac,
    /// AES-128-GMAC (RFC 4543): 3.1.1 when negotiated.
    AesGmac,
}

impl SigningAlgorithm {
    /// Maps a wire id (MS-SMB2 2.2.3.1.7) to an algorithm; None if unknown.
    pub fn from_wire(id: u16) -> Option<Self> {
        match id {
            0x0000 => Some(Self::HmacSha256),
            0x0001 => Some(Self::AesCmac),
            0x0002 => Some(Self::AesGmac),
            _ => None,
        }
    }

    /// The wire id of MS-SMB2 2.2.3.1.7.
    pub fn wire_id(self) -> u16 {
        match self {
            Self::HmacSha256 => 0x0000,
            Self::AesCmac => 0x0001,
            Self::AesGmac => 0x0002,
        }
    }
}

/// The prepared key state of one algorithm.
#[derive(Clone)]
enum Inner {
    /// HMAC with its inner and outer pads already absorbed.
    Hmac(Box<Hmac<Sha256>>),
    /// CMAC with the AES key schedule and subkeys K1, K2 computed.
    Cmac(Box<Cmac<Aes128>>),
    /// GMAC: the AES key schedule and the GHASH key prepared from H.
    Gmac(Box<GmacKey>),
}

/// AES-128-GMAC (RFC 4543): GCM with the message as additional data and
/// no plaintext, computed here from its parts, AES and GHASH.
#[derive(Clone)]
struct GmacKey {
    aes: Aes128,
    ghash: Ghash,
}

/// A signing key with its key schedule prepared once, for signing and
/// verifying any number of messages.
#[derive(Clone)]
pub struct SigningKey {
    alg: SigningAlgorithm,
    inner: Inner,
}

impl std::fmt::Debug for SigningKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Prepares `key` for `alg`. For HMAC-SHA256 the key is
    /// Session.SessionKey (MS-SMB2 3.3.5.5.3); for the AES algorithms it is
    /// the derived Session.SigningKey or Channel.SigningKey.
    pub fn new(alg: SigningAlgorithm, key: &[u8; 16]) -> SigningKey {
        let inner = match alg {
            SigningAlgorithm::HmacSha256 => {
                Inner::Hmac(Box::new(crate::kdf::hmac_sha256_keyed(key)))
            }
            SigningAlgorithm::AesCmac => {
                Inner::Cmac(Box::new(<Cmac<Aes128> as KeyInit>::new(key.into())))
            }
            SigningAlgorithm::AesGmac => {
                // GCM hash subkey H = AES_K(0^128) (SP 800-38D 7.1 step 1).
                let aes = <Aes128 as KeyInit>::new(key.into());
                let mut h = aes::Block::default();
                aes.encrypt_block(&mut h);
                let h = u128::from_be_bytes(h.into());
                Inner::Gmac(Box::new(GmacKey {
                    aes,
                    ghash: Ghash::new(h),
                }))
            }
        };
        SigningKey { alg, inner }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// MS-SMB2 3.1.4.1: the 16-byte signature of one SMB2 message.
    ///
    /// `msg` is one whole SMB2 message (64-byte header + body, including any
    /// compound padding) of one compound element. The 16-byte Signature
    /// field at header offset 48 is treated as zero whatever it holds. For
    /// AES-GMAC the nonce comes from the header (MessageId at offset 24,
    /// role bit from SMB2_FLAGS_SERVER_TO_REDIR in Flags at offset 16,
    /// cancel bit when Command at offset 12 is SMB2_CANCEL).
    /// Returns None if `msg` is shorter than 64 bytes.
    pub fn sign(&self, msg: &[u8]) -> Option<[u8; 16]> {
        let head = msg.get(..SIGNATURE_OFFSET)?;
        let body = msg.get(HEADER_LEN..)?;
        match &self.inner {
            Inner::Hmac(keyed) => {
                // 3.1.4.1, dialects 2.0.2 and 2.1: HMAC-SHA256, first 16 bytes.
                // Clone the prepared state onto the stack, not the box.
                let mut mac = Hmac::<Sha256>::clone(keyed);
                mac.update(head);
                mac.update(&[0u8; 16]);
                mac.update(body);
                let full: [u8; 32] = mac.finalize().into_bytes().into();
                let mut sig = [0u8; 16];
                for (s, f) in sig.iter_mut().zip(full.iter()) {
                    *s = *f;
                }
                Some(sig)
            }
            Inner::Cmac(keyed) => {
                // 3.1.4.1, 3.x: AES-128-CMAC (RFC 4493).
                let mut mac = Cmac::<Aes128>::clone(keyed);
                mac.update(head);
                mac.update(&[0u8; 16]);
                mac.update(body);
                Some(mac.finalize().into_bytes().into())
            }
            Inner::Gmac(k) => gmac_sign(k, msg),
        }
    }

    /// MS-SMB2 3.1.5.1: true if the Signature field of `msg` is the
    /// signature of `msg`. The comparison takes the same time whichever
    /// bytes differ. False for messages shorter than 64 bytes.
    pub fn verify(&self, msg: &[u8]) -> bool {
        let Some(stored) = msg.get(SIGNATURE_OFFSET..SIGNATURE_END) else {
            return false;
        };
        let Some(expected) = self.sign(msg) else {
            return false;
        };
        ct_eq(&expected, stored)
    }
}

/// MS-SMB2 3.1.4.1: the AES-GMAC nonce, MessageId then a 32-bit word whose
/// bit 0 is set for a server sender and bit 1 for an SMB2 CANCEL request.
fn gmac_nonce(msg: &[u8]) -> Option<[u8; 12]> {
    let command = u16::from_le_bytes(msg.get(12..14)?.try_into().ok()?);
    let flags = u32::from_le_bytes(msg.get(16..20)?.try_into().ok()?);
    let message_id: [u8; 8] = msg.get(24..32)?.try_into().ok()?;
    let mut word: u32 = 0;
    if flags & FLAGS_SERVER_TO_REDIR != 0 {
        word |= 1;
    }
    if command == SMB2_CANCEL {
        word |= 2;
    }
    let mut nonce = [0u8; 12];
    let (id, rest) = nonce.split_at_mut(8);
    id.copy_from_slice(&message_id);
    rest.copy_from_slice(&word.to_le_bytes());
    Some(nonce)
}

/// AES-GMAC over the message with the Signature field taken as zero
/// (MS-SMB2 3.1.4.1): GHASH_H(A = message, C = empty) XOR E_K(J0), with
/// J0 = nonce || 0^31 || 1 for a 96-bit nonce (NIST SP 800-38D 7.1 steps
/// 2 and 6, RFC 4543 section 3). The header is copied (64 bytes) to zero
/// the field; the body, a whole number of blocks after it, is hashed in
/// place.
fn gmac_sign(k: &GmacKey, msg: &[u8]) -> Option<[u8; 16]> {
    let nonce = gmac_nonce(msg)?;
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(msg.get(..HEADER_LEN)?);
    header.get_mut(SIGNATURE_OFFSET..SIGNATURE_END)?.fill(0);
    let body = msg.get(HEADER_LEN..)?;
    let s = k.ghash.hash_aad(&[&header, body])?;
    let mut j0 = aes::Block::default();
    let (iv, counter) = j0.split_at_mut(12);
    iv.copy_from_slice(&nonce);
    counter.copy_from_slice(&1u32.to_be_bytes());
    k.aes.encrypt_block(&mut j0);
    Some((s ^ u128::from_be_bytes(j0.into())).to_be_bytes())
}

/// Constant-time equality of a computed signature with the stored one.
fn ct_eq(a: &[u8; 16], b: &[u8]) -> bool {
    if b.len() != a.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    // Keep the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "signing_tests.rs"]
mod tests;
