//! Name lookups: getaddrinfo(3) behind an owning list, getnameinfo(3).
//!
//! Lookups never use `AI_ADDRCONFIG`: with it glibc returns nothing for
//! "localhost" or "::1" on a host whose only interface is loopback.
//! Host and service strings are checked before they reach the resolver: a
//! string no resolver could accept (too long, not ASCII, control
//! characters, spaces...) fails at once with `EINVAL` instead of becoming
//! a DNS query.

use super::addr;
use socket2::SockAddr;
use std::ffi::{c_int, CStr};
use std::io;
use std::ptr::{self, NonNull};

/// Longest host name accepted: a DNS name is at most 253 characters; an
/// IPv6 literal with a scope id is far shorter.
const MAX_HOST: usize = 253;
/// Longest service accepted (NI_MAXSERV is 32 with the NUL).
const MAX_SERVICE: usize = 31;

/// Which address families a lookup may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 and IPv6 (`AF_UNSPEC`).
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    /// Pony's numbering (`pony_os_addrinfo`): 0 any, 1 IPv4, 2 IPv6.
    pub fn from_pony(n: c_int) -> Option<Family> {
        match n {
            0 => Some(Family::Any),
            1 => Some(Family::V4),
            2 => Some(Family::V6),
            _ => None,
        }
    }

    /// The `AF_*` constant.
    pub fn af(self) -> c_int {
        match self {
            Family::Any => libc::AF_UNSPEC,
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        }
    }

    /// The family of one concrete address.
    pub fn of(addr: &SockAddr) -> Family {
        if addr.is_ipv6() {
            Family::V6
        } else if addr.is_ipv4() {
            Family::V4
        } else {
            Family::Any
        }
    }
}

/// What to look up.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// Host name or literal; `None` (or empty) means "any" when passive,
    /// loopback otherwise.
    pub host: Option<&'a CStr>,
    /// Service name or port number; `None` means port 0.
    pub service: Option<&'a CStr>,
    /// Families wanted.
    pub family: Family,
    /// `SOCK_STREAM`, `SOCK_DGRAM`, or 0 for every type.
    pub socktype: c_int,
    /// `AI_PASSIVE`: addresses to bind rather than to connect to.
    pub passive: bool,
}

/// One address of a lookup result.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The address (port included).
    pub addr: SockAddr,
    /// `ai_socktype`.
    pub socktype: c_int,
    /// `ai_protocol`.
    pub protocol: c_int,
}

/// A getaddrinfo(3) result, freed with freeaddrinfo(3) when dropped.
#[derive(Debug)]
pub struct AddrInfoList {
    head: NonNull<libc::addrinfo>,
}

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        // SAFETY: `head` came from a successful getaddrinfo and is freed once.
        unsafe { libc::freeaddrinfo(self.head.as_ptr()) };
    }
}

impl AddrInfoList {
    /// The addresses, in the resolver's order (entries of a family other
    /// than IPv4/IPv6 are skipped).
    pub fn iter(&self) -> impl Iterator<Item = Resolved> + '_ {
        let mut next = self.head.as_ptr().cast_const();
        std::iter::from_fn(move || loop {
            // SAFETY: every node of the list lives as long as `self`.
            let node = unsafe { next.as_ref() }?;
            next = node.ai_next;
            // SAFETY: ai_addr/ai_addrlen describe the node's own address.
            let Some(addr) = (unsafe { addr::from_raw(node.ai_addr, node.ai_addrlen) }) else {
                continue;
            };
            if addr.is_ipv4() || addr.is_ipv6() {
                return Some(Resolved {
                    addr,
                    socktype: node.ai_socktype,
                    protocol: node.ai_protocol,
                });
            }
        })
    }

    /// Hands the list to a caller who frees it with freeaddrinfo(3).
    pub fn into_raw(self) -> *mut libc::addrinfo {
        let head = self.head.as_ptr();
        std::mem::forget(self);
        head
    }
}

/// Whether `host` is something a resolver could accept: short, printable
/// ASCII, only the characters of host names and address literals.
pub fn host_is_plausible(host: &CStr) -> bool {
    let b = host.to_bytes();
    b.len() <= MAX_HOST
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b".-_:%".contains(&c))
}

