//! The exported C ABI, as the net package sees it: every call the Rust API
//! makes into the library goes through this file, to the same `extern "C"`
//! functions (and the same pointers) a C program uses. Each wrapper is a
//! few lines: pass the pointer, read `ponynet_take_error()` for partial
//! calls, return `io::Result`.

use crate::asio::event::Event;
use crate::ffi::types::{Owner, PonyIpAddress};
use crate::ffi::{addr, event, io as fio, lifecycle, tcp};
use crate::host::failure::{Failure, PONYNET_ERR_EOF};
use std::ffi::{c_char, c_int, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::OnceLock;

pub use crate::asio::event::{ASIO_DISPOSABLE, ASIO_ERROR, ASIO_ONESHOT, ASIO_READ, ASIO_WRITE};

/// The flags of every connection event, as the seed uses on POSIX.
pub const READ_WRITE_ONESHOT: u32 = ASIO_READ | ASIO_WRITE | ASIO_ONESHOT;

/// Which address families a lookup, listen or connect may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4 and IPv6.
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl IpVersion {
    /// Pony's family numbering (`pony_os_addrinfo`).
    fn pony(self) -> c_int {
        match self {
            IpVersion::Any => 0,
            IpVersion::V4 => 1,
            IpVersion::V6 => 2,
        }
    }
}

/// An asio event owned by one of our actors: the pointer the ABI returned.
///
/// Invariant (kept by the owning actor): it is used only until the actor
/// calls [`AsioEvent::destroy`] on its final `ASIO_DISPOSABLE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AsioEvent(NonNull<Event>);

// SAFETY: the ABI's event functions may be called from any thread; the
// pointer only travels with the actor that owns the event.
unsafe impl Send for AsioEvent {}

impl AsioEvent {
    pub(crate) fn from_raw(ev: *mut Event) -> Option<AsioEvent> {
        NonNull::new(ev).map(AsioEvent)
    }

    pub(crate) fn as_ptr(self) -> *mut Event {
        self.0.as_ptr()
    }

    /// `pony_asio_event_fd`.
    pub(crate) fn fd(self) -> RawFd {
        // SAFETY: a live event (type invariant).
        unsafe { event::pony_asio_event_fd(self.as_ptr()) }
    }

    /// `pony_asio_event_set_readable`.
    pub(crate) fn set_readable(self, readable: bool) {
        // SAFETY: a live event (type invariant).
        unsafe { event::pony_asio_event_set_readable(self.as_ptr(), readable) }
    }

    /// `pony_asio_event_set_writeable`.
    pub(crate) fn set_writeable(self, writeable: bool) {
        // SAFETY: a live event (type invariant).
        unsafe { event::pony_asio_event_set_writeable(self.as_ptr(), writeable) }
    }

    /// `pony_asio_event_resubscribe`: re-arms READ/WRITE where the flag is false.
    pub(crate) fn resubscribe(self) {
        // SAFETY: a live event (type invariant).
        unsafe { event::pony_asio_event_resubscribe(self.as_ptr()) }
    }

    /// `pony_asio_event_unsubscribe`: the final `ASIO_DISPOSABLE` follows.
    pub(crate) fn unsubscribe(self) {
        // SAFETY: a live event (type invariant).
        unsafe { event::pony_asio_event_unsubscribe(self.as_ptr()) }
    }

    /// `pony_asio_event_destroy`, on the final `ASIO_DISPOSABLE`. The event
    /// must not be used afterwards (the caller drops its copy).
    pub(crate) fn destroy(self) {
        // SAFETY: a live event (type invariant), disposable by now.
        unsafe { event::pony_asio_event_destroy(self.as_ptr()) }
    }

    /// `pony_asio_event_create` for a socket we own; `None` if refused.
    pub(crate) fn create(owner: *mut Owner, fd: RawFd, flags: u32) -> Option<AsioEvent> {
        // SAFETY: `owner` is an actor's EventOwner, alive while it has events.
        AsioEvent::from_raw(unsafe { event::pony_asio_event_create(owner, fd, flags, 0, true) })
    }
}

/// The error a call recorded (`ponynet_take_error`): an errno, or a name
/// that did not resolve, with the resolver's reason.
fn take_error() -> io::Error {
    error_of(lifecycle::ponynet_take_error())
}

/// A `ponynet_take_error()` value as an `io::Error`.
fn error_of(code: c_int) -> io::Error {
    match Failure::from_code(code) {
        None if code == 0 => io::Error::other("libponynet: call failed without an error code"),
        Some(Failure::Os(errno)) => io::Error::from_raw_os_error(errno),
        Some(Failure::Resolve(reason)) => reason.into(),
        _ => io::Error::other(format!("libponynet: call failed ({code})")),
    }
}

/// What `pony_os_recv` got.
pub(crate) enum Recv {
    /// Bytes read (never 0).
    Bytes(usize),
    /// Nothing available now.
    WouldBlock,
    /// The peer's orderly shutdown.
    Eof,
}

/// `pony_os_recv` into `buf`.
pub(crate) fn recv(ev: AsioEvent, buf: &mut [MaybeUninit<u8>]) -> io::Result<Recv> {
    // SAFETY: a live event; `buf` is writable for its length.
    let n = unsafe { fio::pony_os_recv(ev.as_ptr(), buf.as_mut_ptr().cast::<c_char>(), buf.len()) };
    if n > 0 {
        return Ok(Recv::Bytes(n));
    }
    match lifecycle::ponynet_take_error() {
        0 => Ok(Recv::WouldBlock),
        PONYNET_ERR_EOF => Ok(Recv::Eof),
        errno if errno > 0 => Err(io::Error::from_raw_os_error(errno)),
        other => Err(io::Error::other(format!("libponynet: recv failed ({other})"))),
    }
}

/// `pony_os_writev`: bytes written (0 if it would block).
pub(crate) fn writev(ev: AsioEvent, iov: &[libc::iovec]) -> io::Result<usize> {
    let count = c_int::try_from(iov.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a live event; `iov` holds `count` iovecs over live buffers.
    let n = unsafe { fio::pony_os_writev(ev.as_ptr(), iov.as_ptr(), count) };
    if n > 0 {
        return Ok(n);
    }
    match lifecycle::ponynet_take_error() {
        0 => Ok(0),
        errno if errno > 0 => Err(io::Error::from_raw_os_error(errno)),
        other => Err(io::Error::other(format!("libponynet: writev failed ({other})"))),
    }
}

/// `pony_os_writev_max`, asked once.
pub(crate) fn writev_max() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| usize::try_from(fio::pony_os_writev_max()).unwrap_or(1).max(1))
}

