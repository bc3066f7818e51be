//! TCP direct hosting (MS-SMB2 2.1): 4-byte framing, a reader that hands
//! each frame to the blocking pool, so file I/O never stalls the network
//! side and many requests are in flight. A response goes to the socket from
//! the thread that made it when nothing is queued ahead of it, else through
//! a writer task that keeps the order.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use wire::transform::TRANSFORM_HEADER_LEN;

use crate::dispatch::{self, Error};
use crate::state::{lock, Connection, Server};

/// Frames received by every connection of the process so far.
static FRAMES_RECEIVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A count that moves while any client sends requests: housekeeping that
/// would slow a transfer down (giving freed memory back) waits for a pause.
pub fn frames_received() -> u64 {
    FRAMES_RECEIVED.load(Ordering::Relaxed)
}

/// Largest frame accepted: the largest WRITE plus room for headers, checked
/// before anything is allocated.
fn max_frame(server: &Server) -> usize {
    (server.config.max_write.max(server.config.max_trans) as usize).saturating_add(64 * 1024)
}

pub async fn serve_connection(server: Arc<Server>, stream: TcpStream, id: u64) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let conn = Arc::new(Connection::new(id, peer.clone()));
    log::debug!("conn {id}: accepted from {peer}");
    let (mut rd, wr) = stream.into_split();
    let (tx, writer) = spawn_writer(wr);
    // Final responses of async operations go through the same writer.
    let sink_tx = tx.clone();
    conn.pending
        .set_sink(Arc::new(move |frame| sink_tx.send(Outgoing::Msg(frame))));
    let limit = max_frame(&server);
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let lane = Arc::new(Lane::default());
    let mut inbuf = InBuf::default();
    'frames: loop {
        if conn.closing.load(Ordering::Acquire) {
            break;
        }
        // A client that does not read its responses is not served more
        // requests until they drain: the queue of unsent replies is bounded.
        while tx.backlog.bytes.load(Ordering::Acquire) > MAX_BACKLOG {
            tokio::select! {
                _ = tx.backlog.drained.notified() => {}
                _ = shutdown.notified() => break 'frames,
            }
        }
        while inbuf.available().len() < 4 {
            tokio::select! {
                r = inbuf.fill(&mut rd) => if r.is_err() { break 'frames },
                _ = shutdown.notified() => break 'frames,
            }
        }
        let [kind, a, b, c] = match inbuf.available().get(..4) {
            Some(&[k, a, b, c]) => [k, a, b, c],
            _ => break,
        };
        inbuf.consume(4);
        let len = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
        if kind != 0 {
            // NetBIOS session keep-alive (0x85) carries nothing; anything else
            // is not direct-hosted SMB.
            if kind == 0x85 && len == 0 {
                continue;
            }
            break;
        }
        if len < 4 || len > limit {
            log::debug!("conn {id}: frame of {len} bytes refused");
            break;
        }
        // What is already buffered, then the rest straight from the socket
        // into spare capacity: a large WRITE is not zero-filled first.
        let mut frame = Vec::with_capacity(len);
        let have = inbuf.available().len().min(len);
        frame.extend_from_slice(inbuf.available().get(..have).unwrap_or(&[]));
        inbuf.consume(have);
        if have < len {
            tokio::select! {
                r = read_exactly(&mut rd, &mut frame, len - have) => if r.is_err() { break },
                _ = shutdown.notified() => break,
            }
        }
        FRAMES_RECEIVED.fetch_add(1, Ordering::Relaxed);
        let mut head = smb2_command(&frame);
        // A small encrypted message is decrypted here (microseconds), so it
        // goes where the same request unencrypted would: an encrypted
        // session keeps the order of its namespace changes too. Large ones
        // (WRITE data) are decrypted on the blocking pool.
        let mut opened = None;
        if head.is_none() && is_transform(&frame) && frame.len() <= OPEN_HERE_MAX {
            match crate::encryption::open(&conn, &mut frame) {
                Ok(o) => {
                    head = inner_command(&frame);
                    opened = Some(o);
                }
                Err(_) => break,
            }
        }
        // Requests that never touch the filesystem, and small reads whose data
        // is in the page cache, are answered here, without a trip through the
        // blocking pool (it costs more than the work).
        if is_control(head)
            || (opened.is_none() && head == Some((READ, 0)) && cached_small_read(&conn, &frame))
        {
            if !answer(&server, &conn, &tx, frame, opened.as_ref()) {
                break;
            }
            continue;
        }
        let job = Job {
            server: server.clone(),
            conn: conn.clone(),
            tx: tx.clone(),
            stop: shutdown.clone(),
            lane: lane.clone(),
        };
        // Data transfers, and encrypted messages too large to be decrypted
        // above (WRITE data), run concurrently on the blocking pool;
        // everything else goes through the connection's lane, one at a time
        // in arrival order, so namespace changes happen in the order the
        // client sent them.
        if is_data(head) || (opened.is_none() && is_transform(&frame)) {
            tokio::task::spawn_blocking(move || job.run(frame, opened));
        } else {
            lane.push(job, frame, opened);
        }
    }
    conn.closing.store(true, Ordering::Release);
    // The async table holds a sender too: release it so the writer ends.
    conn.pending.drop_all();
    drop(tx);
    let _ = writer.await;
    cleanup(&server, &conn);
    log::debug!("conn {id}: closed");
}

