#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Would an io_uring file I/O backend beat what the server does now?
//!
//! The server answers a small READ whose data is in the page cache inline on
//! its network thread (a `preadv2(RWF_NOWAIT)` probe, then `pread`), and sends
//! every other READ/WRITE to tokio's blocking pool. This bench compares, over a
//! 256 MiB file, per-operation cost of:
//!
//! - `inline`: `pread` on the calling thread (and `probe+inline`, the probe
//!   followed by the read, which is what the server does today);
//! - `pool-N` (N = 2, 4, 32): a model of `spawn_blocking` (a Mutex+Condvar job queue, N worker
//!   threads each reading into a fresh Vec, results sent back over a channel),
//!   the caller keeping the queue depth in flight (`pool-2-reusebuf`: the
//!   caller hands buffers back for reuse instead of a fresh Vec per job);
//! - `uring-*`: one ring of 64 entries, the caller keeping the queue depth of
//!   `Read` SQEs in flight, reaping and resubmitting; plain and registered
//!   buffers, SINGLE_ISSUER with COOP_TASKRUN or DEFER_TASKRUN, SQPOLL, and
//!   IOSQE_ASYNC (reads punted to the ring's io-wq workers).
//!
//! Workloads: 4 KiB random aligned reads at queue depth 32 and 1 MiB sequential
//! reads at queue depth 8, all in the page cache; and 4 KiB random reads at
//! queue depth 32 with the file's pages dropped (`POSIX_FADV_DONTNEED`) before
//! each batch of 1024.
//!
//! Before criterion runs, a fixed-count pass prints (to stderr) ops/s, and CPU
//! time per operation from `getrusage`: the whole process (`RUSAGE_SELF`, which
//! includes pool workers and io_uring kernel workers) and the calling thread
//! alone (`RUSAGE_THREAD`, the network thread's share).
//!
//! `cargo bench -p rsmbd-vfs --bench io_backend`

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use io_uring::{opcode, squeue, types, IoUring};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// Ops between two page drops in the uncached workload.
const UNCACHED_BATCH: u64 = 1024;
/// Runs per backend in the fixed-count pass (the median is printed).
const REPS: u64 = 3;

// ---------------------------------------------------------------------------
// The file

struct Fixture {
    path: PathBuf,
    fd: OwnedFd,
    size: u64,
}

