//! `NetAddress`: an IPv4 or IPv6 socket address as the ABI fills it
//! (`pony_ipaddress_t`), with Pony's queries (`ip4`, `ip6`, `port`, `name`).

use super::abi;
use crate::ffi::types::PonyIpAddress;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// An IP address and port: what `local_address()` / `remote_address()`
/// return. Two addresses are equal when family, address, port and (IPv6)
/// scope are.
#[derive(Clone, Copy)]
pub struct NetAddress {
    storage: libc::sockaddr_storage,
}

impl NetAddress {
    pub(crate) fn from_raw(raw: &PonyIpAddress) -> NetAddress {
        NetAddress { storage: raw.addr }
    }

    /// The address as the ABI takes it (`pony_ipaddress_t`, type NULL).
    pub(crate) fn to_raw(self) -> PonyIpAddress {
        let mut raw = abi::empty_address();
        raw.addr = self.storage;
        raw
    }

    /// Whether this is an IPv4 address (`pony_os_ipv4`).
    pub fn ip4(&self) -> bool {
        abi::is_ipv4(&self.to_raw())
    }

    /// Whether this is an IPv6 address (`pony_os_ipv6`).
    pub fn ip6(&self) -> bool {
        abi::is_ipv6(&self.to_raw())
    }

    /// The port (0 for an address of another family).
    pub fn port(&self) -> u16 {
        self.to_socket_addr().map_or(0, |a| a.port())
    }

    /// The IPv6 scope id (0 for IPv4).
    pub fn scope(&self) -> u32 {
        match self.to_socket_addr() {
            Some(SocketAddr::V6(a)) => a.scope_id(),
            _ => 0,
        }
    }

    /// The IP address, if this is IPv4 or IPv6.
    pub fn ip(&self) -> Option<IpAddr> {
        self.to_socket_addr().map(|a| a.ip())
    }

    /// As a standard socket address, if this is IPv4 or IPv6.
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        to_socket_addr(&self.to_raw())
    }

    /// Host and service as text (`pony_os_nameinfo`): numeric unless
    /// `reversedns` / `servicename` ask for names.
    pub fn name(&self, reversedns: bool, servicename: bool) -> io::Result<(String, String)> {
        abi::name_info(&self.to_raw(), reversedns, servicename)
    }
}

/// Reads the sockaddr of `raw` (no system call).
pub(crate) fn to_socket_addr(raw: &PonyIpAddress) -> Option<SocketAddr> {
    let storage = &raw.addr;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in (it is
            // larger and suitably aligned for one).
            let sin = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id)))
        }
        _ => None,
    }
}

impl From<SocketAddr> for NetAddress {
    fn from(addr: SocketAddr) -> NetAddress {
        let mut raw = abi::empty_address();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                let sin = unsafe { &mut *std::ptr::from_mut(&mut raw.addr).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &mut *std::ptr::from_mut(&mut raw.addr).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
            }
        }
        NetAddress::from_raw(&raw)
    }
}

impl PartialEq for NetAddress {
    fn eq(&self, other: &NetAddress) -> bool {
        match (self.to_socket_addr(), other.to_socket_addr()) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.storage.ss_family == other.storage.ss_family,
            _ => false,
        }
    }
}

impl Eq for NetAddress {}

impl Hash for NetAddress {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.to_socket_addr().hash(state);
    }
}

impl fmt::Debug for NetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_socket_addr() {
            Some(a) => write!(f, "NetAddress({a})"),
            None => write!(f, "NetAddress(family {})", self.storage.ss_family),
        }
    }
}

impl fmt::Display for NetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_socket_addr() {
            Some(a) => a.fmt(f),
            None => f.write_str("<no address>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_numerically() {
        let v4: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let a = NetAddress::from(v4);
        assert!(a.ip4() && !a.ip6());
        assert_eq!(a.port(), 8080);
        assert_eq!(a.to_socket_addr(), Some(v4));
        assert_eq!(a.name(false, false).unwrap(), ("127.0.0.1".to_owned(), "8080".to_owned()));
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let b = NetAddress::from(v6);
        assert!(b.ip6() && !b.ip4());
        assert_eq!(b.name(false, false).unwrap(), ("::1".to_owned(), "9".to_owned()));
        assert_ne!(a, b);
        assert_eq!(a, NetAddress::from(v4));
    }
}
