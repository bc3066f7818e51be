//! Oplocks and leases of every open file, across connections (MS-SMB2
//! 3.3.1.4 GlobalLeaseTableList, 3.3.1.12 Lease; grant and break rules of
//! MS-FSA 2.1.5.17 and 2.1.4.12, sending breaks per MS-SMB2 3.3.4.6/3.3.4.7).
//!
//! Oplocks are kept in the same R/W/H terms as leases (level II = R,
//! exclusive = RW, batch = RWH), so one set of rules serves both. Each open
//! file (keyed by device and inode, a stream by its own key) lists its opens
//! ("holders"); a lease lives in a table keyed by (ClientGuid, LeaseKey) and
//! is shared by every open that names it, from any connection.
//!
//! ```text
//!   granted ──(conflicting open / write)──► breaking ──(ack or timeout)──► lowered
//!      ▲                                        │ further conflict: lower the target;
//!      └──────── upgrade (same lease key) ◄─────┘ a second break follows the ack
//! ```
//!
//! A CREATE that must wait for an acknowledgement registers a waiter on the
//! file; acks, timeouts and closes run the file's waiters, which retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use wire::create::{oplock, FileId};
use wire::header::{Header, FLAGS_SERVER_TO_REDIR, HEADER_LEN};
use wire::oplock_break::{
    encode_lease_break, encode_oplock_break, lease_flags, lease_state::*, LeaseContext,
    NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED,
};
use wire::{Command, NtStatus};

use crate::pending::Notifier;
use crate::state::{lock, SessionCrypto};

/// Key of an open file or stream in the table.
pub type ObjKey = (u64, u64);

/// A lease's identity (MS-SMB2 3.3.1.4: leases are per client).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LeaseId {
    pub client_guid: [u8; 16],
    pub key: [u8; 16],
}

/// Where break notifications for an open go, and how they are protected.
#[derive(Clone)]
pub struct BreakTarget {
    pub notifier: Notifier,
    /// Encrypt for this session (when it or its tree requires encryption).
    pub encrypt: Option<(Arc<SessionCrypto>, u64)>,
}

/// Work run when a break the caller waited for is over.
pub type Waiter = Box<dyn FnOnce() + Send>;

/// Caching state of an oplock or lease, and the break in progress.
#[derive(Clone, Copy, Default, Debug)]
struct Caching {
    state: u32,
    breaking: bool,
    /// What the pending break asked the client to go to.
    breaking_to: u32,
    /// What conflicts since then require (a second break follows the ack).
    required: u32,
    /// Tells a timeout of this break from one of an earlier break.
    generation: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Grant {
    None,
    Oplock,
    Lease(LeaseId),
}

struct Holder {
    open: u64,
    file_id: FileId,
    stat_open: bool,
    grant: Grant,
    /// For oplocks; a lease keeps its own.
    caching: Caching,
    target: BreakTarget,
}

struct Lease {
    obj: ObjKey,
    caching: Caching,
    epoch: u16,
    v2: bool,
    is_dir: bool,
    opens: usize,
}

#[derive(Default)]
struct FileState {
    holders: Vec<Holder>,
    waiters: Vec<Waiter>,
}

#[derive(Default)]
struct Tables {
    files: HashMap<ObjKey, FileState>,
    leases: HashMap<LeaseId, Lease>,
    /// Leases on directories, so creates skip the parent lookup when there are none.
    dir_leases: usize,
    next_generation: u64,
}

/// Who a break timeout is for.
#[derive(Clone, Copy)]
enum Who {
    Open(u64),
    Lease(LeaseId),
}

/// A message to send once the table is unlocked, and timeouts to arm.
#[derive(Default)]
struct Effects {
    sends: Vec<(BreakTarget, Vec<u8>)>,
    timeouts: Vec<(ObjKey, Who, u64)>,
    wake: Vec<Waiter>,
}

/// What a new open asks for and how it meets the existing ones.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenCheck {
    pub lease: Option<LeaseId>,
    /// The opener's v2 ParentLeaseKey (its directory lease is not broken by it).
    pub parent_key: Option<[u8; 16]>,
    pub stat_open: bool,
    /// The open truncates (overwrite, supersede).
    pub overwrite: bool,
    /// Share modes refuse the open as things stand: handle caching is broken first.
    pub sharing_violation: bool,
}

