//! SMB2/SMB3 cryptography.
pub mod legacy;
pub use legacy::{hmac_md5, md4, md5, random_bytes, rc4_apply};
