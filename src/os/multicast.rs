//! Broadcast and multicast options of UDP sockets, IPv4 and IPv6 alike.
//!
//! The interface, loopback and TTL options are set at the level of the
//! socket's own family (getsockname(2)): `IP_MULTICAST_*` on an IPv4
//! socket, `IPV6_MULTICAST_*` on an IPv6 one. Joining and leaving follow
//! the group's family (`IP_ADD_MEMBERSHIP` for an IPv4 group, which Linux
//! also takes on a dual-stack IPv6 socket; `IPV6_ADD_MEMBERSHIP` for an
//! IPv6 group).
//!
//! An interface is named by text: empty for the system's choice, an
//! interface name ("lo", "eth0"), or an address (literal or host name) of
//! one of this host's interfaces. IPv4 options want the interface's
//! address, IPv6 options its index (if_nametoindex(3), a scope id, or the
//! interface holding the address, found with getifaddrs(3)).

use super::addr;
use super::resolve::{self, Family, Query};
use super::socket::with_fd;
use socket2::{SockAddr, SockRef};
use std::ffi::{c_int, CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ptr::NonNull;

/// `SO_BROADCAST`.
pub fn set_broadcast(fd: i32, on: bool) -> io::Result<()> {
    with_fd(fd, |s| s.set_broadcast(on))
}

/// The interface outgoing multicast leaves by: `IP_MULTICAST_IF` (by
/// address) or `IPV6_MULTICAST_IF` (by index). Empty text: the system's choice.
pub fn set_interface(fd: i32, interface: &CStr) -> io::Result<()> {
    with_fd(fd, |s| match is_ipv6(&s)? {
        false => s.set_multicast_if_v4(&interface_v4(interface)?),
        true => s.set_multicast_if_v6(interface_index(interface)?),
    })
}

/// Whether this host's own multicast comes back to it:
/// `IP_MULTICAST_LOOP` or `IPV6_MULTICAST_LOOP`.
pub fn set_loopback(fd: i32, on: bool) -> io::Result<()> {
    with_fd(fd, |s| match is_ipv6(&s)? {
        false => s.set_multicast_loop_v4(on),
        true => s.set_multicast_loop_v6(on),
    })
}

/// Hops outgoing multicast may take: `IP_MULTICAST_TTL` or `IPV6_MULTICAST_HOPS`.
pub fn set_ttl(fd: i32, ttl: u8) -> io::Result<()> {
    with_fd(fd, |s| match is_ipv6(&s)? {
        false => s.set_multicast_ttl_v4(u32::from(ttl)),
        true => s.set_multicast_hops_v6(u32::from(ttl)),
    })
}

/// Joins (`join`) or leaves the multicast `group` on `interface`.
pub fn change_membership(fd: i32, group: &CStr, interface: &CStr, join: bool) -> io::Result<()> {
    let group = resolve_one(group, Family::Any)?;
    with_fd(fd, |s| match group {
        IpAddr::V4(g) => {
            let i = interface_v4(interface)?;
            if join {
                s.join_multicast_v4(&g, &i)
            } else {
                s.leave_multicast_v4(&g, &i)
            }
        }
        IpAddr::V6(g) => {
            let i = interface_index(interface)?;
            if join {
                s.join_multicast_v6(&g, i)
            } else {
                s.leave_multicast_v6(&g, i)
            }
        }
    })
}

/// Whether the socket is IPv6 (else IPv4); `EAFNOSUPPORT` for any other family.
fn is_ipv6(s: &SockRef<'_>) -> io::Result<bool> {
    let local = s.local_addr()?;
    match (local.is_ipv4(), local.is_ipv6()) {
        (true, _) => Ok(false),
        (_, true) => Ok(true),
        _ => Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)),
    }
}

/// The first address `host` resolves to (a literal, or a name), with its
/// scope id for a scoped IPv6 literal.
fn resolve_first(host: &CStr, family: Family) -> io::Result<SocketAddr> {
    let query = Query { host: Some(host), service: None, family, socktype: libc::SOCK_DGRAM, passive: false };
    let list = resolve::lookup(&query)?;
    let first = list.iter().find_map(|r| r.addr.as_socket());
    first.ok_or_else(|| io::Error::from_raw_os_error(libc::EADDRNOTAVAIL))
}

fn resolve_one(host: &CStr, family: Family) -> io::Result<IpAddr> {
    if host.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    resolve_first(host, family).map(|a| a.ip())
}

/// The IPv4 address naming `interface`: 0.0.0.0 for empty text, the
/// interface's first IPv4 address for an interface name, else the
/// address the text resolves to.
fn interface_v4(interface: &CStr) -> io::Result<Ipv4Addr> {
    if interface.is_empty() {
        return Ok(Ipv4Addr::UNSPECIFIED);
    }
    let by_name = Interfaces::get()?.iter().find_map(|(name, a)| match a {
        IpAddr::V4(a) if name.as_c_str() == interface => Some(a),
        _ => None,
    });
    if let Some(a) = by_name {
        return Ok(a);
    }
    match resolve_one(interface, Family::V4)? {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(_) => Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)),
    }
}

