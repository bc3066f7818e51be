//! Every SMB2 request body parser; the first byte picks which (MS-SMB2 2.2.5-2.2.39).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::targets::requests(data));
