//! DCE/RPC PDUs and NDR stubs written to the srvsvc, lsarpc and wkssvc pipes (C706, MS-RPCE).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::targets::ndr_rpc(data));
