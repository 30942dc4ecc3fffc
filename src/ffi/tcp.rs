//! Exported TCP socket functions (ABI.md §3): listen, connect (Happy
//! Eyeballs), accept, and the per-fd options and life cycle.

use super::boundary::{self, call};
use super::types::Owner;
use crate::asio::event::{Event, ASIO_READ};
use crate::asio::reoffer;
use crate::host::{self, failure::{self, Failure}};
use crate::os::resolve::{self, Family, Query};
use crate::os::{self, socket, tcp};
use socket2::{Socket, Type};
use std::ffi::{c_char, c_int};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::ptr::{self, NonNull};

/// Records an OS or resolver error for `ponynet_take_error()` (non-partial calls).
pub(crate) fn record(e: &io::Error) {
    failure::record(Failure::of(e));
}

/// Hands `socket` to a new event of `owner` (subscribed at once). If the
/// event cannot be created, the socket is closed and `None` returned.
///
/// # Safety
/// `owner` is NULL or points to an owner that outlives the event.
pub(crate) unsafe fn adopt_socket(
    owner: *mut Owner,
    socket: Socket,
    flags: u32,
) -> Option<NonNull<Event>> {
    // SAFETY: forwarded caller contract.
    let ev = unsafe { Event::create(owner, socket.as_raw_fd(), flags, 0, true) };
    if ev.is_some() {
        // The event's owner closes the fd from now on.
        let _ = socket.into_raw_fd();
    }
    ev
}

/// `adopt_socket` for a listener: NULL, with the reason recorded, if the
/// owner cannot take the event (it has no `notify`).
///
/// # Safety
/// `owner` is NULL or points to an owner that outlives the event.
pub(crate) unsafe fn adopt_listener(owner: *mut Owner, socket: Socket) -> *mut Event {
    // SAFETY: forwarded caller contract.
    match unsafe { adopt_socket(owner, socket, ASIO_READ) } {
        Some(ev) => ev.as_ptr(),
        None => {
            failure::record(Failure::invalid());
            ptr::null_mut()
        }
    }
}

/// Resolve, bind, listen, and make a noisy `ASIO_READ` event.
///
/// # Safety
/// Pointers: NULL or valid (owner outliving the event, NUL-terminated strings).
unsafe fn listen(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
    family: Family,
) -> *mut Event {
    // SAFETY: caller contract.
    let (host, service) = unsafe { (boundary::c_str(host), boundary::c_str(service)) };
    let (true, Some(host), Some(service)) = (!owner.is_null(), host, service) else {
        failure::record(Failure::invalid());
        return ptr::null_mut();
    };
    match socket::bind_first(family, Some(host), Some(service), Type::STREAM, true) {
        // SAFETY: caller contract.
        Ok(s) => unsafe { adopt_listener(owner, s) },
        Err(e) => {
            record(&e);
            ptr::null_mut()
        }
    }
}

/// Starts a non-blocking connect to every address `host`/`service`
/// resolves to (at most `max` of them), each with its own noisy event,
/// handed to `started`; returns how many started.
///
/// # Safety
/// Pointers: NULL or valid (owner outliving the events, NUL-terminated strings).
// The C signature's arguments, plus where the events go.
#[allow(clippy::too_many_arguments)]
unsafe fn connect(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
    from: *const c_char,
    flags: u32,
    family: Family,
    max: usize,
    mut started: impl FnMut(NonNull<Event>),
) -> c_int {
    // SAFETY: caller contract.
    let (host, service, from) = unsafe {
        (
            boundary::c_str(host),
            boundary::c_str(service),
            boundary::c_str(from),
        )
    };
    let (true, Some(host), Some(service)) = (!owner.is_null(), host, service) else {
        failure::record(Failure::invalid());
        return 0;
    };
    let query = Query {
        host: Some(host),
        service: Some(service),
        family,
        socktype: libc::SOCK_STREAM,
        passive: false,
    };
    let list = match resolve::lookup_socket(&query) {
        Ok(list) => list,
        Err(e) => {
            record(&e);
            return 0;
        }
    };
    let mut count = 0;
    let mut last = None;
    for candidate in list.iter().take(max) {
        match tcp::connect_start(&candidate, from) {
            // SAFETY: caller contract.
            Ok(s) => match unsafe { adopt_socket(owner, s, flags) } {
                Some(ev) => {
                    started(ev);
                    count += 1;
                }
                None => last = Some(io::Error::from_raw_os_error(libc::EINVAL)),
            },
            Err(e) => last = Some(e),
        }
    }
    if let (0, Some(e)) = (count, last) {
        record(&e);
    }
    count
}

