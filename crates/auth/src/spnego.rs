//! SPNEGO tokens (RFC 4178 section 4.2, with the Microsoft NegTokenInit2 of
//! MS-SPNG 2.2.1): parsing what a client sends and encoding what the server
//! answers. The negotiation state machine lives in `acceptor`.

use crate::der::{self, DerError, Reader};

/// 1.3.6.1.5.5.2, the SPNEGO mechanism (RFC 4178 section 3), DER contents octets.
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// 1.3.6.1.4.1.311.2.2.10, NTLMSSP (MS-NLMP 1.9), DER contents octets.
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

/// The hint name Windows and Samba put in NegTokenInit2 (MS-SPNG 2.2.1, 3.2.5.2).
const NEG_HINT_NAME: &[u8] = b"not_defined_in_RFC4178@please_ignore";

/// The negState values of NegTokenResp (RFC 4178 section 4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    AcceptCompleted = 0,
    AcceptIncomplete = 1,
    Reject = 2,
    RequestMic = 3,
}

/// A client's NegTokenInit (RFC 4178 4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenInit<'a> {
    /// The contents octets of each mechanism OID, in the client's order.
    pub mech_types: Vec<&'a [u8]>,
    /// The DER MechTypeList exactly as sent: the input of mechListMIC
    /// (RFC 4178 section 5).
    pub mech_types_raw: &'a [u8],
    pub mech_token: Option<&'a [u8]>,
    pub mech_list_mic: Option<&'a [u8]>,
}

/// A NegTokenResp (RFC 4178 4.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegTokenResp<'a> {
    pub neg_state: Option<u8>,
    pub supported_mech: Option<&'a [u8]>,
    pub response_token: Option<&'a [u8]>,
    pub mech_list_mic: Option<&'a [u8]>,
}

/// Whatever a client may put in a SESSION_SETUP SecurityBuffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientToken<'a> {
    Init(NegTokenInit<'a>),
    Resp(NegTokenResp<'a>),
    /// A bare NTLMSSP message, without any SPNEGO wrapping.
    RawNtlm(&'a [u8]),
}

/// Classifies and parses a client token.
pub fn parse_client_token(input: &[u8]) -> Result<ClientToken<'_>, DerError> {
    if input.starts_with(crate::ntlm::SIGNATURE) {
        return Ok(ClientToken::RawNtlm(input));
    }
    match input.first() {
        // RFC 2743 3.1 InitialContextToken: [APPLICATION 0] { thisMech, innerToken }.
        Some(&der::APPLICATION_0) => {
            let app = der::single(input, der::APPLICATION_0)?;
            let mut r = Reader::new(app.value);
            let oid = r.expect(der::OID)?;
            if oid.value != OID_SPNEGO {
                return Err(DerError);
            }
            let inner = r.read()?;
            r.finish()?;
            parse_negotiation_token(inner)
        }
        Some(_) => parse_negotiation_token(der::single(input, input_tag(input))?),
        None => Err(DerError),
    }
}

fn input_tag(input: &[u8]) -> u8 {
    input.first().copied().unwrap_or(0)
}

/// NegotiationToken ::= CHOICE { negTokenInit [0], negTokenResp [1] }.
fn parse_negotiation_token(tlv: der::Tlv<'_>) -> Result<ClientToken<'_>, DerError> {
    match tlv.tag {
        t if t == der::context(0) => Ok(ClientToken::Init(parse_init(tlv.value)?)),
        t if t == der::context(1) => Ok(ClientToken::Resp(parse_resp(tlv.value)?)),
        _ => Err(DerError),
    }
}

/// NegTokenInit ::= SEQUENCE { mechTypes [0], reqFlags [1], mechToken [2], mechListMIC [3] }.
fn parse_init(value: &[u8]) -> Result<NegTokenInit<'_>, DerError> {
    let seq = der::single(value, der::SEQUENCE)?;
    let mut r = Reader::new(seq.value);
    let mut init = NegTokenInit {
        mech_types: Vec::new(),
        mech_types_raw: &[],
        mech_token: None,
        mech_list_mic: None,
    };
    let mut saw_mech_types = false;
    while !r.is_empty() {
        let field = r.read()?;
        match field.tag {
            t if t == der::context(0) => {
                let list = der::single(field.value, der::SEQUENCE)?;
                init.mech_types_raw = list.raw;
                let mut mechs = Reader::new(list.value);
                while !mechs.is_empty() {
                    init.mech_types.push(mechs.expect(der::OID)?.value);
                }
                saw_mech_types = true;
            }
            t if t == der::context(2) => {
                init.mech_token = Some(der::single(field.value, der::OCTET_STRING)?.value);
            }
            // [3] is mechListMIC in RFC 4178 but negHints (a SEQUENCE) in
            // MS-SPNG's NegTokenInit2, whose mechListMIC is [4].
            t if t == der::context(3) || t == der::context(4) => {
                let inner = der::single(field.value, der::OCTET_STRING);
                match inner {
                    Ok(mic) => init.mech_list_mic = Some(mic.value),
                    Err(_) if t == der::context(3) => {
                        der::single(field.value, der::SEQUENCE)?;
                    }
                    Err(e) => return Err(e),
                }
            }
            // reqFlags [1] is ignored (RFC 4178 4.2.1: acceptors ignore it),
            // and so is anything newer.
            _ => {}
        }
    }
    if !saw_mech_types {
        return Err(DerError);
    }
    Ok(init)
}

/// NegTokenResp ::= SEQUENCE { negState [0], supportedMech [1], responseToken [2], mechListMIC [3] }.
fn parse_resp(value: &[u8]) -> Result<NegTokenResp<'_>, DerError> {
    let seq = der::single(value, der::SEQUENCE)?;
    let mut r = Reader::new(seq.value);
    let mut resp = NegTokenResp::default();
    while !r.is_empty() {
        let field = r.read()?;
        match field.tag {
            t if t == der::context(0) => {
                let e = der::single(field.value, der::ENUMERATED)?;
                match e.value {
                    [v] => resp.neg_state = Some(*v),
                    _ => return Err(DerError),
                }
            }
            t if t == der::context(1) => {
                resp.supported_mech = Some(der::single(field.value, der::OID)?.value);
            }
            t if t == der::context(2) => {
                resp.response_token = Some(der::single(field.value, der::OCTET_STRING)?.value);
            }
            t if t == der::context(3) => {
                resp.mech_list_mic = Some(der::single(field.value, der::OCTET_STRING)?.value);
            }
            _ => return Err(DerError),
        }
    }
    Ok(resp)
}

