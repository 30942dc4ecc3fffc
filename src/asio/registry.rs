//! The set of live events. `pony_asio_event_destroy` consults it before it
//! touches a pointer, so a double destroy or a foreign pointer is refused
//! without reading freed or unknown memory.

use once_cell::sync::Lazy;
use std::collections::HashSet;
use std::sync::Mutex;

static LIVE: Lazy<Mutex<HashSet<usize>>> = Lazy::new(|| Mutex::new(HashSet::new()));

fn live() -> std::sync::MutexGuard<'static, HashSet<usize>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records a newly created event.
pub fn insert(addr: usize) {
    live().insert(addr);
}

/// Runs `f` with whether `addr` is live; `f` returns whether to forget it.
/// The set stays locked meanwhile, so two destroys cannot both succeed.
pub fn check_and_remove(addr: usize, f: impl FnOnce(bool) -> bool) {
    let mut set = live();
    let is_live = set.contains(&addr);
    if f(is_live) {
        set.remove(&addr);
    }
}

