//! Exported address and name functions (ABI.md §3): socket names, family
//! tests, name lookups and their results, text forms.

use super::boundary::{self, call};
use super::tcp::record;
use super::types::PonyIpAddress;
use crate::host::failure::{self, Failure};
use crate::host::strings::to_c_string;
use crate::os::resolve::{self, Family, Query};
use crate::os::{addr, socket};
use socket2::SockAddr;
use std::ffi::{c_char, c_int, c_void};
use std::io;
use std::ptr;

/// Stores the result of a name call into `out`; false (recorded) on failure.
fn store_name(result: io::Result<SockAddr>, out: Option<&mut PonyIpAddress>) -> bool {
    let Some(out) = out else {
        failure::record(Failure::invalid());
        return false;
    };
    match result {
        Ok(a) => {
            addr::store(&a, &mut out.addr);
            true
        }
        Err(e) => {
            record(&e);
            false
        }
    }
}

/// The socket's local address into `ip->addr` ("any" reported as
/// loopback). False on failure or a NULL `ip`.
#[no_mangle]
pub unsafe extern "C" fn pony_os_sockname(fd: c_int, ip: *mut PonyIpAddress) -> bool {
    call(false, || {
        // SAFETY: NULL or a writable address (API contract).
        store_name(socket::local_addr(fd), unsafe { boundary::out(ip) })
    })
}

/// The socket's remote address into `ip->addr` ("any" reported as
/// loopback). False on failure (not connected) or a NULL `ip`.
#[no_mangle]
pub unsafe extern "C" fn pony_os_peername(fd: c_int, ip: *mut PonyIpAddress) -> bool {
    call(false, || {
        // SAFETY: NULL or a writable address (API contract).
        store_name(socket::peer_addr(fd), unsafe { boundary::out(ip) })
    })
}

/// Whether `host` is a literal IPv4 address (inet_pton). False for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_os_host_ip4(host: *const c_char) -> bool {
    call(false, || {
        // SAFETY: NULL or NUL-terminated (API contract).
        unsafe { boundary::c_str(host) }.is_some_and(|h| addr::is_literal(libc::AF_INET, h))
    })
}

/// Whether `host` is a literal IPv6 address (inet_pton). False for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_os_host_ip6(host: *const c_char) -> bool {
    call(false, || {
        // SAFETY: NULL or NUL-terminated (API contract).
        unsafe { boundary::c_str(host) }.is_some_and(|h| addr::is_literal(libc::AF_INET6, h))
    })
}

/// Whether `ip` holds an IPv4 address. False for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_os_ipv4(ip: *mut PonyIpAddress) -> bool {
    call(false, || {
        // SAFETY: NULL or a readable address (API contract).
        unsafe { boundary::input(ip) }.is_some_and(|ip| addr::is_ipv4(&ip.addr))
    })
}

/// Whether `ip` holds an IPv6 address. False for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_os_ipv6(ip: *mut PonyIpAddress) -> bool {
    call(false, || {
        // SAFETY: NULL or a readable address (API contract).
        unsafe { boundary::input(ip) }.is_some_and(|ip| addr::is_ipv6(&ip.addr))
    })
}

/// `sizeof` the sockaddr for the family of `ip` (`struct sockaddr_in` or
/// `struct sockaddr_in6`); 0xFFFFFFFF for another family or NULL.
#[no_mangle]
pub unsafe extern "C" fn ponyint_address_length(ip: *mut PonyIpAddress) -> u32 {
    call(u32::MAX, || {
        // SAFETY: NULL or a readable address (API contract).
        unsafe { boundary::input(ip) }
            .and_then(|ip| addr::length(&ip.addr))
            .unwrap_or(u32::MAX)
    })
}

/// The host and service of `ip` as text: numeric unless `reversedns` /
/// `servicename` ask for names. On success `*host` and `*serv` get strings
/// allocated by the library (C: release them with `free()`). False on
/// failure or a NULL argument, and nothing is allocated then:
/// `ponynet_take_error()` gives `EINVAL`, `EAFNOSUPPORT`, or a
/// `PONYNET_ERR_NAME_*` code when the resolver failed.
#[no_mangle]
pub unsafe extern "C" fn pony_os_nameinfo(
    ip: *mut PonyIpAddress,
    host: *mut *mut c_char,
    serv: *mut *mut c_char,
    reversedns: bool,
    servicename: bool,
) -> bool {
    call(false, || {
        // SAFETY: each pointer is NULL or valid (API contract).
        let (ip, host, serv) = unsafe {
            (
                boundary::input(ip),
                boundary::out(host),
                boundary::out(serv),
            )
        };
        let (Some(ip), Some(host), Some(serv)) = (ip, host, serv) else {
            failure::record(Failure::invalid());
            return false;
        };
        let Some(a) = addr::to_sock_addr(&ip.addr) else {
            failure::record(Failure::Os(libc::EAFNOSUPPORT));
            return false;
        };
        match resolve::name_info(&a, reversedns, servicename) {
            Ok((h, s)) => {
                let (h, s) = (to_c_string(&h), to_c_string(&s));
                // Out of memory for one of the two: report failure (the
                // other string is not handed out; only OOM leads here).
                if h.is_null() || s.is_null() {
                    failure::record(Failure::Os(libc::ENOMEM));
                    return false;
                }
                (*host, *serv) = (h, s);
                true
            }
            Err(e) => {
                record(&e);
                false
            }
        }
    })
}

