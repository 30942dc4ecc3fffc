//! The runtime-facing interface: the six hooks a Pony runtime (libponyrt
//! with its network objects removed) calls. A C program never calls them.

use super::boundary::call;
use crate::asio::{reactor, thread};
use crate::host::{self, noisy};
use crate::os;

extern "C" fn ignore_signal(_: libc::c_int) {}

/// RUNTIME-FACING INTERFACE (Pony runtime only; C programs never call these).
///
/// Enters Pony-runtime mode: owners become actors, notifications become
/// runtime messages, partial functions fail with `pony_error`. Aborts with a
/// message if the process lacks a runtime function. Installs an empty
/// SIGUSR2 handler (the schedulers' wake-up signal) if it had the default
/// disposition. `cpu` is the `--ponypinasio` CPU or -1; the I/O thread is not
/// pinned.
#[no_mangle]
pub extern "C" fn ponyint_asio_init(cpu: u32) {
    call((), || {
        let _ = cpu;
        host::enter_pony_mode();
        if os::signal::current_handler(libc::SIGUSR2).is_ok_and(|h| h == libc::SIG_DFL) {
            let _ = os::signal::install(libc::SIGUSR2, ignore_signal);
        }
    })
}

/// Runtime-facing: readies the poller; the I/O thread starts with the first
/// event. False if the poller cannot be created (`pony_start` then fails).
#[no_mangle]
pub extern "C" fn ponyint_asio_start() -> bool {
    call(false, || reactor::get().is_ok())
}

/// Runtime-facing: whether nothing noisy is subscribed.
#[no_mangle]
pub extern "C" fn ponyint_asio_stoppable() -> bool {
    call(false, || noisy::count() == 0)
}

/// Runtime-facing: if nothing noisy is subscribed, stops and joins the I/O
/// thread and returns true (the runtime then exits); false otherwise, with
/// nothing stopped. Atomic with respect to create and subscribe.
#[no_mangle]
pub extern "C" fn ponyint_asio_stop() -> bool {
    call(false, thread::stop)
}

/// Runtime-facing: ignores SIGPIPE process-wide, as the runtime's file and
/// process code expects. False if that fails.
#[no_mangle]
pub extern "C" fn ponyint_os_sockets_init() -> bool {
    call(false, || os::signal::ignore(libc::SIGPIPE).is_ok())
}

/// Runtime-facing: nothing to release on POSIX.
#[no_mangle]
pub extern "C" fn ponyint_os_sockets_final() {
    call((), || ())
}
