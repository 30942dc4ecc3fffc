//! Stream sockets: non-blocking connect, accept, recv, send, vectored send,
//! keepalive, nodelay.
//!
//! None of these calls blocks, even on a blocking fd a caller handed in:
//! data calls pass `MSG_DONTWAIT` (and `MSG_NOSIGNAL`, so a reset peer is
//! an `EPIPE` error, never a SIGPIPE), accept polls a blocking listener
//! first. `EINTR` is retried.

use super::addr;
use super::resolve::{Family, Resolved};
use super::socket::{self, with_fd};
use socket2::{Socket, TcpKeepalive, Type};
use std::ffi::{c_int, CStr};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::sync::OnceLock;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

const SEND_FLAGS: c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;

/// What a read got.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// This many bytes (0 only for an empty buffer).
    Bytes(usize),
    /// Nothing available now.
    WouldBlock,
    /// The peer shut down its sending side (a 0-byte read).
    Closed,
}

/// Starts a non-blocking connect(2) to `to` ("any" meaning loopback),
/// first binding to `from` when it is given and not empty. The connect is
/// in flight (or done) when this returns; every failure closes the socket.
pub fn connect_start(to: &Resolved, from: Option<&CStr>) -> io::Result<Socket> {
    let dest = addr::any_to_loopback(to.addr.clone());
    let ty = Type::from(to.socktype);
    let sock = socket::open(&dest, ty, to.protocol)?;
    if let Some(from) = from.filter(|f| !f.is_empty()) {
        sock.set_reuse_address(true)?;
        socket::bind_local(&sock, from, Family::of(&dest), ty)?;
    }
    match sock.connect(&dest) {
        Ok(()) => Ok(sock),
        // In progress: completion is reported as writeability. (An EINTR
        // leaves it in progress too.)
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => Ok(sock),
        Err(e) => Err(e),
    }
}

