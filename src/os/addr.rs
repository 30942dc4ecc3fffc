//! IP socket addresses: the `sockaddr_storage` inside Pony's `NetAddress`
//! (`PonyIpAddress`) to and from socket2's [`SockAddr`], family tests, the
//! length of a family's sockaddr, "any" → loopback, and the text forms
//! (inet_pton(3), inet_ntop(3)).
//!
//! Only AF_INET and AF_INET6 are IP addresses here; everything else is
//! "unknown family".

use socket2::{SockAddr, SockAddrStorage};
use std::ffi::{c_int, CStr};
use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// `sizeof(struct sockaddr_in)`.
const IN4_LEN: u32 = size_of::<libc::sockaddr_in>() as u32;
/// `sizeof(struct sockaddr_in6)`.
const IN6_LEN: u32 = size_of::<libc::sockaddr_in6>() as u32;

/// The address family stored in `storage` (`AF_INET`, `AF_INET6`, ...).
pub fn family(storage: &libc::sockaddr_storage) -> c_int {
    c_int::from(storage.ss_family)
}

/// Whether `storage` holds an IPv4 address.
pub fn is_ipv4(storage: &libc::sockaddr_storage) -> bool {
    family(storage) == libc::AF_INET
}

/// Whether `storage` holds an IPv6 address.
pub fn is_ipv6(storage: &libc::sockaddr_storage) -> bool {
    family(storage) == libc::AF_INET6
}

/// `sizeof` the sockaddr of an IP family; `None` for any other family.
pub fn family_length(af: c_int) -> Option<u32> {
    match af {
        libc::AF_INET => Some(IN4_LEN),
        libc::AF_INET6 => Some(IN6_LEN),
        _ => None,
    }
}

/// `sizeof` the sockaddr that `storage` holds; `None` unless IPv4/IPv6.
pub fn length(storage: &libc::sockaddr_storage) -> Option<u32> {
    family_length(family(storage))
}

/// The IP address held in `storage`, as a `SockAddr` of its family's
/// length; `None` for an unknown family.
pub fn to_sock_addr(storage: &libc::sockaddr_storage) -> Option<SockAddr> {
    let len = length(storage)?;
    let mut out = SockAddrStorage::zeroed();
    // SAFETY: SockAddrStorage is a transparent wrapper of sockaddr_storage.
    *unsafe { out.view_as::<libc::sockaddr_storage>() } = *storage;
    // SAFETY: the family was checked, and `len` is that family's size.
    Some(unsafe { SockAddr::new(out, len) })
}

/// Copies `addr` into `storage` (the bytes past its length are zero).
pub fn store(addr: &SockAddr, storage: &mut libc::sockaddr_storage) {
    let mut raw = addr.clone().as_storage();
    // SAFETY: SockAddrStorage is a transparent wrapper of sockaddr_storage.
    *storage = *unsafe { raw.view_as::<libc::sockaddr_storage>() };
}

/// A socket address from a raw `sockaddr` pointer (as found in an
/// `addrinfo`); `None` for NULL or a length that does not fit.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` bytes.
pub unsafe fn from_raw(ptr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SockAddr> {
    let size = size_of::<libc::sockaddr_storage>();
    if ptr.is_null() || len as usize > size || (len as usize) < size_of::<libc::sa_family_t>() {
        return None;
    }
    let mut out = SockAddrStorage::zeroed();
    // SAFETY: `ptr` is readable for `len` bytes (caller), `out` is
    // `size >= len` bytes, and they cannot overlap (`out` is a local).
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr.cast::<u8>(),
            (&mut out as *mut SockAddrStorage).cast::<u8>(),
            len as usize,
        )
    };
    // SAFETY: the bytes are a sockaddr of length `len` produced by the OS.
    Some(unsafe { SockAddr::new(out, len) })
}

