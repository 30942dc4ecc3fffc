//! Exported event functions (ABI.md §2).

use super::boundary::{self, call};
use super::types::Owner;
use crate::asio::event::Event;
use std::ffi::c_int;
use std::ptr;

/// Allocates an event for `fd` and subscribes it at once.
///
/// Returns NULL if `flags` is `ASIO_DISPOSABLE` or `ASIO_DESTROYED`, if
/// `owner` is NULL or has no `notify`, or if the poller cannot be created.
/// `ASIO_TIMER`: the library makes its own timer fd that fires once after
/// `nsec` ns (`fd` is ignored). `ASIO_SIGNAL`: `nsec` is the signal number;
/// several events may watch one signal. A `noisy` event is counted by
/// `ponynet_asio_noisy_count()` from now until it is unsubscribed. If the OS
/// refuses the subscription, the owner gets an `ASIO_ERROR` notification.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_create(
    owner: *mut Owner,
    fd: c_int,
    flags: u32,
    nsec: u64,
    noisy: bool,
) -> *mut Event {
    call(ptr::null_mut(), || {
        // SAFETY: the owner outlives its events (API contract).
        unsafe { Event::create(owner, fd, flags, nsec, noisy) }.map_or(ptr::null_mut(), |p| p.as_ptr())
    })
}

/// (Re)registers the event with the poller. A no-op on a disposable event.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_subscribe(ev: *mut Event) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), Event::subscribe))
}

/// Deregisters the event; its flags become `ASIO_DISPOSABLE`, and the owner
/// then gets exactly one last notification with flags `ASIO_DISPOSABLE`,
/// after every notification already due. Closes the library's own fd of a
/// timer or signal, never the caller's fd. A second call is a no-op.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_unsubscribe(ev: *mut Event) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), Event::unsubscribe))
}

/// Frees the event. Legal only once it is disposable; otherwise refused
/// (nothing freed, a diagnostic on stderr). If the final `ASIO_DISPOSABLE`
/// notification is still due, it is delivered and the memory released after
/// it; destroying inside that notification is the usual pattern, also when
/// another thread unsubscribed. A second destroy, or a pointer that is not a
/// live event, is refused. A registration the kernel keeps for a freed event
/// (its fd closed before unsubscribe while a `dup` holds the file) reaches no
/// owner.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_destroy(ev: *mut Event) {
    call((), || {
        if !ev.is_null() {
            Event::destroy(ev)
        }
    })
}

/// Re-arms READ and WRITE interest where the event asked for it and its
/// readable/writeable flag is false. If the fd is ready already, a
/// notification follows. A no-op on a disposable event.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_resubscribe(ev: *mut Event) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), Event::resubscribe))
}

/// Same as `pony_asio_event_resubscribe` (kept for older callers).
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_resubscribe_read(ev: *mut Event) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), Event::resubscribe))
}

/// Same as `pony_asio_event_resubscribe` (kept for older callers).
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_resubscribe_write(ev: *mut Event) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), Event::resubscribe))
}

/// The readable flag; false for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_get_readable(ev: *mut Event) -> bool {
    // SAFETY: NULL or a live event (API contract).
    call(false, || unsafe { boundary::event(ev) }.is_some_and(Event::readable))
}

/// Sets the readable flag; a no-op on NULL or a disposable event.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_set_readable(ev: *mut Event, readable: bool) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), |e| e.set_readable(readable)))
}

/// The writeable flag; false for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_get_writeable(ev: *mut Event) -> bool {
    // SAFETY: NULL or a live event (API contract).
    call(false, || unsafe { boundary::event(ev) }.is_some_and(Event::writeable))
}

/// Sets the writeable flag; a no-op on NULL or a disposable event.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_set_writeable(ev: *mut Event, writeable: bool) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), |e| e.set_writeable(writeable)))
}

/// Whether the event was unsubscribed (flags == `ASIO_DISPOSABLE`); false for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_get_disposable(ev: *mut Event) -> bool {
    // SAFETY: NULL or a live event (API contract).
    call(false, || unsafe { boundary::event(ev) }.is_some_and(Event::is_disposable))
}

/// The event's fd (for timers and signals the library's own fd, -1 once
/// closed); -1 for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_fd(ev: *mut Event) -> c_int {
    // SAFETY: NULL or a live event (API contract).
    call(-1, || unsafe { boundary::event(ev) }.map_or(-1, Event::fd))
}

/// The timer interval in ns (the signal number for signal events); 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_nsec(ev: *mut Event) -> u64 {
    // SAFETY: NULL or a live event (API contract).
    call(0, || unsafe { boundary::event(ev) }.map_or(0, Event::nsec))
}

/// Sets a timer's interval and re-arms it to fire once, `nsec` ns from now.
/// A no-op for NULL, non-timer or disposable events.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_setnsec(ev: *mut Event, nsec: u64) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), |e| e.set_nsec(nsec)))
}

/// Delivers a notification to the event's owner as if the I/O thread had,
/// in order with its other notifications. Dropped once the event is
/// disposable. Flags `ASIO_DISPOSABLE` (0) are refused: only
/// `pony_asio_event_unsubscribe` makes the final notification.
#[no_mangle]
pub unsafe extern "C" fn pony_asio_event_send(ev: *mut Event, flags: u32, arg: u32) {
    // SAFETY: NULL or a live event (API contract).
    call((), || unsafe { boundary::event(ev) }.map_or((), |e| e.send(flags, arg)))
}