/// The connection's outbox and the task that writes what is queued in it;
/// the task ends when every sender is gone and the queue is empty.
fn spawn_writer(wr: tokio::net::tcp::OwnedWriteHalf) -> (Outbox, tokio::task::JoinHandle<()>) {
    let (wake, mut woken) = mpsc::unbounded_channel::<()>();
    let wr = Arc::new(wr);
    let tx = Outbox {
        wake,
        backlog: Arc::new(Backlog::default()),
        sock: wr.clone(),
    };
    let backlog = tx.backlog.clone();
    let writer = tokio::spawn(async move {
        let sock: &TcpStream = wr.as_ref().as_ref();
        loop {
            let next = {
                let mut st = lock(&backlog.state);
                if st.busy {
                    None
                } else {
                    let q = st.queue.pop_front();
                    st.busy = q.is_some();
                    q
                }
            };
            let Some(mut q) = next else {
                // Woken by a new response, or by a sender that wrote while
                // others queued behind it; None once every sender is gone.
                if woken.recv().await.is_none() && lock(&backlog.state).queue.is_empty() {
                    break;
                }
                continue;
            };
            let n = q.out.queued_bytes();
            let r = write_queued(sock, &mut q).await;
            backlog.bytes.fetch_sub(n, Ordering::AcqRel);
            let mut st = lock(&backlog.state);
            st.busy = false;
            if r.is_err() {
                // Nothing more can be written: drop what waits, so the
                // reader is not held back by it.
                st.broken = true;
                let left: usize = st.queue.drain(..).map(|q| q.out.queued_bytes()).sum();
                backlog.bytes.fetch_sub(left, Ordering::AcqRel);
                drop(st);
                backlog.drained.notify_one();
                break;
            }
            drop(st);
            backlog.drained.notify_one();
        }
        let _ = rustix::net::shutdown(sock, rustix::net::Shutdown::Write);
    });
    (tx, writer)
}

/// SMB2 READ (MS-SMB2 2.2.1.2).
const READ: u16 = 0x0008;

/// Command and NextCommand of a plain SMB2 message; None for anything else
/// (encrypted, SMB1, too short to say).
fn smb2_command(frame: &[u8]) -> Option<(u16, u32)> {
    if frame.get(..4)? != [0xFE, b'S', b'M', b'B'] {
        return None;
    }
    let cmd = u16::from_le_bytes(frame.get(12..14)?.try_into().ok()?);
    let next = u32::from_le_bytes(frame.get(20..24)?.try_into().ok()?);
    Some((cmd, next))
}

/// Most bytes of responses queued for a connection before its requests stop being read.
const MAX_BACKLOG: usize = 32 * 1024 * 1024;

/// Responses queued for the writer task and not yet written.
#[derive(Default)]
struct Backlog {
    /// Their bytes: the reader stops above `MAX_BACKLOG`.
    bytes: std::sync::atomic::AtomicUsize,
    drained: tokio::sync::Notify,
    state: std::sync::Mutex<SendState>,
}

/// The order of a connection's responses: held only to look and to queue,
/// never while writing to the socket, so no thread waits for another's write.
#[derive(Default)]
struct SendState {
    queue: std::collections::VecDeque<Queued>,
    /// A thread (one that made a response, or the writer task) is writing.
    busy: bool,
    /// Writing failed: responses are dropped.
    broken: bool,
}

