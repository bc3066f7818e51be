//! Asynchronous operations of one connection (MS-SMB2 3.3.4.2 sending an
//! interim response, 3.3.5.16 CANCEL, 3.3.1.1 Connection.AsyncCommandList).
//!
//! A handler that must wait (change notify, a blocking byte-range lock, an
//! oplock break) calls `Request::go_async`: the operation is registered
//! here, the dispatcher answers STATUS_PENDING with its AsyncId, and the
//! waiter later calls `Completer::complete` from any thread. CANCEL, CLOSE of
//! the open it waits on, TREE_DISCONNECT, LOGOFF and the end of the
//! connection end it instead.
//!
//! ```text
//!  register ──► unarmed ──(interim queued)──► armed ──► final response sent
//!                  │ complete/cancel                 │ complete/cancel
//!                  └► result kept, sent when armed ◄─┘
//! ```
//!
//! An operation is armed only after its interim response is queued for the
//! socket, so a final response can never overtake its interim one.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use wire::header::{Header, FLAGS_ASYNC_COMMAND, FLAGS_SERVER_TO_REDIR, FLAGS_SIGNED, HEADER_LEN};
use wire::NtStatus;

use crate::credits::MAX_CREDITS;
use crate::state::{lock, SessionCrypto};

/// Where framed response bytes go: the connection's writer.
pub type Sink = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// Called once when an operation ends other than through its `Completer`
/// (cancelled, its open closed, its session or tree gone, connection lost),
/// so the waiter can drop its registration.
pub type OnCancel = Box<dyn FnOnce() + Send>;

/// How the final response is protected: signed with this key, or encrypted
/// for this session, as the request was (MS-SMB2 3.3.4.1.1, 3.3.4.1.4).
#[derive(Clone, Default)]
pub struct Route {
    pub sign: Option<crypto::SigningKey>,
    pub encrypt: Option<(Arc<SessionCrypto>, u64)>,
}

/// What identifies a waiting request and where it hangs.
pub struct Registration {
    pub message_id: u64,
    pub command: u16,
    pub credit_charge: u16,
    pub session_id: u64,
    pub tree_id: u32,
    /// Volatile FileId of the open the operation waits on, if any.
    pub file: Option<u64>,
    /// Status of the final response when that open is closed (STATUS_NOTIFY_CLEANUP for notify).
    pub close_status: NtStatus,
    pub on_cancel: Option<OnCancel>,
}

struct Op {
    reg: Registration,
    route: Route,
    armed: bool,
    /// A final result that arrived before the interim response was queued.
    result: Option<(NtStatus, Vec<u8>)>,
}

struct Inner {
    next_id: AtomicU64,
    ops: Mutex<HashMap<u64, Op>>,
    sink: Mutex<Option<Sink>>,
    /// MessageIds of synchronous CANCELs that found no waiting request: the
    /// request may still be queued behind others on the connection, and is
    /// cancelled as soon as it goes async (a client may cancel at once).
    early_cancels: Mutex<VecDeque<u64>>,
}

/// How many early CANCELs are remembered; older ones are forgotten.
const MAX_EARLY_CANCELS: usize = 32;

/// The connection's table of pending asynchronous operations.
pub struct AsyncTable {
    inner: Arc<Inner>,
}

impl Default for AsyncTable {
    fn default() -> Self {
        AsyncTable {
            inner: Arc::new(Inner {
                next_id: AtomicU64::new(1),
                ops: Mutex::new(HashMap::new()),
                sink: Mutex::new(None),
                early_cancels: Mutex::new(VecDeque::new()),
            }),
        }
    }
}

/// Completes one operation from any thread; does nothing once the operation
/// has ended (cancelled, cleaned up) or the connection is gone.
#[derive(Clone)]
pub struct Completer {
    inner: Weak<Inner>,
    async_id: u64,
}

impl Completer {
    pub fn async_id(&self) -> u64 {
        self.async_id
    }