/// Whether `service` could be a port number or a service name.
pub fn service_is_plausible(service: &CStr) -> bool {
    let b = service.to_bytes();
    b.len() <= MAX_SERVICE
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b".-_+".contains(&c))
}

fn invalid() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// What a service string names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service<'a> {
    /// A port number.
    Port(u16),
    /// A service name for getaddrinfo(3) to look up ("http").
    Name(&'a CStr),
}

/// Reads a service string, the one way every listen, connect and lookup
/// turns one into a port:
/// - empty: port 0;
/// - decimal digits only: that port; leading zeros are allowed ("080" is
///   80); above 65535 it is `EINVAL` (getaddrinfo(3) would take the number
///   modulo 65536: "99999" would be port 34463, "65536" port 0);
/// - a sign and digits ("+80", "-1"): `EINVAL` (strtoul(3), which
///   getaddrinfo uses, would take "+80" as 80 and wrap "-1" to 65535);
/// - anything else a service name could be (at most 31 letters, digits,
///   '.', '-', '_', '+', such as "http" or "9pfs"): a name;
/// - anything else (spaces, control characters, longer text): `EINVAL`.
pub fn service(text: &CStr) -> io::Result<Service<'_>> {
    let b = text.to_bytes();
    if !service_is_plausible(text) {
        return Err(invalid());
    }
    if b.is_empty() {
        return Ok(Service::Port(0));
    }
    let digits = match b {
        [b'+' | b'-', rest @ ..] => rest,
        _ => b,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(Service::Name(text));
    }
    if digits.len() != b.len() {
        return Err(invalid());
    }
    let port = digits.iter().try_fold(0u16, |n, &d| n.checked_mul(10)?.checked_add(u16::from(d - b'0')));
    port.map(Service::Port).ok_or_else(invalid)
}

/// The addresses to try for a socket: one, from a numeric host and port
/// (no getaddrinfo(3): it costs microseconds per connection), or a
/// getaddrinfo list.
#[derive(Debug)]
pub enum Addresses {
    /// A numeric host and port.
    Literal(Resolved),
    /// What getaddrinfo(3) returned.
    List(AddrInfoList),
}

impl Addresses {
    /// The addresses, in order.
    pub fn iter(&self) -> impl Iterator<Item = Resolved> + '_ {
        let (literal, list) = match self {
            Addresses::Literal(r) => (Some(r.clone()), None),
            Addresses::List(l) => (None, Some(l.iter())),
        };
        literal.into_iter().chain(list.into_iter().flatten())
    }
}

/// Resolves a host and service for a socket: to bind (`passive`) or to
/// connect to. The service is read by [`service`]: no service or an empty
/// one is port 0, which a connect refuses (`EINVAL`: nothing listens on
/// port 0). A numeric host (an IP literal std parses; anything else, e.g.
/// a scoped IPv6 literal or `127.1`, goes to getaddrinfo) with a port, in
/// the queried family, for a stream or datagram socket, is the one address
/// it names — what getaddrinfo would return for it.
pub fn lookup_socket(q: &Query<'_>) -> io::Result<Addresses> {
    let host = q.host.filter(|h| !h.is_empty());
    if host.is_some_and(|h| !host_is_plausible(h)) {
        return Err(invalid());
    }
    let service = service(q.service.unwrap_or(c""))?;
    if service == Service::Port(0) && !q.passive {
        return Err(invalid());
    }
    if let (Some(host), Service::Port(port)) = (host, service) {
        if let Some(literal) = literal(q, host, port) {
            return Ok(Addresses::Literal(literal));
        }
    }
    getaddrinfo(q, host, Some(service)).map(Addresses::List)
}

fn literal(q: &Query<'_>, host: &CStr, port: u16) -> Option<Resolved> {
    let protocol = match q.socktype {
        libc::SOCK_STREAM => libc::IPPROTO_TCP,
        libc::SOCK_DGRAM => libc::IPPROTO_UDP,
        _ => return None,
    };
    let ip: std::net::IpAddr = host.to_str().ok()?.parse().ok()?;
    let family_ok = match q.family {
        Family::Any => true,
        Family::V4 => ip.is_ipv4(),
        Family::V6 => ip.is_ipv6(),
    };
    family_ok.then(|| Resolved {
        addr: SockAddr::from(std::net::SocketAddr::new(ip, port)),
        socktype: q.socktype,
        protocol,
    })
}

