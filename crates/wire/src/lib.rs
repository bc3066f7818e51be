//! SMB2/SMB3 wire format (MS-SMB2 section 2). Parses borrowed bytes and
//! encodes into caller buffers. No I/O, no allocation where it can be avoided,
//! and no panic on any input: every length, offset and count is checked.
#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod close;
pub mod copychunk;
pub mod create;
pub mod dir;
pub mod ea;
pub mod echo;
pub mod error;
pub mod flush;
pub mod header;
pub mod ioctl;
pub mod lock;
pub mod negotiate;
pub mod oplock_break;
pub mod query_info;
pub mod read;
pub mod reader;
pub mod session_setup;
pub mod set_info;
pub mod smb1;
pub mod status;
pub mod transform;
pub mod tree;
pub mod write;
pub mod writer;

pub use header::{Command, Header};
pub use reader::{Reader, WireError};
pub use status::NtStatus;
pub use writer::Writer;
