//! Create context chains, parsed, encoded and parsed again (MS-SMB2 2.2.13.2).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::targets::create_contexts(data));