/// Where a connection's responses go: straight to the socket from the
/// thread that made them when nothing is queued before them and nobody is
/// writing, else to the writer task, in order.
#[derive(Clone)]
struct Outbox {
    wake: mpsc::UnboundedSender<()>,
    backlog: Arc<Backlog>,
    sock: Arc<tokio::net::tcp::OwnedWriteHalf>,
}

/// A message for the writer: whole, or a READ response whose data follows
/// straight from the file.
enum Outgoing {
    Msg(Vec<u8>),
    File(Vec<u8>, dispatch::FileTail),
    /// An encrypted message and the TRANSFORM_HEADER that goes before it.
    Sealed([u8; TRANSFORM_HEADER_LEN], Vec<u8>),
}

/// A message and how many bytes of its frame (length prefix included) are
/// already on the wire.
struct Queued {
    out: Outgoing,
    sent: usize,
}

impl Outgoing {
    /// What the queued message really holds in memory.
    fn queued_bytes(&self) -> usize {
        match self {
            Outgoing::Msg(m) | Outgoing::File(m, _) | Outgoing::Sealed(_, m) => m.capacity(),
        }
    }
}

impl Outbox {
    fn send(&self, out: Outgoing) {
        let mut q = Queued { out, sent: 0 };
        {
            let mut st = lock(&self.backlog.state);
            if st.broken {
                return;
            }
            if st.busy || !st.queue.is_empty() {
                st.queue.push_back(self.count(q));
                drop(st);
                let _ = self.wake.send(());
                return;
            }
            st.busy = true;
        }
        // The thread that made the response (its data still in this core's
        // cache) writes it, without waking the network thread for it.
        let r = write_now(self.sock.as_ref().as_ref(), &mut q);
        let mut st = lock(&self.backlog.state);
        st.busy = false;
        if let Ok(Progress::Blocked) = r {
            // The rest goes first, before anything queued meanwhile.
            st.queue.push_front(self.count(q));
        }
        // An error is left to the reader, which sees the connection end.
        let wake = !st.queue.is_empty();
        drop(st);
        if wake {
            let _ = self.wake.send(());
        }
    }

    /// Counts a response in the backlog before it is queued, so the writer
    /// never subtracts first.
    fn count(&self, q: Queued) -> Queued {
        self.backlog
            .bytes
            .fetch_add(q.out.queued_bytes(), Ordering::AcqRel);
        q
    }

    /// Responses queued or being written by the writer task.
    #[cfg(test)]
    fn pending(&self) -> usize {
        let st = lock(&self.backlog.state);
        st.queue.len() + usize::from(st.busy)
    }
}

/// Size of the read-ahead buffer of a connection.
const INBUF_LEN: usize = 16 * 1024;

/// Bytes read from the socket ahead of the frame being parsed: one read
/// takes the length prefix, a small request and often the requests queued
/// behind it, instead of a read for each prefix and each frame.
#[derive(Default)]
struct InBuf {
    buf: Vec<u8>,
    start: usize,
}