/// getaddrinfo(3) of a host and service (read by [`service`]). An empty
/// host or service counts as none (a service of none is port 0). At least
/// one of host and service must be given.
pub fn lookup(q: &Query<'_>) -> io::Result<AddrInfoList> {
    let host = q.host.filter(|h| !h.is_empty());
    if host.is_some_and(|h| !host_is_plausible(h)) {
        return Err(invalid());
    }
    let service = q.service.filter(|s| !s.is_empty()).map(service).transpose()?;
    if host.is_none() && service.is_none() {
        return Err(invalid());
    }
    getaddrinfo(q, host, service)
}

/// getaddrinfo(3) with checked strings. A port goes as its decimal text
/// with `AI_NUMERICSERV`, so that no service name is looked up for it.
fn getaddrinfo(q: &Query<'_>, host: Option<&CStr>, service: Option<Service<'_>>) -> io::Result<AddrInfoList> {
    // SAFETY: addrinfo is plain data; all-zero is a valid empty hints value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = q.family.af();
    hints.ai_socktype = q.socktype;
    hints.ai_flags = if q.passive { libc::AI_PASSIVE } else { 0 };
    // "65535" and its NUL.
    let mut digits = [0u8; 6];
    let service = match service {
        None => ptr::null(),
        Some(Service::Name(name)) => name.as_ptr(),
        Some(Service::Port(port)) => {
            hints.ai_flags |= libc::AI_NUMERICSERV;
            port_text(port, &mut digits).as_ptr()
        }
    };
    let host = host.map_or(ptr::null(), CStr::as_ptr);
    let mut out: *mut libc::addrinfo = ptr::null_mut();
    // SAFETY: host/service are NULL or NUL-terminated and outlive the call,
    // hints is initialised, `out` receives a list we own on success.
    let rc = unsafe { libc::getaddrinfo(host, service, &hints, &mut out) };
    if rc != 0 {
        return Err(gai_error(rc));
    }
    NonNull::new(out)
        .map(|head| AddrInfoList { head })
        .ok_or_else(not_found)
}

/// `port` as NUL-terminated decimal text in `buf`.
fn port_text(port: u16, buf: &mut [u8; 6]) -> &CStr {
    let mut n = port;
    let mut start = 5;
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf[5] = 0;
    CStr::from_bytes_with_nul(&buf[start..]).unwrap_or(c"0")
}

fn not_found() -> io::Error {
    ResolveError::NotFound.into()
}

/// glibc's and musl's `EAI_ADDRFAMILY` (a GNU extension the libc crate
/// does not declare): the host has no address of the family asked for.
const EAI_ADDRFAMILY: c_int = -9;

/// Why the resolver could not resolve a name: an `EAI_*` failure that is
/// not an errno. It travels inside an `io::Error` (kind `NotFound` or
/// `Other`), whose message is the resolver's own (gai_strerror(3)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// No such host or service name, or none with an address of the
    /// family asked for (`EAI_NONAME`, `EAI_NODATA`, `EAI_ADDRFAMILY`,
    /// `EAI_SERVICE`).
    NotFound,
    /// A temporary failure (`EAI_AGAIN`): the name server did not answer
    /// or could not be reached; the same lookup may succeed later.
    TryAgain,
    /// Any other failure of the resolver (`EAI_FAIL`: a non-recoverable
    /// failure of the name server; `EAI_OVERFLOW`...).
    Failed,
}

impl ResolveError {
    /// The reason an `EAI_*` code gives. Codes that stand for an errno or
    /// for bad arguments are not resolver failures: see [`gai_error`].
    fn of_gai(rc: c_int) -> ResolveError {
        match rc {
            libc::EAI_NONAME | libc::EAI_NODATA | EAI_ADDRFAMILY | libc::EAI_SERVICE => ResolveError::NotFound,
            libc::EAI_AGAIN => ResolveError::TryAgain,
            _ => ResolveError::Failed,
        }
    }

