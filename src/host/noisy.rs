//! Noisy seam: the count of live noisy subscriptions (ABI.md §6). The Pony
//! host is told when it leaves or reaches zero.

use super::{pony, Host};
use std::sync::atomic::{AtomicU64, Ordering};

static NOISY: AtomicU64 = AtomicU64::new(0);

/// Live noisy subscriptions.
pub fn count() -> u64 {
    NOISY.load(Ordering::SeqCst)
}

/// One more noisy subscription.
pub fn add() {
    if NOISY.fetch_add(1, Ordering::SeqCst) == 0 && super::current() == Host::Pony {
        pony::noisy_started();
    }
}

/// One noisy subscription fewer.
pub fn remove() {
    let before = NOISY.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if before == Ok(1) && super::current() == Host::Pony {
        pony::noisy_ended();
    }
}
