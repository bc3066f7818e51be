//! A minimal NTLMv2 initiator (MS-NLMP 3.1.5) used by the tests to drive the
//! acceptor: NEGOTIATE, then AUTHENTICATE with optional key exchange and MIC.
#![allow(clippy::unwrap_used)]

use crate::ntlm::{self, *};

pub const CLIENT_FLAGS: u32 = NEGOTIATE_UNICODE
    | REQUEST_TARGET
    | NEGOTIATE_SIGN
    | NEGOTIATE_SEAL
    | NEGOTIATE_NTLM
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_TARGET_INFO
    | NEGOTIATE_VERSION
    | NEGOTIATE_128
    | NEGOTIATE_KEY_EXCH
    | NEGOTIATE_56;

/// What the client sends in its AUTHENTICATE_MESSAGE.
#[derive(Debug, Clone)]
pub struct Client {
    pub user: String,
    /// The domain put in the message.
    pub domain: String,
    /// The domain mixed into NTOWFv2, normally the same.
    pub key_domain: String,
    pub nt_hash: [u8; 16],
    pub flags: u32,
    pub mic: bool,
    /// Send a 24-byte NTLMv1-sized NT response instead of NTLMv2.
    pub ntlmv1: bool,
    /// Empty user and responses.
    pub anonymous: bool,
    pub negotiate: Vec<u8>,
    /// Set by `authenticate`.
    pub exported_session_key: [u8; 16],
    pub negotiated_flags: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes(b[at..at + 2].try_into().unwrap()))
}

impl Client {
    pub fn new(user: &str, domain: &str, password: &str) -> Client {
        Client {
            user: user.into(),
            domain: domain.into(),
            key_domain: domain.into(),
            nt_hash: crate::nt_hash(password),
            flags: CLIENT_FLAGS,
            mic: true,
            ntlmv1: false,
            anonymous: false,
            negotiate: Vec::new(),
            exported_session_key: [0; 16],
            negotiated_flags: 0,
        }
    }

    /// NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1) with a Version.
    pub fn negotiate(&mut self) -> Vec<u8> {
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&self.flags.to_le_bytes());
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
        self.negotiate = m.clone();
        m
    }

    /// AUTHENTICATE_MESSAGE answering `challenge` (MS-NLMP 3.1.5.1.2).
    pub fn authenticate(&mut self, challenge: &[u8]) -> Vec<u8> {
        assert_eq!(&challenge[..8], SIGNATURE);
        assert_eq!(u32_at(challenge, 8), 2);
        let flags = u32_at(challenge, 20);
        self.negotiated_flags = flags;
        let server_challenge: [u8; 8] = challenge[24..32].try_into().unwrap();
        let ti_len = u16_at(challenge, 40);
        let ti_off = u32_at(challenge, 44) as usize;
        let target_info = &challenge[ti_off..ti_off + ti_len];
        let timestamp = find_av(target_info, AV_TIMESTAMP)
            .unwrap()
            .map(|v| v.to_vec())
            .unwrap_or(vec![0; 8]);

        let (lm, nt, enc_key) = if self.anonymous {
            (vec![0u8], Vec::new(), Vec::new())
        } else if self.ntlmv1 {
            (vec![0u8; 24], vec![0x42u8; 24], Vec::new())
        } else {
            // The client's AV pairs: the server's minus EOL, then MsvAvFlags.
            let mut pairs = Vec::new();
            let mut rest = target_info;
            loop {
                let id = u16_at(rest, 0);
                let len = u16_at(rest, 2);
                if id == 0 {
                    break;
                }
                pairs.extend_from_slice(&rest[..4 + len]);
                rest = &rest[4 + len..];
            }
            if self.mic {
                pairs.extend_from_slice(&AV_FLAGS.to_le_bytes());
                pairs.extend_from_slice(&4u16.to_le_bytes());
                pairs.extend_from_slice(&AV_FLAG_MIC_PRESENT.to_le_bytes());
            }
            pairs.extend_from_slice(&[0; 4]);
            let mut client_challenge = [0u8; 8];
            crypto::random_bytes(&mut client_challenge);
            let mut temp = vec![1, 1, 0, 0, 0, 0, 0, 0];
            temp.extend_from_slice(&timestamp);
            temp.extend_from_slice(&client_challenge);
            temp.extend_from_slice(&[0; 4]);
            temp.extend_from_slice(&pairs);
            temp.extend_from_slice(&[0; 4]);

            let key = ntowfv2(&self.nt_hash, &self.user, &self.key_domain);
            let proof = crypto::hmac_md5(&key, &[&server_challenge, &temp]);
            let base = crypto::hmac_md5(&key, &[&proof]);
            let mut nt = proof.to_vec();
            nt.extend_from_slice(&temp);
            let enc = if flags & NEGOTIATE_KEY_EXCH != 0 {
                let mut random = [0u8; 16];
                crypto::random_bytes(&mut random);
                self.exported_session_key = random;
                crypto::rc4_apply(&base, &mut random);
                random.to_vec()
            } else {
                self.exported_session_key = base;
                Vec::new()
            };
            (vec![0u8; 24], nt, enc)
        };

        let unicode = flags & NEGOTIATE_UNICODE != 0;
        let s = |v: &str| {
            if unicode {
                utf16le(v)
            } else {
                v.as_bytes().to_vec()
            }
        };
        let user = if self.anonymous {
            Vec::new()
        } else {
            s(&self.user)
        };
        let fields = [lm, nt, s(&self.domain), user, s("WS1"), enc_key];
        let order = [2usize, 3, 4, 0, 1, 5];
        let mut offsets = [0usize; 6];
        let mut payload = Vec::new();
        for &i in &order {
            offsets[i] = 88 + payload.len();
            payload.extend_from_slice(&fields[i]);
        }
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&3u32.to_le_bytes());
        for i in 0..6 {
            let len = fields[i].len() as u16;
            m.extend_from_slice(&len.to_le_bytes());
            m.extend_from_slice(&len.to_le_bytes());
            m.extend_from_slice(&(offsets[i] as u32).to_le_bytes());
        }
        m.extend_from_slice(&flags.to_le_bytes());
        m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&payload);
        if self.mic && !self.anonymous && !self.ntlmv1 {
            let mic = crypto::hmac_md5(
                &self.exported_session_key,
                &[&self.negotiate, challenge, &m],
            );
            m[72..88].copy_from_slice(&mic);
        }
        m
    }

    /// The client's mechListMIC over `mech_types` (MS-SPNG 3.3.5.1).
    pub fn mech_list_mic(&self, mech_types: &[u8]) -> [u8; 16] {
        ntlm::signature(
            &self.exported_session_key,
            self.negotiated_flags,
            Direction::ClientToServer,
            0,
            mech_types,
        )
    }

    /// The server's mechListMIC as the client expects it.
    pub fn expected_server_mic(&self, mech_types: &[u8]) -> [u8; 16] {
        ntlm::signature(
            &self.exported_session_key,
            self.negotiated_flags,
            Direction::ServerToClient,
            0,
            mech_types,
        )
    }
}
