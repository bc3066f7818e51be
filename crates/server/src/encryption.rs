//! SMB3 encryption on the wire (MS-SMB2 3.3.5.2.1.1 decrypting a request,
//! 3.3.4.1.4 encrypting a response): the TRANSFORM_HEADER envelope around a
//! whole (possibly compound) message, decrypted and encrypted in place.

use std::sync::Arc;

use wire::transform::{
    TransformHeader, AAD_OFFSET, TRANSFORM_FLAG_ENCRYPTED, TRANSFORM_HEADER_LEN,
};

use crate::dispatch::{self, Error};
use crate::state::{lock, AuthState, Connection, Server, Session, SessionCrypto};

/// The encryption keys of a session, if it has them.
pub fn session_crypto(session: &Session) -> Option<Arc<SessionCrypto>> {
    match &*lock(&session.state) {
        AuthState::Valid(a) => a.crypto.clone(),
        _ => None,
    }
}

/// Decrypts a transformed message, processes what it carries, and returns
/// the response encrypted for the same session, its TRANSFORM_HEADER in
/// `transform`. Anything wrong with the
/// envelope ends the connection, as MS-SMB2 3.3.5.2.1.1 requires.
pub fn process_encrypted(
    server: &Server,
    conn: &Connection,
    frame: &mut [u8],
    went_async: &mut Vec<u64>,
    transform: &mut Option<[u8; TRANSFORM_HEADER_LEN]>,
) -> Result<Option<Vec<u8>>, Error> {
    let opened = open(conn, frame)?;
    process_opened(server, conn, frame, &opened, went_async, transform)
}

/// A transformed request decrypted in place: its SMB2 message follows the
/// TRANSFORM_HEADER in the frame, and its response goes back encrypted with
/// the same session's keys.
pub struct Opened {
    session_id: u64,
    keys: Arc<SessionCrypto>,
}

/// Checks the TRANSFORM_HEADER and decrypts the message after it in place
/// (MS-SMB2 3.3.5.2.1.1); any failure ends the connection.
pub fn open(conn: &Connection, frame: &mut [u8]) -> Result<Opened, Error> {
    let th = TransformHeader::parse(frame).map_err(|_| Error::Disconnect)?;
    if th.flags != TRANSFORM_FLAG_ENCRYPTED {
        return Err(Error::Disconnect);
    }
    let n = conn.limits().ok_or(Error::Disconnect)?;
    if n.dialect < crate::config::dialect::SMB3_00 {
        return Err(Error::Disconnect);
    }
    let body_len = frame.len().saturating_sub(TRANSFORM_HEADER_LEN);
    if th.original_message_size as usize != body_len || body_len < wire::header::HEADER_LEN {
        return Err(Error::Disconnect);
    }
    let session = conn.session(th.session_id).ok_or(Error::Disconnect)?;
    let keys = session_crypto(&session).ok_or(Error::Disconnect)?;
    let nonce_len = keys.decryptor.cipher().nonce_len();
    let (head, body) = frame.split_at_mut(TRANSFORM_HEADER_LEN);
    let aad = head
        .get(AAD_OFFSET..TRANSFORM_HEADER_LEN)
        .ok_or(Error::Disconnect)?;
    let nonce = th.nonce.get(..nonce_len).ok_or(Error::Disconnect)?;
    if !keys
        .decryptor
        .decrypt_in_place(nonce, aad, body, &th.signature)
    {
        log::debug!("conn {}: a message failed to decrypt", conn.id);
        return Err(Error::Disconnect);
    }
    Ok(Opened {
        session_id: th.session_id,
        keys,
    })
}

/// Processes the message `open` decrypted in `frame` and encrypts the
/// response, its TRANSFORM_HEADER in `transform`.
pub fn process_opened(
    server: &Server,
    conn: &Connection,
    frame: &mut [u8],
    opened: &Opened,
    went_async: &mut Vec<u64>,
    transform: &mut Option<[u8; TRANSFORM_HEADER_LEN]>,
) -> Result<Option<Vec<u8>>, Error> {
    let body = frame
        .get_mut(TRANSFORM_HEADER_LEN..)
        .ok_or(Error::Disconnect)?;
    match dispatch::process_smb2_with(
        server,
        conn,
        body,
        Some(opened.session_id),
        went_async,
        &mut None,
    )? {
        Some(mut msg) => {
            *transform = Some(seal(&opened.keys, opened.session_id, &mut msg)?);
            Ok(Some(msg))
        }
        None => Ok(None),
    }
}

/// Encrypts a response message in place and returns the TRANSFORM_HEADER
/// that must precede it on the wire: the payload is never copied.
pub fn seal(
    keys: &SessionCrypto,
    session_id: u64,
    msg: &mut [u8],
) -> Result<[u8; TRANSFORM_HEADER_LEN], Error> {
    let cipher = keys.encryptor.cipher();
    let mut nonce = keys.next_nonce();
    if let Some(rest) = nonce.get_mut(cipher.nonce_len()..) {
        rest.fill(0);
    }
    let th = TransformHeader {
        signature: [0; 16],
        nonce,
        original_message_size: u32::try_from(msg.len()).map_err(|_| Error::Disconnect)?,
        flags: TRANSFORM_FLAG_ENCRYPTED,
        session_id,
    };
    let mut out = th.to_bytes();
    let aad = out
        .get(AAD_OFFSET..TRANSFORM_HEADER_LEN)
        .ok_or(Error::Disconnect)?;
    let tag = keys
        .encryptor
        .encrypt_in_place(nonce.get(..cipher.nonce_len()).unwrap_or(&[]), aad, msg)
        .ok_or(Error::Disconnect)?;
    if let Some(sig) = out.get_mut(4..20) {
        sig.copy_from_slice(&tag);
    }
    Ok(out)
}

/// Wraps a response message in a TRANSFORM_HEADER as one buffer (for the
/// small final responses of async operations).
pub fn encrypt(keys: &SessionCrypto, session_id: u64, mut msg: Vec<u8>) -> Result<Vec<u8>, Error> {
    let head = seal(keys, session_id, &mut msg)?;
    let mut out = Vec::with_capacity(TRANSFORM_HEADER_LEN + msg.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&msg);
    Ok(out)
}