    /// Whether the operation still waits (not cancelled, not completed, connection up).
    pub fn is_live(&self) -> bool {
        self.inner.upgrade().is_some_and(|i| {
            lock(&i.ops)
                .get(&self.async_id)
                .is_some_and(|op| op.result.is_none())
        })
    }

    /// Sends the final response with this status and response body (the
    /// command's body without the header). Returns false if the operation
    /// had already ended.
    pub fn complete(&self, status: NtStatus, body: Vec<u8>) -> bool {
        let Some(inner) = self.inner.upgrade() else {
            return false;
        };
        let sent = {
            let mut ops = lock(&inner.ops);
            let Some(op) = ops.get_mut(&self.async_id) else {
                return false;
            };
            if !op.armed {
                if op.result.is_none() {
                    op.result = Some((status, body));
                }
                return true;
            }
            ops.remove(&self.async_id)
        };
        if let Some(op) = sent {
            inner.send(self.async_id, &op, status, &body);
        }
        true
    }
}

/// Why operations are being ended in bulk.
#[derive(Clone, Copy)]
enum Scope {
    File(u64, u64),
    Tree(u64, u32),
    Session(u64),
}

/// Sends server-initiated messages (oplock and lease break notifications,
/// MS-SMB2 3.3.4.6/3.3.4.7) on one connection; does nothing once it is gone.
#[derive(Clone)]
pub struct Notifier {
    inner: Weak<Inner>,
}

impl Notifier {
    /// Queues an unsolicited message (header and body), encrypted for the
    /// session when `encrypt` says so. Returns false if the connection is gone.
    pub fn send(&self, msg: Vec<u8>, encrypt: Option<&(Arc<SessionCrypto>, u64)>) -> bool {
        let Some(inner) = self.inner.upgrade() else {
            return false;
        };
        let Some(sink) = lock(&inner.sink).clone() else {
            return false;
        };
        let msg = match encrypt {
            Some((keys, sid)) => match crate::encryption::encrypt(keys, *sid, msg) {
                Ok(m) => m,
                Err(_) => return false,
            },
            None => msg,
        };
        sink(msg);
        true
    }

    /// Whether the connection is still up.
    pub fn is_alive(&self) -> bool {
        self.inner
            .upgrade()
            .is_some_and(|i| lock(&i.sink).is_some())
    }

    /// Whether two notifiers reach the same connection.
    pub fn same(&self, other: &Notifier) -> bool {
        Weak::ptr_eq(&self.inner, &other.inner)
    }
}

