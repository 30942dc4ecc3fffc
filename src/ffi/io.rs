//! Exported stream I/O functions (ABI.md §3, §4): the partial `recv`,
//! `send`, `writev`, and `errno`, `writev_max`.
//!
//! The three partial functions are `extern "C-unwind"`: in Pony mode a
//! failure leaves them as a Pony error (a foreign exception), raised by
//! the failure seam after the panic boundary has returned.

use super::boundary::{self, call};
use crate::asio::event::Event;
use crate::host::failure::Failure;
use crate::os::{self, tcp};
use std::ffi::{c_char, c_int};
use std::io::IoSlice;
use std::mem::MaybeUninit;

/// A caller's output buffer; `None` for NULL or an impossible length.
///
/// # Safety
/// `ptr` is NULL or valid for writes of `len` bytes during the call.
pub(super) unsafe fn out_bytes<'a>(
    ptr: *mut c_char,
    len: usize,
) -> Option<&'a mut [MaybeUninit<u8>]> {
    if ptr.is_null() || len > isize::MAX as usize {
        return None;
    }
    // SAFETY: caller contract; MaybeUninit accepts whatever the bytes hold.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr.cast(), len) })
}

/// A caller's input buffer; `None` for NULL or an impossible length.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` initialised bytes.
pub(super) unsafe fn in_bytes<'a>(ptr: *const c_char, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() || len > isize::MAX as usize {
        return None;
    }
    // SAFETY: caller contract.
    Some(unsafe { std::slice::from_raw_parts(ptr.cast(), len) })
}

/// Reads up to `len` bytes into `buf`: the count read; 0 if nothing is
/// available (or `len` is 0: no system call then). Partial: fails on an
/// error, and on the peer's orderly shutdown (`ponynet_take_error()` ==
/// `PONYNET_ERR_EOF`). Never blocks, even on a blocking fd.
#[no_mangle]
pub unsafe extern "C-unwind" fn pony_os_recv(
    ev: *mut Event,
    buf: *mut c_char,
    len: usize,
) -> usize {
    boundary::partial(|| {
        // SAFETY: NULL or a live event (API contract).
        let ev = unsafe { boundary::event(ev) }.ok_or_else(Failure::invalid)?;
        if len == 0 {
            return Ok(0);
        }
        // SAFETY: `buf` holds `len` writable bytes (API contract).
        let buf = unsafe { out_bytes(buf, len) }.ok_or_else(Failure::invalid)?;
        match tcp::recv(ev.fd(), buf)? {
            tcp::Received::Bytes(n) => {
                if n < len {
                    ev.note_read_short(|| tcp::is_tcp(ev.fd()));
                }
                Ok(n)
            }
            tcp::Received::WouldBlock => {
                ev.note_read_drained();
                Ok(0)
            }
            tcp::Received::Closed => Err(Failure::Eof),
        }
    })
}

/// Sends up to `len` bytes of `buf`: the count sent (may be short); 0 if
/// it would block (also on `ENOBUFS`). Partial: fails on an error. Never
/// raises SIGPIPE, never blocks.
#[no_mangle]
pub unsafe extern "C-unwind" fn pony_os_send(
    ev: *mut Event,
    buf: *const c_char,
    len: usize,
) -> usize {
    boundary::partial(|| {
        // SAFETY: NULL or a live event (API contract).
        let ev = unsafe { boundary::event(ev) }.ok_or_else(Failure::invalid)?;
        // SAFETY: `buf` holds `len` readable bytes (API contract).
        let buf = unsafe { in_bytes(buf, len) }.ok_or_else(Failure::invalid)?;
        Ok(tcp::send(ev.fd(), buf)?)
    })
}

