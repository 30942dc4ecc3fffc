//! The set of live events. `pony_asio_event_destroy` consults it before it
//! touches a pointer, so a double destroy or a foreign pointer is refused
//! without reading freed or unknown memory.

use once_cell::sync::Lazy;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

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

/// The addresses of live events.
#[derive(Default)]
struct Live {
    set: HashSet<usize, BuildHasherDefault<AddressHasher>>,
}

static LIVE: Lazy<Mutex<Live>> = Lazy::new(|| Mutex::new(Live::default()));

fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records a newly created event.
pub fn insert(addr: usize) {
    live().set.insert(addr);
}

/// Runs `f` with whether `addr` is live; `f` returns whether to forget it.
/// The set stays locked meanwhile, so two destroys cannot both succeed.
pub fn check_and_remove(addr: usize, f: impl FnOnce(bool) -> bool) {
    let mut live = live();
    let is_live = live.set.contains(&addr);
    if f(is_live) {
        live.set.remove(&addr);
    }
}

