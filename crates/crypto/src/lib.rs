//! SMB2/SMB3 cryptography: the SP800-108 KDF and session keys
//! (MS-SMB2 3.1.4.2, 3.3.5.5.3), message signing (3.1.4.1, 3.1.5.1),
//! encryption (3.1.4.3), the 3.1.1 preauth integrity hash (3.3.5.4), and the
//! older primitives NTLM needs (MS-NLMP).
//!
//! Keys are prepared once ([`SigningKey`], [`CipherKey`]) and then used for
//! any number of messages; nothing here allocates per message. The
//! RustCrypto implementations sit behind these types, so a faster backend
//! can replace one without changing callers.
// `unsafe` is allowed only for the CPU intrinsics of the GHASH fast path.
#![deny(unsafe_code)]

pub mod encryption;
mod gf128;
mod ghash;
pub mod kdf;
pub mod legacy;
pub mod preauth;
pub mod session_keys;
pub mod signing;

pub use encryption::{Cipher, CipherKey};
pub use kdf::{hmac_sha256, kdf};
pub use legacy::{hmac_md5, md4, md5, random_bytes, rc4_apply};
pub use preauth::preauth_hash_update;
pub use session_keys::{derive_session_keys, SessionKeys};
pub use signing::{SigningAlgorithm, SigningKey};

#[cfg(test)]
mod test_util;
