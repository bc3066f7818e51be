//! From one received SMB2 message (possibly a compound chain) to the bytes of
//! its response: message ids and credits, session/tree resolution, signature
//! checks and the per-command preconditions, then one handler per command.
//! MS-SMB2 3.3.5.2 (receiving any message) and 3.3.5.2.7 (compounding).

use std::cell::Cell;
use std::sync::Arc;

use wire::create::FileId;
use wire::header::{
    self, Header, FLAGS_ASYNC_COMMAND, FLAGS_RELATED_OPERATIONS, FLAGS_SERVER_TO_REDIR,
    FLAGS_SIGNED, HEADER_LEN,
};
use wire::{Command, NtStatus};

use crate::pending::{Completer, OnCancel, Registration, Route};
use crate::smb2;
use crate::state::{lock, AuthState, Connection, Server, Session, TreeConnect};

/// How a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Answer with an error response carrying this status.
    Status(NtStatus),
    /// Drop the connection (malformed framing, bad message id, failed validation).
    Disconnect,
}

impl From<NtStatus> for Error {
    fn from(s: NtStatus) -> Self {
        Error::Status(s)
    }
}

impl From<wire::WireError> for Error {
    fn from(e: wire::WireError) -> Self {
        Error::Status(NtStatus::from(&e))
    }
}

pub type HandlerResult = Result<NtStatus, Error>;

/// Which preauth integrity hash must absorb the response once its header is final.
pub enum PostHash {
    Connection,
    Session(Arc<Session>),
}

/// One compound element being processed.
pub struct Request<'a> {
    pub server: &'a Server,
    pub conn: &'a Connection,
    pub hdr: Header,
    /// This element's bytes, starting at its SMB2 header.
    pub msg: &'a [u8],
    pub session: Option<Arc<Session>>,
    pub tree: Option<Arc<TreeConnect>>,
    /// FileId of the last CREATE in a related chain.
    pub related_file_id: Option<FileId>,
    /// Status of a failed CREATE earlier in a related chain.
    pub related_create_error: Option<NtStatus>,
    /// The open this element resolved (passed on to related elements).
    pub resolved_file_id: Cell<Option<FileId>>,
    /// Set by `go_async`: the element answers STATUS_PENDING with this AsyncId.
    pub async_id: Option<u64>,
    // Outputs the dispatcher puts into the response header.
    pub resp_session_id: u64,
    pub resp_tree_id: u32,
    pub created_file_id: Option<FileId>,
    pub post_hash: Option<PostHash>,
    /// Sign the response with this session even if the request was not signed.
    pub force_sign: bool,
    /// Do not sign the response (NEGOTIATE, unfinished SESSION_SETUP).
    pub never_sign: bool,
    /// Sign with this key whatever the session's state is now (LOGOFF).
    pub sign_with: Option<crypto::SigningKey>,
    /// The only element of its message (no compound).
    pub single: bool,
    /// READ data to send from the file after the response (sendfile).
    pub file_tail: Option<FileTail>,
    /// The session whose keys decrypted this message, if it was encrypted.
    pub encrypted: Option<u64>,
}

