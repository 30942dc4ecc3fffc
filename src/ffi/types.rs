//! Types shared with C (ABI.md §1).

use crate::asio::event::Event;

/// A notification callback: called on the library's I/O thread (or the
/// thread holding the poller) with the owner, the event, the flags
/// (`ASIO_READ`, `ASIO_WRITE`, `ASIO_TIMER`, `ASIO_SIGNAL`, `ASIO_ERROR`, or
/// `ASIO_DISPOSABLE` for the last one) and an argument (signal count, errno
/// for `ASIO_ERROR`). It must not block.
pub type NotifyFn =
    Option<unsafe extern "C" fn(owner: *mut Owner, ev: *mut Event, flags: u32, arg: u32)>;

/// The owner of events: any object whose first member is this struct.
#[repr(C)]
pub struct Owner {
    /// Called for every notification of the owner's events. Must not be NULL.
    pub notify: NotifyFn,
}

/// An IP address with the memory layout of Pony's `NetAddress`: a type
/// descriptor word (NULL from C), then the socket address.
#[repr(C)]
pub struct PonyIpAddress {
    /// Pony's type descriptor; C callers set it to NULL.
    pub r#type: *const core::ffi::c_void,
    /// The address: `struct sockaddr_in` or `struct sockaddr_in6`.
    pub addr: libc::sockaddr_storage,
}

/// Alias for code written against ponyc's headers.
#[allow(non_camel_case_types)]
pub type asio_event_t = Event;

/// Alias for code written against ponyc's headers.
#[allow(non_camel_case_types)]
pub type ipaddress_t = PonyIpAddress;
