//! The I/O thread: started lazily by the first event, it turns the reactor
//! until `ponynet_asio_stop` asks it to end while nothing noisy is
//! subscribed. A later event starts it again.
//!
//! Start and stop are one state machine ([`Lifecycle`]) behind one lock,
//! with one fast-path flag. Its states (docs/ARCHITECTURE.md has the table):
//!
//! | phase    | thread                   | `running` | who moves it on |
//! |----------|--------------------------|-----------|-----------------|
//! | Stopped  | none                     | false     | `ensure_running` spawns → Running |
//! | Running  | turning                  | true      | `stop` asks → Stopping |
//! | Stopping | asked to stop, finishing | true      | the thread: → Running (refused) or → Exiting |
//! | Exiting  | ended or ending, unjoined| false     | whoever comes next joins it → Stopped (`ensure_running` then spawns) |
//!
//! Never two threads: a new one is spawned only in Stopped, after the old
//! one was joined. A racing `stop` waits for the phase to leave Stopping
//! and answers whether the thread it saw ended. A start asked for while
//! Stopping (`keep`) makes the thread stay, as does anything noisy or queued.

use super::reactor;
use crate::host::{self, noisy};
use crate::sync::{fence, lock, wait, AtomicBool, Condvar, Mutex};
use once_cell::sync::Lazy;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Stopped,
    Running,
    Stopping,
    Exiting,
}

/// What the state machine needs from the world: a thread to start and
/// join, a poller to wake, and whether anything still needs the thread.
pub(crate) trait Host {
    type Thread;
    /// Starts the I/O thread; `None` if the OS refuses.
    fn spawn(&self) -> Option<Self::Thread>;
    fn join(&self, thread: Self::Thread);
    /// Wakes the thread from its poll (a stop request is waiting).
    fn wake(&self);
    /// Something noisy is subscribed: a stop is refused at once.
    fn noisy(&self) -> bool;
    /// Something noisy or queued needs the thread.
    fn busy(&self) -> bool;
}

struct State<T> {
    phase: Phase,
    thread: Option<T>,
    /// A start was asked for while Stopping.
    keep: bool,
    /// Threads that decided to exit so far (a stop's answer compares it).
    exits: usize,
}

/// The start/stop state machine (see the module's table).
pub(crate) struct Lifecycle<H: Host> {
    host: H,
    state: Mutex<State<H::Thread>>,
    changed: Condvar,
    /// Phase is Running or Stopping: the fast path of `ensure_running`.
    running: AtomicBool,
    stop_requested: AtomicBool,
}

impl<H: Host> Lifecycle<H> {
    pub(crate) fn new(host: H) -> Self {
        Lifecycle {
            host,
            state: Mutex::new(State { phase: Phase::Stopped, thread: None, keep: false, exits: 0 }),
            changed: Condvar::new(),
            running: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
        }
    }

