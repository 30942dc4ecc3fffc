//! timerfd_create(2) / timerfd_settime(2): one-shot monotonic timers.

use std::io;

/// A new non-blocking, close-on-exec monotonic timer fd, disarmed (above
/// the standard fds).
pub fn new() -> io::Result<i32> {
    let fd = syscall!(timerfd_create(
        libc::CLOCK_MONOTONIC,
        libc::TFD_NONBLOCK | libc::TFD_CLOEXEC
    ))?;
    super::raw_above_stdio(fd)
}

/// Arms the timer to fire once, `nsec` nanoseconds from now. A zero interval
/// fires at once (the kernel would read zero as "disarm").
pub fn arm_once(fd: i32, nsec: u64) -> io::Result<()> {
    let nsec = nsec.max(1);
    let spec = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        it_value: libc::timespec {
            tv_sec: (nsec / 1_000_000_000).min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: (nsec % 1_000_000_000) as libc::c_long,
        },
    };
    syscall!(timerfd_settime(fd, 0, &spec, std::ptr::null_mut())).map(drop)
}
