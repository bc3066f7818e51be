//! One module per SMB2 command (MS-SMB2 3.3.5.x).
pub mod change_notify;
pub mod close;
pub mod create;
pub mod ea;
pub mod fileinfo;
pub mod flush;
pub mod ioctl;
pub mod lock;
pub mod negotiate;
pub mod query_directory;
pub mod query_info;
pub mod read;
pub mod session_setup;
pub mod set_info;
pub mod stream;
pub mod tree_connect;
pub mod write;