/// Whether `addr` is the "any" address of its family (0.0.0.0 or ::).
pub fn is_any(addr: &SockAddr) -> bool {
    addr.as_socket().is_some_and(|sa| sa.ip().is_unspecified())
}

/// "Any" (0.0.0.0, ::) becomes loopback (127.0.0.1, ::1), port, flow info
/// and scope kept; every other address is returned unchanged. A connect
/// to "any" means "this host", and a socket bound to "any" is reachable
/// through loopback.
pub fn any_to_loopback(addr: SockAddr) -> SockAddr {
    match addr.as_socket() {
        Some(SocketAddr::V4(mut v4)) if v4.ip().is_unspecified() => {
            v4.set_ip(Ipv4Addr::LOCALHOST);
            SockAddr::from(v4)
        }
        Some(SocketAddr::V6(mut v6)) if v6.ip().is_unspecified() => {
            v6.set_ip(Ipv6Addr::LOCALHOST);
            SockAddr::from(v6)
        }
        _ => addr,
    }
}

/// `INET6_ADDRSTRLEN`: room for the longest text form, NUL included.
const ADDR_TEXT_MAX: usize = 46;

// POSIX <arpa/inet.h>; the libc crate does not declare these two.
extern "C" {
    fn inet_pton(af: c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> c_int;
    fn inet_ntop(
        af: c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

/// Whether `text` is a literal address of family `af` (inet_pton(3)).
pub fn is_literal(af: c_int, text: &CStr) -> bool {
    let mut buf = [0u8; 16];
    // SAFETY: `text` is NUL-terminated; `buf` has room for an in6_addr,
    // the larger of the two results.
    let r = unsafe { inet_pton(af, text.as_ptr(), buf.as_mut_ptr().cast()) };
    r == 1
}

/// The text form of a raw address of 4 (IPv4) or 16 (IPv6) bytes, as
/// inet_ntop(3) writes it. `EINVAL` for any other length.
pub fn raw_to_text(raw: &[u8]) -> io::Result<Vec<u8>> {
    let af = match raw.len() {
        4 => libc::AF_INET,
        16 => libc::AF_INET6,
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let mut buf = [0 as libc::c_char; ADDR_TEXT_MAX];
    // SAFETY: `raw` holds a whole in_addr/in6_addr for `af`; `buf` is
    // INET6_ADDRSTRLEN bytes, enough for either text form.
    let p = unsafe {
        inet_ntop(
            af,
            raw.as_ptr().cast(),
            buf.as_mut_ptr(),
            buf.len() as libc::socklen_t,
        )
    };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success inet_ntop wrote a NUL-terminated string into `buf`.
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_loopback() {
        let any: SocketAddr = "[::]:80".parse().unwrap();
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        store(&SockAddr::from(any), &mut storage);
        assert!(is_ipv6(&storage) && !is_ipv4(&storage));
        assert_eq!(length(&storage), Some(IN6_LEN));
        let back = to_sock_addr(&storage).unwrap();
        assert!(is_any(&back));
        let lo = any_to_loopback(back);
        assert_eq!(lo.as_socket(), Some("[::1]:80".parse().unwrap()));
        let v4 = any_to_loopback(SockAddr::from("0.0.0.0:7".parse::<SocketAddr>().unwrap()));
        assert_eq!(v4.as_socket(), Some("127.0.0.1:7".parse().unwrap()));
    }

    #[test]
    fn text_forms() {
        assert_eq!(raw_to_text(&[127, 0, 0, 1]).unwrap(), b"127.0.0.1");
        let mut six = [0u8; 16];
        six[15] = 1;
        assert_eq!(raw_to_text(&six).unwrap(), b"::1");
        assert!(raw_to_text(&[1, 2, 3]).is_err());
        assert!(is_literal(libc::AF_INET, c"10.0.0.1"));
        assert!(!is_literal(libc::AF_INET, c"::1"));
        assert!(is_literal(libc::AF_INET6, c"fe80::1"));
    }
}
