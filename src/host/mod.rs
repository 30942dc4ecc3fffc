//! The host seams: everything that differs between a plain C program and a
//! Pony runtime that links libponynet. Socket and event code call these and
//! never ask which host it is (ABI.md §7, PONY_MODE.md).
//!
//! - [`delivery`]: how a notification reaches an owner.
//! - [`failure`]: how a partial function reports failure.
//! - [`strings`]: how strings returned to the caller are allocated.
//! - [`noisy`]: the noisy-subscription count and its 0↔1 transitions.

pub mod delivery;
pub mod failure;
pub mod noisy;
mod pony;
pub mod strings;

use std::sync::atomic::{AtomicU8, Ordering};

/// Who hosts the library. Per process; only the Pony runtime's init hook
/// switches it from [`Host::C`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Host {
    /// A C (or Rust) program: owners are `ponynet_owner_t`.
    C = 0,
    /// A Pony program: owners are actors (PONY_MODE.md).
    Pony = 1,
}

static HOST: AtomicU8 = AtomicU8::new(Host::C as u8);

/// The current host.
pub fn current() -> Host {
    if HOST.load(Ordering::Relaxed) == Host::Pony as u8 {
        Host::Pony
    } else {
        Host::C
    }
}

/// Whether `pony_os_accept` reports a listener starved of fds as a failure
/// (-1 and errno: a C owner learns why) or, in a Pony host, as "none
/// pending" (0): Pony's `TCPListener` retries a -1 at once and would spin,
/// while the re-offer notifies it again once fds are free.
pub fn starved_accept_fails() -> bool {
    current() == Host::C
}

/// Enters Pony-runtime mode: resolves the runtime's functions (aborting
/// with a message if one is missing) and then switches the seams.
pub fn enter_pony_mode() {
    pony::load();
    HOST.store(Host::Pony as u8, Ordering::SeqCst);
}

