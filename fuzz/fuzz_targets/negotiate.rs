//! NEGOTIATE and its contexts, and the SMB1 negotiate (MS-SMB2 2.2.3, 3.3.5.3).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::targets::negotiate(data));
