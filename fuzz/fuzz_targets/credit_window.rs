//! The connection's credit window: consume/grant sequences against a model
//! (MS-SMB2 3.3.1.1, 3.3.1.2, 3.3.5.2.3).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::targets::credit_window(data));
