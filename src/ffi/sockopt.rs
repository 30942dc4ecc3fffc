//! Exported socket-option number mapping (ABI.md §3).

use super::boundary::call;
use crate::os::sockopt;
use std::ffi::c_int;

/// This platform's value of the socket-option *level* that Pony numbers `n`
/// (`IPPROTO_TCP`, `SOL_SOCKET`...; numbering: `sockopt_numbers.tsv`, rows of
/// kind `level`). -1 if this platform has no such constant, or `n` is not a
/// level number (an option number, a negative or unknown number). Values
/// come from the platform's headers at build time; they are fixed for the
/// life of the process but are not stable across platforms or builds.
#[no_mangle]
pub extern "C" fn pony_os_sockopt_level(n: c_int) -> c_int {
    call(-1, || sockopt::level(n).unwrap_or(-1))
}

/// This platform's value of the socket *option* that Pony numbers `n`
/// (`SO_REUSEADDR`, `TCP_NODELAY`, `IP_MULTICAST_TTL`...; rows of kind
/// `option` in `sockopt_numbers.tsv`). -1 if this platform has no such
/// constant, or `n` is not an option number (a level number, a negative or
/// unknown number). Values come from the platform's headers at build time.
#[no_mangle]
pub extern "C" fn pony_os_sockopt_option(n: c_int) -> c_int {
    call(-1, || sockopt::option(n).unwrap_or(-1))
}