/// What a CREATE asks for (MS-SMB2 2.2.13 RequestedOplockLevel and the lease context).
#[derive(Clone, Copy, Debug)]
pub enum Requested {
    None,
    Oplock(u8),
    Lease(LeaseId, LeaseContext),
}

/// What a CREATE was granted: the response's OplockLevel and lease context.
#[derive(Clone, Copy, Debug, Default)]
pub struct Granted {
    pub oplock_level: u8,
    pub lease: Option<LeaseContext>,
}

/// Opens that only read or set attributes take no part in oplocks
/// (they neither break nor prevent them).
pub fn is_stat_open(access: u32) -> bool {
    use wire::create::access::*;
    access & !(SYNCHRONIZE | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES | READ_CONTROL) == 0
}

fn oplock_to_caching(level: u8) -> u32 {
    match level {
        oplock::BATCH => READ | WRITE | HANDLE,
        oplock::EXCLUSIVE => READ | WRITE,
        oplock::LEVEL_II => READ,
        _ => NONE,
    }
}

fn caching_to_oplock(state: u32) -> u8 {
    if state & WRITE != 0 && state & HANDLE != 0 {
        oplock::BATCH
    } else if state & WRITE != 0 {
        oplock::EXCLUSIVE
    } else if state & READ != 0 {
        oplock::LEVEL_II
    } else {
        oplock::NONE
    }
}

/// The server-wide table.
pub struct OplockTable {
    inner: Arc<Mutex<Tables>>,
    timeout: Mutex<Duration>,
}

impl Default for OplockTable {
    fn default() -> Self {
        OplockTable {
            inner: Default::default(),
            timeout: Mutex::new(Duration::from_secs(35)),
        }
    }
}

impl OplockTable {
    /// How long a break waits for its acknowledgement.
    pub fn set_break_timeout(&self, d: Duration) {
        *lock(&self.timeout) = d;
    }

    /// MS-SMB2 3.3.5.9.11: a lease key names one file; naming another is refused.
    pub fn check_lease_key(&self, id: &LeaseId, obj: Option<ObjKey>) -> Result<(), NtStatus> {
        match lock(&self.inner).leases.get(id) {
            Some(l) if Some(l.obj) != obj => Err(NtStatus::INVALID_PARAMETER),
            _ => Ok(()),
        }
    }

    /// Before a CREATE opens `obj`: breaks what the new open conflicts with
    /// (MS-FSA 2.1.4.12). Returns false when the open must wait for an
    /// acknowledgement; `waiter` is then called (under the table's lock, so
    /// no acknowledgement is missed) for the work to run when it arrives.
    pub fn before_open(
        &self,
        obj: ObjKey,
        check: &OpenCheck,
        waiter: &mut dyn FnMut() -> Option<Waiter>,
    ) -> bool {
        if check.stat_open {
            return true;
        }
        let mut fx = Effects::default();
        let proceed = {
            let mut t = lock(&self.inner);
            let delay = t.break_for_open(obj, check, &mut fx);
            if delay {
                match waiter() {
                    Some(w) => {
                        t.files.entry(obj).or_default().waiters.push(w);
                        false
                    }
                    // Nobody can wait (no Arc to finish the work later): go on.
                    None => true,
                }
            } else {
                true
            }
        };
        self.apply(fx);
        proceed
    }

