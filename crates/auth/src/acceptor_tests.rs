//! Full exchanges against the test initiator: raw NTLMSSP and SPNEGO, key
//! exchange, MIC and mechListMIC, refusals, and hostile input.

use super::*;
use crate::negotiate_token;
use crate::ntlm::NEGOTIATE_KEY_EXCH;
use crate::spnego::{encode_init, encode_resp, mech_type_list, parse_client_token};
use crate::testclient::Client;

const KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];

fn config(guest: bool) -> AcceptorConfig {
    AcceptorConfig {
        netbios_name: "RSMBD".into(),
        domain: "WORKGROUP".into(),
        dns_name: "rsmbd.example".into(),
        map_bad_user_to_guest: guest,
    }
}

fn users() -> UserDb {
    let mut db = UserDb::new();
    db.set_password("alice", "Secret1");
    db.set_password("Jürgen", "pässwörd");
    db
}

fn cont(step: AuthStep) -> Vec<u8> {
    match step {
        AuthStep::Continue(t) => t,
        other => panic!("expected Continue, got {other:?}"),
    }
}

fn resp(token: &[u8]) -> spnego::NegTokenResp<'_> {
    match parse_client_token(token).unwrap() {
        ClientToken::Resp(r) => r,
        other => panic!("expected NegTokenResp, got {other:?}"),
    }
}

/// Raw NTLMSSP: returns the final step.
fn raw_exchange(client: &mut Client, guest: bool) -> AuthStep {
    let db = users();
    let mut acc = Acceptor::new(config(guest));
    let challenge = cont(acc.step(&client.negotiate(), &db));
    let auth = client.authenticate(&challenge);
    let step = acc.step(&auth, &db);
    assert!(acc.is_finished());
    step
}

/// SPNEGO with NTLMSSP first and an optimistic NEGOTIATE.
fn spnego_exchange(client: &mut Client, guest: bool, send_mic: bool) -> AuthStep {
    let db = users();
    let mut acc = Acceptor::new(config(guest));
    let init = encode_init(&[OID_NTLMSSP], Some(&client.negotiate()), None);
    let out = cont(acc.step(&init, &db));
    let r = resp(&out);
    assert_eq!(r.neg_state, Some(NegState::AcceptIncomplete as u8));
    assert_eq!(r.supported_mech, Some(OID_NTLMSSP));
    let auth = client.authenticate(r.response_token.unwrap());
    let list = mech_type_list(&[OID_NTLMSSP]);
    let mic = client.mech_list_mic(&list);
    let token = encode_resp(None, None, Some(&auth), send_mic.then_some(&mic[..]));
    acc.step(&token, &db)
}

