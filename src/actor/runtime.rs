//! The workers and their queues.
//!
//! A worker runs, in this order: its LIFO slot (the actor a notification on
//! this thread just made runnable), then the shared injector queue. With
//! nothing to run it takes the poller and blocks in it; if another worker
//! holds the poller it sleeps until work is pushed.

use super::cell::{ActorRef, Cell, Context};
use super::Actor;
use crate::asio::{reactor, thread};
use crate::host::noisy;
use std::cell::Cell as ThreadCell;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Something a worker can run: an actor with work.
pub(crate) trait Task: Send + Sync {
    fn run(self: Arc<Self>);
}

/// Actor runs between two non-blocking looks at the poller while busy.
const RUNS_PER_POLL: u32 = 32;
/// How long a sleeping worker waits before it tries the poller again.
const SLEEP: Duration = Duration::from_millis(20);
/// How long an idle worker leaves the poller to a busy one before it looks
/// again (it polls itself if that one is still in the same run). Long
/// enough that no ordinary run looks stuck: at 1 ms a bulk transfer's
/// half-millisecond runs had the idle worker take the poller, and the
/// reader and writer then ran on two cores (bulk ~1.3 -> ~1.8 GiB/s at 10).
const DEFER: Duration = Duration::from_millis(10);
/// How many actor runs queued tasks may wait for before a sleeping worker
/// is woken to help. A second core pays off only for a lasting backlog: for
/// short bursts (a few connections in flight) the wake-up, and the cold
/// caches of actors that move between cores, cost more than they save
/// (connrate with 8 chains: 16 runs ~25k/s, 256 runs ~30k/s; many, whose
/// backlog lasts, unchanged). Counted in runs, not time: no clock read.
const SPREAD_AFTER_RUNS: usize = 256;
/// Tasks a worker takes from the injector in one lock, at most.
const TAKE_MAX: usize = 8;

/// One worker's run counter: odd while it runs an actor. Written only by
/// its worker (plain stores, no read-modify-write on the hot path), read by
/// the others to tell whether it is busy and whether it made progress.
#[repr(align(64))]
struct Progress(AtomicUsize);

impl Progress {
    fn bump(&self) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release);
    }
}

pub(crate) struct Shared {
    injector: Mutex<VecDeque<Arc<dyn Task>>>,
    /// The injector's length, written under its lock: a look at an empty
    /// queue takes no lock.
    injected: AtomicUsize,
    /// `runs()` + 1 when the injector last went from empty to not (0:
    /// empty, or a sleeper was woken for this backlog already).
    backlog_since: AtomicUsize,
    work_pushed: Condvar,
    sleepers: AtomicUsize,
    polling: AtomicBool,
    /// Actors scheduled or running.
    active: AtomicUsize,
    /// Per worker: running an actor now, and how many runs so far.
    progress: Box<[Progress]>,
    idle_lock: Mutex<()>,
    idle_changed: Condvar,
    /// Threads in `run_until_idle`: only they need `idle_changed` (a
    /// notify is a futex syscall, which the last actor going idle would
    /// otherwise pay on every turn).
    idle_waiters: AtomicUsize,
    shutdown: AtomicBool,
}

struct Local {
    shared: *const Shared,
    lifo: Option<Arc<dyn Task>>,
    /// Tasks the LIFO slot displaced since the last flush (a poller turn
    /// that makes a thousand actors runnable queues them in one lock).
    displaced: Vec<Arc<dyn Task>>,
    /// Tasks taken from the injector in one lock, run before it is looked
    /// at again.
    taken: VecDeque<Arc<dyn Task>>,
}

impl Local {
    fn new(shared: &Arc<Shared>) -> Local {
        Local { shared: Arc::as_ptr(shared), lifo: None, displaced: Vec::new(), taken: VecDeque::new() }
    }
}

/// Whether a worker other than `me` runs an actor, and a number that
/// changes whenever any of them starts or ends a run.
fn others_progress(shared: &Shared, me: usize) -> (bool, usize) {
    let mut busy = false;
    let mut sum = 0usize;
    for (i, p) in shared.progress.iter().enumerate() {
        if i != me {
            let v = p.0.load(Ordering::Acquire);
            busy |= v % 2 == 1;
            sum = sum.wrapping_add(v);
        }
    }
    (busy, sum)
}

thread_local! {
    /// The worker state of this thread, if it is a worker (null otherwise).
    /// A plain pointer: a thread-local without a destructor is one load.
    static LOCAL: ThreadCell<*mut Local> = const { ThreadCell::new(std::ptr::null_mut()) };
}

