//! Failure seam: how a partial function reports that it failed (ABI.md §4).
//!
//! In a C host the function returns 0 and the reason waits, per thread, for
//! `ponynet_take_error()`.

use crate::os::resolve::{self, ResolveError};
use std::cell::Cell;
use std::io;

/// `ponynet_take_error()` value after the peer's orderly shutdown.
pub const PONYNET_ERR_EOF: i32 = -1;
/// `ponynet_take_error()` value after a panic was caught at the boundary.
pub const PONYNET_ERR_PANIC: i32 = -2;
/// `ponynet_take_error()` value after a name lookup found no such name: the
/// host or service name does not exist, or has no address of the family
/// asked for (getaddrinfo's `EAI_NONAME`, `EAI_NODATA`, `EAI_ADDRFAMILY`,
/// `EAI_SERVICE`).
pub const PONYNET_ERR_NAME_NOT_FOUND: i32 = -3;
/// `ponynet_take_error()` value after a temporary failure of name
/// resolution (`EAI_AGAIN`): the name server did not answer or could not be
/// reached; the same lookup may succeed later.
pub const PONYNET_ERR_NAME_TRY_AGAIN: i32 = -4;
/// `ponynet_take_error()` value after any other failure of the resolver
/// (`EAI_FAIL`: a non-recoverable failure of the name server, ...).
pub const PONYNET_ERR_NAME_FAILED: i32 = -5;

/// Why a partial function failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Failure {
    /// The OS (or argument checking) failed with this errno.
    Os(i32),
    /// The peer shut down its side in order (a 0-byte read).
    Eof,
    /// A panic was caught at the ABI boundary.
    Panic,
    /// A name did not resolve.
    Resolve(ResolveError),
}

impl Failure {
    /// The value `ponynet_take_error()` reports for it.
    pub fn code(self) -> i32 {
        match self {
            Failure::Os(errno) => errno,
            Failure::Eof => PONYNET_ERR_EOF,
            Failure::Panic => PONYNET_ERR_PANIC,
            Failure::Resolve(ResolveError::NotFound) => PONYNET_ERR_NAME_NOT_FOUND,
            Failure::Resolve(ResolveError::TryAgain) => PONYNET_ERR_NAME_TRY_AGAIN,
            Failure::Resolve(ResolveError::Failed) => PONYNET_ERR_NAME_FAILED,
        }
    }

    /// The failure a `ponynet_take_error()` value stands for; `None` for 0
    /// (no failure) and for values the library never records.
    pub fn from_code(code: i32) -> Option<Failure> {
        match code {
            0 => None,
            errno if errno > 0 => Some(Failure::Os(errno)),
            PONYNET_ERR_EOF => Some(Failure::Eof),
            PONYNET_ERR_PANIC => Some(Failure::Panic),
            PONYNET_ERR_NAME_NOT_FOUND => Some(Failure::Resolve(ResolveError::NotFound)),
            PONYNET_ERR_NAME_TRY_AGAIN => Some(Failure::Resolve(ResolveError::TryAgain)),
            PONYNET_ERR_NAME_FAILED => Some(Failure::Resolve(ResolveError::Failed)),
            _ => None,
        }
    }

    /// Why an OS-layer call failed: a resolver failure keeps its reason,
    /// anything else is its errno (`EIO` if it has none).
    pub fn of(e: &io::Error) -> Self {
        match resolve::resolve_error(e) {
            Some(reason) => Failure::Resolve(reason),
            None => Failure::Os(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    /// A bad argument (NULL pointer, bad length).
    pub fn invalid() -> Self {
        Failure::Os(libc::EINVAL)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::of(&e)
    }
}

thread_local! {
    static LAST_ERROR: Cell<i32> = const { Cell::new(0) };
}

/// Reads and clears the calling thread's last failure.
pub fn take() -> i32 {
    LAST_ERROR.with(|e| e.replace(0))
}

/// Ends a partial call: its value on success; on failure the host's way.
/// C host: record the failure for `ponynet_take_error()` and return 0.
/// Pony host: set errno and raise a Pony error (`pony_error`), which
/// unwinds to the Pony caller; the caller then reads `pony_os_errno()`.
///
/// Must be called outside any `catch_unwind` (it would abort on the foreign
/// exception), from the exported `C-unwind` function, with no live value
/// that needs dropping.
pub fn finish(result: Result<usize, Failure>) -> usize {
    let code = match result {
        Ok(n) => {
            LAST_ERROR.with(|e| e.set(0));
            return n;
        }
        Err(f) => f.code(),
    };
    LAST_ERROR.with(|e| e.set(code));
    if super::current() == super::Host::Pony {
        if code > 0 {
            crate::os::set_errno(code);
        }
        // SAFETY: see the contract above; errno is not touched in between.
        unsafe { super::pony::raise_error() }
    }
    0
}

/// Records why a non-partial call failed (a NULL argument, an unknown
/// family...), for `ponynet_take_error()`, without the host's failure
/// mechanism: the function itself returns its failure value.
pub fn record(f: Failure) {
    LAST_ERROR.with(|e| e.set(f.code()));
}