#[test]
fn raw_round_trip_with_key_exchange_and_mic() {
    let mut c = Client::new("alice", "WORKGROUP", "Secret1");
    match raw_exchange(&mut c, false) {
        AuthStep::Done {
            token,
            identity,
            session_key,
        } => {
            assert!(token.is_empty());
            assert_eq!(
                identity,
                Identity::User {
                    name: "alice".into(),
                    domain: "WORKGROUP".into()
                }
            );
            assert_eq!(session_key, Some(c.exported_session_key));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn spnego_round_trip_with_mech_list_mic() {
    let mut c = Client::new("ALICE", "WORKGROUP", "Secret1");
    match spnego_exchange(&mut c, false, true) {
        AuthStep::Done {
            token,
            identity,
            session_key,
        } => {
            // User names match case-insensitively; the stored spelling wins.
            assert_eq!(
                identity,
                Identity::User {
                    name: "alice".into(),
                    domain: "WORKGROUP".into()
                }
            );
            assert_eq!(session_key, Some(c.exported_session_key));
            let r = resp(&token);
            assert_eq!(r.neg_state, Some(NegState::AcceptCompleted as u8));
            let list = mech_type_list(&[OID_NTLMSSP]);
            assert_eq!(r.mech_list_mic, Some(&c.expected_server_mic(&list)[..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn spnego_without_key_exchange_or_mic() {
    let mut c = Client::new("Jürgen", "", "pässwörd");
    c.flags &= !NEGOTIATE_KEY_EXCH;
    c.mic = false;
    match spnego_exchange(&mut c, false, false) {
        AuthStep::Done {
            token,
            identity,
            session_key,
        } => {
            assert_eq!(
                identity,
                Identity::User {
                    name: "Jürgen".into(),
                    domain: String::new()
                }
            );
            // Without KEY_EXCH the exported key is the session base key.
            assert_eq!(session_key, Some(c.exported_session_key));
            let r = resp(&token);
            assert_eq!(r.neg_state, Some(0));
            assert_eq!(r.mech_list_mic, None, "no MIC asked for, none sent");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ntlm_as_second_mech_requests_mic() {
    let db = users();
    let mut c = Client::new("alice", "WORKGROUP", "Secret1");
    let run = |c: &mut Client, send_mic: bool| {
        let mut acc = Acceptor::new(config(false));
        // A Kerberos-first client with an optimistic Kerberos token.
        let init = encode_init(&[KRB5, OID_NTLMSSP], Some(b"\x60\x00"), None);
        let r1 = cont(acc.step(&init, &db));
        let r = resp(&r1);
        assert_eq!(r.neg_state, Some(NegState::RequestMic as u8));
        assert_eq!(r.supported_mech, Some(OID_NTLMSSP));
        assert_eq!(r.response_token, None);
        let neg = encode_resp(None, None, Some(&c.negotiate()), None);
        let r2 = cont(acc.step(&neg, &db));
        let auth = c.authenticate(resp(&r2).response_token.unwrap());
        let list = mech_type_list(&[KRB5, OID_NTLMSSP]);
        let mic = c.mech_list_mic(&list);
        let token = encode_resp(None, None, Some(&auth), send_mic.then_some(&mic[..]));
        (acc.step(&token, &db), list)
    };
    match run(&mut c, true) {
        (AuthStep::Done { token, .. }, list) => {
            let r = resp(&token);
            assert_eq!(r.neg_state, Some(0));
            assert_eq!(r.mech_list_mic, Some(&c.expected_server_mic(&list)[..]));
        }
        (other, _) => panic!("{other:?}"),
    }
    // The MIC protects the mechanism list: leaving it out is refused.
    assert!(matches!(
        run(&mut c, false).0,
        AuthStep::Failed(AuthError::LogonFailure)
    ));
}

#[test]
fn init_without_mech_token_waits_for_negotiate() {
    let db = users();
    let mut acc = Acceptor::new(config(false));
    let out = cont(acc.step(&encode_init(&[OID_NTLMSSP], None, None), &db));
    let r = resp(&out);
    assert_eq!(r.neg_state, Some(NegState::AcceptIncomplete as u8));
    assert_eq!(r.response_token, None);
    let mut c = Client::new("alice", "WORKGROUP", "Secret1");
    let out = cont(acc.step(&encode_resp(None, None, Some(&c.negotiate()), None), &db));
    let auth = c.authenticate(resp(&out).response_token.unwrap());
    let mic = c.mech_list_mic(&mech_type_list(&[OID_NTLMSSP]));
    let step = acc.step(&encode_resp(None, None, Some(&auth), Some(&mic)), &db);
    assert!(matches!(
        step,
        AuthStep::Done {
            identity: Identity::User { .. },
            ..
        }
    ));
}

#[test]
fn wrong_password_is_logon_failure_even_with_guest_mapping() {
    for guest in [false, true] {
        let mut c = Client::new("alice", "WORKGROUP", "wrong");
        assert!(matches!(
            raw_exchange(&mut c, guest),
            AuthStep::Failed(AuthError::LogonFailure)
        ));
        let mut c = Client::new("alice", "WORKGROUP", "wrong");
        assert!(matches!(
            spnego_exchange(&mut c, guest, true),
            AuthStep::Failed(AuthError::LogonFailure)
        ));
    }
}

#[test]
fn unknown_user_guest_mapping() {
    let mut c = Client::new("mallory", "WORKGROUP", "x");
    assert!(matches!(
        raw_exchange(&mut c, false),
        AuthStep::Failed(AuthError::LogonFailure)
    ));
    let mut c = Client::new("mallory", "WORKGROUP", "x");
    match spnego_exchange(&mut c, true, true) {
        AuthStep::Done {
            token,
            identity,
            session_key,
        } => {
            assert_eq!(identity, Identity::Guest);
            assert_eq!(session_key, None);
            let r = resp(&token);
            assert_eq!(r.neg_state, Some(0));
            assert_eq!(r.mech_list_mic, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn anonymous_logon() {
    let mut c = Client::new("", "", "");
    c.anonymous = true;
    match raw_exchange(&mut c, false) {
        AuthStep::Done {
            identity,
            session_key,
            ..
        } => {
            assert_eq!(identity, Identity::Anonymous);
            assert_eq!(session_key, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ntlmv1_is_refused() {
    let mut c = Client::new("alice", "WORKGROUP", "Secret1");
    c.ntlmv1 = true;
    assert!(matches!(
        raw_exchange(&mut c, true),
        AuthStep::Failed(AuthError::LogonFailure)
    ));
}

#[test]
fn domain_variants_are_tolerated() {
    // The key was made with the server's workgroup, or with no domain,
    // while the message names another domain.
    for key_domain in ["WORKGROUP", "", "RSMBD"] {
        let mut c = Client::new("alice", "ELSEWHERE", "Secret1");
        c.key_domain = key_domain.into();
        assert!(
            matches!(raw_exchange(&mut c, false), AuthStep::Done { .. }),
            "{key_domain:?}"
        );
    }
    let mut c = Client::new("alice", "ELSEWHERE", "Secret1");
    c.key_domain = "NOWHERE".into();
    assert!(matches!(
        raw_exchange(&mut c, false),
        AuthStep::Failed(AuthError::LogonFailure)
    ));
}

#[test]
fn tampered_mic_or_message_is_refused() {
    let db = users();
    // Flip one byte of the MIC, then one byte of the workstation name.
    for at in [72usize, 88 + 4] {
        let mut c = Client::new("alice", "WORKGROUP", "Secret1");
        let mut acc = Acceptor::new(config(false));
        let challenge = cont(acc.step(&c.negotiate(), &db));
        let mut auth = c.authenticate(&challenge);
        // Fields are laid out domain, user, workstation: find the workstation.
        let at = if at == 72 {
            at
        } else {
            u32::from_le_bytes(auth[48..52].try_into().unwrap()) as usize
        };
        auth[at] ^= 1;
        assert!(matches!(
            acc.step(&auth, &db),
            AuthStep::Failed(AuthError::LogonFailure)
        ));
    }
    // A wrong client mechListMIC.
    let mut c = Client::new("alice", "WORKGROUP", "Secret1");
    let mut acc = Acceptor::new(config(false));
    let out = cont(acc.step(
        &encode_init(&[OID_NTLMSSP], Some(&c.negotiate()), None),
        &db,
    ));
    let auth = c.authenticate(resp(&out).response_token.unwrap());
    let mut mic = c.mech_list_mic(&mech_type_list(&[OID_NTLMSSP]));
    mic[5] ^= 0x80;
    assert!(matches!(
        acc.step(&encode_resp(None, None, Some(&auth), Some(&mic)), &db),
        AuthStep::Failed(AuthError::LogonFailure)
    ));
}

#[test]
fn state_errors() {
    let db = users();
    // An empty first buffer gets the mechanism list.
    let mut acc = Acceptor::new(config(false));
    assert_eq!(acc.step(&[], &db), AuthStep::Continue(negotiate_token()));
    // No supported mechanism.
    assert!(matches!(
        acc.step(&encode_init(&[KRB5], Some(b"x"), None), &db),
        AuthStep::Failed(AuthError::UnsupportedMech)
    ));
    assert!(matches!(
        acc.step(&[], &db),
        AuthStep::Failed(AuthError::UnexpectedToken)
    ));
    // A NegTokenResp before any NegTokenInit.
    let mut acc = Acceptor::new(config(false));
    assert!(matches!(
        acc.step(&encode_resp(None, None, Some(b"x"), None), &db),
        AuthStep::Failed(AuthError::UnexpectedToken)
    ));
    // A raw AUTHENTICATE in a SPNEGO exchange, and a finished exchange.
    let mut c = Client::new("alice", "WORKGROUP", "Secret1");
    let mut acc = Acceptor::new(config(false));
    let out = cont(acc.step(
        &encode_init(&[OID_NTLMSSP], Some(&c.negotiate()), None),
        &db,
    ));
    let auth = c.authenticate(resp(&out).response_token.unwrap());
    assert!(matches!(acc.step(&auth, &db), AuthStep::Failed(_)));
    assert!(matches!(
        acc.step(&auth, &db),
        AuthStep::Failed(AuthError::UnexpectedToken)
    ));
    // An AUTHENTICATE in place of the NEGOTIATE.
    let mut acc = Acceptor::new(config(false));
    assert!(matches!(
        acc.step(&auth, &db),
        AuthStep::Failed(AuthError::InvalidToken)
    ));
    assert_eq!(AuthError::LogonFailure.ntstatus(), 0xC000_006D);
    assert_eq!(AuthError::InvalidToken.ntstatus(), 0xC000_000D);
}

#[test]
fn garbage_never_panics() {
    let db = users();
    let samples: &[&[u8]] = &[
        b"\x00",
        b"\xff\xff\xff\xff",
        b"NTLMSSP\0",
        b"NTLMSSP\0\x03\0\0\0",
        b"\x60\x84\xff\xff\xff\xff",
        b"\xa1\x03\x30\x01\x00",
        b"\xa0\x02\x30\x00",
    ];
    for s in samples {
        let mut acc = Acceptor::new(config(true));
        assert!(matches!(acc.step(s, &db), AuthStep::Failed(_)), "{s:02x?}");
    }
}

/// Deterministic xorshift so failures reproduce.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn truncated_and_mutated_tokens_never_panic() {
    let db = users();
    let mut c = Client::new("alice", "WORKGROUP", "Secret1");
    let negotiate = c.negotiate();
    let init = encode_init(&[KRB5, OID_NTLMSSP], Some(&negotiate), None);
    // Every truncation of a first token fails cleanly.
    for first in [&negotiate, &init] {
        for n in 1..first.len() {
            let mut acc = Acceptor::new(config(true));
            let _ = acc.step(&first[..n], &db);
        }
    }
    for n in 1..negotiate.len().min(16) {
        let mut acc = Acceptor::new(config(true));
        assert!(matches!(
            acc.step(&negotiate[..n], &db),
            AuthStep::Failed(_)
        ));
    }

    // Every truncation of an AUTHENTICATE, raw and wrapped, fails.
    let mut acc = Acceptor::new(config(true));
    let challenge = cont(acc.step(&negotiate, &db));
    let auth = c.authenticate(&challenge);
    let wrapped = encode_resp(None, None, Some(&auth), None);
    let spnego_init = encode_init(&[OID_NTLMSSP], Some(&negotiate), None);
    for n in 0..auth.len() {
        let mut acc = Acceptor::new(config(true));
        cont(acc.step(&negotiate, &db));
        assert!(
            matches!(acc.step(&auth[..n], &db), AuthStep::Failed(_)),
            "raw {n}"
        );
    }
    for n in 0..wrapped.len() {
        let mut acc = Acceptor::new(config(true));
        cont(acc.step(&spnego_init, &db));
        assert!(
            matches!(acc.step(&wrapped[..n], &db), AuthStep::Failed(_)),
            "wrapped {n}"
        );
    }

    // Random byte flips and length-field damage: only "no panic" is asserted.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..3000 {
        let mut m = auth.clone();
        for _ in 0..1 + xorshift(&mut seed) % 4 {
            let i = (xorshift(&mut seed) % m.len() as u64) as usize;
            m[i] = xorshift(&mut seed) as u8;
        }
        let mut acc = Acceptor::new(config(true));
        cont(acc.step(&negotiate, &db));
        let _ = acc.step(&m, &db);
        let mut w = init.clone();
        let i = (xorshift(&mut seed) % w.len() as u64) as usize;
        w[i] = xorshift(&mut seed) as u8;
        let _ = Acceptor::new(config(true)).step(&w, &db);
    }
}

/// Drives the acceptor with pyspnego's NTLM client, an independent
/// implementation, raw and SPNEGO-wrapped; the client checks our
/// mechListMIC and both sides must agree on the session key.
#[test]
#[ignore = "needs python3 with the pyspnego package"]
fn pyspnego_client_oracle() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    const SCRIPT: &str = r#"
import sys, spnego
c = spnego.client(sys.argv[2], 'Secret1', hostname='rsmbd', service='cifs', protocol=sys.argv[1])
tok = c.step()
while True:
    print('TOKEN', tok.hex(), flush=True)
    status, _, data = sys.stdin.readline().strip().partition(' ')
    data = bytes.fromhex(data)
    if status == 'DONE':
        if data:
            c.step(data)
        print('KEY', c.session_key.hex(), c.complete, flush=True)
        break
    tok = c.step(data)
"#;
    fn to_hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    let db = users();
    for (protocol, user) in [
        ("ntlm", "alice"),
        ("negotiate", "alice"),
        ("negotiate", "WORKGROUP\\Alice"),
    ] {
        let mut child = Command::new("python3")
            .args(["-c", SCRIPT, protocol, user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acc = Acceptor::new(config(false));
        let mut our_key: Option<[u8; 16]> = None;
        loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(rest) = line.strip_prefix("KEY ") {
                let key = our_key.unwrap();
                assert_eq!(rest, format!("{} True", to_hex(&key)), "{protocol}");
                break;
            }
            let hex = line.strip_prefix("TOKEN ").unwrap();
            let input: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            match acc.step(&input, &db) {
                AuthStep::Continue(t) => writeln!(stdin, "MORE {}", to_hex(&t)).unwrap(),
                AuthStep::Done {
                    token,
                    identity,
                    session_key,
                } => {
                    assert!(matches!(identity, Identity::User { ref name, .. } if name == "alice"));
                    our_key = session_key;
                    if protocol == "negotiate" {
                        // pyspnego sends a mechListMIC, so ours must be there.
                        assert!(resp(&token).mech_list_mic.is_some());
                    }
                    writeln!(stdin, "DONE {}", to_hex(&token)).unwrap();
                }
                AuthStep::Failed(e) => panic!("{protocol}: {e:?}"),
            }
        }
        assert!(child.wait().unwrap().success());
    }
}