/// Listens on TCP (IPv4 or IPv6): resolves `host`/`service` passively
/// (empty host = any; NULL fails), binds the first address that takes it with
/// `SO_REUSEADDR`, listens, and returns a noisy `ASIO_READ` event for the
/// listening fd. NULL on any failure (nothing leaked; `ponynet_take_error()`
/// says why). The fd is non-blocking and close-on-exec.
///
/// `service` is a port number in decimal digits, 0 to 65535 (leading zeros
/// allowed; empty or "0": a free port), or a service name ("http"). A
/// larger number, a signed one ("+80", "-1") or text no service name could
/// be (spaces, control characters, more than 31 characters) fails with
/// `EINVAL`: it is never taken modulo 65536.
///
/// `ponynet_take_error()` after a failure: `EINVAL` for a NULL owner, host
/// or service, or a malformed service; `PONYNET_ERR_NAME_NOT_FOUND`,
/// `PONYNET_ERR_NAME_TRY_AGAIN` or `PONYNET_ERR_NAME_FAILED` when `host` or
/// `service` does not resolve; else the errno of the last address tried
/// (`EADDRINUSE`, `EADDRNOTAVAIL`...).
#[no_mangle]
pub unsafe extern "C" fn pony_os_listen_tcp(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
) -> *mut Event {
    // SAFETY: forwarded API contract.
    call(ptr::null_mut(), || unsafe {
        listen(owner, host, service, Family::Any)
    })
}

/// As `pony_os_listen_tcp`, IPv4 only.
#[no_mangle]
pub unsafe extern "C" fn pony_os_listen_tcp4(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
) -> *mut Event {
    // SAFETY: forwarded API contract.
    call(ptr::null_mut(), || unsafe {
        listen(owner, host, service, Family::V4)
    })
}

/// As `pony_os_listen_tcp`, IPv6 only.
#[no_mangle]
pub unsafe extern "C" fn pony_os_listen_tcp6(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
) -> *mut Event {
    // SAFETY: forwarded API contract.
    call(ptr::null_mut(), || unsafe {
        listen(owner, host, service, Family::V6)
    })
}

/// Happy Eyeballs: resolves `host`/`service` and starts a non-blocking
/// connect to every address at once (IPv4 or IPv6), each with its own noisy
/// event created with `asio_flags`. A destination of "any" (0.0.0.0, ::)
/// means loopback. A non-empty `from` binds each socket to that local
/// address first (an attempt whose `from` does not resolve or bind is
/// dropped). Returns how many attempts are in flight; 0 means none (the
/// owner gets no notification; `ponynet_take_error()` says why). Each
/// attempt reports completion as a WRITE notification on its own event:
/// check `pony_os_connected(pony_asio_event_fd(ev))`.
///
/// `service` is a port number in decimal digits, 1 to 65535 (leading zeros
/// allowed), or a service name ("http"). Port 0, an empty service, a larger
/// number, a signed one ("+80", "-1") or text no service name could be
/// (spaces, control characters, more than 31 characters) fails with
/// `EINVAL` before anything starts.
///
/// `ponynet_take_error()` after a 0: `EINVAL` for a NULL owner, host or
/// service, or a malformed service; `PONYNET_ERR_NAME_NOT_FOUND`,
/// `PONYNET_ERR_NAME_TRY_AGAIN` or `PONYNET_ERR_NAME_FAILED` when `host` or
/// `service` does not resolve; else the errno of the last attempt that
/// could not start (`ECONNREFUSED`, `ENETUNREACH`, a `from` that does not
/// bind...).
#[no_mangle]
pub unsafe extern "C" fn pony_os_connect_tcp(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
    from: *const c_char,
    asio_flags: u32,
) -> c_int {
    // SAFETY: forwarded API contract.
    call(0, || unsafe {
        connect(owner, host, service, from, asio_flags, Family::Any, usize::MAX, drop)
    })
}

/// As `pony_os_connect_tcp`, IPv4 only.
#[no_mangle]
pub unsafe extern "C" fn pony_os_connect_tcp4(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
    from: *const c_char,
    asio_flags: u32,
) -> c_int {
    // SAFETY: forwarded API contract.
    call(0, || unsafe {
        connect(owner, host, service, from, asio_flags, Family::V4, usize::MAX, drop)
    })
}

/// As `pony_os_connect_tcp`, IPv6 only.
#[no_mangle]
pub unsafe extern "C" fn pony_os_connect_tcp6(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
    from: *const c_char,
    asio_flags: u32,
) -> c_int {
    // SAFETY: forwarded API contract.
    call(0, || unsafe {
        connect(owner, host, service, from, asio_flags, Family::V6, usize::MAX, drop)
    })
}

