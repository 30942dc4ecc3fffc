//! sigaction(2) and pthread_sigmask(3).

use std::io;
use std::mem::MaybeUninit;

/// A saved signal disposition, to put back later.
pub struct Disposition(libc::sigaction);

/// Installs `handler` for `signo` (SA_RESTART, nothing masked) and returns
/// the disposition it replaced.
pub fn install(signo: i32, handler: extern "C" fn(libc::c_int)) -> io::Result<Disposition> {
    // SAFETY: an all-zero sigaction is a valid value to fill in.
    let mut action: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: sa_mask is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    syscall!(sigaction(signo, &action, old.as_mut_ptr()))?;
    // SAFETY: sigaction succeeded and filled `old`.
    Ok(Disposition(unsafe { old.assume_init() }))
}

/// Puts back a disposition saved by [`install`].
pub fn restore(signo: i32, saved: &Disposition) -> io::Result<()> {
    syscall!(sigaction(signo, &saved.0, std::ptr::null_mut())).map(drop)
}

/// The current disposition's handler address (SIG_DFL is 0, SIG_IGN 1).
pub fn current_handler(signo: i32) -> io::Result<usize> {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    syscall!(sigaction(signo, std::ptr::null(), old.as_mut_ptr()))?;
    // SAFETY: sigaction succeeded and filled `old`.
    Ok(unsafe { old.assume_init() }.sa_sigaction)
}

/// Sets `signo` to be ignored process-wide.
pub fn ignore(signo: i32) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is valid; SIG_IGN is a valid handler value.
    let mut action: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    action.sa_sigaction = libc::SIG_IGN;
    syscall!(sigaction(signo, &action, std::ptr::null_mut())).map(drop)
}

/// Blocks `signo` in the calling thread.
pub fn block_in_this_thread(signo: i32) -> io::Result<()> {
    let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `set` is valid storage for a sigset_t.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), signo);
    }
    // SAFETY: `set` was initialised above.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}