/// accept4(2): a pending connection as a non-blocking, close-on-exec fd
/// above the standard fds; `None` if none is pending. On a blocking listener (`listener_nonblocking`
/// false) it polls first, so it does not wait for a client.
pub fn accept(listener: c_int, listener_nonblocking: bool) -> io::Result<Option<OwnedFd>> {
    if !listener_nonblocking && !readable_now(listener)? {
        return Ok(None);
    }
    loop {
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        match syscall!(accept4(
            listener,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            flags
        )) {
            // SAFETY: accept4 returned a new fd that nothing else owns.
            Ok(fd) => return super::above_stdio(unsafe { OwnedFd::from_raw_fd(fd) }).map(Some),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            // Interrupted, or the first queued connection was reset before
            // we took it: the next one may be fine.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ECONNABORTED)) => {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `fd` has `O_NONBLOCK` (fcntl(2) `F_GETFL`).
pub fn is_nonblocking(fd: c_int) -> io::Result<bool> {
    syscall!(fcntl(fd, libc::F_GETFL)).map(|fl| fl & libc::O_NONBLOCK != 0)
}

/// poll(2) with a zero timeout: is `fd` readable (or in error) right now?
fn readable_now(fd: c_int) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        match syscall!(poll(&mut p, 1, 0)) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// getsockopt(2) `SO_PROTOCOL` and `TCP_ULP`: whether `fd` is a plain TCP
/// socket — no upper-layer protocol such as kernel TLS, whose reads stop
/// at record boundaries.
pub fn is_tcp(fd: c_int) -> bool {
    if with_fd(fd, |s| s.protocol()).ok().flatten() != Some(socket2::Protocol::TCP) {
        return false;
    }
    let mut ulp = [0u8; 16];
    let mut len = ulp.len() as libc::socklen_t;
    // SAFETY: a 16-byte buffer and its length; an fd that is not a socket
    // or a kernel without TCP_ULP makes it fail, touching nothing.
    let rc = unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_ULP, ulp.as_mut_ptr().cast(), &mut len) };
    rc != 0 || len == 0 || ulp[0] == 0
}

/// recv(2) with `MSG_DONTWAIT`. An empty `buf` makes no system call (a
/// 0-byte read could not be told from the peer's shutdown): `Bytes(0)`.
pub fn recv(fd: c_int, buf: &mut [MaybeUninit<u8>]) -> io::Result<Received> {
    if buf.is_empty() {
        return Ok(Received::Bytes(0));
    }
    loop {
        match with_fd(fd, |s| s.recv_with_flags(buf, libc::MSG_DONTWAIT)) {
            Ok(0) => return Ok(Received::Closed),
            Ok(n) => return Ok(Received::Bytes(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Received::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Maps a send result: would-block and `ENOBUFS` (no buffer memory right
/// now: try again when writeable) are 0 bytes.
fn sent(result: io::Result<usize>) -> Option<io::Result<usize>> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS) =>
        {
            Some(Ok(0))
        }
        other => Some(other),
    }
}

/// send(2) with `MSG_DONTWAIT | MSG_NOSIGNAL`: bytes sent, 0 if it would block.
pub fn send(fd: c_int, buf: &[u8]) -> io::Result<usize> {
    loop {
        if let Some(r) = sent(with_fd(fd, |s| s.send_with_flags(buf, SEND_FLAGS))) {
            return r;
        }
    }
}

/// sendmsg(2) of several buffers with `MSG_DONTWAIT | MSG_NOSIGNAL`:
/// bytes sent (maybe fewer than all), 0 if it would block.
pub fn writev(fd: c_int, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    loop {
        if let Some(r) = sent(with_fd(fd, |s| {
            s.send_vectored_with_flags(bufs, SEND_FLAGS)
        })) {
            return r;
        }
    }
}

/// The most buffers one `writev` takes (sysconf(3) `_SC_IOV_MAX`, asked
/// once: it is fixed for the process, and every writev checks against it).
pub fn writev_max() -> c_int {
    static MAX: OnceLock<c_int> = OnceLock::new();
    *MAX.get_or_init(|| {
        // SAFETY: sysconf has no memory effects.
        let n = unsafe { libc::sysconf(libc::_SC_IOV_MAX) };
        c_int::try_from(n).ok().filter(|&n| n > 0).unwrap_or(libc::UIO_MAXIOV)
    })
}

/// The largest `TCP_KEEPIDLE` (and `TCP_KEEPINTVL`) Linux takes, in
/// seconds (`MAX_TCP_KEEPIDLE` in include/net/tcp.h); more is `EINVAL`.
const MAX_KEEPIDLE_SECS: u32 = 32767;
/// The largest `TCP_KEEPCNT` Linux takes (`MAX_TCP_KEEPCNT`); more is `EINVAL`.
const MAX_KEEPCNT: u32 = 127;

/// `SO_KEEPALIVE`: off for `secs <= 0`; else on, idle `secs / 2` seconds
/// before the first probe, `secs / 2` probes, one second apart. Each is at
/// least 1 (the kernel refuses 0) and at most what the kernel takes
/// (`MAX_KEEPIDLE_SECS`, `MAX_KEEPCNT`), so every `secs` sets all three:
/// a value the kernel refused would leave the old one in place.
pub fn set_keepalive(fd: c_int, secs: c_int) -> io::Result<()> {
    with_fd(fd, |s| {
        if secs <= 0 {
            return s.set_keepalive(false);
        }
        let half = (secs / 2).max(1).unsigned_abs();
        let params = TcpKeepalive::new()
            .with_time(Duration::from_secs(u64::from(half.min(MAX_KEEPIDLE_SECS))))
            .with_interval(Duration::from_secs(1))
            .with_retries(half.min(MAX_KEEPCNT));
        s.set_tcp_keepalive(&params)
    })
}

/// `TCP_NODELAY`.
pub fn set_nodelay(fd: c_int, on: bool) -> io::Result<()> {
    with_fd(fd, |s| s.set_tcp_nodelay(on))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_tcp_socket_is_tcp() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let stream = std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        assert!(is_tcp(std::os::fd::AsRawFd::as_raw_fd(&stream)));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        assert!(!is_tcp(std::os::fd::AsRawFd::as_raw_fd(&udp)));
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        assert!(!is_tcp(std::os::fd::AsRawFd::as_raw_fd(&a)));
        assert!(!is_tcp(-1));
    }

    /// ABI.md §5: ENOBUFS on a TCP send is "would block" (0), not a failure;
    /// the kernel gives it only under memory pressure, so the mapping is
    /// checked here directly.
    #[test]
    fn enobufs_on_send_is_would_block() {
        let r = sent(Err(io::Error::from_raw_os_error(libc::ENOBUFS)));
        assert_eq!(r.map(|r| r.ok()), Some(Some(0)));
        let r = sent(Err(io::Error::from_raw_os_error(libc::EAGAIN)));
        assert_eq!(r.map(|r| r.ok()), Some(Some(0)));
        assert!(sent(Err(io::Error::from_raw_os_error(libc::EINTR))).is_none(), "EINTR is retried");
        let r = sent(Err(io::Error::from_raw_os_error(libc::EPIPE)));
        assert_eq!(r.and_then(|r| r.err()).and_then(|e| e.raw_os_error()), Some(libc::EPIPE));
    }
}
