//! Exported UDP functions (ABI.md §3, §5): listen, the partial `sendto` and
//! `recvfrom`, and the broadcast and multicast options.
//!
//! `sendto` and `recvfrom` are `extern "C-unwind"` like the stream calls
//! (see [`super::io`]). The option setters return nothing; when they fail
//! (a NULL argument, an unknown family, the OS refusing) the reason is
//! recorded for `ponynet_take_error()`.

use super::boundary::{self, call};
use super::io::{in_bytes, out_bytes};
use super::tcp::{adopt_listener, record};
use super::types::{Owner, PonyIpAddress};
use crate::asio::event::Event;
use crate::host::failure::{self, Failure};
use crate::os::resolve::Family;
use crate::os::{addr, multicast, udp};
use std::ffi::{c_char, c_int};
use std::io;
use std::ptr;

/// Resolve passively, bind, and make a noisy `ASIO_READ` event.
///
/// # Safety
/// Pointers: NULL or valid (owner outliving the event, NUL-terminated strings).
unsafe fn listen(owner: *mut Owner, host: *const c_char, service: *const c_char, family: Family) -> *mut Event {
    // SAFETY: caller contract.
    let (host, service) = unsafe { (boundary::c_str(host), boundary::c_str(service)) };
    let (true, Some(host), Some(service)) = (!owner.is_null(), host, service) else {
        failure::record(Failure::invalid());
        return ptr::null_mut();
    };
    match udp::bind(family, host, service) {
        // SAFETY: caller contract.
        Ok(s) => unsafe { adopt_listener(owner, s) },
        Err(e) => {
            record(&e);
            ptr::null_mut()
        }
    }
}

/// Records why an option setter failed: `None` stands for a NULL argument.
fn setter(result: Option<io::Result<()>>) {
    match result {
        Some(Ok(())) => {}
        Some(Err(e)) => record(&e),
        None => failure::record(Failure::invalid()),
    }
}

/// Listens on UDP (IPv4 or IPv6): resolves `host`/`service` passively
/// (empty host = any), binds the first address that takes it (each
/// resolved address is tried in turn) with `SO_REUSEADDR`, and returns a
/// noisy `ASIO_READ` event for the socket. NULL on any failure, a NULL
/// argument included (nothing leaked; `ponynet_take_error()` says why).
/// The fd is non-blocking and close-on-exec. `service` is read as for
/// `pony_os_listen_tcp`: a port 0 to 65535 in decimal digits (empty or "0":
/// a free port) or a service name; a larger or signed number is `EINVAL`.
/// `ponynet_take_error()` after a failure: as for `pony_os_listen_tcp`
/// (`EINVAL`, a `PONYNET_ERR_NAME_*` code, or the errno of the last bind).
///
/// # Safety
/// `owner` is NULL or an owner that outlives the event; `host` and
/// `service` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn pony_os_listen_udp(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
) -> *mut Event {
    // SAFETY: forwarded API contract.
    call(ptr::null_mut(), || unsafe { listen(owner, host, service, Family::Any) })
}

/// As `pony_os_listen_udp`, IPv4 only.
///
/// # Safety
/// `owner` is NULL or an owner that outlives the event; `host` and
/// `service` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn pony_os_listen_udp4(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
) -> *mut Event {
    // SAFETY: forwarded API contract.
    call(ptr::null_mut(), || unsafe { listen(owner, host, service, Family::V4) })
}

/// As `pony_os_listen_udp`, IPv6 only.
///
/// # Safety
/// `owner` is NULL or an owner that outlives the event; `host` and
/// `service` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn pony_os_listen_udp6(
    owner: *mut Owner,
    host: *const c_char,
    service: *const c_char,
) -> *mut Event {
    // SAFETY: forwarded API contract.
    call(ptr::null_mut(), || unsafe { listen(owner, host, service, Family::V6) })
}

/// Sends `len` bytes of `buf` as one datagram to `to->addr`: the count
/// sent; 0 if it would block (also on `ENOBUFS`: the datagram is dropped).
/// Partial: fails on an error, on an address of unknown family
/// (`EAFNOSUPPORT`) and on a NULL argument (`EINVAL`). Never raises
/// SIGPIPE, never blocks.
///
/// # Safety
/// `buf` is NULL or readable for `len` bytes; `to` is NULL or a valid address.
#[no_mangle]
pub unsafe extern "C-unwind" fn pony_os_sendto(
    fd: c_int,
    buf: *const c_char,
    len: usize,
    to: *mut PonyIpAddress,
) -> usize {
    boundary::partial(|| {
        // SAFETY: NULL or a valid address (API contract).
        let to = unsafe { boundary::input(to.cast_const()) }.ok_or_else(Failure::invalid)?;
        let to = addr::to_sock_addr(&to.addr).ok_or(Failure::Os(libc::EAFNOSUPPORT))?;
        // SAFETY: `buf` holds `len` readable bytes (API contract).
        let buf = unsafe { in_bytes(buf, len) }.ok_or_else(Failure::invalid)?;
        Ok(udp::send_to(fd, buf, &to)?)
    })
}

