//! ECHO (MS-SMB2 2.2.28, 2.2.29) and CANCEL (2.2.30) have 4-byte bodies;
//! see `session_setup::parse_empty_request`.
pub use crate::session_setup::{encode_empty_response, parse_empty_request};
