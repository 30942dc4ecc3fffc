//! The live events: the addresses `pony_asio_event_destroy` accepts, and
//! the slot table that turns poller tokens back into events.
//!
//! An event is live from create until destroy accepts it; its slot (and so
//! its token) lasts until it is freed, after its final notification. Both
//! change under one lock; tokens are looked up without it (see `slots`).

use super::event::Event;
use super::slots::{Allocation, Slots, Token};
use crate::sync::{lock, Mutex};
use once_cell::sync::Lazy;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes an event address: one multiply (SipHash, the default, costs a
/// hundred instructions a lookup, twice per connection). The keys are our
/// own allocations' addresses, not attacker-chosen.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        // Fibonacci hashing; the high bits (which pick the bucket group)
        // come from every bit of the address.
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Default)]
struct Live {
    addresses: HashSet<usize, BuildHasherDefault<AddressHasher>>,
    slots: Allocation,
}

static LIVE: Lazy<Mutex<Live>> = Lazy::new(|| Mutex::new(Live::default()));
static SLOTS: Lazy<Slots> = Lazy::new(Slots::new);

/// Records a new event and gives it a slot: its token. `None` if no slot
/// is left (the event is then not recorded).
pub(crate) fn admit(event: *mut Event) -> Option<Token> {
    let mut live = lock(&LIVE);
    let token = SLOTS.insert(&mut live.slots, event)?;
    live.addresses.insert(event as usize);
    Some(token)
}

/// Runs `f` on the event at `addr` if it is live, with the registry locked
/// so that it cannot be destroyed meanwhile; `None` if it is not live.
pub(crate) fn with_live<R>(addr: usize, f: impl FnOnce(&Event) -> R) -> Option<R> {
    let live = lock(&LIVE);
    if !live.addresses.contains(&addr) {
        return None;
    }
    // SAFETY: a live event is not freed before it leaves `addresses`,
    // which cannot happen while we hold the lock.
    Some(f(unsafe { &*(addr as *const Event) }))
}

/// Destroy's check: if the event at `addr` is live and `accept` agrees, it
/// is live no more (so two destroys cannot both succeed). `None` if it was
/// not live, else what `accept` said.
pub(crate) fn take_if(addr: usize, accept: impl FnOnce(&Event) -> bool) -> Option<bool> {
    let mut live = lock(&LIVE);
    if !live.addresses.contains(&addr) {
        return None;
    }
    // SAFETY: as in `with_live`.
    let accepted = accept(unsafe { &*(addr as *const Event) });
    if accepted {
        live.addresses.remove(&addr);
    }
    Some(accepted)
}

/// Frees `token`'s slot: the token names nothing from now on. The caller
/// excludes the poller (see `reactor::retire`).
pub(crate) fn release(token: Token) {
    let mut live = lock(&LIVE);
    SLOTS.remove(&mut live.slots, token);
}

/// The event a poller token names, if it still names one. Lock-free. The
/// event stays valid until the caller's poller turn ends.
pub(crate) fn event_for(token: Token) -> Option<*mut Event> {
    SLOTS.get(token)
}