/// Encodes a NegTokenResp wrapped in its `[1]` choice tag (RFC 4178 4.2.2);
/// it travels without the InitialContextToken header.
pub fn encode_resp(
    state: Option<NegState>,
    supported_mech: Option<&[u8]>,
    response_token: Option<&[u8]>,
    mech_list_mic: Option<&[u8]>,
) -> Vec<u8> {
    let mut fields = Vec::new();
    if let Some(s) = state {
        der::push_tlv(
            &mut fields,
            der::context(0),
            &der::tlv(der::ENUMERATED, &[s as u8]),
        );
    }
    if let Some(m) = supported_mech {
        der::push_tlv(&mut fields, der::context(1), &der::tlv(der::OID, m));
    }
    if let Some(t) = response_token {
        der::push_tlv(
            &mut fields,
            der::context(2),
            &der::tlv(der::OCTET_STRING, t),
        );
    }
    if let Some(m) = mech_list_mic {
        der::push_tlv(
            &mut fields,
            der::context(3),
            &der::tlv(der::OCTET_STRING, m),
        );
    }
    der::tlv(der::context(1), &der::tlv(der::SEQUENCE, &fields))
}

/// Encodes a client NegTokenInit inside an InitialContextToken; used by tests
/// that play the client, and kept beside the parser it mirrors.
pub fn encode_init(
    mech_types: &[&[u8]],
    mech_token: Option<&[u8]>,
    mech_list_mic: Option<&[u8]>,
) -> Vec<u8> {
    let mut fields = Vec::new();
    der::push_tlv(&mut fields, der::context(0), &mech_type_list(mech_types));
    if let Some(t) = mech_token {
        der::push_tlv(
            &mut fields,
            der::context(2),
            &der::tlv(der::OCTET_STRING, t),
        );
    }
    if let Some(m) = mech_list_mic {
        der::push_tlv(
            &mut fields,
            der::context(3),
            &der::tlv(der::OCTET_STRING, m),
        );
    }
    wrap_initial(&der::tlv(
        der::context(0),
        &der::tlv(der::SEQUENCE, &fields),
    ))
}

/// The DER MechTypeList (SEQUENCE OF OID).
pub fn mech_type_list(mech_types: &[&[u8]]) -> Vec<u8> {
    let mut oids = Vec::new();
    for m in mech_types {
        der::push_tlv(&mut oids, der::OID, m);
    }
    der::tlv(der::SEQUENCE, &oids)
}