/// The index of `interface`: 0 for empty text, if_nametoindex(3) for an
/// interface name, else the scope id of a scoped IPv6 address or the index
/// of the interface that holds the address. `ENODEV` if no interface does.
fn interface_index(interface: &CStr) -> io::Result<u32> {
    if interface.is_empty() {
        return Ok(0);
    }
    if let Some(index) = name_to_index(interface) {
        return Ok(index);
    }
    let wanted = resolve_first(interface, Family::Any)?;
    if let SocketAddr::V6(v6) = wanted {
        if v6.scope_id() != 0 {
            return Ok(v6.scope_id());
        }
    }
    let interfaces = Interfaces::get()?;
    let holder = interfaces.iter().find(|&(_, a)| a == wanted.ip()).and_then(|(name, _)| name_to_index(&name));
    holder.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
}

/// if_nametoindex(3); `None` if there is no such interface.
fn name_to_index(name: &CStr) -> Option<u32> {
    // SAFETY: `name` is NUL-terminated.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// This host's interface addresses (getifaddrs(3)), freed when dropped.
struct Interfaces {
    head: Option<NonNull<libc::ifaddrs>>,
}

impl Drop for Interfaces {
    fn drop(&mut self) {
        if let Some(head) = self.head {
            // SAFETY: `head` came from a successful getifaddrs and is freed once.
            unsafe { libc::freeifaddrs(head.as_ptr()) };
        }
    }
}

impl Interfaces {
    fn get() -> io::Result<Interfaces> {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        syscall!(getifaddrs(&mut head))?;
        Ok(Interfaces { head: NonNull::new(head) })
    }

    /// (interface name, IP address) of every IPv4 and IPv6 address.
    fn iter(&self) -> impl Iterator<Item = (CString, IpAddr)> + '_ {
        let mut next = self.head.map_or(std::ptr::null(), |h| h.as_ptr().cast_const());
        std::iter::from_fn(move || loop {
            // SAFETY: every node of the list lives as long as `self`.
            let node = unsafe { next.as_ref() }?;
            next = node.ifa_next;
            // SAFETY: ifa_addr is NULL or a sockaddr of the list.
            let Some(ip) = (unsafe { ip_of(node.ifa_addr) }) else { continue };
            if node.ifa_name.is_null() {
                continue;
            }
            // SAFETY: a non-NULL ifa_name is a NUL-terminated string of the list.
            return Some((unsafe { CStr::from_ptr(node.ifa_name) }.to_owned(), ip));
        })
    }
}

/// The IP address of an interface's `sockaddr` (NULL or another family: `None`).
///
/// # Safety
/// `sa` is NULL or a valid sockaddr, as getifaddrs(3) gives them: its full
/// size for its family.
unsafe fn ip_of(sa: *const libc::sockaddr) -> Option<IpAddr> {
    // SAFETY: NULL or valid (caller); every sockaddr starts with its family.
    let family = c_int::from(unsafe { sa.as_ref() }?.sa_family);
    let len = addr::family_length(family)?;
    // SAFETY: a sockaddr of an IP family is that family's full size (caller).
    let sock: SockAddr = unsafe { addr::from_raw(sa, len) }?;
    sock.as_socket().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Socket, Type};
    use std::os::fd::AsRawFd;

    #[test]
    fn interfaces_of_loopback() {
        assert_eq!(interface_v4(c"").unwrap(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(interface_v4(c"lo").unwrap(), Ipv4Addr::LOCALHOST);
        assert_eq!(interface_v4(c"127.0.0.1").unwrap(), Ipv4Addr::LOCALHOST);
        let lo = name_to_index(c"lo").unwrap();
        assert_eq!(interface_index(c"lo").unwrap(), lo);
        assert_eq!(interface_index(c"::1").unwrap(), lo);
        assert_eq!(interface_index(c"127.0.0.1").unwrap(), lo);
        assert_eq!(interface_index(c"").unwrap(), 0);
        assert!(interface_index(c"no-such-interface-xyz").is_err());
    }

    #[test]
    fn options_follow_the_socket_family() {
        let s6 = Socket::new(Domain::IPV6, Type::DGRAM, None).unwrap();
        set_ttl(s6.as_raw_fd(), 9).unwrap();
        assert_eq!(s6.multicast_hops_v6().unwrap(), 9);
        set_interface(s6.as_raw_fd(), c"::1").unwrap();
        assert_eq!(s6.multicast_if_v6().unwrap(), name_to_index(c"lo").unwrap());
        let s4 = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        set_ttl(s4.as_raw_fd(), 3).unwrap();
        assert_eq!(s4.multicast_ttl_v4().unwrap(), 3);
        change_membership(s4.as_raw_fd(), c"239.1.2.3", c"127.0.0.1", true).unwrap();
        change_membership(s4.as_raw_fd(), c"239.1.2.3", c"127.0.0.1", false).unwrap();
    }
}
