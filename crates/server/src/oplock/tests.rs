//! Unit tests of the oplock and lease table.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
use super::*;
use crate::pending::AsyncTable;
use std::sync::atomic::{AtomicBool, Ordering};
use wire::header::{Header, HEADER_LEN};
use wire::Command;

fn target(t: &AsyncTable) -> (BreakTarget, Arc<Mutex<Vec<Vec<u8>>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    t.set_sink(Arc::new(move |b| g.lock().unwrap().push(b)));
    (
        BreakTarget {
            conn_id: 1,
            notifier: t.notifier(),
            encrypt: None,
        },
        got,
    )
}

fn fid(n: u64) -> FileId {
    FileId {
        persistent: n,
        volatile: n,
    }
}

const ALL_ACCESS: u32 = wire::create::access::FILE_ALL_ACCESS;

#[test]
fn batch_breaks_to_level_two_and_waits_for_the_ack() {
    let table = OplockTable::default();
    let conn = AsyncTable::default();
    let (tgt, sent) = target(&conn);
    let obj = (1, 2);
    let g = table.grant(
        obj,
        1,
        fid(1),
        ALL_ACCESS,
        false,
        tgt.clone(),
        Requested::Oplock(oplock::BATCH),
    );
    assert_eq!(g.oplock_level, oplock::BATCH);
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let mut w = move || -> Option<Waiter> {
        let r = r2.clone();
        Some(Box::new(move || r.store(true, Ordering::SeqCst)))
    };
    assert!(!table.before_open(obj, &OpenCheck::default(), &mut w));
    {
        let s = sent.lock().unwrap();
        assert_eq!(s.len(), 1);
        let h = Header::parse(&s[0]).unwrap();
        assert_eq!(h.command, Command::OPLOCK_BREAK.0);
        assert_eq!(h.message_id, u64::MAX);
        assert_eq!(s[0][HEADER_LEN + 2], oplock::LEVEL_II);
    }
    assert!(!ran.load(Ordering::SeqCst));
    // A stat open neither breaks nor waits.
    let stat = OpenCheck {
        stat_open: true,
        oplock_stat_open: true,
        ..Default::default()
    };
    assert!(table.before_open(obj, &stat, &mut || None));
    assert_eq!(
        table.ack_oplock(obj, 1, oplock::LEVEL_II),
        Ok(oplock::LEVEL_II)
    );
    assert!(ran.load(Ordering::SeqCst), "the waiting open retries");
    assert_eq!(
        table.ack_oplock(obj, 1, oplock::LEVEL_II),
        Err(NtStatus::INVALID_OPLOCK_PROTOCOL),
        "no break in progress"
    );
    let g2 = table.grant(
        obj,
        2,
        fid(2),
        ALL_ACCESS,
        false,
        tgt,
        Requested::Oplock(oplock::BATCH),
    );
    assert_eq!(g2.oplock_level, oplock::LEVEL_II);
    // A write breaks level II to none, the writer's own included, unacknowledged.
    table.break_for_write(obj, 2);
    assert_eq!(sent.lock().unwrap().len(), 3);
}

#[test]
fn lease_shared_by_key_breaks_rwh_to_rh() {
    let table = OplockTable::default();
    let conn = AsyncTable::default();
    let (tgt, sent) = target(&conn);
    let obj = (3, 4);
    let k1 = LeaseId {
        client_guid: [1; 16],
        key: [7; 16],
    };
    let ctx = LeaseContext {
        key: k1.key,
        state: ALL,
        v2: true,
        epoch: 4,
        ..Default::default()
    };
    let g = table.grant(
        obj,
        1,
        fid(1),
        ALL_ACCESS,
        false,
        tgt.clone(),
        Requested::Lease(k1, ctx),
    );
    let l = g.lease.unwrap();
    assert_eq!((g.oplock_level, l.state, l.epoch), (oplock::LEASE, ALL, 5));
    // The same key from a second open shares the lease without a break.
    let check1 = OpenCheck {
        lease: Some(k1),
        ..Default::default()
    };
    assert!(table.before_open(obj, &check1, &mut || None));
    let g = table.grant(
        obj,
        2,
        fid(2),
        ALL_ACCESS,
        false,
        tgt.clone(),
        Requested::Lease(k1, ctx),
    );
    assert_eq!(g.lease.unwrap().state, ALL);
    assert!(sent.lock().unwrap().is_empty());
    assert_eq!(
        table.check_lease_key(&k1, Some((9, 9))),
        Err(NtStatus::INVALID_PARAMETER)
    );
    // Another key: RWH breaks to RH, acknowledged.
    let k2 = LeaseId {
        client_guid: [2; 16],
        key: [8; 16],
    };
    let check2 = OpenCheck {
        lease: Some(k2),
        ..Default::default()
    };
    assert!(!table.before_open(obj, &check2, &mut || Some(Box::new(|| ()))));
    {
        let s = sent.lock().unwrap();
        assert_eq!(s.len(), 1, "one break for the lease, not one per open");
        let b = &s[0][HEADER_LEN..];
        assert_eq!(
            u32::from_le_bytes(b[4..8].try_into().unwrap()),
            1,
            "ack required"
        );
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), ALL);
        assert_eq!(
            u32::from_le_bytes(b[28..32].try_into().unwrap()),
            READ | HANDLE
        );
    }
    assert_eq!(
        table.ack_lease(&k1, ALL),
        Err(NtStatus::REQUEST_NOT_ACCEPTED)
    );
    assert_eq!(table.ack_lease(&k1, READ | HANDLE), Ok(READ | HANDLE));
    assert_eq!(table.ack_lease(&k1, READ), Err(NtStatus::UNSUCCESSFUL));
    let ctx2 = LeaseContext { key: k2.key, ..ctx };
    let g = table.grant(
        obj,
        3,
        fid(3),
        ALL_ACCESS,
        false,
        tgt,
        Requested::Lease(k2, ctx2),
    );
    assert_eq!(g.lease.unwrap().state, READ | HANDLE);
    table.release(obj, 1);
    table.release(obj, 2);
    table.release(obj, 3);
    assert!(!table.has_holders(obj));
    assert_eq!(table.check_lease_key(&k1, Some((9, 9))), Ok(()));
}

