//! eventfd(2): a counter the kernel can wake epoll with.

use std::io;

/// A new non-blocking, close-on-exec eventfd with counter 0 (above the
/// standard fds).
pub fn new() -> io::Result<i32> {
    let fd = syscall!(eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC))?;
    super::raw_above_stdio(fd)
}

/// Adds 1 to the counter. Async-signal-safe: only `write(2)`, errno preserved.
pub fn signal_safe_increment(fd: i32) {
    let one: u64 = 1;
    // SAFETY: errno location is valid for this thread; we restore it so an
    // interrupted caller never sees our write's errno.
    let saved = unsafe { *libc::__errno_location() };
    // SAFETY: `one` lives for the call; a bad fd only yields EBADF.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}
