//! The server side of one SESSION_SETUP authentication exchange: SPNEGO
//! negotiation (RFC 4178, MS-SPNG 3.2.5) around the NTLMSSP acceptor, or raw
//! NTLMSSP when the client sends it unwrapped.
//!
//! ```text
//!  Initial ──NegTokenInit{NTLM first, NEGOTIATE}──► WaitAuthenticate ──AUTHENTICATE──► Finished
//!     │  └──NegTokenInit{no token / NTLM later}──► WaitNegotiate ──NEGOTIATE──┘
//!     └─────raw NEGOTIATE──────────────────────► WaitAuthenticate (raw)
//! ```
//! Any error ends the exchange: every later step fails.

use crate::ntlm::{self, ChallengeState, Direction, Verified};
use crate::spnego::{self, ClientToken, NegState, OID_NTLMSSP};
use crate::UserDb;

/// The server's identity as NTLM shows it to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptorConfig {
    /// Server NetBIOS name, e.g. "RSMBD".
    pub netbios_name: String,
    /// Workgroup, e.g. "WORKGROUP".
    pub domain: String,
    /// DNS name, e.g. the host name.
    pub dns_name: String,
    /// Log unknown users on as guest ("map to guest = bad user").
    pub map_bad_user_to_guest: bool,
}

/// Who logged on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    User {
        /// The name as stored in the user database.
        name: String,
        /// The domain the client sent.
        domain: String,
    },
    Guest,
    Anonymous,
}

/// What to answer the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send this token with STATUS_MORE_PROCESSING_REQUIRED.
    Continue(Vec<u8>),
    /// Logon succeeded: send `token` (accept-completed; empty for raw NTLMSSP)
    /// with STATUS_SUCCESS. `session_key` is the 16-byte exported session key
    /// (after KEY_EXCH); None for anonymous and guest.
    Done {
        token: Vec<u8>,
        identity: Identity,
        session_key: Option<[u8; 16]>,
    },
    /// Logon refused.
    Failed(AuthError),
}

/// Why a logon was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// Wrong password, unknown user without guest mapping, NTLMv1, bad MIC:
    /// STATUS_LOGON_FAILURE.
    LogonFailure,
    /// A malformed token: STATUS_INVALID_PARAMETER.
    InvalidToken,
    /// The client offered no mechanism we support: STATUS_INVALID_PARAMETER.
    UnsupportedMech,
    /// A token arrived when none (or another kind) was expected, e.g. after
    /// the exchange ended: STATUS_INVALID_PARAMETER.
    UnexpectedToken,
}

impl AuthError {
    /// The NTSTATUS value to answer with (MS-ERREF 2.3.1).
    pub fn ntstatus(self) -> u32 {
        match self {
            AuthError::LogonFailure => 0xC000_006D,
            AuthError::InvalidToken | AuthError::UnsupportedMech | AuthError::UnexpectedToken => {
                0xC000_000D
            }
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthError::LogonFailure => "logon failure",
            AuthError::InvalidToken => "malformed security token",
            AuthError::UnsupportedMech => "no supported authentication mechanism offered",
            AuthError::UnexpectedToken => "unexpected security token",
        })
    }
}

impl std::error::Error for AuthError {}

/// How the client wraps its tokens; we answer the same way.
#[derive(Debug, Clone)]
enum Wrapping {
    Raw,
    Spnego {
        /// The client's DER MechTypeList, the input of mechListMIC.
        mech_types: Vec<u8>,
        /// NTLMSSP was not the client's first choice, so RFC 4178 section 5
        /// requires the mechListMIC exchange.
        mic_required: bool,
    },
}

#[derive(Debug, Clone)]
enum State {
    Initial,
    /// SPNEGO selected NTLMSSP but the client has not sent its NEGOTIATE yet.
    WaitNegotiate {
        mech_types: Vec<u8>,
        mic_required: bool,
    },
    WaitAuthenticate {
        wrapping: Wrapping,
        ntlm: ChallengeState,
    },
    Finished,
}

