//! One actor: its state, mailbox, event owner and scheduling state.

use super::event_owner::EventOwner;
use super::schedule::Schedule;
use super::runtime::{RuntimeHandle, Shared, Task};
use super::{Actor, BATCH};
use crate::asio::event::ASIO_DISPOSABLE;
use crate::ffi::types::Owner;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

type Behaviour<A> = Box<dyn FnOnce(&mut A, &Context<A>) + Send>;


pub(crate) struct Cell<A: Actor> {
    owner: EventOwner,
    /// Touched only by `run`, and only one worker runs a cell at a time
    /// (`sched`): no lock.
    state: UnsafeCell<A>,
    mailbox: Mutex<VecDeque<Behaviour<A>>>,
    /// The mailbox's length, written under its lock: a run with no mail
    /// takes no lock.
    mail: AtomicUsize,
    /// `Actor::started` ran (for actors with `STARTS`).
    started: AtomicBool,
    sched: Schedule,
    shared: Arc<Shared>,
    /// Events created with this actor as owner and not yet disposed: while
    /// any lives, the actor keeps itself alive (the library points at it).
    live_events: AtomicUsize,
    keep_alive: Mutex<Option<Arc<Cell<A>>>>,
}

// SAFETY: `state` is reached only from `run`, which the scheduling state
// machine makes exclusive: a cell is queued only on its IDLE -> SCHEDULED
// transition or by the worker finishing its run, so no two workers run it
// at once, and the queue hand-off (a mutex, or the same thread) orders one
// run's accesses before the next's. Everything else is Sync already.
unsafe impl<A: Actor> Sync for Cell<A> {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A handle to an actor: send it behaviours. Cheap to clone.
pub struct ActorRef<A: Actor> {
    cell: Arc<Cell<A>>,
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        ActorRef { cell: Arc::clone(&self.cell) }
    }
}

impl<A: Actor> ActorRef<A> {
    /// Queues a behaviour; it runs on a worker, after the ones sent before it.
    pub fn send(&self, behaviour: impl FnOnce(&mut A, &Context<A>) + Send + 'static) {
        {
            let mut mailbox = lock(&self.cell.mailbox);
            mailbox.push_back(Box::new(behaviour));
            self.cell.mail.store(mailbox.len(), Ordering::Release);
        }
        self.cell.schedule();
    }

    /// The runtime this actor runs on.
    pub fn runtime(&self) -> RuntimeHandle {
        RuntimeHandle { shared: Arc::clone(&self.cell.shared) }
    }

    /// Whether two handles name the same actor.
    pub fn same(&self, other: &ActorRef<A>) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }
}

/// What a running behaviour knows about its actor.
pub struct Context<A: Actor> {
    cell: Arc<Cell<A>>,
}

impl<A: Actor> Context<A> {
    /// A handle to this actor (for self-messages, or to give to others).
    pub fn this(&self) -> ActorRef<A> {
        ActorRef { cell: Arc::clone(&self.cell) }
    }

    /// Starts another actor on this actor's runtime (as a Pony actor may
    /// create actors): a listener spawns one per accepted connection.
    pub fn spawn<B: Actor>(&self, state: B) -> ActorRef<B> {
        Cell::spawn(Arc::clone(&self.cell.shared), state)
    }

    /// The runtime this actor runs on (to start actors later, from anywhere).
    pub fn runtime(&self) -> RuntimeHandle {
        RuntimeHandle { shared: Arc::clone(&self.cell.shared) }
    }

    /// The ABI owner of this actor's events: pass it to
    /// `pony_asio_event_create`, `pony_os_listen_*`, `pony_os_connect_*`, then
    /// call [`Context::events_created`] with how many events that made.
    pub fn owner(&self) -> *mut Owner {
        self.cell.owner.as_owner()
    }

    /// Records `n` new events owned by this actor: it stays alive until each
    /// has delivered its final `ASIO_DISPOSABLE`.
    pub fn events_created(&self, n: usize) {
        if n == 0 {
            return;
        }
        if self.cell.live_events.fetch_add(n, Ordering::AcqRel) == 0 {
            *lock(&self.cell.keep_alive) = Some(Arc::clone(&self.cell));
        }
    }

    fn event_disposed(&self) {
        if self.cell.live_events.fetch_sub(1, Ordering::AcqRel) == 1 {
            lock(&self.cell.keep_alive).take();
        }
    }
}

