//! The table's rules (MS-FSA 2.1.4.12 breaks on open, MS-SMB2 3.3.4.6 and
//! 3.3.4.7 break notifications): which holders a new open breaks, how a
//! break is sent, and what follows its acknowledgement.

use wire::header::{Header, FLAGS_SERVER_TO_REDIR, HEADER_LEN};
use wire::oplock_break::{
    encode_lease_break, encode_oplock_break, lease_state::*, NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED,
};
use wire::Command;

use super::{
    caching_to_oplock, BreakTarget, Caching, Effects, Grant, Holder, LeaseId, ObjKey, OpenCheck,
    Tables, Who,
};

impl Tables {
    /// How the other opens of `obj` (not those of lease `own`) bear on a
    /// grant: any that counts (a non-stat open, or one caching something),
    /// a non-lease oplock, a handle-caching lease, a write cache.
    pub(super) fn others(&self, obj: ObjKey, own: Option<LeaseId>) -> (bool, bool, bool, bool) {
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

    /// Remembers the connection a lease of `client` was granted on.
    pub(super) fn add_client_target(&mut self, client: [u8; 16], target: &BreakTarget) {
        let list = self.clients.entry(client).or_default();
        list.retain(|t| t.notifier.is_alive());
        if list.iter().any(|t| t.conn_id == target.conn_id) {
            return;
        }
        let at = list
            .iter()
            .position(|t| t.conn_id > target.conn_id)
            .unwrap_or(list.len());
        list.insert(at, target.clone());
    }

    /// Where a lease break for `client` goes: its oldest live connection
    /// (one lease key may have opens on several connections of the client,
    /// and the break is sent once, as Samba and Windows do).
    pub(super) fn client_target(&self, client: &[u8; 16]) -> Option<BreakTarget> {
        self.clients
            .get(client)?
            .iter()
            .find(|t| t.notifier.is_alive())
            .cloned()
    }

    pub(super) fn state_of(&self, h: &Holder) -> u32 {
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

    pub(super) fn oplock_state(&self, obj: ObjKey, open: u64) -> Caching {
        self.files
            .get(&obj)
            .and_then(|f| f.holders.iter().find(|h| h.open == open))
            .map(|h| h.caching)
            .unwrap_or_default()
    }

    /// The caching state a grant holds on `obj` (an oplock of `open`, or a lease).
    pub(super) fn caching(&self, obj: ObjKey, grant: Grant, open: u64) -> Caching {
        match grant {
            Grant::None => Caching::default(),
            Grant::Oplock => self.oplock_state(obj, open),
            Grant::Lease(id) => self.leases.get(&id).map(|l| l.caching).unwrap_or_default(),
        }
    }

    pub(super) fn caching_mut(
        &mut self,
        obj: ObjKey,
        grant: Grant,
        open: u64,
    ) -> Option<&mut Caching> {
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
    pub(super) fn break_for_open(
        &mut self,
        obj: ObjKey,
        check: &OpenCheck,
        fx: &mut Effects,
    ) -> bool {
        let Some(f) = self.files.get(&obj) else {
            return false;
        };
        let mut seen: Vec<LeaseId> = Vec::new();
        let mut victims: Vec<(Grant, u64)> = Vec::new();
        for h in &f.holders {
            match h.grant {
                Grant::None => {}
                Grant::Oplock => {
                    if !check.oplock_stat_open {
                        victims.push((Grant::Oplock, h.open));
                    }
                }
                Grant::Lease(id) => {
                    if !check.stat_open && Some(id) != check.lease && !seen.contains(&id) {
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
                // what it still caches is in the way. A lease in a break
                // also holds back an open it owes nothing more, and any
                // open retried after an earlier wait: the open goes on
                // once the lease has settled (as Windows and Samba do).
                c.required &= to;
                let lease = matches!(g, Grant::Lease(_));
                if e & delay_mask != 0 || lease && (e & !to == NONE || check.retry) {
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
    pub(super) fn start_break(
        &mut self,
        obj: ObjKey,
        g: Grant,
        open: u64,
        to: u32,
        fx: &mut Effects,
    ) -> bool {
        self.send_break(obj, g, open, to, true, fx)
    }

    /// `start_break`; `new_epoch` is false for a break that continues one
    /// just acknowledged (it keeps that break's epoch, as Windows does).
    pub(super) fn send_break(
        &mut self,
        obj: ObjKey,
        g: Grant,
        open: u64,
        to: u32,
        new_epoch: bool,
        fx: &mut Effects,
    ) -> bool {
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
                let target = self.client_target(&id.client_guid).or_else(|| {
                    let f = self.files.get(&obj)?;
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
                if l.v2 && new_epoch {
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
    pub(super) fn after_ack(&mut self, obj: ObjKey, g: Grant, open: u64, fx: &mut Effects) {
        if let Some(c) = self.caching_mut(obj, g, open) {
            c.breaking = false;
            if c.state & !c.required != 0 {
                let mut to = c.required & c.state;
                if matches!(g, Grant::Lease(_)) && c.state & !READ != 0 {
                    // A lease steps down through R: RH (or RW) goes to R
                    // first, and to none only after that is acknowledged
                    // (Windows behaves so; MS-SMB2 3.3.4.7 leaves it open).
                    to |= c.state & READ;
                }
                c.required = ALL;
                self.send_break(obj, g, open, to, false, fx);
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
pub(super) fn header(cmd: Command) -> Vec<u8> {
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
