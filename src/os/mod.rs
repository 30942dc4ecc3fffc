//! The operating-system layer: one small safe wrapper per system call, each
//! returning `io::Result` so that `raw_os_error()` reaches the C boundary intact.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

/// Calls a libc function and turns a `-1` result into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller of the macro passes arguments valid for this syscall.
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}


pub mod addr;
pub mod eventfd;
pub mod multicast;
pub mod resolve;
pub mod signal;
pub mod socket;
pub mod sockopt;
pub mod tcp;
pub mod timerfd;
pub mod udp;

/// Moves a new fd of the library's above the standard ones (0-2), where a
/// process that closed them (a daemon) would otherwise get it: `accept`
/// answers 0 for "none pending", and a diagnostic on stderr would land in
/// a socket. `fcntl(F_DUPFD_CLOEXEC, 3)`, only when the fd is below 3.
pub fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let moved = syscall!(fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3))?;
    // SAFETY: fcntl returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

/// As [`above_stdio`], for a raw fd the library just made (closed on failure).
pub fn raw_above_stdio(fd: i32) -> io::Result<i32> {
    // SAFETY: the caller just created `fd` and owns it.
    above_stdio(unsafe { OwnedFd::from_raw_fd(fd) }).map(IntoRawFd::into_raw_fd)
}

/// Closes a file descriptor the library owns.
pub fn close(fd: i32) -> io::Result<()> {
    syscall!(close(fd)).map(drop)
}

/// Reads one 8-byte counter (eventfd, timerfd). `Ok(0)` when it would block.
pub fn read_counter(fd: i32) -> io::Result<u64> {
    let mut value: u64 = 0;
    let buf = (&mut value as *mut u64).cast::<libc::c_void>();
    match syscall!(read(fd, buf, std::mem::size_of::<u64>())) {
        Ok(_) => Ok(value),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

/// The calling thread's errno.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sets the calling thread's errno (Pony reads it after a failed partial call).
pub fn set_errno(value: i32) {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() = value };
}
