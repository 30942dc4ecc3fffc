//! Datagram sockets: binding one to listen on, sendto(2), recvfrom(2).
//!
//! Neither data call blocks, even on a blocking fd a caller handed in: both
//! pass `MSG_DONTWAIT`, and sends `MSG_NOSIGNAL`. `EINTR` is retried.
//! Broadcast and multicast options are in [`super::multicast`].

use super::resolve::Family;
use super::socket::{self, with_fd};
use socket2::{SockAddr, Socket, Type};
use std::ffi::{c_int, CStr};
use std::io;
use std::mem::MaybeUninit;

const SEND_FLAGS: c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;

/// Empty datagrams [`recv_from`] drops in one call before it gives up for
/// now: a flood of them must not hold the caller's thread.
const MAX_EMPTY_SKIPPED: usize = 256;

/// A UDP socket (non-blocking, close-on-exec) bound to the first address
/// `host`/`service` resolves to passively (empty host = any), with
/// `SO_REUSEADDR`. Every resolved address is tried; every socket that fails
/// is closed; the error is the last attempt's.
pub fn bind(family: Family, host: &CStr, service: &CStr) -> io::Result<Socket> {
    socket::bind_first(family, Some(host), Some(service), Type::DGRAM, false)
}

/// sendto(2) of one datagram with `MSG_DONTWAIT | MSG_NOSIGNAL`: bytes
/// sent; 0 if it would block, or on `ENOBUFS` (no buffer memory right now:
/// the datagram is dropped, as a full queue on the path would drop it).
pub fn send_to(fd: c_int, buf: &[u8], to: &SockAddr) -> io::Result<usize> {
    loop {
        match with_fd(fd, |s| s.send_to_with_flags(buf, to, SEND_FLAGS)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(0),
            other => return other,
        }
    }
}

/// recvfrom(2) with `MSG_DONTWAIT`: the next non-empty datagram (its
/// length, cut to `buf`, and its sender), or `None` if none is queued.
///
/// A UDP socket has no end of stream: an empty datagram is data, not the
/// peer's shutdown. It carries nothing the caller could be given (0 means
/// "nothing to read"), so it is dropped and the next one read; after
/// `MAX_EMPTY_SKIPPED` of them in one call this returns `None` (a flood of
/// empty datagrams notifies the owner again). An empty `buf` makes no
/// system call (it would discard a datagram) and returns `None`.
pub fn recv_from(fd: c_int, buf: &mut [MaybeUninit<u8>]) -> io::Result<Option<(usize, SockAddr)>> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut skipped = 0;
    while skipped < MAX_EMPTY_SKIPPED {
        match with_fd(fd, |s| s.recv_from_with_flags(buf, libc::MSG_DONTWAIT)) {
            Ok((0, _)) => skipped += 1,
            Ok((n, from)) => return Ok(Some((n, from))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn round_trip_skips_empty_datagrams() {
        let a = bind(Family::V4, c"127.0.0.1", c"0").unwrap();
        let b = bind(Family::V4, c"127.0.0.1", c"0").unwrap();
        let to = a.local_addr().unwrap();
        let mut buf = [MaybeUninit::new(0u8); 16];
        assert!(recv_from(a.as_raw_fd(), &mut buf).unwrap().is_none());
        assert_eq!(send_to(b.as_raw_fd(), b"", &to).unwrap(), 0);
        assert_eq!(send_to(b.as_raw_fd(), b"ping", &to).unwrap(), 4);
        let got = loop {
            if let Some(got) = recv_from(a.as_raw_fd(), &mut buf).unwrap() {
                break got;
            }
            std::thread::yield_now();
        };
        assert_eq!(got.0, 4);
        assert_eq!(got.1.as_socket(), b.local_addr().unwrap().as_socket());
        assert!(recv_from(a.as_raw_fd(), &mut buf).unwrap().is_none());
        assert!(recv_from(a.as_raw_fd(), &mut []).unwrap().is_none());
    }
}
