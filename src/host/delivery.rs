//! Delivery seam: how a notification reaches an event's owner, and what the
//! host needs to know about owners.
//!
//! - C host: the owner is a `ponynet_owner_t`; delivery calls `owner->notify`.
//! - Pony host: the owner is an actor; delivery sends it the 32-byte
//!   `_event_notify` message (PONY_MODE.md §2).

use super::{pony, Host};
use crate::asio::event::{Event, ASIO_ERROR, ASIO_READ, ASIO_WRITE};
use crate::ffi::types::Owner;

/// What the host remembers about an owner, fixed at create (Pony: the
/// message id of `_event_notify`).
#[derive(Clone, Copy, Debug)]
pub struct OwnerTag(pub u32);

/// Checks that `owner` can receive notifications; `None` makes create return
/// NULL. In a Pony host this is also the GC handshake that lets the library
/// hold the actor.
///
/// # Safety
/// `owner` is NULL or points to a live owner that outlives its events.
pub unsafe fn adopt_owner(owner: *mut Owner) -> Option<OwnerTag> {
    if owner.is_null() {
        return None;
    }
    match super::current() {
        // SAFETY: non-NULL owner pointers point to a live owner (caller's contract).
        Host::C => unsafe { (*owner).notify }.map(|_| OwnerTag(0)),
        // SAFETY: in a Pony host every owner is a live actor.
        Host::Pony => unsafe { pony::adopt_actor(owner.cast()) }.map(OwnerTag),
    }
}

/// Called when `destroy` lets go of an event's owner.
pub fn release_owner(ev: &Event) {
    if super::current() == Host::Pony {
        // SAFETY: the owner was adopted at create and is still referenced by us.
        unsafe { pony::release_actor(ev.owner().cast()) };
    }
}

/// Hands one notification to the owner. Runs on the thread that holds the
/// poller; never under a library lock.
pub fn deliver(ev: &Event, flags: u32, arg: u32) {
    let owner = ev.owner();
    let event = ev as *const Event as *mut Event;
    match super::current() {
        Host::C => {
            // SAFETY: the owner outlives its events (API contract), and
            // adopt_owner checked that notify is set.
            if let Some(notify) = unsafe { (*owner).notify } {
                // SAFETY: the owner's own callback, with its own pointer and a live event.
                unsafe { notify(owner, event, flags, arg) };
            }
        }
        // SAFETY: the actor was adopted at create; the poller thread is registered.
        Host::Pony => unsafe { pony::send(owner.cast(), ev.owner_tag().0, event.cast(), flags, arg) },
    }
}

/// The flags of the notification that tells an owner its subscription was
/// refused (`arg` is the errno). A C owner reads `ASIO_ERROR`. Pony reads
/// only `flags & 1`, `flags & 2` and `flags == 0`, so there the event's
/// READ/WRITE interest comes along, with its readable/writeable flags set:
/// the actor then reads or writes, fails, and closes.
pub fn refused_flags(ev: &Event, interest: u32) -> u32 {
    match super::current() {
        Host::C => ASIO_ERROR,
        Host::Pony => {
            let rw = interest & (ASIO_READ | ASIO_WRITE);
            if rw & ASIO_READ != 0 {
                ev.set_readable(true);
            }
            if rw & ASIO_WRITE != 0 {
                ev.set_writeable(true);
            }
            ASIO_ERROR | rw
        }
    }
}

/// Called on the I/O thread before its first delivery.
pub fn io_thread_started() {
    if super::current() == Host::Pony {
        // Schedulers wake each other with SIGUSR2: keep it off this thread.
        let _ = crate::os::signal::block_in_this_thread(libc::SIGUSR2);
        pony::register_thread();
    }
}

/// Called on the I/O thread when it ends.
pub fn io_thread_ended() {
    if super::current() == Host::Pony {
        pony::unregister_thread();
    }
}