impl Request<'_> {
    /// Resolves a FileId, honouring the related-compound placeholder.
    pub fn resolve_file_id(&self, id: FileId) -> Result<FileId, Error> {
        if id == FileId::RELATED {
            if let Some(f) = self.related_file_id {
                return Ok(f);
            }
            if let Some(e) = self.related_create_error {
                return Err(Error::Status(e));
            }
            return Err(Error::Status(NtStatus::FILE_CLOSED));
        }
        Ok(id)
    }

    /// Makes this element asynchronous (MS-SMB2 3.3.4.2): registers it in
    /// the connection's table and returns the handle its waiter completes it
    /// with. The handler then returns `Ok(NtStatus::PENDING)`; the dispatcher
    /// sends the interim response. `file` is the open it waits on, and
    /// `close_status` the status it ends with when that open is closed.
    pub fn go_async(
        &mut self,
        file: Option<FileId>,
        close_status: NtStatus,
        on_cancel: Option<OnCancel>,
    ) -> Result<Completer, Error> {
        let reg = Registration {
            message_id: self.hdr.message_id,
            command: self.hdr.command,
            credit_charge: self.hdr.credit_charge,
            session_id: self.resp_session_id,
            tree_id: self.resp_tree_id,
            file: file.map(|f| f.volatile),
            close_status,
            on_cancel,
        };
        let c = self.conn.pending.register(reg)?;
        self.async_id = Some(c.async_id());
        Ok(c)
    }

    pub fn session(&self) -> Result<&Arc<Session>, Error> {
        self.session
            .as_ref()
            .ok_or(Error::Status(NtStatus::USER_SESSION_DELETED))
    }

    pub fn tree(&self) -> Result<&Arc<TreeConnect>, Error> {
        self.tree
            .as_ref()
            .ok_or(Error::Status(NtStatus::NETWORK_NAME_DELETED))
    }

    pub fn dialect(&self) -> u16 {
        lock(&self.conn.negotiated)
            .as_ref()
            .map(|n| n.dialect)
            .unwrap_or(0)
    }
}

/// Preconditions of each command (MS-SMB2 3.3.5.2.9 and the per-command sections).
struct Row {
    needs_session: bool,
    needs_tree: bool,
}

fn row(cmd: Command) -> Option<Row> {
    let (needs_session, needs_tree) = match cmd {
        Command::NEGOTIATE => (false, false),
        Command::SESSION_SETUP => (false, false),
        Command::LOGOFF => (true, false),
        Command::TREE_CONNECT => (true, false),
        Command::TREE_DISCONNECT => (true, true),
        Command::CREATE
        | Command::CLOSE
        | Command::FLUSH
        | Command::READ
        | Command::WRITE
        | Command::LOCK
        | Command::IOCTL
        | Command::QUERY_DIRECTORY
        | Command::CHANGE_NOTIFY
        | Command::QUERY_INFO
        | Command::SET_INFO => (true, true),
        Command::CANCEL => (false, false),
        Command::ECHO => (false, false),
        Command::OPLOCK_BREAK => (true, true),
        _ => return None,
    };
    Some(Row {
        needs_session,
        needs_tree,
    })
}

/// Processes one SMB2 message; returns the response message (compound
/// elements already chained and signed), or None when nothing is sent.
/// Operations that went async are armed at once (see `process_smb2_with`).
pub fn process_smb2(
    server: &Server,
    conn: &Connection,
    buf: &[u8],
) -> Result<Option<Vec<u8>>, Error> {
    let mut went_async = Vec::new();
    let mut tail = None;
    let r = process_smb2_with(server, conn, buf, None, &mut went_async, &mut tail);
    conn.pending.arm(&went_async);
    let mut r = r?;
    if let (Some(t), Some(msg)) = (tail, r.as_mut()) {
        t.append_to(msg)?;
    }
    Ok(r)
}

/// READ data the transport sends straight from the file after the response
/// bytes (sendfile): the response already carries its DataLength.
pub struct FileTail {
    pub open: Arc<crate::state::Open>,
    pub offset: u64,
    pub len: usize,
}

impl FileTail {
    /// Reads the data into `msg` instead (signed, encrypted or compound
    /// responses, and callers that want whole messages). A file that shrank
    /// meanwhile is padded with zeros so DataLength stays true.
    pub fn append_to(&self, msg: &mut Vec<u8>) -> Result<(), Error> {
        let h = self
            .open
            .handle()
            .ok_or(Error::Status(NtStatus::FILE_CLOSED))?;
        let start = msg.len();
        let got = h
            .read_append(msg, self.len, self.offset)
            .map_err(|e| Error::Status(crate::errno::to_status(e)))?;
        if got < self.len {
            msg.resize(start + self.len, 0);
        }
        Ok(())
    }
}