impl<A: Actor> Cell<A> {
    pub(crate) fn spawn(shared: Arc<Shared>, state: A) -> ActorRef<A> {
        let cell = Arc::new(Cell {
            owner: EventOwner::new(std::ptr::null(), retain_raw::<A>, schedule_raw::<A>),
            state: UnsafeCell::new(state),
            mailbox: Mutex::new(VecDeque::new()),
            mail: AtomicUsize::new(0),
            started: AtomicBool::new(false),
            sched: Schedule::new(),
            shared,
            live_events: AtomicUsize::new(0),
            keep_alive: Mutex::new(None),
        });
        cell.owner.set_target(Arc::as_ptr(&cell).cast());
        if A::STARTS {
            cell.schedule();
        }
        ActorRef { cell }
    }

    /// Makes the actor runnable (from any thread, and from a notification).
    fn schedule(self: &Arc<Self>) {
        if self.sched.mark() {
            self.shared.became_active();
            self.shared.push(Arc::clone(self) as Arc<dyn Task>);
        }
    }

    fn has_work(&self) -> bool {
        self.mail.load(Ordering::Acquire) > 0 || self.owner.has_pending()
    }

    fn next_behaviour(&self) -> Option<Behaviour<A>> {
        if self.mail.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut mailbox = lock(&self.mailbox);
        let behaviour = mailbox.pop_front();
        self.mail.store(mailbox.len(), Ordering::Release);
        behaviour
    }
}

/// `EventOwner`'s hold on the actor for its final notification, taken
/// before it is recorded: once recorded, the worker running the actor may
/// drain it and let the actor go.
///
/// # Safety
/// `target` is the address of a live `Cell<A>` inside an `Arc`.
unsafe fn retain_raw<A: Actor>(target: *const ()) {
    // SAFETY: the caller's contract: a live cell.
    unsafe { Arc::increment_strong_count(target.cast::<Cell<A>>()) };
}

/// `EventOwner`'s way back to the actor: queues it if it was idle. With
/// `held`, the reference `retain_raw` took goes to the queue (or is let
/// go); without, one is taken only if the actor is queued.
///
/// # Safety
/// `target` is the address of a live `Cell<A>` inside an `Arc`; with
/// `held`, one strong reference to it is the caller's to give.
unsafe fn schedule_raw<A: Actor>(target: *const (), held: bool) {
    let cell = target.cast::<Cell<A>>();
    // SAFETY: the caller's contract: the reference `retain_raw` took.
    let hold = held.then(|| unsafe { Arc::from_raw(cell) });
    // SAFETY: the caller's contract: a live cell (kept so by `hold`, if any).
    let live = unsafe { &*cell };
    if live.sched.mark() {
        let arc = hold.unwrap_or_else(|| {
            // SAFETY: a live cell; the new strong reference goes to the queue.
            unsafe {
                Arc::increment_strong_count(cell);
                Arc::from_raw(cell)
            }
        });
        live.shared.became_active();
        live.shared.push(arc as Arc<dyn Task>);
    }
    // A hold that did not go to the queue is let go here, after the last use.
}

impl<A: Actor> Task for Cell<A> {
    fn run(self: Arc<Self>) {
        self.sched.begin_run();
        // SAFETY: borrows `self`'s strong reference for this run without
        // touching the count; ManuallyDrop keeps it from being released.
        let ctx = ManuallyDrop::new(Context { cell: unsafe { Arc::from_raw(Arc::as_ptr(&self)) } });
        {
            // SAFETY: this worker runs the cell exclusively (see `Sync`).
            let state = unsafe { &mut *self.state.get() };
            if A::STARTS && !self.started.swap(true, Ordering::Relaxed) {
                guarded(|| state.started(&ctx));
            }
            let mut disposed = 0;
            self.owner.drain(|n| {
                if n.flags == ASIO_DISPOSABLE {
                    disposed += 1;
                }
                guarded(|| state.event(&ctx, n.event, n.flags, n.arg));
            });
            for _ in 0..disposed {
                ctx.event_disposed();
            }
            for _ in 0..BATCH {
                let Some(behaviour) = self.next_behaviour() else { break };
                guarded(|| behaviour(state, &ctx));
            }
        }
        if self.sched.end_run(self.has_work()) {
            let shared = Arc::clone(&self.shared);
            shared.push_fair(self as Arc<dyn Task>);
        } else {
            self.shared.became_idle();
        }
    }
}

/// Runs actor code; a panic is reported and the actor goes on (the worker
/// and the other actors must not die with it).
fn guarded(f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        let _ = std::io::Write::write_all(&mut std::io::stderr(), b"libponynet: an actor behaviour panicked\n");
    }
}
