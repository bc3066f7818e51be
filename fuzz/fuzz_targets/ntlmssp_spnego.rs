//! SPNEGO and NTLMSSP tokens through the acceptor, DER and NTLM parsers (MS-SPNG, MS-NLMP).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsmbd_fuzz::targets::ntlmssp_spnego(data));