/// Per-chain state carried from one compound element to the next
/// (MS-SMB2 3.3.5.2.7.2): what a related element inherits.
#[derive(Default)]
struct Chain {
    /// Session and tree the previous element resolved; 0 when it resolved none.
    session: u64,
    tree: u32,
    file_id: Option<FileId>,
    create_error: Option<NtStatus>,
}

/// As `process_smb2`; `encrypted` names the session whose keys decrypted the
/// message, if it arrived in a transform (its response is then encrypted by
/// the caller). The AsyncIds of elements that went async are appended to
/// `went_async`: the caller arms them (`AsyncTable::arm`) once the response
/// carrying their interim answers is queued, so no final response overtakes it.
pub fn process_smb2_with(
    server: &Server,
    conn: &Connection,
    buf: &[u8],
    encrypted: Option<u64>,
    went_async: &mut Vec<u64>,
    tail: &mut Option<FileTail>,
) -> Result<Option<Vec<u8>>, Error> {
    let elements = header::split_compound(buf).map_err(|_| Error::Disconnect)?;
    let count = elements.len();
    let mut headers = Vec::with_capacity(count);
    for msg in &elements {
        headers.push(Header::parse(msg).map_err(|_| Error::Disconnect)?);
    }
    // CANCEL is answered by nobody (MS-SMB2 3.3.5.16), so the element before
    // the last non-CANCEL one is the last to carry NextCommand.
    let last_answered = headers.iter().rposition(|h| h.command() != Command::CANCEL);
    let mut out: Vec<u8> = Vec::new();
    let mut chain = Chain::default();
    for (i, (msg, hdr)) in elements.into_iter().zip(headers).enumerate() {
        if hdr.command() == Command::CANCEL {
            // MS-SMB2 3.3.5.16: no response and no credits.
            conn.pending.cancel(&hdr);
            continue;
        }
        let related = hdr.flags & FLAGS_RELATED_OPERATIONS != 0;
        let (session_id, tree_id) = if related {
            (chain.session, chain.tree)
        } else {
            chain.file_id = None;
            chain.create_error = None;
            (hdr.session_id, hdr.tree_id)
        };
        let mut req = Request {
            server,
            conn,
            hdr: hdr.clone(),
            msg,
            session: None,
            tree: None,
            related_file_id: chain.file_id,
            related_create_error: chain.create_error,
            resolved_file_id: Cell::new(None),
            async_id: None,
            resp_session_id: session_id,
            resp_tree_id: tree_id,
            created_file_id: None,
            post_hash: None,
            force_sign: false,
            never_sign: false,
            sign_with: None,
            single: count == 1,
            file_tail: None,
            encrypted,
        };
        let mut body = Vec::with_capacity(HEADER_LEN + 128);
        body.resize(HEADER_LEN, 0);
        let result = if related && conn.session(session_id).is_none() {
            // A related element names no session of its own: without one
            // resolved by the element before it the request is malformed (as
            // Windows and Samba answer). Its message id is still used up.
            consume_message_id(&req).and(Err(Error::Status(NtStatus::INVALID_PARAMETER)))
        } else {
            run_element(&mut req, session_id, tree_id, &mut body)
        };
        let status = match result {
            Ok(s) => s,
            Err(Error::Disconnect) => return Err(Error::Disconnect),
            Err(Error::Status(s)) => {
                if let Some(id) = req.async_id.take() {
                    conn.pending.forget(id);
                }
                body.truncate(HEADER_LEN);
                wire::error::encode_error_response(&mut body, &[]);
                s
            }
        };
        if hdr.command() == Command::CREATE {
            match req.created_file_id {
                Some(f) => {
                    chain.file_id = Some(f);
                    chain.create_error = None;
                }
                None => {
                    chain.file_id = None;
                    chain.create_error = Some(status);
                }
            }
        } else if let Some(f) = req.resolved_file_id.get() {
            // Any element that used an open passes it on (as Windows does).
            chain.file_id = Some(f);
            chain.create_error = None;
        }
        chain.session = if conn.session(req.resp_session_id).is_some() {
            req.resp_session_id
        } else {
            0
        };
        chain.tree = match conn.session(chain.session) {
            Some(s) if s.tree(req.resp_tree_id).is_some() => req.resp_tree_id,
            _ => 0,
        };
        // Credits are granted on every response, at least one (3.3.1.2).
        let granted = lock(&conn.credits).grant(hdr.credits, hdr.credit_charge);
        let mut flags = FLAGS_SERVER_TO_REDIR | (hdr.flags & FLAGS_RELATED_OPERATIONS);
        // An encrypted response carries no signature (3.3.4.1.1).
        let sign_key = if req.never_sign || encrypted.is_some() {
            None
        } else {
            req.sign_with
                .take()
                .or_else(|| response_signing_key(&req, &hdr))
        };
        if sign_key.is_some() {
            flags |= FLAGS_SIGNED;
        }
        if let Some(t) = req.file_tail.take() {
            if sign_key.is_none() && encrypted.is_none() && count == 1 {
                *tail = Some(t);
            } else {
                t.append_to(&mut body)?;
            }
        }
        let async_id = match req.async_id {
            Some(id) => {
                // The interim answer is an ERROR response body (MS-SMB2 2.2.2).
                body.truncate(HEADER_LEN);
                wire::error::encode_error_response(&mut body, &[]);
                // MS-SMB2 3.3.4.2: the interim response names the AsyncId the
                // final one and CANCEL will use.
                flags |= FLAGS_ASYNC_COMMAND;
                let encrypt = encrypted.and_then(|sid| {
                    let s = conn.session(sid)?;
                    Some((crate::encryption::session_crypto(&s)?, sid))
                });
                conn.pending.set_route(
                    id,
                    Route {
                        sign: sign_key.clone(),
                        encrypt,
                    },
                );
                went_async.push(id);
                id
            }
            None => 0,
        };
        // Every element of a compound response, the last one included, is
        // padded to 8 bytes (3.3.4.1.3); a single response is not.
        if count > 1 {
            let pad = (8 - body.len() % 8) % 8;
            body.resize(body.len() + pad, 0);
        }
        let next_command = if Some(i) != last_answered && count > 1 {
            u32::try_from(body.len()).map_err(|_| Error::Disconnect)?
        } else {
            0
        };
        let rh = Header {
            credit_charge: hdr.credit_charge,
            status: status.0,
            command: hdr.command,
            credits: granted,
            flags,
            next_command,
            message_id: hdr.message_id,
            async_id,
            process_id: hdr.process_id,
            tree_id: req.resp_tree_id,
            session_id: req.resp_session_id,
            signature: [0; 16],
        };
        let mut h = Vec::with_capacity(HEADER_LEN);
        rh.encode(&mut h);
        if let Some(dst) = body.get_mut(..HEADER_LEN) {
            dst.copy_from_slice(&h);
        }
        match req.post_hash.take() {
            Some(PostHash::Connection) => {
                if let Some(n) = lock(&conn.negotiated).as_mut() {
                    crypto::preauth_hash_update(&mut n.preauth_hash, &body);
                }
            }
            Some(PostHash::Session(s)) => {
                crypto::preauth_hash_update(&mut lock(&s.preauth_hash), &body);
            }
            None => {}
        }
        if let Some(key) = sign_key {
            if let Some(sig) = key.sign(&body) {
                header::set_signature(&mut body, &sig);
            }
        }
        if out.is_empty() {
            // The common single-element case: no copy of the body.
            out = body;
        } else {
            out.extend_from_slice(&body);
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(out))
}

/// The key to sign a response with (MS-SMB2 3.3.4.1.1): the request was
/// signed, or the session requires signing, or the handler asks for it.
fn response_signing_key(req: &Request<'_>, hdr: &Header) -> Option<crypto::SigningKey> {
    let session = req.session.as_ref()?;
    let st = lock(&session.state);
    let AuthState::Valid(a) = &*st else {
        return None;
    };
    let key = a.signing_key.as_ref()?;
    if hdr.flags & FLAGS_SIGNED != 0 || a.signing_required || req.force_sign {
        Some(key.clone())
    } else {
        None
    }
}

fn run_element(
    req: &mut Request<'_>,
    session_id: u64,
    tree_id: u32,
    out: &mut Vec<u8>,
) -> HandlerResult {
    let cmd = req.hdr.command();
    let negotiated = lock(&req.conn.negotiated).is_some();
    consume_message_id(req)?;
    if !negotiated && cmd != Command::NEGOTIATE {
        return Err(Error::Disconnect);
    }
    let Some(row) = row(cmd) else {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    };
    if negotiated && req.dialect() > wire_dialect::SMB2_02 {
        check_credit_charge(req)?;
    }
    // Session (3.3.5.2.9).
    if row.needs_session || (cmd == Command::SESSION_SETUP && session_id != 0) {
        let session = req
            .conn
            .session(session_id)
            .ok_or(Error::Status(NtStatus::USER_SESSION_DELETED))?;
        if row.needs_session {
            match &*lock(&session.state) {
                AuthState::Valid(_) => {}
                AuthState::Expired => return Err(Error::Status(NtStatus::NETWORK_SESSION_EXPIRED)),
                AuthState::InProgress(_) | AuthState::Deleted => {
                    return Err(Error::Status(NtStatus::USER_SESSION_DELETED))
                }
            }
        }
        req.session = Some(session);
    }
    // An encrypted message names the session that decrypted it (3.3.5.2.1.1).
    if let Some(enc) = req.encrypted {
        if session_id != 0 && session_id != enc {
            return Err(Error::Disconnect);
        }
    }
    // Signature (3.3.5.2.4); an encrypted message needs none. A session that
    // must encrypt refuses plain requests (3.3.5.2.9), a re-authenticating
    // SESSION_SETUP included: a plain one would let anyone on the path
    // replace the session's user. An unsigned re-authentication is accepted
    // (clients send them; Samba accepts them): it cannot change the keys.
    if let Some(session) = &req.session {
        let st = lock(&session.state);
        if let AuthState::Valid(a) = &*st {
            if req.encrypted.is_none() && a.encrypt_data {
                return Err(Error::Status(NtStatus::ACCESS_DENIED));
            }
            if let (Some(key), None) = (&a.signing_key, req.encrypted) {
                if req.hdr.flags & FLAGS_SIGNED != 0 {
                    if !key.verify(req.msg) {
                        log::debug!("conn {}: bad signature on {:?}", req.conn.id, cmd);
                        return Err(Error::Status(NtStatus::ACCESS_DENIED));
                    }
                } else if a.signing_required && cmd != Command::SESSION_SETUP {
                    return Err(Error::Status(NtStatus::ACCESS_DENIED));
                }
            }
        }
    }
    // Tree connect (3.3.5.2.11).
    if row.needs_tree {
        let session = req.session()?;
        let tree = session
            .tree(tree_id)
            .ok_or(Error::Status(NtStatus::NETWORK_NAME_DELETED))?;
        // 3.3.5.2.11: a tree that must encrypt refuses plain requests.
        if tree.encrypt_data && req.encrypted.is_none() {
            return Err(Error::Status(NtStatus::ACCESS_DENIED));
        }
        req.tree = Some(tree);
    }
    // File operations run as the Unix identity the user maps to (the share's
    // `force user`/`force group` first), on this thread only, until the handler returns.
    // Reading an open file descriptor needs no identity (access was checked
    // when it was opened), nor do commands that touch no file: they skip the
    // switch and its system calls. WRITE keeps it: the kernel clears set-user-ID
    // bits on a write only when the writer is not privileged.
    let needs_identity = !matches!(
        cmd,
        Command::READ | Command::FLUSH | Command::LOCK | Command::ECHO | Command::CANCEL
    );
    let _identity = needs_identity
        .then(|| unix_identity(req))
        .flatten()
        .map(|id| vfs::become_identity(&id));
    match cmd {
        Command::NEGOTIATE => smb2::negotiate::handle(req, out),
        Command::SESSION_SETUP => smb2::session_setup::handle(req, out),
        Command::LOGOFF => smb2::session_setup::logoff(req, out),
        Command::TREE_CONNECT => smb2::tree_connect::handle(req, out),
        Command::TREE_DISCONNECT => smb2::tree_connect::disconnect(req, out),
        Command::CREATE => smb2::create::handle(req, out),
        Command::CLOSE => smb2::close::handle(req, out),
        Command::FLUSH => smb2::flush::handle(req, out),
        Command::READ => smb2::read::handle(req, out),
        Command::WRITE => smb2::write::handle(req, out),
        Command::LOCK => smb2::lock::handle(req, out),
        Command::IOCTL => smb2::ioctl::handle(req, out),
        Command::ECHO => {
            wire::echo::parse_empty_request(req.msg)?;
            wire::echo::encode_empty_response(out);
            Ok(NtStatus::SUCCESS)
        }
        Command::QUERY_DIRECTORY => smb2::query_directory::handle(req, out),
        Command::CHANGE_NOTIFY => smb2::change_notify::handle(req, out),
        Command::QUERY_INFO => smb2::query_info::handle(req, out),
        Command::SET_INFO => smb2::set_info::handle(req, out),
        Command::OPLOCK_BREAK => smb2::oplock_break::handle(req, out),
        _ => Err(Error::Status(NtStatus::INVALID_PARAMETER)),
    }
}

/// Uses up the element's message ids (MS-SMB2 3.3.5.2.3, 3.3.5.2.5); an id
/// outside the window or used before ends the connection.
fn consume_message_id(req: &Request<'_>) -> Result<(), Error> {
    let negotiated = lock(&req.conn.negotiated).is_some();
    let charge = if negotiated && req.dialect() > wire_dialect::SMB2_02 {
        req.hdr.credit_charge
    } else {
        1
    };
    if !lock(&req.conn.credits).consume(req.hdr.message_id, charge) {
        log::debug!(
            "conn {}: message id {} outside the credit window",
            req.conn.id,
            req.hdr.message_id
        );
        return Err(Error::Disconnect);
    }
    Ok(())
}

pub(crate) fn unix_identity(req: &Request<'_>) -> Option<vfs::Identity> {
    let session = req.session.as_ref()?;
    let base = match &*lock(&session.state) {
        AuthState::Valid(a) => a.unix.clone(),
        _ => None,
    }?;
    let Some(tree) = req.tree.as_ref() else {
        return Some(base);
    };
    let mut id = tree.force_user.clone().unwrap_or(base);
    if let Some(g) = tree.force_gid {
        id.gid = g;
    }
    Some(id)
}

mod wire_dialect {
    pub const SMB2_02: u16 = 0x0202;
}

/// MS-SMB2 3.3.5.2.5: a multi-credit request must carry enough CreditCharge
/// for its payload and its expected response.
fn check_credit_charge(req: &Request<'_>) -> Result<(), Error> {
    use wire::reader::Reader;
    let msg = req.msg;
    let size = |at: usize| -> u64 {
        Reader::at(msg, at)
            .and_then(|mut r| r.u32())
            .map(u64::from)
            .unwrap_or(0)
    };
    let payload = match req.hdr.command() {
        Command::READ => size(HEADER_LEN + 4),
        Command::WRITE => size(HEADER_LEN + 4),
        Command::IOCTL => size(HEADER_LEN + 28).max(size(HEADER_LEN + 44)),
        Command::QUERY_DIRECTORY => size(HEADER_LEN + 28),
        _ => return Ok(()),
    };
    let needed = if payload == 0 {
        1
    } else {
        (payload - 1) / 65536 + 1
    };
    let charge = u64::from(req.hdr.credit_charge.max(1));
    if charge < needed {
        return Err(Error::Status(NtStatus::INVALID_PARAMETER));
    }
    Ok(())
}
