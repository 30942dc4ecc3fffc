//! Starting the Happy Eyeballs attempts of a client connection.
//!
//! This does what `pony_os_connect_tcp` does — resolve, then start a
//! non-blocking connect to every address at once, each with its own noisy
//! `ASIO_READ|ASIO_WRITE|ASIO_ONESHOT` event — but keeps each attempt's
//! event. `pony_os_connect_tcp` returns only how many attempts started, so a
//! caller cannot unsubscribe (cancel) an attempt before it reports; a
//! connection closed while connecting must cancel them all at once.
//!
//! Resolution goes through the ABI (`pony_os_addrinfo`, `pony_os_nextaddr`,
//! `pony_os_getaddr`: "any" means loopback), the events through
//! `pony_asio_event_create`, closing through `pony_os_socket_close`; only
//! socket(2), bind(2) and connect(2) are called directly, as the library does.

use super::abi::{self, AsioEvent, IpVersion, READ_WRITE_ONESHOT};
use super::sockopt;
use crate::ffi::types::{Owner, PonyIpAddress};
use std::io;
use std::os::fd::RawFd;

/// Starts one attempt per stream address of `host`/`service`; returns
/// their events (empty if none could start: no name, no route, ...).
pub(crate) fn start(owner: *mut Owner, host: &str, service: &str, from: &str, version: IpVersion) -> Vec<AsioEvent> {
    let Ok(targets) = abi::lookup(version, host, Some(service), libc::SOCK_STREAM) else { return Vec::new() };
    let sources = |v: IpVersion| -> Vec<PonyIpAddress> {
        if from.is_empty() {
            Vec::new()
        } else {
            abi::lookup(v, from, None, libc::SOCK_STREAM).unwrap_or_default()
        }
    };
    let (from4, from6) = (sources(IpVersion::V4), sources(IpVersion::V6));
    targets
        .iter()
        .filter_map(|to| {
            let source = match (from.is_empty(), abi::is_ipv4(to)) {
                (true, _) => None,
                // A `from` with no address of this family fails this attempt.
                (false, true) => Some(from4.first()?),
                (false, false) => Some(from6.first()?),
            };
            let fd = connect_one(to, source).ok()?;
            let ev = AsioEvent::create(owner, fd, READ_WRITE_ONESHOT);
            if ev.is_none() {
                abi::socket_close(fd);
            }
            ev
        })
        .collect()
}

/// A non-blocking, close-on-exec socket with its connect to `to` in
/// flight (bound to `from` first, with `SO_REUSEADDR`). Closed on failure.
fn connect_one(to: &PonyIpAddress, from: Option<&PonyIpAddress>) -> io::Result<RawFd> {
    let len = abi::address_length(to).ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
    let family = libc::c_int::from(to.addr.ss_family);
    // SAFETY: plain socket(2); the fd is ours until handed to an event.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let result = (|| {
        if let Some(from) = from {
            let (level, reuse) = sockopt::pair(sockopt::sol_socket(), sockopt::so_reuseaddr())?;
            sockopt::set_u32(fd, level, reuse, 1)?;
            let from_len = abi::address_length(from).ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
            // SAFETY: `from.addr` holds a sockaddr of `from_len` bytes.
            if unsafe { libc::bind(fd, std::ptr::from_ref(&from.addr).cast(), from_len) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: `to.addr` holds a sockaddr of `len` bytes.
        if unsafe { libc::connect(fd, std::ptr::from_ref(&to.addr).cast(), len) } != 0 {
            let e = io::Error::last_os_error();
            // In progress: completion is reported as writeability.
            if !matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) {
                return Err(e);
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(fd),
        Err(e) => {
            abi::socket_close(fd);
            Err(e)
        }
    }
}