impl Fixture {
    fn new(size: u64) -> Fixture {
        let path =
            std::env::temp_dir().join(format!("rsmbd-io-backend-{}.dat", std::process::id()));
        let mut f = File::create(&path).unwrap();
        let mut chunk = vec![0u8; MIB];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for b in chunk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let mut left = size;
        while left > 0 {
            let n = left.min(MIB as u64) as usize;
            f.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        // Dirty pages are not dropped by DONTNEED: write them back first.
        f.sync_all().unwrap();
        drop(f);
        let fd: OwnedFd = File::open(&path).unwrap().into();
        let fx = Fixture { path, fd, size };
        fx.warm();
        fx
    }

    /// Read the whole file so it is in the page cache.
    fn warm(&self) {
        let mut buf = vec![0u8; MIB];
        let mut off = 0u64;
        while off < self.size {
            let n = rustix::io::pread(&self.fd, &mut buf, off).unwrap();
            assert!(n > 0);
            off += n as u64;
        }
    }

    /// Drop the file's pages from the page cache.
    fn drop_cache(&self) {
        // SAFETY: plain syscall on a valid descriptor.
        let r =
            unsafe { libc::posix_fadvise(self.fd.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(r, 0, "posix_fadvise");
    }

    /// How many of `probe` offsets (4 KiB each) are in the page cache now.
    fn cached_count(&self, offsets: &[u64]) -> usize {
        let mut buf = vec![0u8; 4 * KIB];
        offsets
            .iter()
            .filter(|&&off| {
                let mut iov = [std::io::IoSliceMut::new(&mut buf)];
                rustix::io::preadv2(&self.fd, &mut iov, off, rustix::io::ReadWriteFlags::NOWAIT)
                    .is_ok()
            })
            .count()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Workloads

#[derive(Clone)]
struct Pattern {
    len: usize,
    qd: usize,
    /// Offsets, used cyclically (length a power of two).
    offsets: Arc<Vec<u64>>,
}

impl Pattern {
    fn random(size: u64, len: usize, qd: usize) -> Pattern {
        let blocks = size / len as u64;
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let offsets = (0..1 << 16)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % blocks) * len as u64
            })
            .collect();
        Pattern {
            len,
            qd,
            offsets: Arc::new(offsets),
        }
    }

    fn sequential(size: u64, len: usize, qd: usize) -> Pattern {
        let blocks = size / len as u64;
        let n = blocks.next_power_of_two().max(1);
        let offsets = (0..n).map(|i| (i % blocks) * len as u64).collect();
        Pattern {
            len,
            qd,
            offsets: Arc::new(offsets),
        }
    }

    fn offset(&self, i: u64) -> u64 {
        self.offsets[(i as usize) & (self.offsets.len() - 1)]
    }
}

// ---------------------------------------------------------------------------
// Backends

trait Backend {
    /// Perform `n` reads, pattern ops `start..start + n`, keeping the queue
    /// depth in flight.
    fn run(&mut self, pat: &Pattern, start: u64, n: u64);
}

fn pread_full(fd: BorrowedFd<'_>, out: &mut Vec<u8>, len: usize, off: u64) {
    out.clear();
    out.reserve_exact(len);
    while out.len() < len {
        let at = off + out.len() as u64;
        match rustix::io::pread(fd, rustix::buffer::spare_capacity(&mut *out), at) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("pread: {e}"),
        }
    }
    out.truncate(len);
    assert_eq!(out.len(), len);
}

/// `pread` on the calling thread into a reused buffer (the response buffer).
struct Inline {
    fd: OwnedFd,
    buf: Vec<u8>,
    probe: Option<Vec<u8>>,
}

impl Inline {
    fn new(fd: OwnedFd, probe: bool) -> Inline {
        Inline {
            fd,
            buf: Vec::new(),
            probe: probe.then(Vec::new),
        }
    }
}

impl Backend for Inline {
    fn run(&mut self, pat: &Pattern, start: u64, n: u64) {
        for i in start..start + n {
            let off = pat.offset(i);
            if let Some(p) = self.probe.as_mut() {
                // What the server does first: a zero-filled probe buffer read
                // with RWF_NOWAIT.
                p.clear();
                p.resize(pat.len, 0);
                let mut iov = [std::io::IoSliceMut::new(p)];
                let r = rustix::io::preadv2(
                    &self.fd,
                    &mut iov,
                    off,
                    rustix::io::ReadWriteFlags::NOWAIT,
                );
                std::hint::black_box(&r);
            }
            pread_full(self.fd.as_fd(), &mut self.buf, pat.len, off);
            std::hint::black_box(&self.buf);
        }
    }
}

/// A model of tokio's blocking pool: a Mutex+Condvar job queue drained by
/// worker threads; each job reads into its own Vec and sends it back.
struct Pool {
    inner: Arc<PoolInner>,
    done: mpsc::Receiver<Vec<u8>>,
    workers: Vec<JoinHandle<()>>,
    /// Hand finished buffers back with the next jobs instead of letting each
    /// job allocate (isolates the handoff from the allocator and page faults).
    reuse: bool,
    spare: Vec<Vec<u8>>,
}

struct PoolInner {
    queue: Mutex<PoolQueue>,
    cv: Condvar,
}

struct PoolQueue {
    jobs: VecDeque<(u64, usize, Vec<u8>)>,
    shutdown: bool,
}

impl Pool {
    fn new(fd: &OwnedFd, threads: usize, reuse: bool) -> Pool {
        let inner = Arc::new(PoolInner {
            queue: Mutex::new(PoolQueue {
                jobs: VecDeque::new(),
                shutdown: false,
            }),
            cv: Condvar::new(),
        });
        let (tx, done) = mpsc::channel();
        let workers = (0..threads)
            .map(|_| {
                let inner = inner.clone();
                let tx = tx.clone();
                let fd = fd.try_clone().unwrap();
                std::thread::spawn(move || loop {
                    let job = {
                        let mut q = inner.queue.lock().unwrap();
                        loop {
                            if let Some(j) = q.jobs.pop_front() {
                                break Some(j);
                            }
                            if q.shutdown {
                                break None;
                            }
                            q = inner.cv.wait(q).unwrap();
                        }
                    };
                    let Some((off, len, mut v)) = job else { return };
                    pread_full(fd.as_fd(), &mut v, len, off);
                    if tx.send(v).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Pool {
            inner,
            done,
            workers,
            reuse,
            spare: Vec::new(),
        }
    }

    fn push(&mut self, off: u64, len: usize) {
        let v = self.spare.pop().unwrap_or_default();
        self.inner
            .queue
            .lock()
            .unwrap()
            .jobs
            .push_back((off, len, v));
        self.inner.cv.notify_one();
    }
}

impl Backend for Pool {
    fn run(&mut self, pat: &Pattern, start: u64, n: u64) {
        let end = start + n;
        let mut next = start;
        while next < end && next - start < pat.qd as u64 {
            self.push(pat.offset(next), pat.len);
            next += 1;
        }
        for _ in 0..n {
            let v = self.done.recv().unwrap();
            assert_eq!(v.len(), pat.len);
            let v = std::hint::black_box(v);
            if self.reuse {
                self.spare.push(v);
            }
            if next < end {
                self.push(pat.offset(next), pat.len);
                next += 1;
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(mut q) = self.inner.queue.lock() {
            q.shutdown = true;
        }
        self.inner.cv.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum RingKind {
    Plain,
    Fixed,
    SingleIssuerCoop,
    SingleIssuerDefer,
    SqPoll,
    /// IOSQE_ASYNC on every SQE: the read runs in an io-wq kernel worker, not
    /// inline in `io_uring_enter` (the ring's own thread pool).
    Async,
}

impl RingKind {
    fn name(self) -> &'static str {
        match self {
            RingKind::Plain => "uring",
            RingKind::Fixed => "uring-fixedbuf",
            RingKind::SingleIssuerCoop => "uring-si-coop",
            RingKind::SingleIssuerDefer => "uring-si-defer",
            RingKind::SqPoll => "uring-sqpoll",
            RingKind::Async => "uring-async",
        }
    }
}

/// One ring; a slot (buffer) per request in flight.
struct Ring {
    ring: IoUring,
    fd: OwnedFd,
    bufs: Vec<Vec<u8>>,
    fixed: bool,
    force_async: bool,
}

impl Ring {
    fn new(fd: &OwnedFd, kind: RingKind, qd: usize, len: usize) -> std::io::Result<Ring> {
        let mut b = IoUring::builder();
        match kind {
            RingKind::Plain | RingKind::Fixed | RingKind::Async => {}
            RingKind::SingleIssuerCoop => {
                b.setup_single_issuer().setup_coop_taskrun();
            }
            RingKind::SingleIssuerDefer => {
                b.setup_single_issuer().setup_defer_taskrun();
            }
            RingKind::SqPoll => {
                b.setup_sqpoll(2000);
            }
        }
        let ring = b.build(64)?;
        let mut bufs: Vec<Vec<u8>> = (0..qd).map(|_| vec![0u8; len]).collect();
        let fixed = matches!(kind, RingKind::Fixed);
        if fixed {
            let iov: Vec<libc::iovec> = bufs
                .iter_mut()
                .map(|b| libc::iovec {
                    iov_base: b.as_mut_ptr().cast(),
                    iov_len: b.len(),
                })
                .collect();
            // SAFETY: the buffers live as long as the ring (dropped after it,
            // never reallocated).
            unsafe { ring.submitter().register_buffers(&iov)? };
        }
        Ok(Ring {
            ring,
            fd: fd.try_clone()?,
            bufs,
            fixed,
            force_async: matches!(kind, RingKind::Async),
        })
    }

    fn push(&mut self, slot: usize, off: u64) {
        let buf = &mut self.bufs[slot];
        let fd = types::Fd(self.fd.as_raw_fd());
        let sqe = if self.fixed {
            opcode::ReadFixed::new(fd, buf.as_mut_ptr(), buf.len() as u32, slot as u16)
                .offset(off)
                .build()
        } else {
            opcode::Read::new(fd, buf.as_mut_ptr(), buf.len() as u32)
                .offset(off)
                .build()
        }
        .user_data(slot as u64);
        let sqe = if self.force_async {
            sqe.flags(squeue::Flags::ASYNC)
        } else {
            sqe
        };
        // SAFETY: the buffer outlives the request (the ring is drained before
        // `run` returns, and the buffers are only dropped with the ring).
        unsafe { self.ring.submission().push(&sqe).unwrap() };
    }
}

impl Backend for Ring {
    fn run(&mut self, pat: &Pattern, start: u64, n: u64) {
        assert!(self.bufs.len() >= pat.qd && self.bufs[0].len() == pat.len);
        let end = start + n;
        let mut next = start;
        for slot in 0..pat.qd {
            if next == end {
                break;
            }
            self.push(slot, pat.offset(next));
            next += 1;
        }
        let mut done = 0u64;
        let mut reaped: Vec<(usize, i32)> = Vec::with_capacity(pat.qd);
        while done < n {
            self.ring.submit_and_wait(1).unwrap();
            reaped.clear();
            reaped.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data() as usize, c.result())),
            );
            for &(slot, res) in &reaped {
                // Short reads do not happen on a regular file in the cache or
                // on a local disk within the file size.
                assert_eq!(res, pat.len as i32, "io_uring read result");
                std::hint::black_box(&self.bufs[slot]);
                done += 1;
                if next < end {
                    self.push(slot, pat.offset(next));
                    next += 1;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Cases

#[derive(Clone, Copy, PartialEq)]
enum Cache {
    Warm,
    Dropped,
}

struct Case {
    name: &'static str,
    pat: Pattern,
    cache: Cache,
    /// Ops for the fixed-count CPU pass.
    ops: u64,
}

fn backends(fx: &Fixture, pat: &Pattern, cache: Cache) -> Vec<(String, Box<dyn Backend>)> {
    let mut v: Vec<(String, Box<dyn Backend>)> = Vec::new();
    let fd = || fx.fd.try_clone().unwrap();
    v.push(("inline".into(), Box::new(Inline::new(fd(), false))));
    if cache == Cache::Warm && pat.len <= 64 * KIB {
        v.push(("probe+inline".into(), Box::new(Inline::new(fd(), true))));
    }
    // tokio's pool grows a thread per blocked job (up to 512): 32 threads is
    // what `spawn_blocking` would reach with 32 reads waiting on the disk.
    for threads in [2, 4, 32] {
        v.push((
            format!("pool-{threads}"),
            Box::new(Pool::new(&fx.fd, threads, false)),
        ));
    }
    v.push((
        "pool-2-reusebuf".into(),
        Box::new(Pool::new(&fx.fd, 2, true)),
    ));
    for kind in [
        RingKind::Plain,
        RingKind::Fixed,
        RingKind::SingleIssuerCoop,
        RingKind::SingleIssuerDefer,
        RingKind::SqPoll,
        RingKind::Async,
    ] {
        match Ring::new(&fx.fd, kind, pat.qd, pat.len) {
            Ok(r) => v.push((kind.name().into(), Box::new(r))),
            Err(e) => eprintln!("io_uring {kind:?} unavailable: {e}"),
        }
    }
    v
}

/// Run `n` ops; with dropped pages, drop them every `UNCACHED_BATCH` ops and
/// count only the time (and CPU) spent on the reads.
fn measure(
    fx: &Fixture,
    b: &mut dyn Backend,
    pat: &Pattern,
    cache: Cache,
    start: u64,
    n: u64,
) -> (Duration, Cpu) {
    match cache {
        Cache::Warm => {
            let c0 = Cpu::now();
            let t0 = Instant::now();
            b.run(pat, start, n);
            (t0.elapsed(), Cpu::now().since(c0))
        }
        Cache::Dropped => {
            let mut wall = Duration::ZERO;
            let mut cpu = Cpu::default();
            let mut i = 0;
            while i < n {
                let k = (n - i).min(UNCACHED_BATCH);
                fx.drop_cache();
                let c0 = Cpu::now();
                let t0 = Instant::now();
                b.run(pat, start + i, k);
                wall += t0.elapsed();
                cpu = cpu.add(Cpu::now().since(c0));
                i += k;
            }
            (wall, cpu)
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Cpu {
    /// Whole process, user+sys.
    process: Duration,
    /// Calling thread, user+sys.
    thread: Duration,
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::getrusage(who, &mut ru) };
    assert_eq!(r, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

impl Cpu {
    fn now() -> Cpu {
        Cpu {
            process: rusage(libc::RUSAGE_SELF),
            thread: rusage(libc::RUSAGE_THREAD),
        }
    }
    fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            process: self.process.saturating_sub(earlier.process),
            thread: self.thread.saturating_sub(earlier.thread),
        }
    }
    fn add(self, o: Cpu) -> Cpu {
        Cpu {
            process: self.process + o.process,
            thread: self.thread + o.thread,
        }
    }
}

fn report(fx: &Fixture, cases: &[Case]) {
    eprintln!();
    eprintln!(
        "fixed-count pass, median of {REPS}: CPU from getrusage (process = RUSAGE_SELF, caller = RUSAGE_THREAD)"
    );
    eprintln!(
        "{:<28} {:<16} {:>9} {:>12} {:>10} {:>13} {:>12}",
        "case", "backend", "ops", "ops/s", "GiB/s", "cpu us/op", "caller us/op"
    );
    for case in cases {
        if case.cache == Cache::Warm {
            fx.warm();
        } else {
            fx.drop_cache();
            let probe: Vec<u64> = (0..256).map(|i| case.pat.offset(i)).collect();
            eprintln!(
                "  (after POSIX_FADV_DONTNEED, {} of 256 sampled 4 KiB blocks still cached)",
                fx.cached_count(&probe)
            );
        }
        for (name, mut b) in backends(fx, &case.pat, case.cache) {
            // Inline reads of dropped pages run at queue depth 1: fewer ops.
            let ops = if case.cache == Cache::Dropped && name == "inline" {
                case.ops / 4
            } else {
                case.ops
            };
            // Warm up (thread start, ring setup, allocator).
            let _ = measure(fx, b.as_mut(), &case.pat, case.cache, 0, ops / 10 + 1);
            // Other load on the machine makes single runs noisy: take the median.
            let mut runs: Vec<(Duration, Cpu)> = (0..REPS)
                .map(|r| measure(fx, b.as_mut(), &case.pat, case.cache, (r + 1) << 20, ops))
                .collect();
            runs.sort_by_key(|r| r.0);
            let (wall, cpu) = runs[runs.len() / 2];
            let secs = wall.as_secs_f64();
            let us = |d: Duration| d.as_secs_f64() * 1e6 / ops as f64;
            eprintln!(
                "{:<28} {:<16} {:>9} {:>12.0} {:>10.2} {:>13.2} {:>12.2}",
                case.name,
                name,
                ops,
                ops as f64 / secs,
                ops as f64 * case.pat.len as f64 / secs / (1u64 << 30) as f64,
                us(cpu.process),
                us(cpu.thread),
            );
        }
    }
    eprintln!();
}

fn bench(c: &mut Criterion, fx: &Fixture, cases: &[Case]) {
    for case in cases {
        let mut g = c.benchmark_group(case.name);
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        if case.pat.len >= MIB {
            g.throughput(Throughput::Bytes(case.pat.len as u64));
        } else {
            g.throughput(Throughput::Elements(1));
        }
        if case.cache == Cache::Warm {
            fx.warm();
        }
        for (name, mut b) in backends(fx, &case.pat, case.cache) {
            let mut at = 0u64;
            g.bench_function(name.as_str(), |bn| {
                bn.iter_custom(|iters| {
                    let (wall, _) = measure(fx, b.as_mut(), &case.pat, case.cache, at, iters);
                    at += iters;
                    wall
                })
            });
        }
        g.finish();
    }
}

fn main() {
    // Criterion runs each routine once unless `cargo bench` passed `--bench`
    // (`cargo test --benches`): keep that cheap.
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let size: u64 = if test_mode { 16 << 20 } else { 256 << 20 };
    let fx = Fixture::new(size);
    let cases = [
        Case {
            name: "read_4k_random_qd32_cached",
            pat: Pattern::random(size, 4 * KIB, 32),
            cache: Cache::Warm,
            ops: 200_000,
        },
        Case {
            name: "read_1m_seq_qd8_cached",
            pat: Pattern::sequential(size, MIB, 8),
            cache: Cache::Warm,
            ops: 4_000,
        },
        Case {
            name: "read_4k_random_qd32_uncached",
            pat: Pattern::random(size, 4 * KIB, 32),
            cache: Cache::Dropped,
            ops: 16 * UNCACHED_BATCH,
        },
    ];
    if !test_mode {
        report(&fx, &cases);
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &fx, &cases);
    c.final_summary();
}
