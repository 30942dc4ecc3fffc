//! A panic inside an exported function never crosses the C ABI: the function
//! returns its failure value and a partial function records PONYNET_ERR_PANIC.
//! Needs the `fault-injection` feature (`make test` enables it).
#![cfg(feature = "fault-injection")]

use ponynet::ffi::boundary::{self, panic_next_call};
use ponynet::ffi::event::*;
use ponynet::ffi::lifecycle::{ponynet_take_error, PONYNET_ERR_PANIC};
use ponynet::ffi::types::Owner;
use std::ptr;

unsafe extern "C" fn ignore(_: *mut Owner, _: *mut ponynet::asio::event::Event, _: u32, _: u32) {}

#[test]
fn a_panicking_create_returns_null() {
    let mut owner = Owner { notify: Some(ignore) };
    panic_next_call();
    // SAFETY: the owner outlives the call; the injected panic fires first.
    let ev = unsafe { pony_asio_event_create(&mut owner, -1, 4, 1_000, false) };
    assert!(ev.is_null());
}

#[test]
fn a_panicking_getter_returns_its_neutral_value() {
    panic_next_call();
    // SAFETY: NULL is a valid argument.
    assert_eq!(unsafe { pony_asio_event_fd(ptr::null_mut()) }, -1);
}

#[test]
fn a_panicking_partial_call_records_panic() {
    panic_next_call();
    let n = boundary::partial(|| Ok(7));
    assert_eq!(n, 0);
    assert_eq!(ponynet_take_error(), PONYNET_ERR_PANIC);
    assert_eq!(ponynet_take_error(), 0, "reading the error clears it");
    assert_eq!(boundary::partial(|| Ok(7)), 7);
    assert_eq!(ponynet_take_error(), 0);
}