/// Runs `f` on this thread's worker state if this thread is a worker of
/// `shared`.
fn with_local<R>(shared: &Shared, f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    let local = LOCAL.with(ThreadCell::get);
    // SAFETY: the pointer is set by `worker` to its own boxed state and
    // cleared before that box is dropped, so it is live; and it is only
    // ever dereferenced here, for the length of `f`, which never reaches
    // back into the executor — no two references to it exist at once.
    let local = unsafe { local.as_mut() }?;
    std::ptr::eq(local.shared, shared).then(|| f(local))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Queues a task made runnable now: on one of our workers it goes to the
    /// LIFO slot and runs next on this thread (no thread hop); the task it
    /// displaces goes to the injector when the worker flushes (after the
    /// run or poller turn that made it runnable).
    ///
    /// Batching hides the displaced tasks until then: only while every
    /// other worker is busy too. With one asleep, they go to the injector
    /// at once, where it finds them (should this worker's run be long).
    pub(crate) fn push(&self, task: Arc<dyn Task>) {
        let mut task = Some(task);
        let others_asleep = self.sleepers.load(Ordering::Relaxed) > 0;
        let mut displaced = None;
        with_local(self, |local| {
            if let Some(old) = local.lifo.replace(task.take().expect("task")) {
                if others_asleep {
                    displaced = Some(old);
                } else {
                    local.displaced.push(old);
                }
            }
        });
        if let Some(task) = task.or(displaced) {
            self.push_fair(task);
        }
    }

    /// Moves this worker's displaced tasks to the injector, in one lock.
    fn flush_displaced(&self) {
        let flushed = with_local(self, |local| {
            if local.displaced.is_empty() {
                return false;
            }
            let mut q = lock(&self.injector);
            if q.is_empty() {
                self.backlog_since.store(self.runs() + 1, Ordering::Relaxed);
            }
            q.extend(local.displaced.drain(..));
            self.injected.store(q.len(), Ordering::SeqCst);
            true
        });
        if flushed == Some(true) {
            // As `push_fair` from one of our workers: no sleeper is woken
            // for it until it goes stale.
            self.wake_one(true);
        }
    }

    /// Queues a task behind the others (an actor that used its batch).
    pub(crate) fn push_fair(&self, task: Arc<dyn Task>) {
        {
            let mut q = lock(&self.injector);
            if q.is_empty() {
                self.backlog_since.store(self.runs() + 1, Ordering::Relaxed);
            }
            q.push_back(task);
            // Sequentially consistent with the polling worker's `polling`
            // store and its look at this length (see `worker`).
            self.injected.store(q.len(), Ordering::SeqCst);
        }
        // Queued by one of our workers: that worker takes it as soon as it
        // is done, so no sleeper is woken for it — a futex wake, and a
        // thread hop for what is most often the next step of a sequential
        // chain. Only a backlog that outlives `SPREAD_AFTER_RUNS` wakes one
        // (`spread_if_stale`).
        self.wake_one(self.on_own_worker());
    }

    /// Actor runs started so far, by all workers.
    fn runs(&self) -> usize {
        self.progress.iter().map(|p| p.0.load(Ordering::Relaxed).div_ceil(2)).fold(0, usize::wrapping_add)
    }

    /// Wakes a sleeping worker if queued tasks have waited `SPREAD_AFTER_RUNS`
    /// for the busy ones: from then on the work is worth a second core.
    fn spread_if_stale(&self) {
        if self.injected.load(Ordering::Relaxed) == 0 || self.sleepers.load(Ordering::Relaxed) == 0 {
            return;
        }
        let since = self.backlog_since.load(Ordering::Relaxed);
        if since != 0 && self.runs().wrapping_sub(since - 1) >= SPREAD_AFTER_RUNS {
            // Once per backlog: the woken worker drains it.
            self.backlog_since.store(0, Ordering::Relaxed);
            self.wake_one(false);
        }
    }

    fn on_own_worker(&self) -> bool {
        with_local(self, |_| ()).is_some()
    }

    /// Wakes a sleeping worker (unless `lazy`), else the polling one.
    fn wake_one(&self, lazy: bool) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            if !lazy {
                let _guard = lock(&self.injector);
                self.work_pushed.notify_one();
            }
        } else if self.polling.load(Ordering::SeqCst) {
            if let Ok(r) = reactor::get() {
                r.force_wake();
            }
        }
    }

    pub(crate) fn became_active(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn became_idle(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 && self.idle_waiters.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.idle_lock);
            self.idle_changed.notify_all();
        }
    }

    /// The LIFO slot, else a task taken earlier, else the injector's
    /// front: up to `TAKE_MAX` at once, half of what is queued at most (the
    /// rest is left to the other workers).
    fn next_task(&self) -> Option<Arc<dyn Task>> {
        with_local(self, |local| {
            if let Some(task) = local.lifo.take().or_else(|| local.taken.pop_front()) {
                return Some(task);
            }
            if self.injected.load(Ordering::Acquire) == 0 {
                return None;
            }
            let mut q = lock(&self.injector);
            let first = q.pop_front();
            // More only while every other worker is busy: what this one
            // holds, the others cannot take (should this run be long).
            let take = if self.sleepers.load(Ordering::Relaxed) > 0 { 1 } else { TAKE_MAX };
            let more = (q.len() / 2).min(take - 1);
            local.taken.extend(q.drain(..more));
            self.injected.store(q.len(), Ordering::SeqCst);
            if q.is_empty() {
                self.backlog_since.store(0, Ordering::Relaxed);
            }
            first
        })
        .flatten()
    }

    /// No actor scheduled or running, nothing noisy, nothing queued. Work
    /// moves between these (a run queues a final notification, a delivery
    /// schedules an actor, a run creates a noisy event), each time setting
    /// the next before clearing the last; read in this order, with the
    /// queue's push count around them, no move can slip between the looks.
    fn is_idle(&self) -> bool {
        let Ok(r) = reactor::get() else { return self.active.load(Ordering::SeqCst) == 0 && noisy::count() == 0 };
        let pushes = r.push_count();
        !r.has_pending()
            && self.active.load(Ordering::SeqCst) == 0
            && noisy::count() == 0
            && r.push_count() == pushes
    }
}

