//! Exported library life-cycle and introspection functions (ABI.md §4, §6).

use super::boundary::call;
use crate::asio::thread;
use crate::host::{failure, noisy};
use std::ffi::{c_char, c_int};

pub use crate::host::failure::{
    PONYNET_ERR_EOF, PONYNET_ERR_NAME_FAILED, PONYNET_ERR_NAME_NOT_FOUND, PONYNET_ERR_NAME_TRY_AGAIN, PONYNET_ERR_PANIC,
};

/// 0 if the most recent partial call on this thread succeeded; otherwise the
/// errno it failed with, `PONYNET_ERR_EOF` (-1) for the peer's orderly
/// shutdown seen by `pony_os_recv`/`pony_os_recvfrom`, or `PONYNET_ERR_PANIC`
/// (-2). Reading it clears it. After a failed listen, connect or lookup it
/// holds an errno or, when a name did not resolve, one of
/// `PONYNET_ERR_NAME_NOT_FOUND` (-3), `PONYNET_ERR_NAME_TRY_AGAIN` (-4) and
/// `PONYNET_ERR_NAME_FAILED` (-5): never an errno standing in for a
/// resolver's answer.
#[no_mangle]
pub extern "C" fn ponynet_take_error() -> c_int {
    call(0, failure::take)
}

/// Live noisy subscriptions: noisy events from create until unsubscribe.
#[no_mangle]
pub extern "C" fn ponynet_asio_noisy_count() -> u64 {
    call(0, noisy::count)
}

/// Stops and joins the I/O thread if nothing noisy is subscribed, after
/// delivering every notification already due; false (nothing stopped)
/// otherwise, or when called from a notification. Events still subscribed
/// stay registered and are served again when a later event restarts the thread.
/// Safe to call from any thread, also concurrently with itself and with every
/// other call: there is never more than one I/O thread, and each call answers
/// true exactly when the thread that ran when it was called has ended.
#[no_mangle]
pub extern "C" fn ponynet_asio_stop() -> bool {
    call(false, thread::stop)
}

/// The library version, e.g. "0.1.0". A static string: do not free it.
#[no_mangle]
pub extern "C" fn ponynet_version() -> *const c_char {
    call(std::ptr::null(), || concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast())
}
