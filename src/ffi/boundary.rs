//! The panic boundary and pointer conversion: the only place exported
//! functions turn raw pointers into references, and the one way they run
//! their bodies, so that no panic unwinds into C.

use crate::asio::event::Event;
use crate::host::failure::{self, Failure};
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[cfg(any(test, feature = "fault-injection"))]
thread_local! {
    static PANIC_NEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test hook: the next boundary entered on this thread panics inside it.
#[cfg(any(test, feature = "fault-injection"))]
pub fn panic_next_call() {
    PANIC_NEXT.with(|p| p.set(true));
}

#[inline(always)]
fn injected_panic() {
    #[cfg(any(test, feature = "fault-injection"))]
    if PANIC_NEXT.with(|p| p.replace(false)) {
        panic!("libponynet: injected panic (fault-injection test hook)");
    }
}

/// Runs `body`; if it panics, returns `fallback` instead of unwinding.
#[inline]
pub fn call<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(|| {
        injected_panic();
        body()
    }))
    .unwrap_or(fallback)
}

/// Runs the body of a partial function: a panic becomes
/// `Failure::Panic`; the host's failure seam then ends the call.
#[inline]
pub fn partial(body: impl FnOnce() -> Result<usize, Failure>) -> usize {
    let result = catch_unwind(AssertUnwindSafe(|| {
        injected_panic();
        body()
    }))
    .unwrap_or(Err(Failure::Panic));
    failure::finish(result)
}

/// A live event from a C pointer; `None` for NULL or a pointer without
/// the live magic word.
///
/// # Safety
/// `ptr` is NULL or was returned by `pony_asio_event_create` and not freed.
pub unsafe fn event<'a>(ptr: *mut Event) -> Option<&'a Event> {
    // SAFETY: caller contract; the magic word rejects stale records whose
    // memory is still mapped.
    let ev = unsafe { ptr.as_ref() }?;
    ev.has_live_magic().then_some(ev)
}

/// A C string as bytes; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
pub unsafe fn c_str<'a>(ptr: *const c_char) -> Option<&'a CStr> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-NULL and NUL-terminated by the caller's contract.
        Some(unsafe { CStr::from_ptr(ptr) })
    }
}

/// A mutable out-parameter; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or valid for writes of a `T`, unaliased during the call.
pub unsafe fn out<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: caller contract.
    unsafe { ptr.as_mut() }
}

/// A shared in-parameter; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or valid for reads of a `T` during the call.
pub unsafe fn input<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: caller contract.
    unsafe { ptr.as_ref() }
}
