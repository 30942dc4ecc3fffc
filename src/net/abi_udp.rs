//! The exported C ABI for datagrams and names, as the net package sees it:
//! with [`super::abi`], the only file that calls into the library.

use super::abi::{c_string, last_error, nul_in_text, AsioEvent, IpVersion};
use super::address::NetAddress;
use crate::ffi::types::Owner;
use crate::ffi::{addr, lifecycle, udp};
use std::ffi::c_char;
use std::io;

/// `pony_os_listen_udp{,4,6}`; the recorded error on failure.
pub(crate) fn listen_udp(owner: *mut Owner, host: &str, service: &str, version: IpVersion) -> io::Result<AsioEvent> {
    let (Some(host), Some(service)) = (c_string(host), c_string(service)) else {
        return Err(nul_in_text());
    };
    let f = match version {
        IpVersion::Any => udp::pony_os_listen_udp,
        IpVersion::V4 => udp::pony_os_listen_udp4,
        IpVersion::V6 => udp::pony_os_listen_udp6,
    };
    // SAFETY: `owner` is an actor's EventOwner (alive while it has events);
    // the strings are NUL-terminated and outlive the call.
    AsioEvent::from_raw(unsafe { f(owner, host.as_ptr(), service.as_ptr()) }).ok_or_else(last_error)
}

/// What a partial datagram call that returned 0 means: nothing to do now
/// (`Ok`), or the failure it recorded.
fn zero_result() -> io::Result<()> {
    match lifecycle::ponynet_take_error() {
        0 => Ok(()),
        errno if errno > 0 => Err(io::Error::from_raw_os_error(errno)),
        other => Err(io::Error::other(format!("libponynet: datagram call failed ({other})"))),
    }
}

/// `pony_os_sendto`: bytes sent (0 if it would block).
pub(crate) fn sendto(fd: i32, data: &[u8], to: &NetAddress) -> io::Result<usize> {
    let mut to = to.to_raw();
    // SAFETY: `data` is readable for its length; `to` is a valid address.
    let n = unsafe { udp::pony_os_sendto(fd, data.as_ptr().cast::<c_char>(), data.len(), &mut to) };
    if n == 0 {
        zero_result()?;
    }
    Ok(n)
}

/// `pony_os_recvfrom`: `None` if nothing is queued, else the length and sender.
pub(crate) fn recvfrom(ev: AsioEvent, buf: &mut [u8]) -> io::Result<Option<(usize, NetAddress)>> {
    let mut from = super::abi::empty_address();
    // SAFETY: a live event; `buf` is writable for its length; `from` is writable.
    let n = unsafe { udp::pony_os_recvfrom(ev.as_ptr(), buf.as_mut_ptr().cast::<c_char>(), buf.len(), &mut from) };
    if n > 0 {
        return Ok(Some((n, NetAddress::from_raw(&from))));
    }
    zero_result().map(|()| None)
}

/// `pony_os_broadcast`.
pub(crate) fn broadcast(fd: i32, state: bool) {
    udp::pony_os_broadcast(fd, state);
}

/// `pony_os_multicast_interface`.
pub(crate) fn multicast_interface(fd: i32, from: &str) {
    if let Some(from) = c_string(from) {
        // SAFETY: a NUL-terminated string outliving the call.
        unsafe { udp::pony_os_multicast_interface(fd, from.as_ptr()) };
    }
}

/// `pony_os_multicast_loopback`.
pub(crate) fn multicast_loopback(fd: i32, loopback: bool) {
    udp::pony_os_multicast_loopback(fd, loopback);
}

/// `pony_os_multicast_ttl`.
pub(crate) fn multicast_ttl(fd: i32, ttl: u8) {
    udp::pony_os_multicast_ttl(fd, ttl);
}

/// `pony_os_multicast_join`.
pub(crate) fn multicast_join(fd: i32, group: &str, to: &str) {
    if let (Some(group), Some(to)) = (c_string(group), c_string(to)) {
        // SAFETY: NUL-terminated strings outliving the call.
        unsafe { udp::pony_os_multicast_join(fd, group.as_ptr(), to.as_ptr()) };
    }
}

/// `pony_os_multicast_leave`.
pub(crate) fn multicast_leave(fd: i32, group: &str, to: &str) {
    if let (Some(group), Some(to)) = (c_string(group), c_string(to)) {
        // SAFETY: NUL-terminated strings outliving the call.
        unsafe { udp::pony_os_multicast_leave(fd, group.as_ptr(), to.as_ptr()) };
    }
}

/// `pony_os_host_ip4`.
pub(crate) fn host_ip4(host: &str) -> bool {
    // SAFETY: a NUL-terminated string outliving the call.
    c_string(host).is_some_and(|h| unsafe { addr::pony_os_host_ip4(h.as_ptr()) })
}

/// `pony_os_host_ip6`.
pub(crate) fn host_ip6(host: &str) -> bool {
    // SAFETY: a NUL-terminated string outliving the call.
    c_string(host).is_some_and(|h| unsafe { addr::pony_os_host_ip6(h.as_ptr()) })
}