    /// After the open is in place: records it and grants what it may have
    /// (MS-SMB2 3.3.5.9.8 oplocks, 3.3.5.9.11 leases).
    #[allow(clippy::too_many_arguments)]
    pub fn grant(
        &self,
        obj: ObjKey,
        open: u64,
        file_id: FileId,
        access: u32,
        is_dir: bool,
        target: BreakTarget,
        req: Requested,
    ) -> Granted {
        let mut t = lock(&self.inner);
        let stat_open = is_stat_open(access);
        let own = match req {
            Requested::Lease(id, _) => Some(id),
            _ => None,
        };
        let (any_other, got_oplock, got_handle_lease, got_writer) = t.others(obj, own);
        let mut holder = Holder {
            open,
            file_id,
            stat_open,
            grant: Grant::None,
            caching: Caching::default(),
            target,
        };
        let mut out = Granted::default();
        match req {
            Requested::None => {}
            Requested::Oplock(level) => {
                let mut state = oplock_to_caching(level);
                if is_dir {
                    state = NONE;
                }
                if any_other {
                    // Others open: at most level II (MS-FSA 2.1.5.17).
                    state &= READ;
                }
                if got_handle_lease || got_writer {
                    // A handle-caching lease or a write cache elsewhere leaves no oplock.
                    state = NONE;
                }
                holder.grant = Grant::Oplock;
                holder.caching.state = state;
                out.oplock_level = caching_to_oplock(state);
            }
            Requested::Lease(id, ctx) => {
                let mut want = ctx.state & ALL;
                if want & READ == 0 {
                    want = NONE;
                }
                if is_dir {
                    want &= READ | HANDLE;
                }
                let asked = want;
                if any_other {
                    want &= !WRITE;
                }
                if got_oplock {
                    want &= !HANDLE;
                }
                if is_dir && !t.leases.contains_key(&id) {
                    t.dir_leases = t.dir_leases.saturating_add(1);
                }
                let lease = t.leases.entry(id).or_insert_with(|| Lease {
                    obj,
                    caching: Caching::default(),
                    // MS-SMB2 3.3.5.9.11: a new v2 lease starts one past the client's epoch.
                    epoch: ctx.epoch,
                    v2: ctx.v2,
                    is_dir,
                    opens: 0,
                });
                let fresh = lease.opens == 0;
                lease.opens = lease.opens.saturating_add(1);
                let mut flags = 0;
                if fresh {
                    lease.caching.state = want;
                    lease.epoch = lease.epoch.wrapping_add(1);
                } else if lease.caching.breaking {
                    flags |= lease_flags::BREAK_IN_PROGRESS;
                } else {
                    let cur = lease.caching.state;
                    let up = want;
                    // Only a strict superset granted whole upgrades; anything
                    // else keeps the lease as it is.
                    if up == asked && up & cur == cur && up != cur {
                        lease.caching.state = up;
                        lease.epoch = lease.epoch.wrapping_add(1);
                    }
                }
                // The lease keeps the version it was created with (MS-SMB2 3.3.5.9.11).
                let v2 = lease.v2;
                if v2 && ctx.v2 && ctx.flags & lease_flags::PARENT_LEASE_KEY_SET != 0 {
                    flags |= lease_flags::PARENT_LEASE_KEY_SET;
                }
                holder.grant = Grant::Lease(id);
                out.oplock_level = oplock::LEASE;
                out.lease = Some(LeaseContext {
                    key: ctx.key,
                    state: lease.caching.state,
                    flags,
                    duration: 0,
                    parent_key: if flags & lease_flags::PARENT_LEASE_KEY_SET != 0 {
                        ctx.parent_key
                    } else {
                        [0; 16]
                    },
                    epoch: if v2 { lease.epoch } else { 0 },
                    v2,
                });
            }
        }
        t.files.entry(obj).or_default().holders.push(holder);
        out
    }

    /// An open ended: its oplock goes, its lease loses an open (and goes
    /// with the last), and CREATEs waiting on the file retry.
    pub fn release(&self, obj: ObjKey, open: u64) {
        let mut wake = Vec::new();
        {
            let mut t = lock(&self.inner);
            let Some(f) = t.files.get_mut(&obj) else {
                return;
            };
            let Some(pos) = f.holders.iter().position(|h| h.open == open) else {
                return;
            };
            let h = f.holders.remove(pos);
            wake.append(&mut f.waiters);
            if f.holders.is_empty() {
                t.files.remove(&obj);
            }
            if let Grant::Lease(id) = h.grant {
                if let Some(l) = t.leases.get_mut(&id) {
                    l.opens = l.opens.saturating_sub(1);
                    if l.opens == 0 {
                        if l.is_dir {
                            t.dir_leases = t.dir_leases.saturating_sub(1);
                        }
                        t.leases.remove(&id);
                    }
                }
            }
        }
        for w in wake {
            w();
        }
    }

