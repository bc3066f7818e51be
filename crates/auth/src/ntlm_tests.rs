//! Known-answer tests from MS-NLMP 4.2.4 (NTLMv2) and message-level checks.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex16(s: &str) -> [u8; 16] {
    hex(s).try_into().unwrap()
}

const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

/// MS-NLMP 4.2.4.1.3 temp: the client challenge blob with Time 0,
/// ClientChallenge aa*8 and the example's AV pairs (Domain, Server).
fn spec_temp() -> Vec<u8> {
    let mut t = vec![1, 1, 0, 0, 0, 0, 0, 0];
    t.extend_from_slice(&[0; 8]);
    t.extend_from_slice(&[0xaa; 8]);
    t.extend_from_slice(&[0; 4]);
    push_av(&mut t, AV_NB_DOMAIN_NAME, &utf16le("Domain"));
    push_av(&mut t, AV_NB_COMPUTER_NAME, &utf16le("Server"));
    push_av(&mut t, AV_EOL, &[]);
    t.extend_from_slice(&[0; 4]);
    t
}

#[test]
fn ms_nlmp_4_2_4_ntowfv2() {
    let key = ntowfv2(&crate::nt_hash("Password"), "User", "Domain");
    assert_eq!(
        key,
        hex16("0c 86 8a 40 3b fd 7a 93 a3 00 1e f2 2e f0 2e 3f")
    );
}

#[test]
fn ms_nlmp_4_2_4_proof_session_key_and_key_exchange() {
    let key = ntowfv2(&crate::nt_hash("Password"), "User", "Domain");
    let proof = crypto::hmac_md5(&key, &[&SERVER_CHALLENGE, &spec_temp()]);
    // 4.2.4.2.2: NTProofStr, the first 16 bytes of the NTLMv2 response.
    assert_eq!(
        proof,
        hex16("68 cd 0a b8 51 e5 1c 96 aa bc 92 7b eb ef 6a 1c")
    );
    // 4.2.4.1.2: SessionBaseKey.
    let base = crypto::hmac_md5(&key, &[&proof]);
    assert_eq!(
        base,
        hex16("8d e4 0c ca db c1 4a 82 f1 5c b0 ad 0d e9 5c a3")
    );
    // 4.2.4.2.3: EncryptedRandomSessionKey for RandomSessionKey 55*16.
    let mut k = [0x55u8; 16];
    crypto::rc4_apply(&base, &mut k);
    assert_eq!(k, hex16("c5 da d2 54 4f c9 79 90 94 ce 1c e9 0b c9 d0 3e"));
}

const SPEC_FLAGS: u32 = NEGOTIATE_KEY_EXCH
    | NEGOTIATE_56
    | NEGOTIATE_128
    | NEGOTIATE_VERSION
    | NEGOTIATE_TARGET_INFO
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | TARGET_TYPE_SERVER
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_NTLM
    | NEGOTIATE_SEAL
    | NEGOTIATE_SIGN
    | NEGOTIATE_OEM
    | NEGOTIATE_UNICODE;

#[test]
fn ms_nlmp_4_2_4_flags_value() {
    // 4.2.4: the example's flags are 0xe28a8233.
    assert_eq!(SPEC_FLAGS, 0xe28a_8233);
}

#[test]
fn ms_nlmp_4_2_4_sign_and_seal_keys() {
    let exported = [0x55u8; 16];
    assert_eq!(
        seal_key(&exported, SPEC_FLAGS, Direction::ClientToServer),
        hex16("59 f6 00 97 3c c4 96 0a 25 48 0a 7c 19 6e 4c 58")
    );
    assert_eq!(
        sign_key(&exported, Direction::ClientToServer),
        hex16("47 88 dc 86 1b 47 82 f3 5d 43 fd 98 fe 1a 2d 39")
    );
    // 4.2.4.4: sealing "Plaintext" then the checksum runs one RC4 stream.
    let mut data = utf16le("Plaintext");
    let mac = crypto::hmac_md5(
        &sign_key(&exported, Direction::ClientToServer),
        &[&0u32.to_le_bytes(), &data],
    );
    let n = data.len();
    data.extend_from_slice(&mac[..8]);
    crypto::rc4_apply(
        &seal_key(&exported, SPEC_FLAGS, Direction::ClientToServer),
        &mut data,
    );
    assert_eq!(
        &data[..n],
        &hex("54 e5 01 65 bf 19 36 dc 99 60 20 c1 81 1b 0f 06 fb 5f")[..]
    );
    assert_eq!(&data[n..], &hex("7f b3 8e c5 c5 5d 49 76")[..]);
}