/// Receives one datagram into `buf` (cut to `len` bytes) and its sender
/// into `from->addr`: the count received; 0 if none is queued (then `from`
/// is left as it was). Partial: fails on an error and on a NULL argument
/// (`EINVAL`). Never blocks, even on a blocking fd.
///
/// UDP has no orderly shutdown, so this never fails with `PONYNET_ERR_EOF`
/// (the 2023 runtime did, on an empty datagram, and Pony's `UDPSocket`
/// then closed: anyone could shut a UDP server down with one empty
/// datagram). An empty datagram is dropped and the next one returned; a
/// call that only finds empty datagrams returns 0 as if none were queued.
/// A `len` of 0 returns 0 without a system call (it would discard a datagram).
///
/// # Safety
/// `ev` is NULL or an event not yet freed; `buf` is NULL or writable for
/// `len` bytes; `from` is NULL or a writable address.
#[no_mangle]
pub unsafe extern "C-unwind" fn pony_os_recvfrom(
    ev: *mut Event,
    buf: *mut c_char,
    len: usize,
    from: *mut PonyIpAddress,
) -> usize {
    boundary::partial(|| {
        // SAFETY: NULL or a live event (API contract).
        let ev = unsafe { boundary::event(ev) }.ok_or_else(Failure::invalid)?;
        // SAFETY: NULL or a writable address (API contract).
        let from = unsafe { boundary::out(from) }.ok_or_else(Failure::invalid)?;
        if len == 0 {
            return Ok(0);
        }
        // SAFETY: `buf` holds `len` writable bytes (API contract).
        let buf = unsafe { out_bytes(buf, len) }.ok_or_else(Failure::invalid)?;
        match udp::recv_from(ev.fd(), buf)? {
            Some((n, sender)) => {
                addr::store(&sender, &mut from.addr);
                Ok(n)
            }
            None => Ok(0),
        }
    })
}

/// Turns `SO_BROADCAST` on or off.
#[no_mangle]
pub extern "C" fn pony_os_broadcast(fd: c_int, state: bool) {
    call((), || setter(Some(multicast::set_broadcast(fd, state))))
}

/// Sets the interface outgoing multicast leaves by: `IP_MULTICAST_IF` on an
/// IPv4 socket (the interface's address), `IPV6_MULTICAST_IF` on an IPv6
/// one (its index). `from` is an interface name ("lo"), an address of one
/// of this host's interfaces (literal or name, "::1", "fe80::1%eth0"), or
/// empty for the system's choice.
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pony_os_multicast_interface(fd: c_int, from: *const c_char) {
    call((), || {
        // SAFETY: NULL or NUL-terminated (API contract).
        let from = unsafe { boundary::c_str(from) };
        setter(from.map(|from| multicast::set_interface(fd, from)))
    })
}

/// Whether multicast this socket sends is looped back to this host:
/// `IP_MULTICAST_LOOP` or `IPV6_MULTICAST_LOOP`, by the socket's family.
#[no_mangle]
pub extern "C" fn pony_os_multicast_loopback(fd: c_int, loopback: bool) {
    call((), || setter(Some(multicast::set_loopback(fd, loopback))))
}

/// The hop limit of multicast this socket sends: `IP_MULTICAST_TTL` or
/// `IPV6_MULTICAST_HOPS`, by the socket's family. Every `uint8_t` is a
/// value both take (0..255), so none is refused.
#[no_mangle]
pub extern "C" fn pony_os_multicast_ttl(fd: c_int, ttl: u8) {
    call((), || setter(Some(multicast::set_ttl(fd, ttl))))
}

/// Joins the multicast `group` (a literal or a name; IPv4 or IPv6, which
/// decides `IP_ADD_MEMBERSHIP` or `IPV6_ADD_MEMBERSHIP`) on the interface
/// `to` (as for `pony_os_multicast_interface`; empty for the system's choice).
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pony_os_multicast_join(fd: c_int, group: *const c_char, to: *const c_char) {
    call((), || {
        // SAFETY: NULL or NUL-terminated (API contract).
        let (group, to) = unsafe { (boundary::c_str(group), boundary::c_str(to)) };
        setter(group.zip(to).map(|(group, to)| multicast::change_membership(fd, group, to, true)))
    })
}

/// Leaves the multicast `group` on the interface `to`, as joined with
/// `pony_os_multicast_join` (`IP_DROP_MEMBERSHIP` or `IPV6_DROP_MEMBERSHIP`).
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pony_os_multicast_leave(fd: c_int, group: *const c_char, to: *const c_char) {
    call((), || {
        // SAFETY: NULL or NUL-terminated (API contract).
        let (group, to) = unsafe { (boundary::c_str(group), boundary::c_str(to)) };
        setter(group.zip(to).map(|(group, to)| multicast::change_membership(fd, group, to, false)))
    })
}