/// One in-progress authentication (one per SESSION_SETUP exchange).
#[derive(Debug)]
pub struct Acceptor {
    config: AcceptorConfig,
    state: State,
}

impl Acceptor {
    pub fn new(config: AcceptorConfig) -> Acceptor {
        Acceptor {
            config,
            state: State::Initial,
        }
    }

    /// Feed the client's SecurityBuffer. Accepts SPNEGO NegTokenInit (with or without mechToken,
    /// NTLMSSP as first or later mech), NegTokenResp, and raw NTLMSSP (no SPNEGO wrapper), answering
    /// in the same wrapping the client used.
    pub fn step(&mut self, input: &[u8], users: &UserDb) -> AuthStep {
        let state = std::mem::replace(&mut self.state, State::Finished);
        match self.advance(state, input, users) {
            Ok((next, step)) => {
                self.state = next;
                step
            }
            Err(e) => AuthStep::Failed(e),
        }
    }

    /// True once the exchange has succeeded or failed.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    fn advance(
        &self,
        state: State,
        input: &[u8],
        users: &UserDb,
    ) -> Result<(State, AuthStep), AuthError> {
        match state {
            // An empty first buffer asks for the server's mechanism list:
            // answer with the NegTokenInit2 of the NEGOTIATE response again.
            State::Initial if input.is_empty() => Ok((
                State::Initial,
                AuthStep::Continue(spnego::negotiate_token()),
            )),
            State::Initial => self.start(input),
            State::WaitNegotiate {
                mech_types,
                mic_required,
            } => {
                let resp = expect_resp(input)?;
                let token = resp.response_token.ok_or(AuthError::InvalidToken)?;
                let ntlm = self.challenge(token)?;
                let out = spnego::encode_resp(
                    Some(NegState::AcceptIncomplete),
                    None,
                    Some(&ntlm.challenge),
                    None,
                );
                let wrapping = Wrapping::Spnego {
                    mech_types,
                    mic_required,
                };
                Ok((
                    State::WaitAuthenticate { wrapping, ntlm },
                    AuthStep::Continue(out),
                ))
            }
            State::WaitAuthenticate { wrapping, ntlm } => {
                let step = self.finish(&wrapping, &ntlm, input, users)?;
                Ok((State::Finished, step))
            }
            State::Finished => Err(AuthError::UnexpectedToken),
        }
    }

    /// The first client token.
    fn start(&self, input: &[u8]) -> Result<(State, AuthStep), AuthError> {
        match spnego::parse_client_token(input).map_err(|_| AuthError::InvalidToken)? {
            ClientToken::RawNtlm(msg) => {
                let ntlm = self.challenge(msg)?;
                let out = ntlm.challenge.clone();
                Ok((
                    State::WaitAuthenticate {
                        wrapping: Wrapping::Raw,
                        ntlm,
                    },
                    AuthStep::Continue(out),
                ))
            }
            ClientToken::Init(init) => {
                let pos = init
                    .mech_types
                    .iter()
                    .position(|m| *m == OID_NTLMSSP)
                    .ok_or(AuthError::UnsupportedMech)?;
                let mech_types = init.mech_types_raw.to_vec();
                // RFC 4178 section 3.2: the optimistic mechToken belongs to
                // the first mechanism only.
                match (pos, init.mech_token) {
                    (0, Some(token)) => {
                        let ntlm = self.challenge(token)?;
                        let out = spnego::encode_resp(
                            Some(NegState::AcceptIncomplete),
                            Some(OID_NTLMSSP),
                            Some(&ntlm.challenge),
                            None,
                        );
                        let wrapping = Wrapping::Spnego {
                            mech_types,
                            mic_required: false,
                        };
                        Ok((
                            State::WaitAuthenticate { wrapping, ntlm },
                            AuthStep::Continue(out),
                        ))
                    }
                    (pos, _) => {
                        // RFC 4178 section 5: selecting a mechanism other than
                        // the client's first choice asks for the MIC.
                        let mic_required = pos != 0;
                        let state = if mic_required {
                            NegState::RequestMic
                        } else {
                            NegState::AcceptIncomplete
                        };
                        let out = spnego::encode_resp(Some(state), Some(OID_NTLMSSP), None, None);
                        Ok((
                            State::WaitNegotiate {
                                mech_types,
                                mic_required,
                            },
                            AuthStep::Continue(out),
                        ))
                    }
                }
            }
            ClientToken::Resp(_) => Err(AuthError::UnexpectedToken),
        }
    }

    fn challenge(&self, negotiate: &[u8]) -> Result<ChallengeState, AuthError> {
        let mut server_challenge = [0u8; 8];
        crypto::random_bytes(&mut server_challenge);
        ntlm::challenge(
            &self.config,
            negotiate,
            server_challenge,
            ntlm::filetime_now(),
        )
    }

    /// The AUTHENTICATE step, and for SPNEGO the mechListMIC exchange
    /// (MS-SPNG 3.3.5.1, RFC 4178 section 5).
    fn finish(
        &self,
        wrapping: &Wrapping,
        ntlm: &ChallengeState,
        input: &[u8],
        users: &UserDb,
    ) -> Result<AuthStep, AuthError> {
        let (msg, spnego_info) = match wrapping {
            Wrapping::Raw => {
                if !input.starts_with(ntlm::SIGNATURE) {
                    return Err(AuthError::UnexpectedToken);
                }
                (input, None)
            }
            Wrapping::Spnego {
                mech_types,
                mic_required,
            } => {
                let resp = expect_resp(input)?;
                let token = resp.response_token.ok_or(AuthError::InvalidToken)?;
                (token, Some((mech_types, *mic_required, resp.mech_list_mic)))
            }
        };
        let verified = ntlm::verify_authenticate(ntlm, msg, users, &self.config)?;
        let (identity, key) = match verified {
            Verified::Anonymous => (Identity::Anonymous, None),
            Verified::Guest => (Identity::Guest, None),
            Verified::User {
                name,
                domain,
                exported_session_key,
                flags,
            } => (
                Identity::User { name, domain },
                Some((exported_session_key, flags)),
            ),
        };

        let token = match spnego_info {
            None => Vec::new(),
            Some((mech_types, mic_required, client_mic)) => {
                // Without a session key (anonymous, guest) no MIC can be made
                // or checked.
                let server_mic = match key {
                    Some((k, flags)) => {
                        match client_mic {
                            Some(mic) => {
                                let want = ntlm::signature(
                                    &k,
                                    flags,
                                    Direction::ClientToServer,
                                    0,
                                    mech_types,
                                );
                                if !ntlm::ct_eq(&want, mic) {
                                    return Err(AuthError::LogonFailure);
                                }
                            }
                            None if mic_required => return Err(AuthError::LogonFailure),
                            None => {}
                        }
                        (client_mic.is_some() || mic_required).then(|| {
                            ntlm::signature(&k, flags, Direction::ServerToClient, 0, mech_types)
                        })
                    }
                    None => None,
                };
                spnego::encode_resp(
                    Some(NegState::AcceptCompleted),
                    None,
                    None,
                    server_mic.as_ref().map(|m| &m[..]),
                )
            }
        };
        Ok(AuthStep::Done {
            token,
            identity,
            session_key: key.map(|(k, _)| k),
        })
    }
}

fn expect_resp(input: &[u8]) -> Result<spnego::NegTokenResp<'_>, AuthError> {
    match spnego::parse_client_token(input).map_err(|_| AuthError::InvalidToken)? {
        ClientToken::Resp(r) => Ok(r),
        _ => Err(AuthError::UnexpectedToken),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "acceptor_tests.rs"]
mod tests;