/// `pony_os_socket_close`.
pub(crate) fn socket_close(fd: RawFd) {
    tcp::pony_os_socket_close(fd);
}

/// `pony_os_socket_shutdown` (SHUT_WR).
pub(crate) fn socket_shutdown(fd: RawFd) {
    tcp::pony_os_socket_shutdown(fd);
}

/// `pony_os_connected`: no pending socket error.
pub(crate) fn connected(fd: RawFd) -> bool {
    tcp::pony_os_connected(fd)
}

/// `pony_os_keepalive` (`secs` beyond `INT_MAX` is `INT_MAX`: the library
/// clamps to the kernel's limits anyway), and the error it recorded.
pub(crate) fn keepalive(fd: RawFd, secs: u32) -> io::Result<()> {
    // The call records only a failure: clear what an earlier call left.
    lifecycle::ponynet_take_error();
    tcp::pony_os_keepalive(fd, c_int::try_from(secs).unwrap_or(c_int::MAX));
    match lifecycle::ponynet_take_error() {
        0 => Ok(()),
        code => Err(error_of(code)),
    }
}

/// `pony_os_sockopt_level`: this platform's level numbered `n` by Pony, or -1.
pub(crate) fn sockopt_level(n: c_int) -> c_int {
    crate::ffi::sockopt::pony_os_sockopt_level(n)
}

/// `pony_os_sockopt_option`: this platform's option numbered `n` by Pony, or -1.
pub(crate) fn sockopt_option(n: c_int) -> c_int {
    crate::ffi::sockopt::pony_os_sockopt_option(n)
}

/// A Rust string as a C string; `None` if it holds a NUL.
pub(crate) fn c_string(s: &str) -> Option<CText> {
    CText::new(s)
}

/// Text handed to the ABI as a C string: on the stack when short (host
/// names, services and addresses always are), so a connect or a send to a
/// named host allocates nothing for it. `None` for text with a NUL.
pub(crate) struct CText {
    /// The text and its NUL when short (the rest is never read).
    small: [MaybeUninit<u8>; CText::SMALL],
    large: Option<CString>,
}

impl CText {
    const SMALL: usize = 256;

    fn new(s: &str) -> Option<CText> {
        let bytes = s.as_bytes();
        if bytes.contains(&0) {
            return None;
        }
        let mut small = [MaybeUninit::uninit(); CText::SMALL];
        if bytes.len() < CText::SMALL {
            for (slot, &b) in small.iter_mut().zip(bytes) {
                slot.write(b);
            }
            small[bytes.len()].write(0);
            return Some(CText { small, large: None });
        }
        Some(CText { small, large: CString::new(s).ok() })
    }