    /// Starts the thread unless one runs. A fence and a load when it runs.
    /// Callers make their need visible first (noisy count, queued item):
    /// a thread deciding to exit sees it, or this call sees `running`
    /// false (the fences on both sides order the store before the load).
    pub(crate) fn ensure_running(&self) {
        fence(Ordering::SeqCst);
        if self.running.load(Ordering::SeqCst) {
            return;
        }
        let mut st = lock(&self.state);
        match st.phase {
            Phase::Running => {}
            Phase::Stopping => st.keep = true,
            Phase::Exiting | Phase::Stopped => {
                self.join_exited(&mut st);
                if let Some(thread) = self.host.spawn() {
                    st.thread = Some(thread);
                    st.phase = Phase::Running;
                    self.running.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    /// Joins a thread that decided to exit (it needs no lock to finish).
    fn join_exited(&self, st: &mut State<H::Thread>) {
        if st.phase == Phase::Exiting {
            if let Some(thread) = st.thread.take() {
                self.host.join(thread);
            }
            st.phase = Phase::Stopped;
            self.changed.notify_all();
        }
    }

    /// Stops and joins the thread unless something noisy or queued needs
    /// it. True once no thread that ran when this was called runs.
    pub(crate) fn stop(&self) -> bool {
        let mut st = lock(&self.state);
        let exits_before = st.exits;
        match st.phase {
            Phase::Stopped => return true,
            Phase::Exiting => {
                self.join_exited(&mut st);
                return true;
            }
            Phase::Running => {
                if self.host.noisy() {
                    return false;
                }
                st.phase = Phase::Stopping;
                st.keep = false;
                self.stop_requested.store(true, Ordering::SeqCst);
                self.host.wake();
            }
            Phase::Stopping => {}
        }
        while st.phase == Phase::Stopping {
            st = wait(&self.changed, st);
        }
        if st.exits == exits_before {
            return false; // refused: the thread stays
        }
        self.join_exited(&mut st);
        true
    }

    /// The thread asks whether a stop is requested (and consumes it).
    pub(crate) fn take_stop_request(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst) && self.stop_requested.swap(false, Ordering::SeqCst)
    }

    /// Whether a stop is requested (without consuming it).
    pub(crate) fn stop_pending(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst)
    }

    /// The thread, asked to stop and done with what was due, decides:
    /// true to exit (it must then take no lock of ours), false to stay.
    pub(crate) fn thread_decides(&self) -> bool {
        // Cleared before the checks: a racer that made its need visible
        // and then saw `running` true is seen by them (a fence on each
        // side); one that saw it false takes the lock below.
        self.running.store(false, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut st = lock(&self.state);
        let exit = !st.keep && !self.host.busy();
        st.keep = false;
        if exit {
            st.phase = Phase::Exiting;
            st.exits += 1;
        } else {
            st.phase = Phase::Running;
            self.running.store(true, Ordering::SeqCst);
        }
        self.changed.notify_all();
        exit
    }

    /// Whether a thread runs and no stop is under way.
    #[cfg(all(test, loom))]
    pub(crate) fn is_running(&self) -> bool {
        lock(&self.state).phase == Phase::Running
    }

    /// The thread could not start polling at all: it ends at once.
    pub(crate) fn thread_failed(&self) {
        self.running.store(false, Ordering::SeqCst);
        let mut st = lock(&self.state);
        st.phase = Phase::Exiting;
        st.exits += 1;
        self.changed.notify_all();
    }
}

/// The process's I/O thread.
struct IoThread;

impl Host for IoThread {
    type Thread = std::thread::JoinHandle<()>;

    fn spawn(&self) -> Option<Self::Thread> {
        std::thread::Builder::new().name("ponynet-io".into()).spawn(io_thread).ok()
    }

    fn join(&self, thread: Self::Thread) {
        let _ = thread.join();
        if let Ok(reactor) = reactor::get() {
            reactor.free_retired_if_idle();
        }
    }

    fn wake(&self) {
        if let Ok(reactor) = reactor::get() {
            reactor.force_wake();
        }
        signal_handover();
    }

    fn noisy(&self) -> bool {
        noisy::count() > 0
    }

    fn busy(&self) -> bool {
        noisy::count() > 0 || reactor::get().is_ok_and(|r| r.has_pending())
    }
}

static LIFECYCLE: Lazy<Lifecycle<IoThread>> = Lazy::new(|| Lifecycle::new(IoThread));

/// Executors whose workers take the poller themselves (see `actor`): while
/// any is active, the I/O thread parks instead of polling, so readiness is
/// seen by the worker that will run the owner.
static EXTERNAL_DRIVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static HANDOVER: std::sync::Mutex<()> = std::sync::Mutex::new(());
static HANDOVER_CHANGED: std::sync::Condvar = std::sync::Condvar::new();

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
    while EXTERNAL_DRIVERS.load(Ordering::SeqCst) > 0 && !LIFECYCLE.stop_pending() {
        parked = true;
        guard = HANDOVER_CHANGED.wait(guard).unwrap_or_else(|p| p.into_inner());
    }
    parked
}

/// Starts the I/O thread unless one runs. Cheap when it runs (one load).
pub fn ensure_running() {
    LIFECYCLE.ensure_running();
}

/// Stops and joins the I/O thread if nothing noisy is subscribed. Every
/// notification already due is delivered first. False, with nothing
/// stopped, while anything noisy is subscribed or queued, or when called
/// from the thread that holds the poller (it cannot join itself).
pub fn stop() -> bool {
    if reactor::on_poller_thread() {
        return false;
    }
    LIFECYCLE.stop()
}

fn io_thread() {
    let Ok(reactor) = reactor::get() else {
        LIFECYCLE.thread_failed();
        return;
    };
    host::delivery::io_thread_started();
    loop {
        if park_while_driven() {
            continue;
        }
        // A stop request that came while we were parked found its wake-up
        // consumed by an executor worker: do not block then.
        let timeout = LIFECYCLE.stop_pending().then_some(Duration::ZERO);
        let _ = reactor.turn(timeout);
        if !LIFECYCLE.take_stop_request() {
            continue;
        }
        // Deliver what is due, then decide.
        let _ = reactor.turn(Some(Duration::ZERO));
        if LIFECYCLE.thread_decides() {
            break;
        }
    }
    host::delivery::io_thread_ended();
}
