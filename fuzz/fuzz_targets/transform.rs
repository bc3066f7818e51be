//! SMB3 encryption: TRANSFORM_HEADER frames, decrypted, processed and
//! answered encrypted (MS-SMB2 3.3.5.2.1.1, 3.3.4.1.4).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::transform_harness::target(data));