    /// The NUL-terminated text, valid while `self` is.
    pub(crate) fn as_ptr(&self) -> *const c_char {
        match &self.large {
            Some(c) => c.as_ptr(),
            None => self.small.as_ptr().cast(),
        }
    }
}

/// Connect attempts one connection has in flight at most (one per
/// resolved address).
const MAX_CONNECT_EVENTS: usize = 16;

/// `ponynet_os_connect_tcp_events`: starts up to `MAX_CONNECT_EVENTS`
/// connect attempts and returns their events; the recorded error if none
/// started.
pub(crate) fn connect_tcp(
    owner: *mut Owner,
    host: &str,
    service: &str,
    from: &str,
    version: IpVersion,
    flags: u32,
) -> io::Result<Vec<AsioEvent>> {
    let (Some(host), Some(service), Some(from)) = (c_string(host), c_string(service), c_string(from)) else {
        return Err(nul_in_text());
    };
    let mut events = [std::ptr::null_mut::<Event>(); MAX_CONNECT_EVENTS];
    let cap = MAX_CONNECT_EVENTS as c_int;
    // SAFETY: `owner` is an actor's EventOwner (alive while it has events);
    // the strings are NUL-terminated and outlive the call; `events` holds
    // `cap` writable pointers.
    let n = unsafe {
        tcp::ponynet_os_connect_tcp_events(
            owner,
            host.as_ptr(),
            service.as_ptr(),
            from.as_ptr(),
            flags,
            version.pony(),
            events.as_mut_ptr(),
            cap,
        )
    };
    let n = usize::try_from(n).unwrap_or(0).min(MAX_CONNECT_EVENTS);
    if n == 0 {
        return Err(last_error());
    }
    Ok(events[..n].iter().filter_map(|&ev| AsioEvent::from_raw(ev)).collect())
}

/// Text with a NUL in it cannot reach the ABI.
pub(crate) fn nul_in_text() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "a host, service or address holds a NUL")
}

/// `pony_os_listen_tcp{,4,6}`; the recorded error on failure.
pub(crate) fn listen_tcp(owner: *mut Owner, host: &str, service: &str, version: IpVersion) -> io::Result<AsioEvent> {
    let (Some(host), Some(service)) = (c_string(host), c_string(service)) else {
        return Err(nul_in_text());
    };
    let f = match version {
        IpVersion::Any => tcp::pony_os_listen_tcp,
        IpVersion::V4 => tcp::pony_os_listen_tcp4,
        IpVersion::V6 => tcp::pony_os_listen_tcp6,
    };
    // SAFETY: `owner` is an actor's EventOwner (alive while it has events);
    // the strings are NUL-terminated and outlive the call.
    AsioEvent::from_raw(unsafe { f(owner, host.as_ptr(), service.as_ptr()) }).ok_or_else(last_error)
}

/// What `pony_os_accept` got.
pub(crate) enum Accepted {
    /// A new connection's fd.
    Fd(RawFd),
    /// Nothing pending.
    WouldBlock,
    /// An error (errno).
    Failed(io::Error),
}

/// `pony_os_accept`.
pub(crate) fn accept(listen: AsioEvent) -> Accepted {
    // SAFETY: a live event.
    match unsafe { tcp::pony_os_accept(listen.as_ptr()) } {
        0 => Accepted::WouldBlock,
        -1 => Accepted::Failed(io::Error::from_raw_os_error(fio::pony_os_errno())),
        fd => Accepted::Fd(fd),
    }
}

/// An empty `pony_ipaddress_t` for the ABI to fill.
pub(crate) fn empty_address() -> PonyIpAddress {
    // SAFETY: all-zero is a valid sockaddr_storage (family AF_UNSPEC) and a
    // NULL type pointer.
    unsafe { MaybeUninit::<PonyIpAddress>::zeroed().assume_init() }
}

/// `pony_os_sockname` / `pony_os_peername`.
pub(crate) fn socket_name(fd: RawFd, peer: bool) -> Option<PonyIpAddress> {
    let mut ip = empty_address();
    let f = if peer { addr::pony_os_peername } else { addr::pony_os_sockname };
    // SAFETY: `ip` is a writable pony_ipaddress_t.
    unsafe { f(fd, &mut ip) }.then_some(ip)
}