/// Clears this thread's worker-state pointer when dropped: before the
/// state it points to, however the worker ends (even unwinding, when
/// dropped actors may still send).
struct LocalRegistration;

impl Drop for LocalRegistration {
    fn drop(&mut self) {
        LOCAL.with(|l| l.set(std::ptr::null_mut()));
    }
}

fn worker(shared: Arc<Shared>, me: usize) {
    let Ok(reactor) = reactor::get() else { return };
    let mut local = Box::new(Local::new(&shared));
    LOCAL.with(|l| l.set(&mut *local));
    let registration = LocalRegistration;
    let progress = &shared.progress[me];
    let mut runs: u32 = 0;
    // The others' progress when this worker last deferred to a busy one.
    let mut deferred_at: Option<usize> = None;
    while !shared.shutdown.load(Ordering::Relaxed) {
        if let Some(task) = shared.next_task() {
            progress.bump();
            task.run();
            progress.bump();
            shared.flush_displaced();
            shared.spread_if_stale();
            runs = runs.wrapping_add(1);
            if runs % RUNS_PER_POLL == 0 {
                let _ = reactor.try_turn(Some(Duration::ZERO));
                shared.flush_displaced();
            }
            continue;
        }
        // Idle while another worker runs an actor: leave the poller to it.
        // It polls as soon as it is done, so the readiness its actor causes
        // (the peer's reply) is picked up on its own thread; were we to
        // block in the poller now, every reply would hop between the two
        // threads. Unless that worker has been stuck in one run since we
        // last looked: then poll, so nothing waits on it.
        let (busy, seen) = others_progress(&shared, me);
        if busy && deferred_at != Some(seen) {
            deferred_at = Some(seen);
            sleep(&shared, DEFER);
            continue;
        }
        deferred_at = None;
        // Idle: whoever parks, polls. A task pushed before `polling` was
        // set shows in `injected`; one pushed after sees `polling` and
        // wakes the poller.
        shared.polling.store(true, Ordering::SeqCst);
        let polled = if shared.injected.load(Ordering::SeqCst) == 0 && !shared.shutdown.load(Ordering::SeqCst) {
            reactor.try_turn(None).is_some()
        } else {
            true
        };
        shared.polling.store(false, Ordering::SeqCst);
        shared.flush_displaced();
        if polled {
            continue;
        }
        // Another thread polls: sleep until work is pushed.
        sleep(&shared, SLEEP);
    }
    drop(registration);
    let local = *local;
    let mut q = lock(&shared.injector);
    q.extend(local.lifo.into_iter().chain(local.displaced).chain(local.taken));
    shared.injected.store(q.len(), Ordering::SeqCst);
}

/// Something that starts actors on a runtime: the [`Runtime`], a
/// [`RuntimeHandle`], or a running actor's [`Context`]. The net API's
/// constructors (`TcpConnection::connect`, `TcpListener::listen`...) take any.
pub trait Spawn {
    /// Starts an actor with `state`.
    fn spawn<A: Actor>(&self, state: A) -> ActorRef<A>;
}