/// As `pony_os_connect_tcp` (`family` 0: any, 1: IPv4, 2: IPv6), and
/// also hands back the event of each attempt in flight: `events` receives
/// up to `max_events` pointers, and no more attempts than that are started.
/// With them an owner can cancel attempts that have not reported yet
/// (unsubscribe each, then close its fd after the final notification) —
/// what a connection closed while still connecting needs. Returns the count
/// (0: none started; `ponynet_take_error()` says why). NULL `events` or
/// `max_events` < 1 fails with `EINVAL`, as does an unknown `family`.
#[no_mangle]
pub unsafe extern "C" fn ponynet_os_connect_tcp_events(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
    from: *const c_char,
    asio_flags: u32,
    family: c_int,
    events: *mut *mut Event,
    max_events: c_int,
) -> c_int {
    call(0, || {
        let family = match family {
            0 => Family::Any,
            1 => Family::V4,
            2 => Family::V6,
            _ => return record_invalid(),
        };
        let max = usize::try_from(max_events).unwrap_or(0);
        if events.is_null() || max == 0 {
            return record_invalid();
        }
        // SAFETY: `events` holds `max_events` writable pointers (API contract).
        let out = unsafe { std::slice::from_raw_parts_mut(events, max) };
        let mut n = 0;
        // SAFETY: forwarded API contract.
        unsafe {
            connect(owner, host, service, from, asio_flags, family, max, |ev| {
                out[n] = ev.as_ptr();
                n += 1;
            })
        }
    })
}

fn record_invalid() -> c_int {
    failure::record(Failure::invalid());
    0
}

/// Accepts a pending connection of the listening event `listen_ev`: a new
/// non-blocking, close-on-exec fd; 0 when none is pending; -1 on error with
/// errno set. Never blocks, even on a blocking listener. The fd is never 0,
/// 1 or 2 (a process that closed those gets a higher one). After a failure
/// for lack of fds (`EMFILE`, `ENFILE`), the connections still queued are
/// offered again (a READ notification) once fds are free, and until then a
/// re-arm of the listener asks the kernel nothing (so an owner that
/// re-arms after the failure does not spin). In a Pony program that
/// failure answers 0 ("none pending") instead, since Pony's listener
/// retries a -1 at once.
#[no_mangle]
pub unsafe extern "C" fn pony_os_accept(listen_ev: *mut Event) -> c_int {
    call(-1, || {
        // SAFETY: NULL or a live event (API contract).
        let Some(ev) = (unsafe { boundary::event(listen_ev) }) else {
            return accept_failed(libc::EINVAL);
        };
        match reoffer::accept(ev) {
            Ok(fd) => fd.map_or(0, IntoRawFd::into_raw_fd),
            Err(e) if reoffer::is_starvation(&e) && !host::starved_accept_fails() => 0,
            Err(e) => accept_failed(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    })
}

/// `pony_os_accept`'s failure: errno set last, so nothing clobbers it.
fn accept_failed(errno: c_int) -> c_int {
    os::set_errno(errno);
    -1
}

/// Whether the socket has no pending error (`SO_ERROR` is 0): check it on
/// the first WRITE notification of a connect. Reading it clears it. False
/// if the fd is not a socket. When false, `ponynet_take_error()` gives the
/// reason: the connect's error as the kernel reported it (`ECONNREFUSED`,
/// `ETIMEDOUT`, `EHOSTUNREACH`...), or `EBADF`/`ENOTSOCK` for a bad fd.
#[no_mangle]
pub extern "C" fn pony_os_connected(fd: c_int) -> bool {
    call(false, || socket::connect_outcome(fd).map_err(|e| record(&e)).is_ok())
}

/// `SO_KEEPALIVE`: `secs <= 0` turns it off; else on, with the first probe
/// after `secs / 2` idle seconds, `secs / 2` probes, one second apart. Every
/// `secs` is taken: each half is at least 1 and at most what Linux accepts
/// (32767 idle seconds, 127 probes), so `secs` 300 means 150 s and 127
/// probes, and `INT_MAX` 32767 s and 127 probes. Failures (not a TCP
/// socket, a bad fd) are recorded for `ponynet_take_error()`.
#[no_mangle]
pub extern "C" fn pony_os_keepalive(fd: c_int, secs: c_int) {
    call((), || {
        tcp::set_keepalive(fd, secs).unwrap_or_else(|e| record(&e))
    })
}

/// `TCP_NODELAY` on or off.
#[no_mangle]
pub extern "C" fn pony_os_nodelay(fd: c_int, state: bool) {
    call((), || {
        tcp::set_nodelay(fd, state).unwrap_or_else(|e| record(&e))
    })
}

/// Shuts down the sending side (`shutdown(fd, SHUT_WR)`).
#[no_mangle]
pub extern "C" fn pony_os_socket_shutdown(fd: c_int) {
    call((), || {
        socket::shutdown_write(fd).unwrap_or_else(|e| record(&e))
    })
}

/// Closes the socket. Listeners that could not accept for lack of fds are
/// offered their queued connections again.
#[no_mangle]
pub extern "C" fn pony_os_socket_close(fd: c_int) {
    call((), || match os::close(fd) {
        Ok(()) => reoffer::fds_freed(),
        Err(e) => record(&e),
    })
}