    /// A write, truncation or size change by `open` (MS-FSA 2.1.4.12 with
    /// level II and read caching): other opens' read caching breaks to none
    /// at once, without waiting for any acknowledgement.
    pub fn break_for_write(&self, obj: ObjKey, open: u64) {
        let mut fx = Effects::default();
        {
            let mut t = lock(&self.inner);
            let Some(f) = t.files.get(&obj) else {
                return;
            };
            let own = f
                .holders
                .iter()
                .find(|h| h.open == open)
                .map(|h| h.grant)
                .unwrap_or(Grant::None);
            let victims: Vec<(Grant, u64)> = f
                .holders
                .iter()
                // A level II oplock breaks even for its own writes; a lease never does.
                .filter(|h| {
                    (h.open != open || h.grant == Grant::Oplock)
                        && (h.grant == Grant::Oplock || own == Grant::None || h.grant != own)
                })
                .map(|h| (h.grant, h.open))
                .collect();
            for (g, o) in victims {
                let state = match g {
                    Grant::None => continue,
                    Grant::Oplock => t.oplock_state(obj, o),
                    Grant::Lease(id) => t.leases.get(&id).map(|l| l.caching).unwrap_or_default(),
                };
                if state.state & READ != 0 && state.state & WRITE == 0 && !state.breaking {
                    t.start_break(obj, g, o, NONE, &mut fx);
                }
            }
        }
        self.apply(fx);
    }

    /// A name was added, removed or renamed in directory `dir`: directory
    /// leases on it break to none (MS-FSA 2.1.5.1 "break parent oplock"),
    /// except the lease the acting open names as its parent.
    pub fn break_parent(&self, dir: ObjKey, except: Option<LeaseId>) {
        let mut fx = Effects::default();
        {
            let mut t = lock(&self.inner);
            let Some(f) = t.files.get(&dir) else {
                return;
            };
            let leases: Vec<LeaseId> = f
                .holders
                .iter()
                .filter_map(|h| match h.grant {
                    Grant::Lease(id) if Some(id) != except => Some(id),
                    _ => None,
                })
                .collect();
            for id in leases {
                let c = t.leases.get(&id).map(|l| l.caching).unwrap_or_default();
                if c.state != NONE && !c.breaking {
                    t.start_break(dir, Grant::Lease(id), 0, NONE, &mut fx);
                }
            }
        }
        self.apply(fx);
    }

    /// Rename or delete of `obj` by `open`: handle caching of the others
    /// breaks (MS-FSA 2.1.5.14.11, 2.1.5.14.3), without waiting.
    pub fn break_handles(&self, obj: ObjKey, open: u64) {
        let mut fx = Effects::default();
        {
            let mut t = lock(&self.inner);
            let Some(f) = t.files.get(&obj) else {
                return;
            };
            let own = f
                .holders
                .iter()
                .find(|h| h.open == open)
                .map(|h| h.grant)
                .unwrap_or(Grant::None);
            let victims: Vec<(Grant, u64)> = f
                .holders
                .iter()
                .filter(|h| {
                    h.open != open
                        && h.grant != Grant::None
                        && (own == Grant::None || h.grant != own)
                })
                .map(|h| (h.grant, h.open))
                .collect();
            for (g, o) in victims {
                let c = match g {
                    Grant::Lease(id) => t.leases.get(&id).map(|l| l.caching).unwrap_or_default(),
                    _ => t.oplock_state(obj, o),
                };
                if c.state & HANDLE != 0 && !c.breaking {
                    let to = if g == Grant::Oplock {
                        c.state & READ
                    } else {
                        c.state & !HANDLE
                    };
                    t.start_break(obj, g, o, to, &mut fx);
                }
            }
        }
        self.apply(fx);
    }