/// RFC 2743 3.1: `[APPLICATION 0] { SPNEGO OID, token }`.
fn wrap_initial(inner: &[u8]) -> Vec<u8> {
    let mut body = der::tlv(der::OID, OID_SPNEGO);
    body.extend_from_slice(inner);
    der::tlv(der::APPLICATION_0, &body)
}

/// The SPNEGO NegTokenInit2 the server puts in its NEGOTIATE response SecurityBuffer
/// (mechTypes: NTLMSSP 1.3.6.1.4.1.311.2.2.10 only for now; negHints as Windows/Samba send it).
// MS-SPNG 2.2.1 and 3.2.5.2: NegTokenInit2 { mechTypes [0], negHints [3] { hintName [0] } }.
pub fn negotiate_token() -> Vec<u8> {
    let mut fields = Vec::new();
    der::push_tlv(
        &mut fields,
        der::context(0),
        &mech_type_list(&[OID_NTLMSSP]),
    );
    let hint = der::tlv(
        der::context(0),
        &der::tlv(der::GENERAL_STRING, NEG_HINT_NAME),
    );
    der::push_tlv(
        &mut fields,
        der::context(3),
        &der::tlv(der::SEQUENCE, &hint),
    );
    wrap_initial(&der::tlv(
        der::context(0),
        &der::tlv(der::SEQUENCE, &fields),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn negotiate_token_bytes() {
        // The NegTokenInit2 layout Windows and Samba servers send, with NTLMSSP
        // as the only mechanism.
        let expected = hex(
            "60 48 06 06 2b 06 01 05 05 02 a0 3e 30 3c a0 0e 30 0c 06 0a 2b 06 01 04 01 82 37 02 02 0a
             a3 2a 30 28 a0 26 1b 24",
        );
        let tok = negotiate_token();
        assert_eq!(&tok[..expected.len()], &expected[..]);
        assert_eq!(&tok[expected.len()..], NEG_HINT_NAME);
        // And our parser reads it as a NegTokenInit offering NTLMSSP.
        match parse_client_token(&tok).unwrap() {
            ClientToken::Init(init) => {
                assert_eq!(init.mech_types, vec![OID_NTLMSSP]);
                assert_eq!(init.mech_token, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn init_round_trip() {
        let krb: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
        let tok = encode_init(&[krb, OID_NTLMSSP], Some(b"NTLMSSP\0xyz"), Some(b"mic"));
        match parse_client_token(&tok).unwrap() {
            ClientToken::Init(init) => {
                assert_eq!(init.mech_types, vec![krb, OID_NTLMSSP]);
                assert_eq!(
                    init.mech_types_raw,
                    &mech_type_list(&[krb, OID_NTLMSSP])[..]
                );
                assert_eq!(init.mech_token, Some(&b"NTLMSSP\0xyz"[..]));
                assert_eq!(init.mech_list_mic, Some(&b"mic"[..]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resp_round_trip() {
        let tok = encode_resp(
            Some(NegState::AcceptIncomplete),
            Some(OID_NTLMSSP),
            Some(b"tok"),
            Some(b"m"),
        );
        assert_eq!(tok[0], 0xa1);
        match parse_client_token(&tok).unwrap() {
            ClientToken::Resp(r) => {
                assert_eq!(r.neg_state, Some(1));
                assert_eq!(r.supported_mech, Some(OID_NTLMSSP));
                assert_eq!(r.response_token, Some(&b"tok"[..]));
                assert_eq!(r.mech_list_mic, Some(&b"m"[..]));
            }
            other => panic!("{other:?}"),
        }
        // accept-completed with nothing else: a1 07 30 05 a0 03 0a 01 00.
        assert_eq!(
            encode_resp(Some(NegState::AcceptCompleted), None, None, None),
            hex("a1 07 30 05 a0 03 0a 01 00")
        );
    }

    #[test]
    fn raw_ntlm_and_garbage() {
        assert!(matches!(
            parse_client_token(b"NTLMSSP\0\x01\0\0\0"),
            Ok(ClientToken::RawNtlm(_))
        ));
        assert!(parse_client_token(&[]).is_err());
        assert!(parse_client_token(&[0x60, 0x02, 0x06, 0x00]).is_err());
        assert!(parse_client_token(&[0xa2, 0x00]).is_err());
        // A NegTokenInit without mechTypes is refused.
        let no_mechs = wrap_initial(&der::tlv(der::context(0), &der::tlv(der::SEQUENCE, &[])));
        assert!(parse_client_token(&no_mechs).is_err());
        let tok = encode_init(&[OID_NTLMSSP], Some(b"x"), None);
        for n in 0..tok.len() {
            assert!(parse_client_token(&tok[..n]).is_err(), "truncated at {n}");
        }
    }
}
