//! SESSION_SETUP (MS-SMB2 3.3.5.5) and LOGOFF (3.3.5.6): authentication
//! through the auth crate, key derivation per dialect, re-authentication.

use std::sync::Arc;

use auth::{AcceptorConfig, AuthStep, Identity};
use wire::negotiate::SECURITY_SIGNING_REQUIRED;
use wire::session_setup::*;
use wire::NtStatus;

use crate::config::{dialect, EncryptionPolicy, MapToGuest, SigningPolicy};
use crate::dispatch::{Error, HandlerResult, PostHash, Request};
use crate::pending::AsyncTable;
use crate::state::{lock, AuthState, Server, Session, SessionAuth, SessionCrypto};

fn acceptor(server: &Server) -> auth::Acceptor {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    auth::Acceptor::new(AcceptorConfig {
        netbios_name: server.config.netbios_name.clone(),
        domain: server.config.workgroup.clone(),
        dns_name: host,
        map_bad_user_to_guest: server.config.map_to_guest == MapToGuest::BadUser,
    })
}

pub fn handle(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    let r = SessionSetupRequest::parse(req.msg)?;
    let n = req.conn.negotiated().ok_or(Error::Disconnect)?;
    if r.flags & SESSION_FLAG_BINDING != 0 {
        // Multichannel is not offered, so no session can be bound (3.3.5.5.2).
        return Err(Error::Status(NtStatus::REQUEST_NOT_ACCEPTED));
    }
    let server = req.server;
    let (session, reauth) = if req.hdr.session_id == 0 {
        let id = server.new_session_id();
        let s = Arc::new(Session::new(id, acceptor(server), n.preauth_hash));
        lock(&req.conn.sessions).insert(id, s.clone());
        server.register_session(&s, req.conn.pending.shared());
        (s, false)
    } else {
        let s = req
            .session
            .clone()
            .ok_or(Error::Status(NtStatus::USER_SESSION_DELETED))?;
        let valid = s.is_valid();
        if valid {
            let mut re = lock(&s.reauth);
            if re.is_none() {
                *re = Some(Box::new(acceptor(server)));
                if n.dialect == dialect::SMB3_11 {
                    *lock(&s.preauth_hash) = n.preauth_hash;
                }
            }
        }
        (s, valid)
    };
    req.resp_session_id = session.id;
    req.never_sign = true;
    if n.dialect == dialect::SMB3_11 {
        crypto::preauth_hash_update(&mut lock(&session.preauth_hash), req.msg);
    }
    let step = {
        if reauth {
            let mut re = lock(&session.reauth);
            match re.as_mut() {
                Some(a) => a.step(r.security_buffer, &server.users),
                None => return Err(Error::Status(NtStatus::INVALID_PARAMETER)),
            }
        } else {
            let mut st = lock(&session.state);
            match &mut *st {
                AuthState::InProgress(a) => a.step(r.security_buffer, &server.users),
                _ => return Err(Error::Status(NtStatus::INVALID_PARAMETER)),
            }
        }
    };
    match step {
        AuthStep::Continue(token) => {
            encode_session_setup_response(out, 0, &token);
            if n.dialect == dialect::SMB3_11 {
                req.post_hash = Some(PostHash::Session(session.clone()));
            }
            Ok(NtStatus::MORE_PROCESSING_REQUIRED)
        }
        AuthStep::Failed(e) => {
            log::info!(
                "conn {} ({}): logon failed: {e}",
                req.conn.id,
                req.conn.peer
            );
            // A failed logon, or re-authentication, ends the session with
            // everything it held (as Windows and Samba do).
            lock(&req.conn.sessions).remove(&session.id);
            end_session(server, &req.conn.pending, &session, AuthState::Expired);
            Err(Error::Status(NtStatus(e.ntstatus())))
        }
        AuthStep::Done {
            token,
            identity,
            session_key,
        } => {
            *lock(&session.reauth) = None;
            let user_name = match &identity {
                Identity::User { name, .. } => name.clone(),
                Identity::Guest => server.config.guest_account.clone(),
                Identity::Anonymous => String::new(),
            };
            let signing_required = server.config.signing == SigningPolicy::Mandatory
                || u16::from(r.security_mode) & SECURITY_SIGNING_REQUIRED != 0;
            let mut flags = 0u16;
            let mut signing_key = None;
            let mut session_crypto = None;
            match (&identity, session_key) {
                (Identity::User { .. }, Some(key)) => {
                    let preauth = *lock(&session.preauth_hash);
                    // MS-SMB2 3.3.5.5.3: key lengths follow the negotiated cipher.
                    let keys = crypto::derive_session_keys(n.dialect, &key, &preauth, n.cipher);
                    let alg = n
                        .signing_algorithm
                        .unwrap_or(crypto::SigningAlgorithm::HmacSha256);
                    signing_key = Some(crypto::SigningKey::new(alg, &keys.signing));
                    if let Some(c) = n.cipher {
                        if let (Some(e), Some(d)) = (
                            crypto::CipherKey::new(c, &keys.encryption),
                            crypto::CipherKey::new(c, &keys.decryption),
                        ) {
                            session_crypto = Some(Arc::new(SessionCrypto::new(e, d)));
                        }
                    }
                }
                (Identity::Guest, _) => flags |= SESSION_FLAG_IS_GUEST,
                (Identity::Anonymous, _) => flags |= SESSION_FLAG_IS_NULL,
                (Identity::User { .. }, None) => {}
            }
            if signing_key.is_none()
                && server.config.signing == SigningPolicy::Mandatory
                && identity != Identity::Anonymous
            {
                // A guest logon cannot sign, and the server requires signing.
                lock(&req.conn.sessions).remove(&session.id);
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            // Session.EncryptData (3.3.5.5.3): desired or required encryption
            // for a client that can encrypt; required refuses one that cannot.
            let encrypt_data = match server.config.encryption {
                EncryptionPolicy::Desired | EncryptionPolicy::Required => session_crypto.is_some(),
                _ => false,
            };
            if server.config.encryption == EncryptionPolicy::Required && session_crypto.is_none() {
                lock(&req.conn.sessions).remove(&session.id);
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            if encrypt_data {
                flags |= SESSION_FLAG_ENCRYPT_DATA;
            }
            let unix = unix_identity(server, &identity, &user_name);
            let mut reauth_keep = None;
            log::info!(
                "conn {} ({}): session {:#x} logged on as {:?}",
                req.conn.id,
                req.conn.peer,
                session.id,
                if user_name.is_empty() {
                    "anonymous"
                } else {
                    &user_name
                }
            );
            if !reauth && r.previous_session_id != 0 && r.previous_session_id != session.id {
                end_previous_session(req, session.id, r.previous_session_id, &identity);
            }
            // MS-SMB2 3.3.5.5.3: re-authentication changes the session's user,
            // never its keys (the client keeps using the ones it has).
            if reauth {
                let st = lock(&session.state);
                if let AuthState::Valid(old) = &*st {
                    signing_key = old.signing_key.clone();
                    session_crypto = old.crypto.clone();
                    flags &= !SESSION_FLAG_ENCRYPT_DATA;
                    if old.encrypt_data {
                        flags |= SESSION_FLAG_ENCRYPT_DATA;
                    }
                    reauth_keep = Some((old.session_key, old.signing_required, old.encrypt_data));
                }
            }
            let has_key = signing_key.is_some();
            let (session_key, signing_required, encrypt_data) = match reauth_keep {
                Some(k) => k,
                None => (
                    session_key.unwrap_or([0; 16]),
                    signing_required && has_key,
                    encrypt_data,
                ),
            };
            *lock(&session.state) = AuthState::Valid(Box::new(SessionAuth {
                identity,
                unix,
                user_name,
                signing_key,
                session_key,
                signing_required,
                crypto: session_crypto,
                encrypt_data,
            }));
            encode_session_setup_response(out, flags, &token);
            // 3.3.5.5.3: the final response is signed for 3.1.1, and whenever signing is required.
            req.session = Some(session);
            req.never_sign = false;
            req.force_sign = has_key && (n.dialect == dialect::SMB3_11 || signing_required);
            Ok(NtStatus::SUCCESS)
        }
    }
}

/// MS-SMB2 3.3.5.5.3: a client that reconnects names its previous session;
/// when the same user owned it, that session ends with its opens, on
/// whichever connection it lives.
fn end_previous_session(req: &Request<'_>, new_id: u64, id: u64, identity: &Identity) {
    let Some((old, pending)) = req.server.global_session(id) else {
        return;
    };
    let same_user = match &*lock(&old.state) {
        AuthState::Valid(a) => a.identity == *identity,
        _ => false,
    };
    if !same_user {
        return;
    }
    log::info!(
        "conn {} ({}): session {new_id:#x} replaces previous session {id:#x}",
        req.conn.id,
        req.conn.peer,
    );
    lock(&req.conn.sessions).remove(&id);
    end_session(req.server, &pending, &old, AuthState::Deleted);
}

/// Ends a session (already out of its connection's table) with everything
/// it held, leaving it in `state`: its byte-range locks first (a lock
/// waiting in the session is then granted, as on Windows), its pending
/// operations (MS-SMB2 3.3.5.6), then its opens.
fn end_session(server: &Server, pending: &AsyncTable, session: &Session, state: AuthState) {
    *lock(&session.state) = state;
    crate::smb2::lock::release_locks_of(server, lock(&session.opens).values().map(|o| o.as_ref()));
    pending.close_session(session.id);
    crate::smb2::close::close_session_opens(server, session);
}

/// The local account file operations run as: the Unix user of the same
/// name, else the guest account; None when the server cannot switch (not root).
fn unix_identity(server: &Server, identity: &Identity, user: &str) -> Option<vfs::Identity> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let by_name = match identity {
        Identity::User { .. } => vfs::lookup_unix_user(user),
        _ => None,
    };
    by_name.or_else(|| vfs::lookup_unix_user(&server.config.guest_account))
}

pub fn logoff(req: &mut Request<'_>, out: &mut Vec<u8>) -> HandlerResult {
    parse_empty_request(req.msg)?;
    let session = req.session()?.clone();
    if let AuthState::Valid(a) = &*lock(&session.state) {
        if req.hdr.is_signed() || a.signing_required {
            req.sign_with = a.signing_key.clone();
        }
    }
    lock(&req.conn.sessions).remove(&session.id);
    end_session(req.server, &req.conn.pending, &session, AuthState::Expired);
    encode_empty_response(out);
    Ok(NtStatus::SUCCESS)
}
