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
//!   granted ──(conflicting open / write)──► breaking ──(ack)──► lowered
//!      ▲                                        │  │
//!      │        further conflict: lower the end ┘  └─(timeout)──► none
//!      └──── upgrade (same lease key)     a second break follows the ack
//!                                         (a lease steps RH/RW → R → none)
//! ```
//!
//! A CREATE that must wait for an acknowledgement registers a waiter on the
//! file; acks, timeouts and closes run the file's waiters, which retry.
//! Lease breaks go once per lease, to the oldest live connection of the
//! lease's client (`tables.rs`); oplock breaks to the open's connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use wire::create::{oplock, FileId};
use wire::oplock_break::{lease_flags, lease_state::*, LeaseContext};
use wire::NtStatus;

use crate::pending::Notifier;
use crate::state::{lock, SessionCrypto};

mod tables;
#[cfg(test)]
mod tests;

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
    /// The connection's id: ids grow, so the smallest is the oldest.
    pub conn_id: u64,
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

impl FileState {
    /// What `open` holds on this file (Grant::None when nothing).
    fn grant_of(&self, open: u64) -> Grant {
        self.holders
            .iter()
            .find(|h| h.open == open)
            .map(|h| h.grant)
            .unwrap_or(Grant::None)
    }
}

#[derive(Default)]
struct Tables {
    files: HashMap<ObjKey, FileState>,
    leases: HashMap<LeaseId, Lease>,
    /// Leases on directories, so creates skip the parent lookup when there are none.
    dir_leases: usize,
    /// Per ClientGuid, the connections its leases were granted on, oldest
    /// first: lease breaks go to the oldest one still alive.
    clients: HashMap<[u8; 16], Vec<BreakTarget>>,
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
    /// The open neither breaks nor waits for leases (`is_stat_open`).
    pub stat_open: bool,
    /// The open neither breaks nor waits for oplocks (`is_oplock_stat_open`).
    pub oplock_stat_open: bool,
    /// The open truncates (overwrite, supersede).
    pub overwrite: bool,
    /// Share modes refuse the open as things stand: handle caching is broken first.
    pub sharing_violation: bool,
    /// The CREATE already waited for a break once and is being retried.
    pub retry: bool,
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

/// Opens that only read or set attributes (or read the security
/// descriptor) take no part in leases: they neither break nor prevent them.
pub fn is_stat_open(access: u32) -> bool {
    use wire::create::access::*;
    access & !(SYNCHRONIZE | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES | READ_CONTROL) == 0
}

/// The narrower set for oplocks: an open asking for READ_CONTROL breaks a
/// batch or exclusive oplock (Windows and Samba behave so).
pub fn is_oplock_stat_open(access: u32) -> bool {
    use wire::create::access::*;
    access & !(SYNCHRONIZE | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES) == 0
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
        if check.stat_open && check.oplock_stat_open {
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
        if let Grant::Lease(id) = holder.grant {
            t.add_client_target(id.client_guid, &holder.target);
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
                        if !t.leases.keys().any(|k| k.client_guid == id.client_guid) {
                            t.clients.remove(&id.client_guid);
                        }
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
            let own = f.grant_of(open);
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
                let state = t.caching(obj, g, o);
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
                let c = t.caching(dir, Grant::Lease(id), 0);
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
            let own = f.grant_of(open);
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
                let c = t.caching(obj, g, o);
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
        match lock(&self.inner).files.get(&obj)?.grant_of(open) {
            Grant::Lease(id) => Some(id),
            _ => None,
        }
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
                    // MS-SMB2 3.3.6.5 (leases) and 3.3.6.1 (oplocks): an
                    // unacknowledged break leaves nothing cached.
                    Some(c) if c.breaking && c.generation == gen => {
                        c.breaking = false;
                        c.state = NONE;
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
