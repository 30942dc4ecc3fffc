//! Delivery seam: how a notification reaches an event's owner.

use crate::asio::event::{Event, ASIO_ERROR};
use crate::ffi::types::Owner;

/// What the host needs to remember about an owner, fixed at create.
#[derive(Clone, Copy, Debug)]
pub struct OwnerTag(pub u32);

/// Checks that `owner` can receive notifications; `None` makes create return NULL.
///
/// # Safety
/// `owner` is NULL or points to a live owner for as long as its events live.
pub unsafe fn adopt_owner(owner: *mut Owner) -> Option<OwnerTag> {
    if owner.is_null() {
        return None;
    }
    // SAFETY: non-NULL owner pointers point to a live owner (caller's contract).
    let notify = unsafe { (*owner).notify };
    notify.map(|_| OwnerTag(0))
}

/// Calls the owner with one notification. Runs on the thread that holds the
/// poller (or that called `pony_asio_event_send`); never under a library lock.
pub fn deliver(ev: &Event, flags: u32, arg: u32) {
    let owner = ev.owner();
    // SAFETY: the owner outlives its events (API contract), and adopt_owner
    // checked that notify is set.
    if let Some(notify) = unsafe { (*owner).notify } {
        // SAFETY: the callback is the owner's own, called with its own pointer
        // and a live event.
        unsafe { notify(owner, ev as *const Event as *mut Event, flags, arg) };
    }
}

/// The flags of the notification that tells an owner its subscription was
/// refused. A C owner reads `ASIO_ERROR`; the errno comes as `arg`.
pub fn refused_flags(_interest: u32) -> u32 {
    ASIO_ERROR
}

/// Called when `destroy` lets go of an event's owner.
pub fn release_owner(_ev: &Event) {}

/// Called on the I/O thread before its first delivery.
pub fn io_thread_started() {}

/// Called on the I/O thread when it ends.
pub fn io_thread_ended() {}