/// Sends the `iovcnt` buffers of `iov` in order, as one `sendmsg`: the
/// count of bytes sent (may be short); 0 if it would block (also on
/// `ENOBUFS`). Partial: fails on an error, on a NULL `iov`, and on
/// `iovcnt` outside 1..=`pony_os_writev_max()` (`EINVAL`). Never raises
/// SIGPIPE, never blocks.
#[no_mangle]
pub unsafe extern "C-unwind" fn pony_os_writev(
    ev: *mut Event,
    iov: *const libc::iovec,
    iovcnt: c_int,
) -> usize {
    boundary::partial(|| {
        // SAFETY: NULL or a live event (API contract).
        let ev = unsafe { boundary::event(ev) }.ok_or_else(Failure::invalid)?;
        let n = usize::try_from(iovcnt)
            .ok()
            .filter(|&n| n >= 1 && iovcnt <= tcp::writev_max());
        let (Some(n), false) = (n, iov.is_null()) else {
            return Err(Failure::invalid());
        };
        if n == 1 {
            // SAFETY: `iov` holds one iovec (checked non-NULL above).
            let one = unsafe { *iov };
            if !one.iov_base.is_null() && one.iov_len > 0 && one.iov_len <= isize::MAX as usize {
                // One buffer: send(2), which the kernel takes without
                // importing an iovec array (a small write's usual shape).
                // SAFETY: a non-NULL buffer readable for its length (API contract).
                let buf = unsafe { std::slice::from_raw_parts(one.iov_base.cast::<u8>(), one.iov_len) };
                return Ok(tcp::send(ev.fd(), buf)?);
            }
        }
        // SAFETY: `iov` holds `iovcnt` iovecs whose buffers are readable
        // (API contract); IoSlice is ABI-compatible with iovec on Unix, and
        // the iovecs go to the kernel as they are (a NULL or empty buffer
        // included: it answers for them).
        let bufs = unsafe { std::slice::from_raw_parts(iov.cast::<IoSlice<'_>>(), n) };
        Ok(tcp::writev(ev.fd(), bufs)?)
    })
}

/// The most buffers `pony_os_writev` takes at once (`IOV_MAX`).
#[no_mangle]
pub extern "C" fn pony_os_writev_max() -> c_int {
    call(libc::UIO_MAXIOV, tcp::writev_max)
}

/// The calling thread's errno.
#[no_mangle]
pub extern "C" fn pony_os_errno() -> c_int {
    call(0, os::errno)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::event::{pony_asio_event_create, pony_asio_event_destroy, pony_asio_event_unsubscribe};
    use crate::ffi::lifecycle::ponynet_take_error;
    use crate::ffi::types::Owner;

    unsafe extern "C" fn ignore(_o: *mut Owner, _ev: *mut Event, _flags: u32, _arg: u32) {}

    /// Built in debug, this also checks that no slice is made from a NULL
    /// buffer (a precondition the standard library asserts).
    #[test]
    fn writev_of_a_null_or_empty_buffer_reads_nothing() {
        let mut sv = [0; 2];
        // SAFETY: plain socketpair into a 2-int array.
        assert_eq!(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) }, 0);
        // The final notification may come after this test returns: the
        // owner must outlive it.
        static OWNER: Owner = Owner { notify: Some(ignore) };
        let owner = std::ptr::addr_of!(OWNER).cast_mut();
        // SAFETY: a live owner and our fd; the event is disposed below.
        let ev = unsafe { pony_asio_event_create(owner, sv[0], crate::asio::event::ASIO_READ, 0, false) };
        assert!(!ev.is_null());
        for base in [std::ptr::null_mut(), b"".as_ptr().cast_mut().cast()] {
            let iov = libc::iovec { iov_base: base, iov_len: 0 };
            // SAFETY: a live event and one iovec.
            assert_eq!(unsafe { pony_os_writev(ev, &iov, 1) }, 0);
            assert_eq!(ponynet_take_error(), 0);
        }
        // SAFETY: as above.
        unsafe {
            pony_asio_event_unsubscribe(ev);
            libc::close(sv[0]);
            libc::close(sv[1]);
        }
        // The final notification goes to `ignore`; destroy frees the record after it.
        // SAFETY: our event, unsubscribed.
        unsafe { pony_asio_event_destroy(ev) };
    }
}
