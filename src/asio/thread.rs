//! The I/O thread: started lazily by the first event, it turns the reactor
//! until `ponynet_asio_stop` asks it to end while nothing noisy is
//! subscribed. A later event starts it again.

use super::reactor;
use crate::host::{self, noisy};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// True while an I/O thread is (about to be) turning the reactor.
static RUNNING: AtomicBool = AtomicBool::new(false);

struct Lifecycle {
    thread: Option<JoinHandle<()>>,
    /// Where the thread answers a pending stop request: stopped or refused.
    stop_reply: Option<mpsc::Sender<bool>>,
}

static LIFECYCLE: Mutex<Lifecycle> = Mutex::new(Lifecycle { thread: None, stop_reply: None });
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Executors whose workers take the poller themselves (see `actor`): while
/// any is active, the I/O thread parks instead of polling, so readiness is
/// seen by the worker that will run the owner.
static EXTERNAL_DRIVERS: AtomicUsize = AtomicUsize::new(0);
static HANDOVER: Mutex<()> = Mutex::new(());
static HANDOVER_CHANGED: Condvar = Condvar::new();

fn signal_handover() {
    let _guard = HANDOVER.lock().unwrap_or_else(|p| p.into_inner());
    HANDOVER_CHANGED.notify_all();
}

/// An executor starts driving the poller: the I/O thread steps aside.
pub fn external_driver_started() {
    EXTERNAL_DRIVERS.fetch_add(1, Ordering::SeqCst);
    if let Ok(reactor) = reactor::get() {
        reactor.force_wake();
    }
}

/// An executor stops driving the poller: the I/O thread polls again.
pub fn external_driver_stopped() {
    EXTERNAL_DRIVERS.fetch_sub(1, Ordering::SeqCst);
    signal_handover();
}

/// Parks the I/O thread while an executor drives the poller.
fn park_while_driven() -> bool {
    let mut guard = HANDOVER.lock().unwrap_or_else(|p| p.into_inner());
    let mut parked = false;
    while EXTERNAL_DRIVERS.load(Ordering::SeqCst) > 0 && !STOP_REQUESTED.load(Ordering::SeqCst) {
        parked = true;
        guard = HANDOVER_CHANGED.wait(guard).unwrap_or_else(|p| p.into_inner());
    }
    parked
}

fn lifecycle() -> std::sync::MutexGuard<'static, Lifecycle> {
    LIFECYCLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the I/O thread unless one runs. Cheap when it runs (one load).
pub fn ensure_running() {
    if RUNNING.load(Ordering::SeqCst) {
        return;
    }
    let mut life = lifecycle();
    if RUNNING.load(Ordering::SeqCst) {
        return;
    }
    if let Some(old) = life.thread.take() {
        let _ = old.join();
    }
    RUNNING.store(true, Ordering::SeqCst);
    match std::thread::Builder::new().name("ponynet-io".into()).spawn(io_thread) {
        Ok(handle) => life.thread = Some(handle),
        Err(_) => RUNNING.store(false, Ordering::SeqCst),
    }
}

/// Stops and joins the I/O thread if nothing noisy is subscribed. Every
/// notification already due is delivered first. False, with nothing
/// stopped, while anything noisy is subscribed, or when called from the
/// poller thread itself.
pub fn stop() -> bool {
    if reactor::on_poller_thread() {
        return false;
    }
    let mut life = lifecycle();
    if noisy::count() > 0 {
        return false;
    }
    let Some(handle) = life.thread.take() else { return true };
    if !RUNNING.load(Ordering::SeqCst) {
        let _ = handle.join();
        return true;
    }
    let (tx, rx) = mpsc::channel();
    life.stop_reply = Some(tx);
    STOP_REQUESTED.store(true, Ordering::SeqCst);
    drop(life);
    if let Ok(reactor) = reactor::get() {
        reactor.force_wake();
    }
    signal_handover();
    let stopped = rx.recv().unwrap_or(true);
    let mut life = lifecycle();
    if stopped {
        let _ = handle.join();
        true
    } else {
        life.thread = Some(handle);
        false
    }
}

fn io_thread() {
    host::delivery::io_thread_started();
    let Ok(reactor) = reactor::get() else {
        RUNNING.store(false, Ordering::SeqCst);
        return;
    };
    loop {
        if park_while_driven() {
            continue;
        }
        // A stop request that came while we were parked found its wake-up
        // consumed by an executor worker: do not block then.
        let timeout = STOP_REQUESTED.load(Ordering::SeqCst).then_some(Duration::ZERO);
        let _ = reactor.turn(timeout);
        if !STOP_REQUESTED.swap(false, Ordering::SeqCst) {
            continue;
        }
        // Deliver what is due, then decide. Anything that raced in (a noisy
        // subscription, a queued notification) keeps the thread alive: the
        // racer saw RUNNING true and relies on us.
        let _ = reactor.turn(Some(Duration::ZERO));
        RUNNING.store(false, Ordering::SeqCst);
        let stop = noisy::count() == 0 && !reactor.has_pending();
        if !stop {
            RUNNING.store(true, Ordering::SeqCst);
        }
        if let Some(reply) = lifecycle().stop_reply.take() {
            let _ = reply.send(stop);
        }
        if stop {
            break;
        }
    }
    host::delivery::io_thread_ended();
}