/// A handle to a [`Runtime`]: starts actors on it. Cheap to clone, `Send`;
/// it does not keep the workers alive (actors started after the runtime
/// was dropped never run).
#[derive(Clone)]
pub struct RuntimeHandle {
    pub(crate) shared: Arc<Shared>,
}

impl RuntimeHandle {
    /// Starts an actor with `state`.
    pub fn spawn<A: Actor>(&self, state: A) -> ActorRef<A> {
        Cell::spawn(Arc::clone(&self.shared), state)
    }
}

impl Spawn for RuntimeHandle {
    fn spawn<A: Actor>(&self, state: A) -> ActorRef<A> {
        RuntimeHandle::spawn(self, state)
    }
}

impl Spawn for Runtime {
    fn spawn<A: Actor>(&self, state: A) -> ActorRef<A> {
        Runtime::spawn(self, state)
    }
}

impl<B: Actor> Spawn for Context<B> {
    fn spawn<A: Actor>(&self, state: A) -> ActorRef<A> {
        Context::spawn(self, state)
    }
}

/// Sleeps until work is pushed (or `limit` passed), unless some is queued.
fn sleep(shared: &Shared, limit: Duration) {
    let guard = lock(&shared.injector);
    if guard.is_empty() && !shared.shutdown.load(Ordering::SeqCst) {
        shared.sleepers.fetch_add(1, Ordering::SeqCst);
        let _ = shared.work_pushed.wait_timeout(guard, limit);
        shared.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The executor: a fixed pool of workers running actors.
pub struct Runtime {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// A runtime with `workers` worker threads (at least one).
    pub fn new(workers: usize) -> io::Result<Runtime> {
        reactor::get()?;
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            injector: Mutex::new(VecDeque::new()),
            injected: AtomicUsize::new(0),
            backlog_since: AtomicUsize::new(0),
            work_pushed: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            polling: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            progress: (0..workers).map(|_| Progress(AtomicUsize::new(0))).collect(),
            idle_lock: Mutex::new(()),
            idle_changed: Condvar::new(),
            idle_waiters: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
        });
        thread::external_driver_started();
        let mut runtime = Runtime { shared, workers: Vec::new() };
        for i in 0..workers {
            let shared = Arc::clone(&runtime.shared);
            let handle = std::thread::Builder::new().name(format!("ponynet-worker-{i}")).spawn(move || worker(shared, i))?;
            runtime.workers.push(handle);
        }
        Ok(runtime)
    }

    /// A runtime with one worker per core.
    pub fn with_default_workers() -> io::Result<Runtime> {
        Runtime::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Starts an actor with `state`.
    pub fn spawn<A: Actor>(&self, state: A) -> ActorRef<A> {
        Cell::spawn(Arc::clone(&self.shared), state)
    }

    /// A cheap, cloneable handle that starts actors on this runtime, from
    /// any thread (e.g. from inside a notification, to open the next
    /// connection without a hop through another thread).
    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle { shared: Arc::clone(&self.shared) }
    }

    /// Blocks until no actor has work, nothing noisy is subscribed and no
    /// notification is queued: the point at which a Pony program exits.
    pub fn run_until_idle(&self) {
        while !self.run_until_idle_for(Duration::from_secs(3600)) {}
    }

    /// As [`Runtime::run_until_idle`], for at most `limit`; true if idle.
    pub fn run_until_idle_for(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut guard = lock(&self.shared.idle_lock);
        // Counted before the first look (both sequentially consistent): an
        // actor going idle after that look sees the count and notifies.
        self.shared.idle_waiters.fetch_add(1, Ordering::SeqCst);
        let idle = loop {
            if self.shared.is_idle() {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            // Noisy and queue changes are not signalled: look again soon.
            let wait = (deadline - now).min(Duration::from_millis(5));
            guard = self.shared.idle_changed.wait_timeout(guard, wait).unwrap_or_else(|p| p.into_inner()).0;
        };
        self.shared.idle_waiters.fetch_sub(1, Ordering::SeqCst);
        idle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _guard = lock(&self.shared.injector);
            self.shared.work_pushed.notify_all();
        }
        if let Ok(r) = reactor::get() {
            r.force_wake();
        }
        for handle in self.workers.drain(..) {
            // A worker may sit in the poller: keep waking until it left.
            while !handle.is_finished() {
                if let Ok(r) = reactor::get() {
                    r.force_wake();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = handle.join();
        }
        thread::external_driver_stopped();
    }
}
