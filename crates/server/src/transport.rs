//! TCP direct hosting (MS-SMB2 2.1): 4-byte framing, a reader that hands
//! each frame to the blocking pool, and a writer fed through a channel, so
//! file I/O never stalls the network side and many requests are in flight.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use wire::transform::TRANSFORM_HEADER_LEN;

use crate::dispatch::{self, Error};
use crate::state::{lock, Connection, Server};

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
    let (mut rd, mut wr) = stream.into_split();
    let (raw_tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let tx = Outbox {
        tx: raw_tx,
        backlog: Arc::new(Backlog::default()),
    };
    // Final responses of async operations go through the same writer.
    let sink_tx = tx.clone();
    conn.pending
        .set_sink(Arc::new(move |frame| sink_tx.send(Outgoing::Msg(frame))));
    let backlog = tx.backlog.clone();
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let n = out.queued_bytes();
            let r = match &out {
                Outgoing::Msg(msg) => write_frame(&mut wr, &[], msg, 0).await,
                Outgoing::Sealed(head, msg) => write_frame(&mut wr, &head[..], msg, 0).await,
                Outgoing::File(head, tail) => write_file_frame(&mut wr, head, tail).await,
            };
            backlog.bytes.fetch_sub(n, Ordering::AcqRel);
            backlog.drained.notify_one();
            if r.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
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
        let head = smb2_command(&frame);
        // Requests that never touch the filesystem, and small reads whose data
        // is in the page cache, are answered here, without a trip through the
        // blocking pool (it costs more than the work).
        if is_control(head) || (head == Some((READ, 0)) && cached_small_read(&conn, &frame)) {
            if !answer(&server, &conn, &tx, frame) {
                break;
            }
            continue;
        }
        let job = Job {
            server: server.clone(),
            conn: conn.clone(),
            tx: tx.clone(),
            stop: shutdown.clone(),
        };
        // Data transfers (and encrypted messages) run concurrently on the
        // blocking pool; everything else goes through the connection's lane,
        // one at a time in arrival order, so namespace changes happen in the
        // order the client sent them.
        if is_data(head, &frame) {
            tokio::task::spawn_blocking(move || job.run(frame));
        } else {
            lane.push(job, frame);
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

/// Bytes of responses queued and not yet written.
#[derive(Default)]
struct Backlog {
    bytes: std::sync::atomic::AtomicUsize,
    drained: tokio::sync::Notify,
}

/// The writer's queue, counting what it holds.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
    backlog: Arc<Backlog>,
}

/// A message for the writer: whole, or a READ response whose data follows
/// straight from the file.
enum Outgoing {
    Msg(Vec<u8>),
    File(Vec<u8>, dispatch::FileTail),
    /// An encrypted message and the TRANSFORM_HEADER that goes before it.
    Sealed([u8; TRANSFORM_HEADER_LEN], Vec<u8>),
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
    fn send(&self, msg: Outgoing) {
        // Counted before it is queued, so the writer never subtracts first.
        let n = msg.queued_bytes();
        self.backlog.bytes.fetch_add(n, Ordering::AcqRel);
        if self.tx.send(msg).is_err() {
            self.backlog.bytes.fetch_sub(n, Ordering::AcqRel);
        }
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
}

impl Job {
    fn run(&self, frame: Vec<u8>) {
        if !answer(&self.server, &self.conn, &self.tx, frame) {
            // Stop reading: the connection ends once queued replies are out.
            self.conn.closing.store(true, Ordering::Release);
            self.stop.notify_one();
        }
    }
}

/// Processes one frame and queues its answer; false when the connection
/// must end.
fn answer(server: &Server, conn: &Connection, tx: &Outbox, mut frame: Vec<u8>) -> bool {
    let mut went_async = Vec::new();
    let mut tail = None;
    let mut transform = None;
    match process_frame_collect(
        server,
        conn,
        &mut frame,
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
    frames: std::collections::VecDeque<(Job, Vec<u8>)>,
    running: bool,
}

impl Lane {
    fn push(self: &Arc<Self>, job: Job, frame: Vec<u8>) {
        let mut q = lock(&self.queue);
        q.frames.push_back((job, frame));
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
            next.0.run(next.1);
        });
    }
}

/// A single READ, WRITE or FLUSH, or an encrypted message: the requests
/// worth running concurrently.
fn is_data(head: Option<(u16, u32)>, frame: &[u8]) -> bool {
    match head {
        Some((cmd, next)) => next == 0 && matches!(cmd, 0x0007..=0x0009),
        None => frame.starts_with(&[0xFD, b'S', b'M', b'B']),
    }
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

/// Writes one message with its 4-byte direct-hosting length prefix (and
/// any `prefix`, a TRANSFORM_HEADER) in vectored writes, so the message is
/// never copied to prepend them; `extra` more bytes are announced in the
/// length and follow separately.
async fn write_frame(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    prefix: &[u8],
    msg: &[u8],
    extra: usize,
) -> std::io::Result<()> {
    let total = prefix.len().saturating_add(msg.len()).saturating_add(extra);
    let len = (total as u32 & 0x00FF_FFFF).to_be_bytes();
    let mut parts: [&[u8]; 3] = [&len, prefix, msg];
    while parts.iter().any(|p| !p.is_empty()) {
        let bufs = parts.map(std::io::IoSlice::new);
        let mut n = wr.write_vectored(&bufs).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        for p in parts.iter_mut() {
            let k = n.min(p.len());
            *p = p.get(k..).unwrap_or(&[]);
            n -= k;
        }
    }
    Ok(())
}

/// A READ response whose data goes from the page cache to the socket with
/// sendfile, never through a user-space buffer. If the file shrank since
/// DataLength was computed, zeros keep the frame the length it announced.
async fn write_file_frame(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    head: &[u8],
    tail: &dispatch::FileTail,
) -> std::io::Result<()> {
    write_frame(wr, &[], head, tail.len).await?;
    let Some(h) = tail.open.handle() else {
        return write_zeros(wr, tail.len).await;
    };
    let mut offset = tail.offset;
    let mut left = tail.len;
    let sock: &TcpStream = wr.as_ref();
    while left > 0 {
        sock.writable().await?;
        let r = sock.try_io(tokio::io::Interest::WRITABLE, || {
            let mut off = offset;
            rustix::fs::sendfile(sock, h.as_fd(), Some(&mut off), left)
                .map_err(std::io::Error::from)
        });
        match r {
            Ok(0) => return write_zeros(wr, left).await,
            Ok(n) => {
                offset = offset.saturating_add(n as u64);
                left = left.saturating_sub(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn write_zeros(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    mut n: usize,
) -> std::io::Result<()> {
    let zeros = [0u8; 4096];
    while n > 0 {
        let k = n.min(zeros.len());
        wr.write_all(zeros.get(..k).unwrap_or(&[])).await?;
        n -= k;
    }
    Ok(())
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
    went_async: &mut Vec<u64>,
    tail: &mut Option<dispatch::FileTail>,
    transform: &mut Option<[u8; TRANSFORM_HEADER_LEN]>,
) -> Result<Option<Vec<u8>>, ()> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match frame.get(..4) {
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
