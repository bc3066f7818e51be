//! Authentication for rsmbd: the user database, SPNEGO and the NTLMSSP acceptor.
pub mod userdb;
pub use userdb::{nt_hash, UserDb, UserDbError};
