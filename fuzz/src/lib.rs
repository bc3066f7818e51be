//! Common pieces of the rsmbd fuzz targets: how a target cuts its input into
//! tokens or frames, hand-built SMB2 messages (MS-SMB2 2.2) for the seed
//! corpora, the whole-server harness behind `server_frame`, and the
//! encrypted-session harness behind `transform`.
//!
//! The targets themselves live in `fuzz_targets/`; `cargo run --example gen_corpus`
//! rewrites the seed corpora under `corpus/` from [`seeds::all`].

pub mod input;
pub mod msg;
pub mod rpc_msg;
pub mod seeds;
pub mod server_harness;
pub mod targets;
pub mod transform_harness;