    /// The `EAI_*` code whose text describes it.
    fn gai_code(self) -> c_int {
        match self {
            ResolveError::NotFound => libc::EAI_NONAME,
            ResolveError::TryAgain => libc::EAI_AGAIN,
            ResolveError::Failed => libc::EAI_FAIL,
        }
    }
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: gai_strerror returns a NUL-terminated static string (NULL
        // only in a libc that knows no text for the code).
        let text = unsafe { libc::gai_strerror(self.gai_code()).as_ref().map(|p| CStr::from_ptr(p)) };
        let text = text.map_or_else(|| format!("{self:?}").into(), CStr::to_string_lossy);
        write!(f, "name resolution failed: {text}")
    }
}

impl std::error::Error for ResolveError {}

impl From<ResolveError> for io::Error {
    fn from(e: ResolveError) -> io::Error {
        let kind = match e {
            ResolveError::NotFound => io::ErrorKind::NotFound,
            ResolveError::TryAgain | ResolveError::Failed => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// The resolver failure an error carries, if it is one.
pub fn resolve_error(e: &io::Error) -> Option<ResolveError> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<ResolveError>()).copied()
}

/// An `EAI_*` code as an `io::Error`: `EAI_SYSTEM` keeps errno, no memory
/// is `ENOMEM`, a family or flags the lookup should not have asked for are
/// `EAFNOSUPPORT` / `EINVAL`; every other code is a [`ResolveError`].
fn gai_error(rc: c_int) -> io::Error {
    match rc {
        libc::EAI_SYSTEM => io::Error::last_os_error(),
        libc::EAI_MEMORY => io::Error::from_raw_os_error(libc::ENOMEM),
        libc::EAI_FAMILY => io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
        libc::EAI_BADFLAGS | libc::EAI_SOCKTYPE => invalid(),
        _ => ResolveError::of_gai(rc).into(),
    }
}

/// getnameinfo(3): (host, service) text of an IP address; numeric unless
/// `reverse_dns` / `service_name` ask for names.
pub fn name_info(
    addr: &SockAddr,
    reverse_dns: bool,
    service_name: bool,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    if !(addr.is_ipv4() || addr.is_ipv6()) {
        return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
    }
    let mut host = [0 as libc::c_char; libc::NI_MAXHOST as usize];
    let mut serv = [0 as libc::c_char; 32];
    let mut flags = 0;
    if !reverse_dns {
        flags |= libc::NI_NUMERICHOST;
    }
    if !service_name {
        flags |= libc::NI_NUMERICSERV;
    }
    // SAFETY: `addr` points to `addr.len()` valid bytes; both buffers are
    // writable for the lengths given.
    let rc = unsafe {
        libc::getnameinfo(
            addr.as_ptr().cast(),
            addr.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            serv.as_mut_ptr(),
            serv.len() as libc::socklen_t,
            flags,
        )
    };
    if rc != 0 {
        return Err(gai_error(rc));
    }
    // SAFETY: on success both buffers hold NUL-terminated strings.
    let text = |b: &[libc::c_char]| unsafe { CStr::from_ptr(b.as_ptr()) }.to_bytes().to_vec();
    Ok((text(&host), text(&serv)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_numeric_host_and_port_resolve_as_getaddrinfo_would() {
        for (host, family) in [("127.0.0.1", Family::Any), ("127.0.0.1", Family::V4), ("::1", Family::V6), ("::ffff:10.0.0.1", Family::Any)] {
            for socktype in [libc::SOCK_STREAM, libc::SOCK_DGRAM] {
                let h = std::ffi::CString::new(host).unwrap();
                let q = Query { host: Some(&h), service: Some(c"8080"), family, socktype, passive: false };
                let Ok(Addresses::Literal(fast)) = lookup_socket(&q) else { panic!("{host}: not taken as a literal") };
                let slow: Vec<Resolved> = lookup(&q).expect("getaddrinfo").iter().collect();
                assert_eq!(slow.len(), 1, "{host}");
                assert_eq!(fast.addr.as_socket(), slow[0].addr.as_socket(), "{host}");
                assert_eq!((fast.socktype, fast.protocol), (slow[0].socktype, slow[0].protocol), "{host}");
            }
        }
    }

    #[test]
    fn anything_else_goes_to_getaddrinfo() {
        let cases: [(&CStr, &CStr, Family); 5] = [
            (c"localhost", c"80", Family::Any),
            (c"127.1", c"80", Family::Any),
            (c"127.0.0.1", c"http", Family::Any),
            (c"::1", c"80", Family::V4),
            (c"127.0.0.1", c"80", Family::V6),
        ];
        for (host, service, family) in cases {
            let q = Query { host: Some(host), service: Some(service), family, socktype: libc::SOCK_STREAM, passive: false };
            assert!(!matches!(lookup_socket(&q), Ok(Addresses::Literal(_))), "{host:?} {service:?}");
        }
    }

    use super::*;

    #[test]
    fn services_are_ports_names_or_invalid() {
        let ports: [(&CStr, u16); 7] =
            [(c"", 0), (c"0", 0), (c"80", 80), (c"080", 80), (c"65535", 65535), (c"0000000000000000000000000065535", 65535), (c"1", 1)];
        for (text, port) in ports {
            assert_eq!(service(text).ok(), Some(Service::Port(port)), "{text:?}");
        }
        for name in [c"http", c"9pfs", c"x-y_z.1", c"+", c"-", c"80a", c"0x50", c"1e3", c"+http"] {
            assert_eq!(service(name).ok(), Some(Service::Name(name)), "{name:?}");
        }
        let bad: [&CStr; 12] =
            [c"65536", c"99999", c"4294967297", c"18446744073709551697", c"+80", c"-1", c"+0", c" 80", c"80 ", c"8\t0", c"8\n", c"00000000000000000000000000000080"];
        for text in bad {
            assert_eq!(service(text).map_err(|e| e.raw_os_error()), Err(Some(libc::EINVAL)), "{text:?}");
        }
    }

    #[test]
    fn out_of_range_ports_fail_everywhere_a_service_is_read() {
        for service in [c"99999", c"4294967297", c"65536", c"-1", c"+80"] {
            for (host, socktype) in [(c"127.0.0.1", libc::SOCK_STREAM), (c"localhost", libc::SOCK_STREAM), (c"", libc::SOCK_DGRAM), (c"127.0.0.1", 0)] {
                for passive in [true, false] {
                    let q = Query { host: Some(host), service: Some(service), family: Family::Any, socktype, passive };
                    let err = |r: io::Result<()>| r.err().and_then(|e| e.raw_os_error());
                    assert_eq!(err(lookup_socket(&q).map(drop)), Some(libc::EINVAL), "{host:?} {service:?}");
                    assert_eq!(err(lookup(&q).map(drop)), Some(libc::EINVAL), "{host:?} {service:?}");
                }
            }
        }
    }

    #[test]
    fn no_service_is_port_0_to_bind_and_invalid_to_connect_to() {
        for service in [None, Some(c""), Some(c"0"), Some(c"00")] {
            let q = Query { host: Some(c""), service, family: Family::V4, socktype: libc::SOCK_STREAM, passive: true };
            let first = lookup_socket(&q).expect("bind address").iter().next().expect("one");
            assert!(addr::is_any(&first.addr));
            assert_eq!(first.addr.as_socket().map(|a| a.port()), Some(0));
            let q = Query { host: Some(c"127.0.0.1"), passive: false, ..q };
            assert_eq!(lookup_socket(&q).err().and_then(|e| e.raw_os_error()), Some(libc::EINVAL), "{service:?}");
        }
        // A service name still goes to getaddrinfo, with or without a literal host.
        for host in [c"127.0.0.1", c"localhost"] {
            let q = Query { host: Some(host), service: Some(c"http"), family: Family::V4, socktype: libc::SOCK_STREAM, passive: false };
            let got = lookup_socket(&q).expect("http").iter().next().and_then(|r| r.addr.as_socket());
            assert_eq!(got.map(|a| a.port()), Some(80), "{host:?}");
        }
    }

    #[test]
    fn port_text_is_decimal() {
        let mut buf = [0u8; 6];
        for port in [0u16, 7, 80, 10000, 65535] {
            assert_eq!(port_text(port, &mut buf).to_str(), Ok(port.to_string().as_str()));
        }
    }

    #[test]
    fn resolver_failures_keep_their_reason() {
        let reasons = [
            (libc::EAI_NONAME, ResolveError::NotFound, io::ErrorKind::NotFound),
            (libc::EAI_NODATA, ResolveError::NotFound, io::ErrorKind::NotFound),
            (EAI_ADDRFAMILY, ResolveError::NotFound, io::ErrorKind::NotFound),
            (libc::EAI_SERVICE, ResolveError::NotFound, io::ErrorKind::NotFound),
            (libc::EAI_AGAIN, ResolveError::TryAgain, io::ErrorKind::Other),
            (libc::EAI_FAIL, ResolveError::Failed, io::ErrorKind::Other),
            (libc::EAI_OVERFLOW, ResolveError::Failed, io::ErrorKind::Other),
        ];
        for (rc, reason, kind) in reasons {
            let e = gai_error(rc);
            assert_eq!((resolve_error(&e), e.kind(), e.raw_os_error()), (Some(reason), kind, None), "{rc}");
        }
        assert!(gai_error(libc::EAI_AGAIN).to_string().contains("Temporary failure in name resolution"));
        assert!(gai_error(libc::EAI_NONAME).to_string().contains("Name or service not known"));
        assert_eq!(gai_error(libc::EAI_MEMORY).raw_os_error(), Some(libc::ENOMEM));
        assert_eq!(gai_error(libc::EAI_SOCKTYPE).raw_os_error(), Some(libc::EINVAL));
        assert_eq!(resolve_error(&io::Error::from_raw_os_error(libc::ENOENT)), None);
    }

    #[test]
    fn names_that_do_not_resolve_are_not_found_without_a_query() {
        // An empty label and a scope of no interface: glibc refuses both
        // before asking a name server.
        for (host, service, family) in [(c"a..b", c"80", Family::Any), (c"::1%no-such-if", c"80", Family::Any), (c"::1", c"80", Family::V4), (c"127.0.0.1", c"no-such-service-xyz", Family::Any)] {
            for socktype in [0, libc::SOCK_STREAM] {
                let q = Query { host: Some(host), service: Some(service), family, socktype, passive: true };
                let e = lookup(&q).expect_err("no such name");
                assert_eq!(resolve_error(&e), Some(ResolveError::NotFound), "{host:?} {service:?}: {e}");
            }
        }
    }

    #[test]
    fn passive_any_and_loopback() {
        let q = Query {
            host: None,
            service: Some(c"0"),
            family: Family::V4,
            socktype: libc::SOCK_STREAM,
            passive: true,
        };
        let list = lookup(&q).unwrap();
        let first = list.iter().next().unwrap();
        assert!(addr::is_any(&first.addr));
        let q = Query {
            host: Some(c"127.0.0.1"),
            service: Some(c"80"),
            ..q
        };
        let got: Vec<_> = lookup(&q)
            .unwrap()
            .iter()
            .map(|r| r.addr.as_socket().unwrap())
            .collect();
        assert_eq!(got, vec!["127.0.0.1:80".parse().unwrap()]);
    }

    #[test]
    fn implausible_strings_fail_fast() {
        let q = Query {
            host: Some(c"a b"),
            service: Some(c"80"),
            family: Family::Any,
            socktype: 0,
            passive: false,
        };
        assert_eq!(lookup(&q).unwrap_err().raw_os_error(), Some(libc::EINVAL));
        let q = Query {
            host: Some(c"127.0.0.1"),
            service: Some(c"8\x010"),
            ..q
        };
        assert_eq!(lookup(&q).unwrap_err().raw_os_error(), Some(libc::EINVAL));
        let q = Query {
            host: None,
            service: None,
            ..q
        };
        assert!(lookup(&q).is_err());
    }

    #[test]
    fn numeric_name_info() {
        let a = SockAddr::from("127.0.0.1:8080".parse::<std::net::SocketAddr>().unwrap());
        let (h, s) = name_info(&a, false, false).unwrap();
        assert_eq!(
            (h.as_slice(), s.as_slice()),
            (&b"127.0.0.1"[..], &b"8080"[..])
        );
    }
}
