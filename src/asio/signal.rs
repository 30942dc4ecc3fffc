//! Signal watching. Several events may watch one signal: each has its own
//! eventfd, and the handler adds 1 to every watcher's eventfd, so each event
//! reads the count since its own last delivery. The handler only loads
//! atomics and calls `write(2)`: async-signal-safe, no allocation, no lock.

use crate::os;
use std::io;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Mutex;

/// Signals 1..MAX_SIGNAL can be watched (Linux: 1..=64).
pub(crate) const MAX_SIGNAL: usize = 65;
/// Watchers one signal can have at once.
pub(crate) const WATCHERS_PER_SIGNAL: usize = 64;

static WATCHERS: [[AtomicI32; WATCHERS_PER_SIGNAL]; MAX_SIGNAL] =
    [const { [const { AtomicI32::new(-1) }; WATCHERS_PER_SIGNAL] }; MAX_SIGNAL];
/// Handlers running right now, per signal: unwatch waits for 0 before the
/// eventfd may be closed (and its number reused).
static IN_HANDLER: [AtomicU32; MAX_SIGNAL] = [const { AtomicU32::new(0) }; MAX_SIGNAL];

struct Installed {
    watchers: usize,
    previous: Option<os::signal::Disposition>,
}

static INSTALLED: Mutex<[Installed; MAX_SIGNAL]> =
    Mutex::new([const { Installed { watchers: 0, previous: None } }; MAX_SIGNAL]);

/// One watcher's place in the table.
#[derive(Debug)]
pub struct Slot {
    signo: usize,
    index: usize,
}

extern "C" fn on_signal(signo: libc::c_int) {
    let Ok(s) = usize::try_from(signo) else { return };
    if s >= MAX_SIGNAL {
        return;
    }
    IN_HANDLER[s].fetch_add(1, Ordering::SeqCst);
    for watcher in &WATCHERS[s] {
        let fd = watcher.load(Ordering::SeqCst);
        if fd >= 0 {
            os::eventfd::signal_safe_increment(fd);
        }
    }
    IN_HANDLER[s].fetch_sub(1, Ordering::SeqCst);
}

/// Makes `fd` (an eventfd) count deliveries of `signo`. The first watcher
/// of a signal installs the handler.
pub fn watch(signo: i32, fd: i32) -> io::Result<Slot> {
    let s = usize::try_from(signo)
        .ok()
        .filter(|s| (1..MAX_SIGNAL).contains(s))
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    let index = WATCHERS[s]
        .iter()
        .position(|w| w.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst).is_ok())
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSPC))?;
    let entry = &mut installed[s];
    if entry.watchers == 0 {
        match os::signal::install(signo, on_signal) {
            Ok(previous) => entry.previous = Some(previous),
            Err(e) => {
                WATCHERS[s][index].store(-1, Ordering::SeqCst);
                return Err(e);
            }
        }
    }
    entry.watchers += 1;
    Ok(Slot { signo: s, index })
}

/// Stops a watcher; once this returns, the handler no longer writes to its
/// fd. The last watcher of a signal restores the previous disposition.
pub fn unwatch(slot: Slot) {
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    WATCHERS[slot.signo][slot.index].store(-1, Ordering::SeqCst);
    while IN_HANDLER[slot.signo].load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    let entry = &mut installed[slot.signo];
    entry.watchers -= 1;
    if entry.watchers == 0 {
        if let Some(previous) = entry.previous.take() {
            let _ = os::signal::restore(slot.signo as i32, &previous);
        }
    }
}
