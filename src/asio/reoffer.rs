//! Listeners starved of file descriptors, and how their queued
//! connections are offered again (ABI.md §5).
//!
//! When `accept` fails for lack of resources (`EMFILE`, `ENFILE`,
//! `ENOBUFS`, `ENOMEM`) the connection stays queued in the kernel, but the
//! listener's event is edge-triggered: no new edge would come before a new
//! client connects. So the listener is remembered here, and re-armed later
//! with `EPOLL_CTL_MOD` (through [`Event::subscribe`]), which reports the
//! fd again only if connections are still queued. A re-arm:
//! - happens at once whenever a socket is closed through
//!   `pony_os_socket_close` ([`fds_freed`]): the usual way a Pony or C
//!   program gives an fd back, so the queued client is served as soon as
//!   it can be;
//! - otherwise happens on a backoff timer (10 ms, doubling up to 1 s), for
//!   fds freed in ways the library cannot see (a plain `close()`, a raised
//!   `RLIMIT_NOFILE`, another process for `ENFILE`). The timer is a small
//!   thread that exists only while some listener is starved: it sleeps,
//!   re-arms what is starved, and ends after a sleep that no starvation
//!   filled.
//!
//! While starved, the owner's own re-arm (`resubscribe`) asks the kernel
//! nothing: the backlog is still ready, so it would report at once and the
//! owner would spin on accept. An owner whose accept fails again just
//! starves the listener again: at most one retry per backoff period (and
//! one per new client), never a spin.

use super::event::Event;
use super::registry;
use crate::os::tcp;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

struct Starved {
    /// Addresses of starved listener events (checked against the registry
    /// before use).
    listeners: Vec<usize>,
    /// Whether the timer thread runs.
    timer: bool,
}

static STARVED: Mutex<Starved> = Mutex::new(Starved {
    listeners: Vec::new(),
    timer: false,
});
/// `listeners.len()`, readable without the lock (the close path checks it).
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn lock() -> MutexGuard<'static, Starved> {
    STARVED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Accepts a pending connection on `listener` (`None`: none pending). A
/// failure for lack of fds starves the listener until the re-offer; a
/// success ends its starvation.
pub(crate) fn accept(listener: &Event) -> io::Result<Option<OwnedFd>> {
    // Asked once per listener, not once per accept.
    let nonblocking = listener.fd_nonblocking(|| tcp::is_nonblocking(listener.fd()))?;
    let accepted = tcp::accept(listener.fd(), nonblocking);
    match &accepted {
        Ok(_) => {
            listener.take_starved();
        }
        Err(e) if is_starvation(e) => starved(listener),
        Err(_) => {}
    }
    accepted
}

/// Whether an accept error means "no fd or memory for it right now".
pub fn is_starvation(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Remembers that `listener` could not accept for lack of resources.
pub fn starved(listener: &Event) {
    listener.mark_starved();
    let addr = listener as *const Event as usize;
    let mut s = lock();
    if !s.listeners.contains(&addr) {
        s.listeners.push(addr);
        COUNT.store(s.listeners.len(), Ordering::Release);
    }
    if !s.timer {
        s.timer = std::thread::Builder::new()
            .name("ponynet-reoffer".into())
            .spawn(timer)
            .is_ok();
    }
}

/// An fd was just freed: re-arm every starved listener now.
pub fn fds_freed() {
    if COUNT.load(Ordering::Acquire) > 0 {
        rearm_all();
    }
}

fn take() -> Vec<usize> {
    let mut s = lock();
    COUNT.store(0, Ordering::Release);
    std::mem::take(&mut s.listeners)
}

fn rearm_all() {
    for addr in take() {
        rearm(addr);
    }
}

/// Re-arms one listener if it is still a live event (the registry keeps
/// it from being destroyed meanwhile).
fn rearm(addr: usize) {
    registry::with_live(addr, |ev| {
        if ev.take_starved() {
            // The owner could not consume the last report: let a ONESHOT
            // event report again. (No-ops on a disposable event.)
            ev.set_readable(false);
            ev.subscribe();
        }
    });
}

fn timer() {
    let mut backoff = FIRST_BACKOFF;
    loop {
        std::thread::sleep(backoff);
        let batch = {
            let mut s = lock();
            if s.listeners.is_empty() {
                s.timer = false;
                return;
            }
            COUNT.store(0, Ordering::Release);
            std::mem::take(&mut s.listeners)
        };
        for addr in batch {
            rearm(addr);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