#[test]
fn mech_list_mic_signatures() {
    // Cross-checked against an independent NTLM implementation (pyspnego):
    // the signature of the DER MechTypeList {NTLMSSP} with session key 55*16.
    let exported = [0x55u8; 16];
    let list = hex("30 0c 06 0a 2b 06 01 04 01 82 37 02 02 0a");
    let base = NEGOTIATE_SIGN
        | NEGOTIATE_SEAL
        | NEGOTIATE_128
        | NEGOTIATE_EXTENDED_SESSIONSECURITY
        | NEGOTIATE_NTLM
        | NEGOTIATE_UNICODE;
    let cases = [
        (
            base | NEGOTIATE_KEY_EXCH,
            Direction::ClientToServer,
            "0100000022a3984fefbb9c3200000000",
        ),
        (
            base | NEGOTIATE_KEY_EXCH,
            Direction::ServerToClient,
            "010000007dd6da05648a73ae00000000",
        ),
        (
            base,
            Direction::ClientToServer,
            "010000002646f52a31a2c3ee00000000",
        ),
        (
            base,
            Direction::ServerToClient,
            "010000003bdec7b235306e4700000000",
        ),
        (
            (base | NEGOTIATE_KEY_EXCH) & !NEGOTIATE_EXTENDED_SESSIONSECURITY,
            Direction::ClientToServer,
            "0100000000000000718abe379ed7578a",
        ),
    ];
    for (flags, dir, want) in cases {
        assert_eq!(
            signature(&exported, flags, dir, 0, &list),
            hex16(want),
            "{flags:08x} {dir:?}"
        );
    }
    // Without SIGN there is no integrity: version 1 and zeros.
    let sig = signature(
        &exported,
        NEGOTIATE_ALWAYS_SIGN,
        Direction::ServerToClient,
        0,
        &list,
    );
    assert_eq!(sig, hex16("01000000000000000000000000000000"));
}

#[test]
fn crc32_check_value() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}

fn config() -> AcceptorConfig {
    AcceptorConfig {
        netbios_name: "RSMBD".into(),
        domain: "WORKGROUP".into(),
        dns_name: "rsmbd.example".into(),
        map_bad_user_to_guest: false,
    }
}

fn negotiate(flags: u32) -> Vec<u8> {
    let mut m = SIGNATURE.to_vec();
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(&[0; 16]);
    m
}

#[test]
fn challenge_answers_requested_flags() {
    let requested = SPEC_FLAGS | NEGOTIATE_ANONYMOUS | REQUEST_TARGET;
    let st = challenge(
        &config(),
        &negotiate(requested),
        SERVER_CHALLENGE,
        0x01d0_0000_0000_0000,
    )
    .unwrap();
    let m = &st.challenge;
    assert_eq!(&m[..8], SIGNATURE);
    assert_eq!(u32_at(m, 8), Some(2));
    let flags = u32_at(m, 20).unwrap();
    assert_eq!(flags, st.flags);
    // Everything asked for is granted, except the anonymous hint; OEM is
    // dropped because UNICODE was offered.
    assert_eq!(
        flags,
        (SPEC_FLAGS | REQUEST_TARGET) & !NEGOTIATE_OEM,
        "{flags:08x}"
    );
    assert_eq!(&m[24..32], &SERVER_CHALLENGE);
    assert_eq!(&m[48..56], &VERSION);
    // TargetName is the NetBIOS name in UTF-16LE.
    let tn_len = usize::from(u16_at(m, 12).unwrap());
    let tn_off = u32_at(m, 16).unwrap() as usize;
    assert_eq!(&m[tn_off..tn_off + tn_len], &utf16le("RSMBD")[..]);
    // TargetInfo carries the names, the timestamp and ends with EOL.
    let ti_len = usize::from(u16_at(m, 40).unwrap());
    let ti_off = u32_at(m, 44).unwrap() as usize;
    assert_eq!(ti_off + ti_len, m.len());
    let ti = &m[ti_off..];
    assert_eq!(
        find_av(ti, AV_NB_DOMAIN_NAME).unwrap(),
        Some(&utf16le("WORKGROUP")[..])
    );
    assert_eq!(
        find_av(ti, AV_NB_COMPUTER_NAME).unwrap(),
        Some(&utf16le("RSMBD")[..])
    );
    assert_eq!(
        find_av(ti, AV_DNS_COMPUTER_NAME).unwrap(),
        Some(&utf16le("rsmbd.example")[..])
    );
    assert!(find_av(ti, AV_DNS_DOMAIN_NAME).unwrap().is_some());
    assert_eq!(
        find_av(ti, AV_TIMESTAMP).unwrap(),
        Some(&0x01d0_0000_0000_0000u64.to_le_bytes()[..])
    );
    assert!(ti.ends_with(&[0, 0, 0, 0]));
}

