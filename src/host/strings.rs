//! Strings seam: strings the library returns to its caller. A C caller
//! frees them with `free()`, so they come from the C allocator; Pony adopts
//! them as `String`s, so there they come from `pony_alloc`.

use super::{pony, Host};
use std::ffi::c_char;

/// Copies `bytes` into a new NUL-terminated C string; NULL if out of memory
/// or if `bytes` holds a NUL.
pub fn to_c_string(bytes: &[u8]) -> *mut c_char {
    if bytes.contains(&0) {
        return std::ptr::null_mut();
    }
    let p = match super::current() {
        // SAFETY: malloc with a non-zero size; checked for NULL below.
        Host::C => unsafe { libc::malloc(bytes.len() + 1) }.cast::<u8>(),
        Host::Pony => pony::alloc(bytes.len() + 1),
    };
    if p.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: p has room for len + 1 bytes and does not overlap `bytes`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        *p.add(bytes.len()) = 0;
    }
    p.cast()
}