impl InBuf {
    fn available(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n);
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads what the socket has, at least one byte.
    async fn fill(&mut self, rd: &mut tokio::net::tcp::OwnedReadHalf) -> std::io::Result<()> {
        if self.start > 0 {
            // Only a partial length prefix or frame head is left: a short move.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(INBUF_LEN);
        }
        let spare = self.buf.capacity() - self.buf.len();
        let n = (&mut *rd)
            .take(spare as u64)
            .read_buf(&mut self.buf)
            .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// Appends exactly `len` bytes from the socket to `buf`.
async fn read_exactly(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut Vec<u8>,
    len: usize,
) -> std::io::Result<()> {
    let target = buf.len().saturating_add(len);
    while buf.len() < target {
        let want = target - buf.len();
        let n = (&mut *rd).take(want as u64).read_buf(buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// What processing one frame needs, moved to the thread that does it.
struct Job {
    server: Arc<Server>,
    conn: Arc<Connection>,
    tx: Outbox,
    stop: Arc<tokio::sync::Notify>,
    /// Where a large encrypted message goes once decrypted, if it turns out
    /// not to be a data transfer.
    lane: Arc<Lane>,
}

impl Job {
    fn run(self, mut frame: Vec<u8>, mut opened: Option<crate::encryption::Opened>) {
        if opened.is_none() && is_transform(&frame) {
            match crate::encryption::open(&self.conn, &mut frame) {
                Ok(o) => {
                    if !is_data(inner_command(&frame)) {
                        let lane = self.lane.clone();
                        lane.push(self, frame, Some(o));
                        return;
                    }
                    opened = Some(o);
                }
                Err(_) => return self.stop_reading(),
            }
        }
        if !answer(&self.server, &self.conn, &self.tx, frame, opened.as_ref()) {
            self.stop_reading();
        }
    }

    /// The connection ends once queued replies are out.
    fn stop_reading(&self) {
        self.conn.closing.store(true, Ordering::Release);
        self.stop.notify_one();
    }
}

/// Whether a frame is an SMB2 TRANSFORM_HEADER and what it carries.
fn is_transform(frame: &[u8]) -> bool {
    frame.starts_with(&wire::transform::TRANSFORM_PROTOCOL_ID)
}

/// The command of the message a decrypted frame carries.
fn inner_command(frame: &[u8]) -> Option<(u16, u32)> {
    smb2_command(frame.get(TRANSFORM_HEADER_LEN..)?)
}

/// Encrypted messages up to this size are decrypted on the network thread.
const OPEN_HERE_MAX: usize = 64 * 1024;

/// Processes one frame and queues its answer; false when the connection
/// must end.
fn answer(
    server: &Server,
    conn: &Connection,
    tx: &Outbox,
    mut frame: Vec<u8>,
    opened: Option<&crate::encryption::Opened>,
) -> bool {
    let mut went_async = Vec::new();
    let mut tail = None;
    let mut transform = None;
    match process_frame_collect(
        server,
        conn,
        &mut frame,
        opened,
        &mut went_async,
        &mut tail,
        &mut transform,
    ) {
        Ok(Some(msg)) => {
            tx.send(match (tail, transform) {
                (Some(t), _) => Outgoing::File(msg, t),
                (None, Some(head)) => Outgoing::Sealed(head, msg),
                (None, None) => Outgoing::Msg(msg),
            });
            // Only now may their final responses follow (MS-SMB2 3.3.4.2).
            conn.pending.arm(&went_async);
        }
        Ok(None) => conn.pending.arm(&went_async),
        Err(()) => return false,
    }
    true
}

/// A per-connection FIFO of frames processed one at a time on the blocking
/// pool; a pool thread is taken only while frames are queued.
#[derive(Default)]
struct Lane {
    queue: std::sync::Mutex<LaneState>,
}

/// Queued frames, and whether a pool thread is draining them.
#[derive(Default)]
struct LaneState {
    frames: std::collections::VecDeque<(Job, Vec<u8>, Option<crate::encryption::Opened>)>,
    running: bool,
}

impl Lane {
    fn push(self: &Arc<Self>, job: Job, frame: Vec<u8>, opened: Option<crate::encryption::Opened>) {
        let mut q = lock(&self.queue);
        q.frames.push_back((job, frame, opened));
        if q.running {
            return;
        }
        q.running = true;
        drop(q);
        let lane = self.clone();
        tokio::task::spawn_blocking(move || loop {
            let next = {
                let mut q = lock(&lane.queue);
                match q.frames.pop_front() {
                    Some(item) => item,
                    None => {
                        q.running = false;
                        return;
                    }
                }
            };
            next.0.run(next.1, next.2);
        });
    }
}

/// A single READ, WRITE or FLUSH: the requests worth running concurrently.
fn is_data(head: Option<(u16, u32)>) -> bool {
    matches!(head, Some((0x0007..=0x0009, 0)))
}

/// Reads up to this size may be answered on the network thread.
const INLINE_READ_MAX: usize = 64 * 1024;

thread_local! {
    /// Where `cached_small_read` probes the page cache.
    static PROBE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// For a single, unencrypted READ (the caller has checked the header): of
/// a regular file, at most `INLINE_READ_MAX` bytes, all of them in the page
/// cache now, so reading them cannot block (`preadv2` with RWF_NOWAIT says
/// so without waiting).
fn cached_small_read(conn: &Connection, frame: &[u8]) -> bool {
    use wire::reader::Reader;
    let fields = (|| -> Option<(u64, u32, u64, u64)> {
        let session_id = Reader::at(frame, 40).ok()?.u64().ok()?;
        // READ request (MS-SMB2 2.2.19): Length at 4, Offset at 8, FileId at 16.
        let mut r = Reader::at(frame, 64 + 4).ok()?;
        let length = r.u32().ok()?;
        let offset = r.u64().ok()?;
        let _persistent = r.u64().ok()?;
        let volatile = r.u64().ok()?;
        Some((session_id, length, offset, volatile))
    })();
    let Some((session_id, length, offset, volatile)) = fields else {
        return false;
    };
    let length = length as usize;
    if length > INLINE_READ_MAX || length == 0 {
        return false;
    }
    let Some(open) = conn.session(session_id).and_then(|s| s.open(volatile)) else {
        return false;
    };
    if open.stream.is_some() || open.is_dir {
        return false;
    }
    let Some(h) = open.handle() else {
        return false;
    };
    PROBE.with(|p| {
        let mut buf = p.borrow_mut();
        // Zero-filled once, at its largest; reused as is after that.
        if buf.len() < INLINE_READ_MAX {
            buf.resize(INLINE_READ_MAX, 0);
        }
        let Some(dst) = buf.get_mut(..length) else {
            return false;
        };
        let mut iov = [std::io::IoSliceMut::new(dst)];
        matches!(
            rustix::io::preadv2(h.as_fd(), &mut iov, offset, rustix::io::ReadWriteFlags::NOWAIT),
            Ok(n) if n == length
        )
    })
}

/// A single, uncompounded SMB2 request for a command that does no file I/O:
/// NEGOTIATE, SESSION_SETUP, TREE_CONNECT, CANCEL, ECHO (LOGOFF may delete files).
fn is_control(head: Option<(u16, u32)>) -> bool {
    matches!(head, Some((0x0000 | 0x0001 | 0x0003 | 0x000C | 0x000D, 0)))
}

/// How far `write_now` got.
enum Progress {
    Done,
    /// The socket's buffer is full: wait until it is writable.
    Blocked,
}

/// Zeros for a READ response whose file shrank after DataLength was set.
static ZEROS: [u8; 4096] = [0; 4096];

/// Writes as much of the frame as the socket takes now, without waiting:
/// the 4-byte direct-hosting length prefix, any TRANSFORM_HEADER and the
/// message in vectored writes (nothing is copied to prepend them), then for
/// a READ response the data from the page cache with sendfile, never through
/// a user-space buffer. If the file shrank since DataLength was computed,
/// zeros keep the frame the length it announced.
fn write_now(sock: &TcpStream, q: &mut Queued) -> std::io::Result<Progress> {
    let (prefix, msg, extra): (&[u8], &[u8], usize) = match &q.out {
        Outgoing::Msg(m) => (&[], m, 0),
        Outgoing::Sealed(h, m) => (&h[..], m, 0),
        Outgoing::File(m, tail) => (&[], m, tail.len),
    };
    let total = prefix.len().saturating_add(msg.len()).saturating_add(extra);
    let len = (total as u32 & 0x00FF_FFFF).to_be_bytes();
    let head_len = len.len() + prefix.len() + msg.len();
    while q.sent < head_len {
        let mut skip = q.sent;
        let mut parts: [&[u8]; 3] = [&len, prefix, msg];
        for p in parts.iter_mut() {
            let k = skip.min(p.len());
            *p = p.get(k..).unwrap_or(&[]);
            skip -= k;
        }
        let sent = rustix::net::sendmsg(
            sock,
            &parts.map(std::io::IoSlice::new),
            &mut rustix::net::SendAncillaryBuffer::default(),
            rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL,
        );
        match sent {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => q.sent += n,
            Err(rustix::io::Errno::AGAIN) => return Ok(Progress::Blocked),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let Outgoing::File(_, tail) = &q.out else {
        return Ok(Progress::Done);
    };
    let handle = tail.open.handle();
    while q.sent < head_len + tail.len {
        let done = q.sent - head_len;
        let left = tail.len - done;
        // The socket is non-blocking: sendfile takes what fits, or EAGAIN.
        let mut off = tail.offset.saturating_add(done as u64);
        let sent = match &handle {
            Some(h) => rustix::fs::sendfile(sock, h.as_fd(), Some(&mut off), left),
            None => Ok(0),
        };
        let sent = match sent {
            Ok(0) => {
                let zeros = ZEROS.get(..left.min(ZEROS.len())).unwrap_or(&[]);
                rustix::net::send(
                    sock,
                    zeros,
                    rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL,
                )
            }
            other => other,
        };
        match sent {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => q.sent += n,
            Err(rustix::io::Errno::AGAIN) => return Ok(Progress::Blocked),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Progress::Done)
}

/// The writer task's side of `write_now`: waits while the socket is full.
async fn write_queued(sock: &TcpStream, q: &mut Queued) -> std::io::Result<()> {
    loop {
        sock.writable().await?;
        // A full socket clears the readiness, so the next wait is for room.
        let r = sock.try_io(tokio::io::Interest::WRITABLE, || {
            match write_now(sock, q)? {
                Progress::Done => Ok(()),
                Progress::Blocked => Err(std::io::ErrorKind::WouldBlock.into()),
            }
        });
        match r {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// One frame in, at most one frame out; Err means drop the connection.
/// Operations that went async are armed before this returns.
#[allow(clippy::result_unit_err)]
pub fn process_frame(
    server: &Server,
    conn: &Connection,
    frame: &mut [u8],
) -> Result<Option<Vec<u8>>, ()> {
    let mut went_async = Vec::new();
    let mut tail = None;
    let mut transform = None;
    let r = process_frame_collect(
        server,
        conn,
        frame,
        None,
        &mut went_async,
        &mut tail,
        &mut transform,
    );
    conn.pending.arm(&went_async);
    let mut r = r?;
    if let (Some(t), Some(msg)) = (tail, r.as_mut()) {
        t.append_to(msg).map_err(|_| ())?;
    }
    if let (Some(head), Some(msg)) = (transform, r.as_mut()) {
        msg.splice(0..0, head);
    }
    Ok(r)
}

/// As `process_frame`, leaving the AsyncIds of operations that went async
/// in `went_async` for the caller to arm once the reply is queued.
#[allow(clippy::result_unit_err)]
pub fn process_frame_collect(
    server: &Server,
    conn: &Connection,
    frame: &mut [u8],
    opened: Option<&crate::encryption::Opened>,
    went_async: &mut Vec<u64>,
    tail: &mut Option<dispatch::FileTail>,
    transform: &mut Option<[u8; TRANSFORM_HEADER_LEN]>,
) -> Result<Option<Vec<u8>>, ()> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Some(o) = opened {
            // Already decrypted in place by `encryption::open`.
            return crate::encryption::process_opened(
                server, conn, frame, o, went_async, transform,
            );
        }
        match frame.get(..4) {
            Some([0xFD, b'S', b'M', b'B']) => {
                crate::encryption::process_encrypted(server, conn, frame, went_async, transform)
            }
            Some([0xFF, b'S', b'M', b'B']) => {
                crate::smb2::negotiate::handle_smb1(server, conn, frame).map(Some)
            }
            Some([0xFE, b'S', b'M', b'B']) => {
                dispatch::process_smb2_with(server, conn, frame, None, went_async, tail)
            }
            _ => Err(Error::Disconnect),
        }
    }));
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(()),
        Err(_) => {
            log::error!(
                "conn {}: internal error while processing a request; closing the connection",
                conn.id
            );
            Err(())
        }
    }
}

/// Everything a connection held is released when it ends.
fn cleanup(server: &Server, conn: &Connection) {
    conn.pending.drop_all();
    let sessions: Vec<_> = lock(&conn.sessions).drain().map(|(_, s)| s).collect();
    for s in sessions {
        crate::smb2::close::close_session_opens(server, &s);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    /// The frame a test message `i` is sent as: every third one large enough
    /// to fill the socket's buffers, every other one behind a TRANSFORM_HEADER.
    fn message(i: usize) -> Outgoing {
        let len = if i.is_multiple_of(3) {
            3 << 20
        } else {
            100 + i
        };
        let msg: Vec<u8> = (0..len).map(|k| (k ^ i.wrapping_mul(131)) as u8).collect();
        if i.is_multiple_of(2) {
            Outgoing::Sealed([i as u8; TRANSFORM_HEADER_LEN], msg)
        } else {
            Outgoing::Msg(msg)
        }
    }

    fn frame_bytes(out: &Outgoing) -> Vec<u8> {
        match out {
            Outgoing::Msg(m) => m.clone(),
            Outgoing::Sealed(h, m) => [&h[..], m].concat(),
            Outgoing::File(..) => unreachable!(),
        }
    }

    /// Reads `buf.len()` bytes slowly, 64 KiB at a time: the socket stays
    /// nearly full, so responses keep queuing while the writer drains.
    fn read_slowly(peer: &mut std::net::TcpStream, buf: &mut [u8]) {
        let mut at = 0;
        while at < buf.len() {
            let end = (at + (64 << 10)).min(buf.len());
            let n = peer.read(&mut buf[at..end]).unwrap();
            assert!(n > 0, "connection closed early");
            at += n;
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// A connected loopback pair: the peer's end, and ours, non-blocking.
    fn socket_pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        (peer, ours)
    }

    /// `n` direct-hosting frames, read slowly, without their length prefix.
    fn read_frames_slowly(peer: &mut std::net::TcpStream, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|_| {
                let mut len = [0u8; 4];
                read_slowly(peer, &mut len);
                let mut f = vec![0u8; u32::from_be_bytes(len) as usize];
                read_slowly(peer, &mut f);
                f
            })
            .collect()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn responses_stay_whole_and_in_order_when_the_socket_is_full() {
        const N: usize = 45;
        let (mut peer, ours) = socket_pair();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            // Not reading at first: the socket fills and responses queue.
            std::thread::sleep(Duration::from_millis(200));
            started_tx.send(()).unwrap();
            let frames = read_frames_slowly(&mut peer, N);
            let mut rest = Vec::new();
            peer.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty(), "{} bytes after the last frame", rest.len());
            frames
        });
        runtime().block_on(async {
            let (_rd, wr) = TcpStream::from_std(ours).unwrap().into_split();
            let (tx, writer) = spawn_writer(wr);
            let send = |range: std::ops::Range<usize>| {
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || range.for_each(|i| tx.send(message(i))))
            };
            // A third while the peer reads nothing, a third while it reads
            // slowly and the queue drains (none may overtake what is queued),
            // and the last third once the queue is empty, straight out again.
            send(0..N / 3).await.unwrap();
            assert!(tx.pending() > 0);
            tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
                .await
                .unwrap();
            for i in N / 3..2 * N / 3 {
                send(i..i + 1).await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            while tx.pending() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            send(2 * N / 3..N).await.unwrap();
            drop(tx);
            writer.await.unwrap();
        });
        let frames = reader.join().unwrap();
        for (i, f) in frames.iter().enumerate() {
            assert!(*f == frame_bytes(&message(i)), "frame {i} differs");
        }
    }

    #[test]
    fn concurrent_senders_never_interleave_frames() {
        const THREADS: usize = 4;
        const EACH: usize = 30;
        let (mut peer, ours) = socket_pair();
        // Message k of thread t: its length varies, every byte says (t, k).
        let message = |t: usize, k: usize| -> Vec<u8> {
            let len = if (t + k).is_multiple_of(4) {
                (1 << 20) + k
            } else {
                64 + 7 * k
            };
            vec![(t * EACH + k) as u8; len]
        };
        let reader = std::thread::spawn(move || read_frames_slowly(&mut peer, THREADS * EACH));
        runtime().block_on(async {
            let (_rd, wr) = TcpStream::from_std(ours).unwrap().into_split();
            let (tx, writer) = spawn_writer(wr);
            let senders: Vec<_> = (0..THREADS)
                .map(|t| {
                    let tx = tx.clone();
                    tokio::task::spawn_blocking(move || {
                        (0..EACH).for_each(|k| tx.send(Outgoing::Msg(message(t, k))))
                    })
                })
                .collect();
            for s in senders {
                s.await.unwrap();
            }
            drop(tx);
            writer.await.unwrap();
        });
        let frames = reader.join().unwrap();
        let mut next = [0usize; THREADS];
        for f in &frames {
            let id = usize::from(f[0]);
            let (t, k) = (id / EACH, id % EACH);
            assert_eq!(k, next[t], "thread {t}: message {k} out of order");
            assert!(
                *f == message(t, k),
                "thread {t}: message {k} mixed with another"
            );
            next[t] += 1;
        }
        assert_eq!(next, [EACH; THREADS]);
    }
}
