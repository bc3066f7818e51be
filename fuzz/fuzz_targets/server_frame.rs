//! Frames through the whole server: dispatch, compounds, credits, every handler.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::targets::server_frame(data));