    /// Oplock break acknowledgement (MS-SMB2 3.3.5.22.1): the level now held.
    pub fn ack_oplock(&self, obj: ObjKey, open: u64, level: u8) -> Result<u8, NtStatus> {
        let mut fx = Effects::default();
        let r = {
            let mut t = lock(&self.inner);
            let Some(h) = t
                .files
                .get_mut(&obj)
                .and_then(|f| f.holders.iter_mut().find(|h| h.open == open))
            else {
                return Err(NtStatus::INVALID_OPLOCK_PROTOCOL);
            };
            if h.grant != Grant::Oplock || !h.caching.breaking {
                return Err(NtStatus::INVALID_OPLOCK_PROTOCOL);
            }
            let acked = oplock_to_caching(level);
            if acked & !h.caching.breaking_to != 0 {
                // Acknowledging more than offered: the oplock is gone.
                h.caching = Caching::default();
                let f = t
                    .files
                    .get_mut(&obj)
                    .map(|f| std::mem::take(&mut f.waiters));
                fx.wake = f.unwrap_or_default();
                Err(NtStatus::INVALID_OPLOCK_PROTOCOL)
            } else {
                h.caching.breaking = false;
                h.caching.state = acked;
                let level = caching_to_oplock(acked);
                t.after_ack(obj, Grant::Oplock, open, &mut fx);
                Ok(level)
            }
        };
        self.apply(fx);
        r
    }

    /// Lease break acknowledgement (MS-SMB2 3.3.5.22.2): the state now held.
    pub fn ack_lease(&self, id: &LeaseId, state: u32) -> Result<u32, NtStatus> {
        let mut fx = Effects::default();
        let r = {
            let mut t = lock(&self.inner);
            let Some(l) = t.leases.get_mut(id) else {
                return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
            };
            if !l.caching.breaking {
                return Err(NtStatus::UNSUCCESSFUL);
            }
            if state & !l.caching.breaking_to != 0 {
                return Err(NtStatus::REQUEST_NOT_ACCEPTED);
            }
            l.caching.breaking = false;
            l.caching.state = state;
            let obj = l.obj;
            t.after_ack(obj, Grant::Lease(*id), 0, &mut fx);
            Ok(state)
        };
        self.apply(fx);
        r
    }

    /// Whether an open is a lease holder, and its lease (for a parent key).
    pub fn lease_of(&self, obj: ObjKey, open: u64) -> Option<LeaseId> {
        let t = lock(&self.inner);
        t.files
            .get(&obj)?
            .holders
            .iter()
            .find(|h| h.open == open)
            .and_then(|h| match h.grant {
                Grant::Lease(id) => Some(id),
                _ => None,
            })
    }

    /// Whether any directory holds a lease.
    pub fn has_dir_leases(&self) -> bool {
        lock(&self.inner).dir_leases > 0
    }

    /// Whether any open of the file holds an oplock or lease (cheap pre-check).
    pub fn has_holders(&self, obj: ObjKey) -> bool {
        lock(&self.inner).files.contains_key(&obj)
    }

    /// Sends queued breaks, arms their timeouts, runs woken waiters.
    fn apply(&self, fx: Effects) {
        for (target, msg) in fx.sends {
            target.notifier.send(msg, target.encrypt.as_ref());
        }
        if !fx.timeouts.is_empty() {
            let weak = Arc::downgrade(&self.inner);
            let d = *lock(&self.timeout);
            for (obj, who, gen) in fx.timeouts {
                arm_timeout(weak.clone(), d, obj, who, gen);
            }
        }
        for w in fx.wake {
            w();
        }
    }
}

/// Ends a break nobody acknowledged in time: the server lowers the state
/// itself (MS-SMB2 3.3.6.1 Oplock Break Acknowledgment Timer).
fn arm_timeout(table: Weak<Mutex<Tables>>, d: Duration, obj: ObjKey, who: Who, gen: u64) {
    let spawned = std::thread::Builder::new()
        .name("oplock-timeout".into())
        .spawn(move || {
            std::thread::sleep(d);
            let Some(t) = table.upgrade() else {
                return;
            };
            let mut fx = Effects::default();
            {
                let mut t = lock(&t);
                let (grant, open) = match who {
                    Who::Open(o) => (Grant::Oplock, o),
                    Who::Lease(id) => (Grant::Lease(id), 0),
                };
                let timed_out = match t.caching_mut(obj, grant, open) {
                    Some(c) if c.breaking && c.generation == gen => {
                        c.breaking = false;
                        c.state = c.breaking_to & c.required;
                        true
                    }
                    _ => false,
                };
                if timed_out {
                    t.after_ack(obj, grant, open, &mut fx);
                }
            }
            for (target, msg) in fx.sends {
                target.notifier.send(msg, target.encrypt.as_ref());
            }
            // Further breaks from here get their own timers.
            for (o, w, g) in fx.timeouts {
                arm_timeout(table.clone(), d, o, w, g);
            }
            for w in fx.wake {
                w();
            }
        });
    if let Err(e) = spawned {
        log::warn!("cannot arm an oplock break timer: {e}");
    }
}

