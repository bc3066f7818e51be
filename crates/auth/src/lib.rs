//! Authentication for rsmbd: the user database, SPNEGO (RFC 4178, MS-SPNG)
//! and the NTLMSSP acceptor (MS-NLMP, NTLMv2 only).
//!
//! The server keeps one [`Acceptor`] per SESSION_SETUP exchange and feeds it
//! each SecurityBuffer; [`negotiate_token`] is the SecurityBuffer of the
//! NEGOTIATE response.
pub mod acceptor;
pub mod der;
pub mod ntlm;
pub mod spnego;
pub mod userdb;

pub use acceptor::{Acceptor, AcceptorConfig, AuthError, AuthStep, Identity};
pub use spnego::negotiate_token;
pub use userdb::{nt_hash, UserDb, UserDbError};

#[cfg(test)]
mod testclient;