#[test]
fn challenge_minimal_client_gets_oem_and_no_extras() {
    let st = challenge(&config(), &negotiate(NEGOTIATE_NTLM), SERVER_CHALLENGE, 0).unwrap();
    assert_eq!(
        st.flags,
        NEGOTIATE_NTLM | NEGOTIATE_OEM | NEGOTIATE_TARGET_INFO | TARGET_TYPE_SERVER
    );
    // The 8-byte Version slot is zero when VERSION was not negotiated.
    assert_eq!(&st.challenge[48..56], &[0; 8]);
    let tn_len = usize::from(u16_at(&st.challenge, 12).unwrap());
    assert_eq!(&st.challenge[56..56 + tn_len], b"RSMBD");
}

#[test]
fn negotiate_rejects_bad_headers() {
    assert!(parse_negotiate(b"NTLMSSP\0\x01\0\0\0").is_err());
    assert!(parse_negotiate(b"NTLMSSX\0\x01\0\0\0\x01\0\0\0").is_err());
    assert!(parse_negotiate(&negotiate(1)[..16]).is_ok());
    let mut wrong_type = negotiate(1);
    wrong_type[8] = 3;
    assert!(parse_negotiate(&wrong_type).is_err());
}

#[test]
fn av_pairs_malformed() {
    assert!(find_av(&[], AV_FLAGS).is_err());
    assert!(find_av(&[6, 0, 4, 0, 1, 2], AV_FLAGS).is_err());
    assert!(find_av(&[1, 0, 0, 0], AV_FLAGS).is_err(), "no EOL");
    assert_eq!(find_av(&[0, 0, 0, 0, 6, 0], AV_FLAGS).unwrap(), None);
    assert_eq!(
        find_av(&[6, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0], AV_FLAGS).unwrap(),
        Some(&[2, 0, 0, 0][..])
    );
}

#[test]
fn authenticate_fields_are_bounds_checked() {
    let mut m = SIGNATURE.to_vec();
    m.extend_from_slice(&3u32.to_le_bytes());
    m.resize(AUTH_HEADER_LEN, 0);
    // An empty message with all-empty fields parses.
    let a = parse_authenticate(&m).unwrap();
    assert!(a.user.is_empty() && a.nt_response.is_empty());
    assert_eq!(a.payload_start, m.len());
    // A user field pointing past the end does not.
    let mut bad = m.clone();
    bad[36..38].copy_from_slice(&4u16.to_le_bytes());
    bad[40..44].copy_from_slice(&62u32.to_le_bytes());
    assert_eq!(
        parse_authenticate(&bad).unwrap_err(),
        AuthError::InvalidToken
    );
    // Offsets into the fixed header are refused as well.
    bad.extend_from_slice(&[0; 8]);
    assert_eq!(
        parse_authenticate(&bad).unwrap_err(),
        AuthError::InvalidToken
    );
    // A huge offset does not overflow.
    bad[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        parse_authenticate(&bad).unwrap_err(),
        AuthError::InvalidToken
    );
    for n in 0..AUTH_HEADER_LEN {
        assert!(parse_authenticate(&m[..n]).is_err());
    }
}

#[test]
fn oem_and_unicode_strings() {
    assert_eq!(decode_str(&utf16le("Ünïcode"), true).unwrap(), "Ünïcode");
    assert!(decode_str(&[0x41], true).is_err());
    assert!(decode_str(&[0x00, 0xd8], true).is_err(), "lone surrogate");
    assert_eq!(decode_str(b"bob", false).unwrap(), "bob");
    assert_eq!(encode_str("bob", false), b"bob");
}
