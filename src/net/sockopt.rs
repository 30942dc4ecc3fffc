//! Socket options as Pony's `OSSockOpt` and `_OSSocket` have them: option
//! levels and names by Pony's stable numbers, mapped to this platform's
//! values through the ABI (`pony_os_sockopt_level` / `pony_os_sockopt_option`),
//! and `getsockopt(2)` / `setsockopt(2)` on a raw fd.

use super::abi;
use std::ffi::c_int;
use std::io;
use std::os::fd::RawFd;

/// This platform's value of the level Pony numbers `n`; `None` if it has none.
pub fn level(n: i32) -> Option<i32> {
    Some(abi::sockopt_level(n)).filter(|&v| v != -1)
}

/// This platform's value of the option Pony numbers `n`; `None` if it has none.
pub fn option(n: i32) -> Option<i32> {
    Some(abi::sockopt_option(n)).filter(|&v| v != -1)
}

macro_rules! pony_numbers {
    ($kind:ident: $($(#[$doc:meta])* $name:ident = $n:literal;)*) => {
        $( $(#[$doc])* pub fn $name() -> Option<i32> { $kind($n) } )*
    };
}

pony_numbers! { level:
    /// `IPPROTO_IP`.
    ipproto_ip = 4049;
    /// `IPPROTO_IPV6`.
    ipproto_ipv6 = 4056;
    /// `IPPROTO_TCP`: the level of `TCP_*` options.
    ipproto_tcp = 4109;
    /// `SOL_SOCKET`: the level of `SO_*` options.
    sol_socket = 4138;
}

pony_numbers! { option:
    /// `SO_ERROR` (level `SOL_SOCKET`).
    so_error = 827;
    /// `SO_KEEPALIVE` (level `SOL_SOCKET`).
    so_keepalive = 835;
    /// `SO_LINGER` (level `SOL_SOCKET`).
    so_linger = 843;
    /// `SO_RCVBUF` (level `SOL_SOCKET`).
    so_rcvbuf = 884;
    /// `SO_REUSEADDR` (level `SOL_SOCKET`).
    so_reuseaddr = 889;
    /// `SO_SNDBUF` (level `SOL_SOCKET`).
    so_sndbuf = 903;
    /// `TCP_KEEPCNT` (level `IPPROTO_TCP`).
    tcp_keepcnt = 1001;
    /// `TCP_KEEPIDLE` (level `IPPROTO_TCP`).
    tcp_keepidle = 1002;
    /// `TCP_KEEPINTVL` (level `IPPROTO_TCP`).
    tcp_keepintvl = 1004;
    /// `TCP_NODELAY` (level `IPPROTO_TCP`).
    tcp_nodelay = 1019;
}

/// A level/option pair both present on this platform, or `ENOPROTOOPT`.
pub(crate) fn pair(level: Option<i32>, option: Option<i32>) -> io::Result<(i32, i32)> {
    level.zip(option).ok_or_else(|| io::Error::from_raw_os_error(libc::ENOPROTOOPT))
}

/// getsockopt(2): the option's bytes, at most `max_size` of them.
pub(crate) fn get(fd: RawFd, level: i32, option: i32, max_size: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; max_size];
    let mut len = libc::socklen_t::try_from(max_size).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `buf` has `len` writable bytes; `len` is a valid socklen_t.
    let rc = unsafe { libc::getsockopt(fd, level, option, buf.as_mut_ptr().cast(), &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(len as usize);
    Ok(buf)
}

/// getsockopt(2) of an option whose value is a C `int`/`uint32_t`.
pub(crate) fn get_u32(fd: RawFd, level: i32, option: i32) -> io::Result<u32> {
    let bytes = get(fd, level, option, std::mem::size_of::<c_int>())?;
    let word: [u8; 4] = bytes.try_into().map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(u32::from_ne_bytes(word))
}

/// setsockopt(2) with the option's bytes.
pub(crate) fn set(fd: RawFd, level: i32, option: i32, value: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `value` has `len` readable bytes.
    let rc = unsafe { libc::setsockopt(fd, level, option, value.as_ptr().cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// setsockopt(2) of an option whose value is a C `int`/`uint32_t`.
pub(crate) fn set_u32(fd: RawFd, level: i32, option: i32, value: u32) -> io::Result<()> {
    set(fd, level, option, &value.to_ne_bytes())
}
