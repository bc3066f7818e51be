//! SMB2 header parse/encode and compound splitting (MS-SMB2 2.2.1, 3.3.5.2.7).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::targets::frame_header(data));