impl AsyncTable {
    /// A sender of unsolicited messages on this connection.
    pub fn notifier(&self) -> Notifier {
        Notifier {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Another handle on the same table (work finished later on another
    /// thread registers and completes through it).
    pub fn shared(&self) -> AsyncTable {
        AsyncTable {
            inner: self.inner.clone(),
        }
    }

    /// The completer of an operation registered earlier.
    pub fn completer(&self, async_id: u64) -> Completer {
        Completer {
            inner: Arc::downgrade(&self.inner),
            async_id,
        }
    }

    /// Sets where final responses are written (the transport's writer).
    pub fn set_sink(&self, sink: Sink) {
        *lock(&self.inner.sink) = Some(sink);
    }

    /// Registers a waiting operation, not yet armed. Refused when the
    /// connection already has as many waiting as it may have credits.
    pub fn register(&self, reg: Registration) -> Result<Completer, NtStatus> {
        let mut ops = lock(&self.inner.ops);
        if ops.len() as u64 >= MAX_CREDITS {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        let async_id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let cancelled = {
            let mut early = lock(&self.inner.early_cancels);
            match early.iter().position(|m| *m == reg.message_id) {
                Some(i) => {
                    early.remove(i);
                    true
                }
                None => false,
            }
        };
        ops.insert(
            async_id,
            Op {
                reg,
                route: Route::default(),
                armed: false,
                result: cancelled.then(|| (NtStatus::CANCELLED, error_body())),
            },
        );
        Ok(Completer {
            inner: Arc::downgrade(&self.inner),
            async_id,
        })
    }

    /// Records how the final response must be protected.
    pub fn set_route(&self, async_id: u64, route: Route) {
        if let Some(op) = lock(&self.inner.ops).get_mut(&async_id) {
            op.route = route;
        }
    }

    /// Marks operations armed once their interim responses are queued; a
    /// result that arrived meanwhile is sent now.
    pub fn arm(&self, ids: &[u64]) {
        let mut ready = Vec::new();
        {
            let mut ops = lock(&self.inner.ops);
            for id in ids {
                let done = match ops.get_mut(id) {
                    Some(op) => {
                        op.armed = true;
                        op.result.is_some()
                    }
                    None => false,
                };
                if done {
                    if let Some(op) = ops.remove(id) {
                        ready.push((*id, op));
                    }
                }
            }
        }
        for (id, mut op) in ready {
            if let Some((status, body)) = op.result.take() {
                self.inner.send(id, &op, status, &body);
            }
        }
    }

    /// CANCEL (MS-SMB2 3.3.5.16): by AsyncId when the request carried
    /// SMB2_FLAGS_ASYNC_COMMAND, else by MessageId; the target ends with
    /// STATUS_CANCELLED. Returns whether anything was found.
    pub fn cancel(&self, hdr: &Header) -> bool {
        let found = {
            let ops = lock(&self.inner.ops);
            if hdr.is_async() {
                ops.get(&hdr.async_id)
                    .filter(|op| op.reg.session_id == hdr.session_id || hdr.session_id == 0)
                    .map(|_| hdr.async_id)
            } else {
                ops.iter()
                    .find(|(_, op)| op.reg.message_id == hdr.message_id)
                    .map(|(id, _)| *id)
            }
        };
        match found {
            Some(id) => {
                self.end(&[id], |_| NtStatus::CANCELLED);
                true
            }
            None => {
                if !hdr.is_async() {
                    let mut early = lock(&self.inner.early_cancels);
                    if early.len() >= MAX_EARLY_CANCELS {
                        early.pop_front();
                    }
                    early.push_back(hdr.message_id);
                }
                false
            }
        }
    }

    /// An open was closed: what waits on it ends with its close status.
    pub fn close_file(&self, session_id: u64, volatile: u64) {
        self.end_scope(Scope::File(session_id, volatile));
    }

    /// A tree was disconnected: everything waiting in it ends.
    pub fn close_tree(&self, session_id: u64, tree_id: u32) {
        self.end_scope(Scope::Tree(session_id, tree_id));
    }

    /// A session logged off: everything it waits for ends.
    pub fn close_session(&self, session_id: u64) {
        self.end_scope(Scope::Session(session_id));
    }

    /// The connection ended: every operation is dropped without a response.
    pub fn drop_all(&self) {
        let ops: Vec<Op> = lock(&self.inner.ops).drain().map(|(_, o)| o).collect();
        *lock(&self.inner.sink) = None;
        for mut op in ops {
            if let Some(f) = op.reg.on_cancel.take() {
                f();
            }
        }
    }

    /// Drops an operation whose handler failed after registering it; no
    /// response is sent for it (the handler's error answers the request).
    pub fn forget(&self, async_id: u64) {
        lock(&self.inner.ops).remove(&async_id);
    }

    /// Installs the waiter's clean-up hook once the waiter is registered.
    /// If the operation has already ended the hook is handed back so the
    /// caller runs it.
    pub fn set_on_cancel(&self, async_id: u64, hook: OnCancel) -> Result<(), OnCancel> {
        match lock(&self.inner.ops).get_mut(&async_id) {
            Some(op) if op.result.is_none() => {
                op.reg.on_cancel = Some(hook);
                Ok(())
            }
            _ => Err(hook),
        }
    }

    /// Number of operations waiting.
    pub fn len(&self) -> usize {
        lock(&self.inner.ops).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn end_scope(&self, scope: Scope) {
        let ids: Vec<u64> = lock(&self.inner.ops)
            .iter()
            .filter(|(_, op)| match scope {
                Scope::File(s, v) => op.reg.session_id == s && op.reg.file == Some(v),
                Scope::Tree(s, t) => op.reg.session_id == s && op.reg.tree_id == t,
                Scope::Session(s) => op.reg.session_id == s,
            })
            .map(|(id, _)| *id)
            .collect();
        self.end(&ids, |op| {
            if op.reg.file.is_some() {
                op.reg.close_status
            } else {
                NtStatus::CANCELLED
            }
        });
    }

    /// Ends operations with a status of the server's choosing: the waiter's
    /// hook runs, and the final response goes out now or when armed.
    fn end(&self, ids: &[u64], status: impl Fn(&Op) -> NtStatus) {
        let mut hooks = Vec::new();
        let mut send = Vec::new();
        {
            let mut ops = lock(&self.inner.ops);
            for id in ids {
                let Some(op) = ops.get_mut(id) else {
                    continue;
                };
                if let Some(f) = op.reg.on_cancel.take() {
                    hooks.push(f);
                }
                let st = status(op);
                if op.armed {
                    if let Some(op) = ops.remove(id) {
                        send.push((*id, op, st));
                    }
                } else if op.result.is_none() {
                    op.result = Some((st, error_body()));
                }
            }
        }
        for f in hooks {
            f();
        }
        for (id, op, st) in send {
            self.inner.send(id, &op, st, &error_body());
        }
    }
}

/// The ERROR response body (MS-SMB2 2.2.2) a cancelled or cleaned-up operation answers with.
fn error_body() -> Vec<u8> {
    let mut b = Vec::with_capacity(9);
    wire::error::encode_error_response(&mut b, &[]);
    b
}

impl Inner {
    /// Builds, protects and queues the final response (MS-SMB2 3.3.4.2: an
    /// async response carries the AsyncId and no further credits).
    fn send(&self, async_id: u64, op: &Op, status: NtStatus, body: &[u8]) {
        let Some(sink) = lock(&self.sink).clone() else {
            return;
        };
        let mut msg = final_response(async_id, op, status, body);
        if let Some((keys, sid)) = &op.route.encrypt {
            match crate::encryption::encrypt(keys, *sid, msg) {
                Ok(m) => msg = m,
                Err(_) => return,
            }
        }
        sink(msg);
    }
}

fn final_response(async_id: u64, op: &Op, status: NtStatus, body: &[u8]) -> Vec<u8> {
    let sign = op.route.encrypt.is_none() && op.route.sign.is_some();
    let mut flags = FLAGS_SERVER_TO_REDIR | FLAGS_ASYNC_COMMAND;
    if sign {
        flags |= FLAGS_SIGNED;
    }
    let h = Header {
        credit_charge: op.reg.credit_charge,
        status: status.0,
        command: op.reg.command,
        credits: 0,
        flags,
        next_command: 0,
        message_id: op.reg.message_id,
        async_id,
        process_id: 0,
        tree_id: 0,
        session_id: op.reg.session_id,
        signature: [0; 16],
    };
    let mut msg = Vec::with_capacity(HEADER_LEN + body.len());
    h.encode(&mut msg);
    msg.extend_from_slice(body);
    if let (true, Some(key)) = (sign, &op.route.sign) {
        if let Some(sig) = key.sign(&msg) {
            wire::header::set_signature(&mut msg, &sig);
        }
    }
    msg
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn collect(t: &AsyncTable) -> Arc<Mutex<Vec<Vec<u8>>>> {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        t.set_sink(Arc::new(move |b| g.lock().unwrap().push(b)));
        got
    }

    fn reg(mid: u64, file: Option<u64>) -> Registration {
        Registration {
            message_id: mid,
            command: 0x0F,
            credit_charge: 1,
            session_id: 7,
            tree_id: 3,
            file,
            close_status: NtStatus::NOTIFY_CLEANUP,
            on_cancel: None,
        }
    }

    fn parse(frame: &[u8]) -> Header {
        Header::parse(frame).unwrap()
    }

    #[test]
    fn cancel_before_the_request_goes_async() {
        let t = AsyncTable::default();
        let got = collect(&t);
        let early = Header {
            message_id: 20,
            ..Header::default()
        };
        assert!(!t.cancel(&early), "nothing waits yet");
        let c = t.register(reg(20, None)).unwrap();
        assert!(!c.is_live(), "cancelled on arrival");
        let hook = t.set_on_cancel(c.async_id(), Box::new(|| {}));
        assert!(hook.is_err(), "the waiter cleans up at once");
        t.arm(&[c.async_id()]);
        let frames = got.lock().unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(parse(&frames[0]).status, NtStatus::CANCELLED.0);
        drop(frames);
        let other = t.register(reg(21, None)).unwrap();
        assert!(other.is_live(), "only the cancelled message id");
    }

    #[test]
    fn result_waits_for_the_interim() {
        let t = AsyncTable::default();
        let got = collect(&t);
        let c = t.register(reg(5, None)).unwrap();
        assert!(c.complete(NtStatus::SUCCESS, vec![9, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(got.lock().unwrap().is_empty(), "sent before the interim");
        t.arm(&[c.async_id()]);
        let frames = got.lock().unwrap();
        assert_eq!(frames.len(), 1);
        let h = parse(&frames[0]);
        assert_eq!(h.message_id, 5);
        assert_eq!(h.async_id, c.async_id());
        assert!(h.is_async());
        assert_eq!(h.status, 0);
        assert!(t.is_empty());
    }

    #[test]
    fn cancel_by_async_and_message_id() {
        let t = AsyncTable::default();
        let got = collect(&t);
        let hook = Arc::new(AtomicBool::new(false));
        let h2 = hook.clone();
        let mut r = reg(10, None);
        r.on_cancel = Some(Box::new(move || h2.store(true, Ordering::SeqCst)));
        let a = t.register(r).unwrap();
        let b = t.register(reg(11, None)).unwrap();
        t.arm(&[a.async_id(), b.async_id()]);
        let cancel = Header {
            flags: FLAGS_ASYNC_COMMAND,
            async_id: a.async_id(),
            session_id: 7,
            ..Header::default()
        };
        assert!(t.cancel(&cancel));
        assert!(hook.load(Ordering::SeqCst), "waiter told");
        assert!(!a.complete(NtStatus::SUCCESS, Vec::new()), "already ended");
        let by_mid = Header {
            message_id: 11,
            ..Header::default()
        };
        assert!(t.cancel(&by_mid));
        assert!(!t.cancel(&by_mid), "nothing left");
        let frames = got.lock().unwrap();
        assert_eq!(frames.len(), 2);
        for f in frames.iter() {
            assert_eq!(parse(f).status, NtStatus::CANCELLED.0);
        }
    }

    #[test]
    fn close_cleans_up_and_disconnect_drops() {
        let t = AsyncTable::default();
        let got = collect(&t);
        let a = t.register(reg(1, Some(42))).unwrap();
        let b = t.register(reg(2, None)).unwrap();
        let c = t.register(reg(3, Some(43))).unwrap();
        t.arm(&[a.async_id(), b.async_id(), c.async_id()]);
        t.close_file(7, 42);
        assert_eq!(
            parse(&got.lock().unwrap()[0]).status,
            NtStatus::NOTIFY_CLEANUP.0
        );
        t.close_tree(7, 3);
        assert_eq!(got.lock().unwrap().len(), 3);
        let d = t.register(reg(4, None)).unwrap();
        t.arm(&[d.async_id()]);
        t.drop_all();
        assert!(t.is_empty());
        assert_eq!(got.lock().unwrap().len(), 3, "nothing sent on disconnect");
        assert!(!d.complete(NtStatus::SUCCESS, Vec::new()));
    }
}
