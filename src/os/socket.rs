//! Sockets of any type: creation (always non-blocking and close-on-exec),
//! borrowing a caller's fd, binding to the first resolved address that
//! takes, names, shutdown and `SO_ERROR`. TCP-only calls are in
//! [`super::tcp`].

use super::addr;
use super::resolve::{self, Family, Query};
use socket2::{Protocol, SockAddr, SockRef, Socket, Type};
use std::ffi::{c_int, CStr};
use std::io;
use std::net::Shutdown;
use std::os::fd::BorrowedFd;

/// socket(2) for `addr`'s family: non-blocking, close-on-exec (socket2
/// adds `SOCK_CLOEXEC`), above the standard fds. `protocol` 0 picks the
/// type's default.
pub fn open(addr: &SockAddr, ty: Type, protocol: c_int) -> io::Result<Socket> {
    let protocol = (protocol != 0).then(|| Protocol::from(protocol));
    let socket = Socket::new(addr.domain(), ty.nonblocking(), protocol)?;
    super::above_stdio(socket.into()).map(Socket::from)
}

/// Runs `f` on the socket behind a caller's fd without taking ownership.
/// `EBADF` for a negative fd.
pub fn with_fd<T>(fd: c_int, f: impl FnOnce(SockRef<'_>) -> io::Result<T>) -> io::Result<T> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: fd is not -1 (the one value BorrowedFd may not hold). It
    // belongs to the caller for the duration of this call; if it is not
    // open, each system call made through it fails with EBADF and no
    // memory is touched.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    f(SockRef::from(&fd))
}

/// Resolves `host`/`service` passively (no host or an empty one = "any")
/// and returns a socket of type `ty` bound to the first address that
/// takes it, with `SO_REUSEADDR`, listening if `listen` (backlog
/// `SOMAXCONN`). Every address is tried in the resolver's order; every
/// socket that fails is closed. The error is the last attempt's.
pub fn bind_first(
    family: Family,
    host: Option<&CStr>,
    service: Option<&CStr>,
    ty: Type,
    listen: bool,
) -> io::Result<Socket> {
    let query = Query {
        host,
        service,
        family,
        socktype: c_int::from(ty),
        passive: true,
    };
    let list = resolve::lookup_socket(&query)?;
    let mut last = io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
    for candidate in list.iter() {
        match bind_one(&candidate, ty, listen) {
            Ok(socket) => return Ok(socket),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn bind_one(candidate: &resolve::Resolved, ty: Type, listen: bool) -> io::Result<Socket> {
    let socket = open(&candidate.addr, ty, candidate.protocol)?;
    socket.set_reuse_address(true)?;
    socket.bind(&candidate.addr)?;
    if listen {
        socket.listen(libc::SOMAXCONN)?;
    }
    Ok(socket)
}

/// Binds `socket` to the first address `local` resolves to (actively, in
/// `family`, port 0 unless it names one), for a connect from a chosen
/// local address. The error is the last attempt's.
pub fn bind_local(socket: &Socket, local: &CStr, family: Family, ty: Type) -> io::Result<()> {
    let query = Query {
        host: Some(local),
        service: None,
        family,
        socktype: c_int::from(ty),
        passive: false,
    };
    let list = resolve::lookup(&query)?;
    let mut last = io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
    for candidate in list.iter() {
        match socket.bind(&candidate.addr) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// getsockname(2), "any" mapped to loopback.
pub fn local_addr(fd: c_int) -> io::Result<SockAddr> {
    with_fd(fd, |s| s.local_addr()).map(addr::any_to_loopback)
}

/// getpeername(2), "any" mapped to loopback.
pub fn peer_addr(fd: c_int) -> io::Result<SockAddr> {
    with_fd(fd, |s| s.peer_addr()).map(addr::any_to_loopback)
}

/// shutdown(2) of the sending side.
pub fn shutdown_write(fd: c_int) -> io::Result<()> {
    with_fd(fd, |s| s.shutdown(Shutdown::Write))
}

/// The pending error (`SO_ERROR`, which reading clears): 0 if none.
pub fn take_error(fd: c_int) -> io::Result<c_int> {
    with_fd(fd, |s| s.take_error()).map(|e| e.map_or(0, |e| e.raw_os_error().unwrap_or(libc::EIO)))
}

/// The outcome of a non-blocking connect once it reported: the pending
/// error (`SO_ERROR`, cleared by reading it) as an error, or `Ok`.
pub fn connect_outcome(fd: c_int) -> io::Result<()> {
    match take_error(fd)? {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn bind_first_listens_on_any_then_names_loopback() {
        let s = bind_first(Family::V4, None, Some(c"0"), Type::STREAM, true).unwrap();
        let fd = s.as_raw_fd();
        // SAFETY: fcntl on our own open fd.
        let fdflags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_ne!(fdflags & libc::FD_CLOEXEC, 0);
        // SAFETY: as above.
        let flflags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert_ne!(flflags & libc::O_NONBLOCK, 0);
        let a = local_addr(fd).unwrap().as_socket().unwrap();
        assert!(a.ip().is_loopback() && a.port() != 0);
        assert_eq!(take_error(fd).unwrap(), 0);
        assert_eq!(
            local_addr(-1).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}