fn lease_break(msg: &[u8]) -> (u16, u32, u32, u32) {
    let b = &msg[HEADER_LEN..];
    (
        u16::from_le_bytes(b[2..4].try_into().unwrap()),
        u32::from_le_bytes(b[4..8].try_into().unwrap()),
        u32::from_le_bytes(b[24..28].try_into().unwrap()),
        u32::from_le_bytes(b[28..32].try_into().unwrap()),
    )
}

fn lease_ctx(key: [u8; 16], state: u32, v2: bool) -> LeaseContext {
    LeaseContext {
        key,
        state,
        v2,
        epoch: if v2 { 0x10 } else { 0 },
        ..Default::default()
    }
}

fn waiter(flag: &Arc<AtomicBool>) -> impl FnMut() -> Option<Waiter> {
    let f = flag.clone();
    move || -> Option<Waiter> {
        let f = f.clone();
        Some(Box::new(move || f.store(true, Ordering::SeqCst)))
    }
}

#[test]
fn breaking_lease_steps_through_read_and_keeps_its_epoch() {
    let table = OplockTable::default();
    let conn = AsyncTable::default();
    let (tgt, sent) = target(&conn);
    let obj = (5, 6);
    let k1 = LeaseId {
        client_guid: [1; 16],
        key: [1; 16],
    };
    let g = table.grant(
        obj,
        1,
        fid(1),
        ALL_ACCESS,
        false,
        tgt,
        Requested::Lease(k1, lease_ctx(k1.key, ALL, true)),
    );
    assert_eq!(g.lease.unwrap().epoch, 0x11);
    // A plain open: RWH breaks to RH and the open waits.
    let first = Arc::new(AtomicBool::new(false));
    assert!(!table.before_open(obj, &OpenCheck::default(), &mut waiter(&first)));
    assert_eq!(
        lease_break(&sent.lock().unwrap()[0]),
        (0x12, 1, ALL, READ | HANDLE)
    );
    // An overwrite during the break sends nothing now, and waits too.
    let second = Arc::new(AtomicBool::new(false));
    let overwrite = OpenCheck {
        overwrite: true,
        ..Default::default()
    };
    assert!(!table.before_open(obj, &overwrite, &mut waiter(&second)));
    assert_eq!(sent.lock().unwrap().len(), 1);
    // The ack of RH brings RH -> R (not straight to none), same epoch, acknowledged.
    assert_eq!(table.ack_lease(&k1, READ | HANDLE), Ok(READ | HANDLE));
    assert_eq!(
        lease_break(&sent.lock().unwrap()[1]),
        (0x12, 1, READ | HANDLE, READ)
    );
    assert!(first.load(Ordering::SeqCst), "waiters retry after each ack");
    // Retried, both opens still wait while the lease is breaking (the
    // overwrite lowering the break's end to none again).
    let retried = OpenCheck {
        retry: true,
        ..Default::default()
    };
    assert!(!table.before_open(obj, &retried, &mut || Some(Box::new(|| ()))));
    let overwrite_retried = OpenCheck {
        retry: true,
        ..overwrite
    };
    assert!(!table.before_open(obj, &overwrite_retried, &mut || Some(Box::new(|| ()))));
    assert_eq!(sent.lock().unwrap().len(), 2);
    // The ack of R brings R -> none, which needs no ack; then opens go on.
    assert_eq!(table.ack_lease(&k1, READ), Ok(READ));
    assert_eq!(lease_break(&sent.lock().unwrap()[2]), (0x12, 0, READ, NONE));
    assert!(table.before_open(obj, &retried, &mut || None));
    assert!(table.before_open(obj, &overwrite_retried, &mut || None));
    assert_eq!(sent.lock().unwrap().len(), 3);
}