/// `pony_os_nameinfo`: host and service text; the two C strings are freed here.
pub(crate) fn name_info(ip: &PonyIpAddress, reversedns: bool, servicename: bool) -> io::Result<(String, String)> {
    let mut host: *mut c_char = std::ptr::null_mut();
    let mut serv: *mut c_char = std::ptr::null_mut();
    let ip = std::ptr::from_ref(ip).cast_mut();
    // SAFETY: `ip` is readable (the ABI only reads it); the out-pointers are writable.
    if !unsafe { addr::pony_os_nameinfo(ip, &mut host, &mut serv, reversedns, servicename) } {
        return Err(last_error());
    }
    // SAFETY: on success both are NUL-terminated strings from malloc, ours to free.
    unsafe {
        let text = |p: *mut c_char| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned();
        let pair = (text(host), text(serv));
        libc::free(host.cast());
        libc::free(serv.cast());
        Ok(pair)
    }
}

/// The error recorded by the last non-partial call that failed.
pub(crate) fn last_error() -> io::Error {
    take_error()
}

/// `pony_os_ipv4` / `pony_os_ipv6`.
pub(crate) fn is_ipv4(ip: &PonyIpAddress) -> bool {
    // SAFETY: `ip` is readable (the ABI only reads it).
    unsafe { addr::pony_os_ipv4(std::ptr::from_ref(ip).cast_mut()) }
}

/// See [`is_ipv4`].
pub(crate) fn is_ipv6(ip: &PonyIpAddress) -> bool {
    // SAFETY: `ip` is readable (the ABI only reads it).
    unsafe { addr::pony_os_ipv6(std::ptr::from_ref(ip).cast_mut()) }
}

/// A `pony_os_addrinfo` lookup, walked with `pony_os_nextaddr` /
/// `pony_os_getaddr` ("any" comes back as loopback), freed with
/// `freeaddrinfo` as the ABI says. Keeps entries of `socktype` (or of
/// type 0), each address once, in the resolver's order.
pub(crate) fn lookup(
    version: IpVersion,
    host: &str,
    service: Option<&str>,
    socktype: c_int,
) -> io::Result<Vec<PonyIpAddress>> {
    let host = c_string(host).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let service = match service {
        Some(s) => Some(c_string(s).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?),
        None => None,
    };
    let service_ptr = service.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: NUL-terminated strings (or NULL service) outliving the call.
    let head = unsafe { addr::pony_os_addrinfo(version.pony(), host.as_ptr(), service_ptr) };
    if head.is_null() {
        return Err(last_error());
    }
    let mut out: Vec<PonyIpAddress> = Vec::new();
    let mut node = head;
    while !node.is_null() {
        // SAFETY: a node of the list the ABI returned, not yet freed.
        let ty = unsafe { (*node).ai_socktype };
        if ty == socktype || ty == 0 {
            let mut ip = empty_address();
            // SAFETY: a live node and a writable address.
            unsafe { addr::pony_os_getaddr(node, &mut ip) };
            if (is_ipv4(&ip) || is_ipv6(&ip)) && !out.iter().any(|o| same_address(o, &ip)) {
                out.push(ip);
            }
        }
        // SAFETY: a live node.
        node = unsafe { addr::pony_os_nextaddr(node) };
    }
    // SAFETY: the head the ABI returned, freed once, as the ABI says.
    unsafe { libc::freeaddrinfo(head) };
    Ok(out)
}

/// Whether two addresses are the same (family, address, port, scope).
pub(crate) fn same_address(a: &PonyIpAddress, b: &PonyIpAddress) -> bool {
    let (a, b) = (super::address::to_socket_addr(a), super::address::to_socket_addr(b));
    a.is_some() && a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn read(t: &CText) -> &CStr {
        // SAFETY: `as_ptr` is NUL-terminated and valid while `t` is.
        unsafe { CStr::from_ptr(t.as_ptr()) }
    }

    #[test]
    fn keepalive_reports_what_failed() {
        assert_eq!(keepalive(-1, 10).map_err(|e| e.raw_os_error()), Err(Some(libc::EBADF)));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&udp);
        assert!(keepalive(fd, 10).is_err(), "UDP has no TCP keepalive");
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
        assert!(keepalive(fd, u32::MAX).is_ok());
        assert!(keepalive(fd, 0).is_ok());
    }

    #[test]
    fn text_becomes_the_same_c_string_short_or_long() {
        let long = "h".repeat(CText::SMALL + 10);
        for s in ["", "127.0.0.1", "example.invalid", &"x".repeat(CText::SMALL - 1), &long] {
            let t = c_string(s).expect("no NUL");
            assert_eq!(read(&t).to_str(), Ok(s));
        }
        assert!(c_string("a\0b").is_none(), "an inner NUL is refused");
    }
}