impl Tables {
    /// How the other opens of `obj` (not those of lease `own`) bear on a
    /// grant: any that counts (a non-stat open, or one caching something),
    /// a non-lease oplock, a handle-caching lease, a write cache.
    fn others(&self, obj: ObjKey, own: Option<LeaseId>) -> (bool, bool, bool, bool) {
        let mut r = (false, false, false, false);
        let Some(f) = self.files.get(&obj) else {
            return r;
        };
        for h in &f.holders {
            if matches!((h.grant, own), (Grant::Lease(a), Some(b)) if a == b) {
                continue;
            }
            let state = self.state_of(h);
            if !h.stat_open || state != NONE {
                r.0 = true;
            }
            if h.grant == Grant::Oplock && state != NONE {
                r.1 = true;
            }
            if matches!(h.grant, Grant::Lease(_)) && state & HANDLE != 0 {
                r.2 = true;
            }
            if state & WRITE != 0 {
                r.3 = true;
            }
        }
        r
    }

    fn state_of(&self, h: &Holder) -> u32 {
        match h.grant {
            Grant::None => NONE,
            Grant::Oplock => h.caching.state,
            Grant::Lease(id) => self
                .leases
                .get(&id)
                .map(|l| l.caching.state)
                .unwrap_or(NONE),
        }
    }

    fn oplock_state(&self, obj: ObjKey, open: u64) -> Caching {
        self.files
            .get(&obj)
            .and_then(|f| f.holders.iter().find(|h| h.open == open))
            .map(|h| h.caching)
            .unwrap_or_default()
    }

    fn caching_mut(&mut self, obj: ObjKey, grant: Grant, open: u64) -> Option<&mut Caching> {
        match grant {
            Grant::None => None,
            Grant::Oplock => self
                .files
                .get_mut(&obj)?
                .holders
                .iter_mut()
                .find(|h| h.open == open)
                .map(|h| &mut h.caching),
            Grant::Lease(id) => self.leases.get_mut(&id).map(|l| &mut l.caching),
        }
    }

    /// MS-FSA 2.1.4.12 as a CREATE meets the file's oplocks and leases;
    /// returns whether the CREATE must wait.
    fn break_for_open(&mut self, obj: ObjKey, check: &OpenCheck, fx: &mut Effects) -> bool {
        let Some(f) = self.files.get(&obj) else {
            return false;
        };
        let mut seen: Vec<LeaseId> = Vec::new();
        let mut victims: Vec<(Grant, u64)> = Vec::new();
        for h in &f.holders {
            match h.grant {
                Grant::None => {}
                Grant::Oplock => victims.push((Grant::Oplock, h.open)),
                Grant::Lease(id) => {
                    if Some(id) != check.lease && !seen.contains(&id) {
                        seen.push(id);
                        victims.push((h.grant, h.open));
                    }
                }
            }
        }
        // Handle caching goes first when share modes refuse the open (the
        // holder may close), write caching otherwise.
        let delay_mask = if check.sharing_violation {
            HANDLE
        } else {
            WRITE
        };
        let mut delay = false;
        for (g, o) in victims {
            let Some(c) = self.caching_mut(obj, g, o) else {
                continue;
            };
            let e = c.state;
            let mut to = e & !delay_mask;
            if check.overwrite {
                to &= !(HANDLE | READ);
            }
            if c.breaking {
                // Already breaking: lower what it must end at, and wait if
                // what it still caches is in the way.
                c.required &= to;
                if e & delay_mask != 0 || e & !c.required & HANDLE != 0 && check.sharing_violation {
                    delay = true;
                }
                continue;
            }
            if e & !to == NONE {
                continue;
            }
            if check.overwrite {
                to &= !(READ | WRITE);
            }
            if g == Grant::Oplock {
                // Oplocks only break to level II or none.
                to &= READ;
            }
            let acked = self.start_break(obj, g, o, to, fx);
            if acked && e & delay_mask != 0 {
                delay = true;
            }
        }
        delay
    }