/// A passive lookup of `host`/`service` (either may be NULL or empty, not
/// both) in `family`: 0 any, 1 IPv4, 2 IPv6. Returns the raw getaddrinfo
/// list (the caller frees it with `freeaddrinfo`), or NULL for another
/// family, a failed lookup, or a host string no resolver could accept.
/// `service` is a port number in decimal digits, 0 to 65535 (leading zeros
/// allowed), or a service name ("http"); a larger number, a signed one
/// ("+80", "-1") or text no service name could be fails with `EINVAL`
/// (getaddrinfo alone would take "99999" as port 34463).
///
/// `ponynet_take_error()` after a NULL: `EAFNOSUPPORT` for another family,
/// `EINVAL` for nothing to look up or a malformed string,
/// `PONYNET_ERR_NAME_NOT_FOUND` when no such host or service exists (or has
/// no address in `family`), `PONYNET_ERR_NAME_TRY_AGAIN` when the name
/// server could not be reached or did not answer, `PONYNET_ERR_NAME_FAILED`
/// for any other failure of the resolver, and an errno (`ENOMEM`...) when
/// the system failed.
#[no_mangle]
pub unsafe extern "C" fn pony_os_addrinfo(
    family: c_int,
    host: *const c_char,
    service: *const c_char,
) -> *mut libc::addrinfo {
    call(ptr::null_mut(), || {
        let Some(family) = Family::from_pony(family) else {
            failure::record(Failure::Os(libc::EAFNOSUPPORT));
            return ptr::null_mut();
        };
        // SAFETY: NULL or NUL-terminated (API contract).
        let (host, service) = unsafe { (boundary::c_str(host), boundary::c_str(service)) };
        let query = Query {
            host,
            service,
            family,
            socktype: 0,
            passive: true,
        };
        resolve::lookup(&query).map_or_else(
            |e| {
                record(&e);
                ptr::null_mut()
            },
            resolve::AddrInfoList::into_raw,
        )
    })
}

/// Copies the address of one `pony_os_addrinfo` entry into `ip->addr`
/// ("any" reported as loopback). Does nothing if either is NULL or the
/// entry's address does not fit or is not IPv4 or IPv6.
#[no_mangle]
pub unsafe extern "C" fn pony_os_getaddr(ai: *mut libc::addrinfo, ip: *mut PonyIpAddress) {
    call((), || {
        // SAFETY: each pointer is NULL or valid (API contract).
        let (ai, ip) = unsafe { (boundary::input(ai.cast_const()), boundary::out(ip)) };
        let (Some(ai), Some(ip)) = (ai, ip) else {
            return failure::record(Failure::invalid());
        };
        // SAFETY: an addrinfo entry's ai_addr holds ai_addrlen bytes.
        match unsafe { addr::from_raw(ai.ai_addr, ai.ai_addrlen) } {
            Some(a) if a.is_ipv4() || a.is_ipv6() => addr::store(&addr::any_to_loopback(a), &mut ip.addr),
            Some(_) => failure::record(Failure::Os(libc::EAFNOSUPPORT)),
            None => failure::record(Failure::invalid()),
        }
    })
}

/// The entry after `ai` in a lookup result; NULL at the end or for NULL.
#[no_mangle]
pub unsafe extern "C" fn pony_os_nextaddr(ai: *mut libc::addrinfo) -> *mut libc::addrinfo {
    call(ptr::null_mut(), || {
        // SAFETY: NULL or a valid entry (API contract).
        unsafe { boundary::input(ai.cast_const()) }.map_or(ptr::null_mut(), |ai| ai.ai_next)
    })
}

/// The text form of the raw address at `src`: `len` 4 is an IPv4 address
/// (`struct in_addr`), 16 an IPv6 one (`struct in6_addr`). The string is
/// allocated by the library (C: release it with `free()`). NULL for another
/// length or a NULL `src`.
#[no_mangle]
pub unsafe extern "C" fn pony_os_ip_string(src: *const c_void, len: c_int) -> *mut c_char {
    call(ptr::null_mut(), || {
        let Some(n) = usize::try_from(len)
            .ok()
            .filter(|n| matches!(n, 4 | 16) && !src.is_null())
        else {
            failure::record(Failure::invalid());
            return ptr::null_mut();
        };
        // SAFETY: `src` holds `len` readable bytes (API contract).
        let raw = unsafe { std::slice::from_raw_parts(src.cast::<u8>(), n) };
        addr::raw_to_text(raw).map_or_else(
            |e| {
                record(&e);
                ptr::null_mut()
            },
            |text| to_c_string(&text),
        )
    })
}