#[test]
fn unacknowledged_lease_break_times_out_to_none() {
    let table = OplockTable::default();
    table.set_break_timeout(Duration::from_millis(20));
    let conn = AsyncTable::default();
    let (tgt, _sent) = target(&conn);
    let obj = (7, 8);
    let k1 = LeaseId {
        client_guid: [1; 16],
        key: [2; 16],
    };
    table.grant(
        obj,
        1,
        fid(1),
        ALL_ACCESS,
        false,
        tgt.clone(),
        Requested::Lease(k1, lease_ctx(k1.key, ALL, false)),
    );
    let woke = Arc::new(AtomicBool::new(false));
    assert!(!table.before_open(obj, &OpenCheck::default(), &mut waiter(&woke)));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !woke.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        woke.load(Ordering::SeqCst),
        "the timeout lets the open go on"
    );
    // Too late: nothing is breaking any more, and the lease caches nothing.
    assert_eq!(
        table.ack_lease(&k1, READ | HANDLE),
        Err(NtStatus::UNSUCCESSFUL)
    );
    let g = table.grant(
        obj,
        2,
        fid(2),
        ALL_ACCESS,
        false,
        tgt,
        Requested::Lease(k1, lease_ctx(k1.key, NONE, false)),
    );
    assert_eq!(g.lease.unwrap().state, NONE);
}

#[test]
fn lease_breaks_go_to_the_clients_oldest_connection() {
    let table = OplockTable::default();
    let (c1, c2) = (AsyncTable::default(), AsyncTable::default());
    let (mut t1, sent1) = target(&c1);
    let (mut t2, sent2) = target(&c2);
    t1.conn_id = 1;
    t2.conn_id = 2;
    let client = [9; 16];
    let k1 = LeaseId {
        client_guid: client,
        key: [1; 16],
    };
    let k2 = LeaseId {
        client_guid: client,
        key: [2; 16],
    };
    let obj = (9, 9);
    // LEASE1 on the first connection, LEASE2 (read only) on the second.
    table.grant(
        obj,
        1,
        fid(1),
        ALL_ACCESS,
        false,
        t1,
        Requested::Lease(k1, lease_ctx(k1.key, READ, false)),
    );
    table.grant(
        obj,
        2,
        fid(2),
        ALL_ACCESS,
        false,
        t2.clone(),
        Requested::Lease(k2, lease_ctx(k2.key, READ, false)),
    );
    // A write by a third open breaks both read leases to none, unacknowledged;
    // both breaks go to connection 1, though LEASE2's only open is on 2.
    table.break_for_write(obj, 3);
    assert_eq!(sent1.lock().unwrap().len(), 2);
    assert!(sent2.lock().unwrap().is_empty());
    // Once the first connection is gone, the second gets them.
    drop(c1);
    table.release(obj, 1);
    table.grant(
        obj,
        4,
        fid(4),
        ALL_ACCESS,
        false,
        t2,
        Requested::Lease(k1, lease_ctx(k1.key, READ, false)),
    );
    table.break_for_write(obj, 3);
    assert_eq!(sent2.lock().unwrap().len(), 1);
}

#[test]
fn read_control_opens_break_oplocks_but_not_leases() {
    use wire::create::access::{FILE_READ_ATTRIBUTES, READ_CONTROL, SYNCHRONIZE};
    assert!(is_stat_open(READ_CONTROL | SYNCHRONIZE));
    assert!(!is_oplock_stat_open(READ_CONTROL | SYNCHRONIZE));
    assert!(is_oplock_stat_open(FILE_READ_ATTRIBUTES | SYNCHRONIZE));
    let table = OplockTable::default();
    let conn = AsyncTable::default();
    let (tgt, sent) = target(&conn);
    let k1 = LeaseId {
        client_guid: [1; 16],
        key: [3; 16],
    };
    let check = OpenCheck {
        stat_open: is_stat_open(READ_CONTROL),
        oplock_stat_open: is_oplock_stat_open(READ_CONTROL),
        ..Default::default()
    };
    let leased = (10, 1);
    table.grant(
        leased,
        1,
        fid(1),
        ALL_ACCESS,
        false,
        tgt.clone(),
        Requested::Lease(k1, lease_ctx(k1.key, ALL, false)),
    );
    assert!(table.before_open(leased, &check, &mut || None));
    assert!(sent.lock().unwrap().is_empty(), "the lease is not broken");
    let batch = (10, 2);
    table.grant(
        batch,
        2,
        fid(2),
        ALL_ACCESS,
        false,
        tgt,
        Requested::Oplock(oplock::BATCH),
    );
    assert!(!table.before_open(batch, &check, &mut || Some(Box::new(|| ()))));
    let s = sent.lock().unwrap();
    assert_eq!(s.len(), 1, "the batch oplock breaks");
    assert_eq!(s[0][HEADER_LEN + 2], oplock::LEVEL_II);
}