    /// Starts a break of one oplock or lease to `to`; returns whether an
    /// acknowledgement is awaited.
    fn start_break(&mut self, obj: ObjKey, g: Grant, open: u64, to: u32, fx: &mut Effects) -> bool {
        self.next_generation = self.next_generation.wrapping_add(1);
        let gen = self.next_generation;
        match g {
            Grant::None => false,
            Grant::Oplock => {
                let Some(h) = self
                    .files
                    .get_mut(&obj)
                    .and_then(|f| f.holders.iter_mut().find(|h| h.open == open))
                else {
                    return false;
                };
                let from = h.caching.state;
                // MS-SMB2 3.3.4.6: level II to none is not acknowledged.
                let ack = from & WRITE != 0;
                let mut body = header(Command::OPLOCK_BREAK);
                encode_oplock_break(&mut body, caching_to_oplock(to), h.file_id);
                fx.sends.push((h.target.clone(), body));
                if ack {
                    h.caching.breaking = true;
                    h.caching.breaking_to = to;
                    h.caching.required = to;
                    h.caching.generation = gen;
                    fx.timeouts.push((obj, Who::Open(open), gen));
                } else {
                    h.caching.state = to;
                }
                ack
            }
            Grant::Lease(id) => {
                let target = self.files.get(&obj).and_then(|f| {
                    let mut it = f.holders.iter().filter(|h| h.grant == g);
                    let first = it.next()?;
                    if first.target.notifier.is_alive() {
                        return Some(first.target.clone());
                    }
                    it.find(|h| h.target.notifier.is_alive())
                        .or(Some(first))
                        .map(|h| h.target.clone())
                });
                let Some(l) = self.leases.get_mut(&id) else {
                    return false;
                };
                let from = l.caching.state;
                // MS-SMB2 3.3.4.7: a break from a state with W or H is acknowledged.
                let ack = from & (WRITE | HANDLE) != 0;
                if l.v2 {
                    l.epoch = l.epoch.wrapping_add(1);
                }
                let mut body = header(Command::OPLOCK_BREAK);
                let flags = if ack {
                    NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED
                } else {
                    0
                };
                let epoch = if l.v2 { l.epoch } else { 0 };
                encode_lease_break(&mut body, epoch, flags, &id.key, from, to);
                if let Some(t) = target {
                    fx.sends.push((t, body));
                }
                if ack {
                    l.caching.breaking = true;
                    l.caching.breaking_to = to;
                    l.caching.required = to;
                    l.caching.generation = gen;
                    fx.timeouts.push((l.obj, Who::Lease(id), gen));
                } else {
                    l.caching.state = to;
                }
                ack
            }
        }
    }

    /// A break ended (ack or timeout): a second break follows if conflicts
    /// since then need less, and the file's waiters retry.
    fn after_ack(&mut self, obj: ObjKey, g: Grant, open: u64, fx: &mut Effects) {
        if let Some(c) = self.caching_mut(obj, g, open) {
            c.breaking = false;
            if c.state & !c.required != 0 {
                let to = c.required;
                c.required = ALL;
                self.start_break(obj, g, open, to, fx);
            } else {
                c.required = ALL;
            }
        }
        if let Some(f) = self.files.get_mut(&obj) {
            fx.wake.append(&mut f.waiters);
        }
    }
}

/// The header of a server-initiated break (MS-SMB2 3.3.4.6): MessageId all
/// ones, no session or tree, unsigned.
fn header(cmd: Command) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + 44);
    Header {
        command: cmd.0,
        flags: FLAGS_SERVER_TO_REDIR,
        message_id: u64::MAX,
        ..Default::default()
    }
    .encode(&mut b);
    b
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::pending::AsyncTable;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn target(t: &AsyncTable) -> (BreakTarget, Arc<Mutex<Vec<Vec<u8>>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        t.set_sink(Arc::new(move |b| g.lock().unwrap().push(b)));
        (
            BreakTarget {
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
}
