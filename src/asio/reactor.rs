//! The reactor: one `mio::Poll`, the queue of notifications that do not come
//! from the OS (final `ASIO_DISPOSABLE`, `ASIO_ERROR`, `pony_asio_event_send`),
//! and the dispatch of readiness to owners.
//!
//! Exactly one thread at a time holds the poller (`turn`), and only that
//! thread delivers notifications: this is what keeps one event's
//! notifications in order and never concurrent, with no per-event lock on
//! the delivery path.

use super::event::{Event, ASIO_DISPOSABLE, ASIO_ONESHOT, ASIO_READ, ASIO_SIGNAL, ASIO_TIMER, ASIO_WRITE};
use super::registry;
use super::slots;
use super::wake::WakeHandshake;
use crate::host::delivery;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use once_cell::sync::OnceCell;
use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const WAKE_TOKEN: Token = Token(usize::MAX);
const EVENTS_PER_TURN: usize = 1024;

/// A notification waiting in the queue.
pub struct Pending {
    event: NonNull<Event>,
    flags: u32,
    arg: u32,
    is_final: bool,
}

// SAFETY: the event pointer stays valid until this pending item is delivered
// (the record is freed only after its final notification, which is queued
// after every other item for it).
unsafe impl Send for Pending {}

impl Pending {
    /// An ordinary notification for `ev`.
    pub fn notify(ev: &Event, flags: u32, arg: u32) -> Self {
        Pending { event: NonNull::from(ev), flags, arg, is_final: false }
    }
}

struct PollState {
    poll: Poll,
    events: Events,
    batch: Vec<Pending>,
}

/// The process's single poller.
pub struct Reactor {
    poller: crate::sync::Mutex<PollState>,
    registry: mio::Registry,
    waker: Waker,
    queue: Mutex<Vec<Pending>>,
    /// Whether `queue` is non-empty, readable without its lock.
    /// A turn took queued items and has not delivered them all yet.
    delivering: AtomicBool,
    /// Items queued so far (changes with every push: see `push_count`).
    pushes: AtomicUsize,
    /// Queued items against the poll that may block (`wake.rs`): the
    /// waker is written only while one is under way.
    handshake: WakeHandshake,
    /// Events destroyed off the poller after their final notification.
    retired: Retirement<Retired>,
}

/// An event waiting for the poller to free it.
pub(crate) struct Retired(NonNull<Event>);

// SAFETY: a retired event is reached by nobody but the thread that frees it.
unsafe impl Send for Retired {}

/// Frees what the poller may still name at the first moment no turn can:
/// at once if the caller holds the poller or can take its lock, else at
/// the end of the turn in progress (a stale token in its batch may name the
/// item until then).
pub(crate) struct Retirement<T> {
    list: crate::sync::Mutex<Vec<T>>,
    /// Whether `list` is non-empty, readable without its lock.
    pending: crate::sync::AtomicBool,
}

impl<T> Retirement<T> {
    pub(crate) fn new() -> Self {
        Retirement { list: crate::sync::Mutex::new(Vec::new()), pending: crate::sync::AtomicBool::new(false) }
    }

    /// Frees `item` with `free` now if `on_poller` or `poller` can be
    /// locked; else queues it for [`Retirement::collect`].
    pub(crate) fn retire<P>(&self, item: T, on_poller: bool, poller: &crate::sync::Mutex<P>, free: impl FnOnce(T)) {
        if on_poller {
            return free(item);
        }
        if let Ok(_poller) = poller.try_lock() {
            return free(item);
        }
        crate::sync::lock(&self.list).push(item);
        self.pending.store(true, Ordering::Release);
    }

    /// Frees what was queued. The caller holds the poller.
    pub(crate) fn collect(&self, free: impl FnMut(T)) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let items = {
            let mut list = crate::sync::lock(&self.list);
            self.pending.store(false, Ordering::Release);
            std::mem::take(&mut *list)
        };
        items.into_iter().for_each(free);
    }

    /// Whether anything waits to be freed.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }
}

static REACTOR: OnceCell<Reactor> = OnceCell::new();

thread_local! {
    static POLLING: Cell<bool> = const { Cell::new(false) };
}

/// The reactor, created on first use (epoll fd and waker, both close-on-exec).
pub fn get() -> io::Result<&'static Reactor> {
    REACTOR.get_or_try_init(Reactor::new)
}

/// Whether the calling thread is the one that holds the poller right now.
pub fn on_poller_thread() -> bool {
    POLLING.with(Cell::get)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Reactor {
    fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(Reactor {
            poller: crate::sync::Mutex::new(PollState {
                poll,
                events: Events::with_capacity(EVENTS_PER_TURN),
                batch: Vec::new(),
            }),
            registry,
            waker,
            queue: Mutex::new(Vec::new()),
            delivering: AtomicBool::new(false),
            pushes: AtomicUsize::new(0),
            handshake: WakeHandshake::new(),
            retired: Retirement::new(),
        })
    }

    /// EPOLL_CTL_ADD, edge-triggered.
    pub(crate) fn register(&self, fd: i32, token: slots::Token, interest: Interest) -> io::Result<()> {
        self.registry.register(&mut SourceFd(&fd), Token(token.0), interest)
    }

    /// EPOLL_CTL_MOD: also reports the fd again if it is ready now.
    pub(crate) fn reregister(&self, fd: i32, token: slots::Token, interest: Interest) -> io::Result<()> {
        self.registry.reregister(&mut SourceFd(&fd), Token(token.0), interest)
    }

    /// EPOLL_CTL_DEL.
    pub fn deregister(&self, fd: i32) -> io::Result<()> {
        self.registry.deregister(&mut SourceFd(&fd))
    }

    /// Queues a notification unless the event is disposable already.
    pub fn push(&self, item: Pending) {
        {
            let mut q = lock(&self.queue);
            // SAFETY: the caller holds a live event.
            if unsafe { item.event.as_ref() }.is_disposable() {
                return;
            }
            q.push(item);
            self.handshake.set_queued();
            self.pushes.store(self.pushes.load(Ordering::Relaxed).wrapping_add(1), Ordering::SeqCst);
        }
        self.wake();
    }

    /// Queues the final notification of an event that is disposable
    /// already (`push` refuses it everything else from then on, under the
    /// same lock: nothing is queued behind it). The caller must not touch
    /// the event after this: once the lock is released the poller may
    /// deliver it and the owner free the event.
    pub(crate) fn push_final(&self, event: NonNull<Event>) {
        {
            let mut q = lock(&self.queue);
            q.push(Pending { event, flags: ASIO_DISPOSABLE, arg: 0, is_final: true });
            self.handshake.set_queued();
            self.pushes.store(self.pushes.load(Ordering::Relaxed).wrapping_add(1), Ordering::SeqCst);
        }
        self.wake();
    }

    /// A number that changes whenever a notification is queued (written
    /// under the queue lock): an idle check that reads it before and after
    /// its other looks knows nothing was queued in between.
    pub fn push_count(&self) -> usize {
        self.pushes.load(Ordering::SeqCst)
    }

    /// Whether notifications are queued or being delivered: until the last
    /// one has reached its owner (and scheduled it), the program is not
    /// idle.
    pub fn has_pending(&self) -> bool {
        self.handshake.is_queued() || self.delivering.load(Ordering::SeqCst)
    }

    /// Wakes the thread that polls, unless it is us or it was woken already.
    fn wake(&self) {
        if !on_poller_thread() && self.handshake.needs_wake() {
            let _ = self.waker.wake();
        }
    }

    /// Wakes the polling thread unconditionally (stop requests).
    pub fn force_wake(&self) {
        let _ = self.waker.wake();
    }

    /// One turn: wait for readiness (at most `timeout`), deliver it, then
    /// deliver the queue. Only one thread turns at a time; this one waits
    /// for the poller if another thread holds it.
    pub fn turn(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.turn_locked(&mut crate::sync::lock(&self.poller), timeout)
    }

    /// A turn if the poller is free; `None` if another thread holds it.
    /// Executor workers use this: an idle worker takes the poller and blocks
    /// in it, so readiness and the owner's code meet on one thread.
    pub fn try_turn(&self, timeout: Option<Duration>) -> Option<io::Result<()>> {
        let mut guard = match self.poller.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(self.turn_locked(&mut guard, timeout))
    }

    fn turn_locked(&self, state: &mut PollState, timeout: Option<Duration>) -> io::Result<()> {
        POLLING.with(|p| p.set(true));
        // Only a poll that may block announces itself (`in_poll`): senders
        // write the waker only then. With work queued, or a zero timeout,
        // it does not block.
        let may_block = timeout != Some(Duration::ZERO) && !self.handshake.is_queued();
        let timeout = if may_block {
            if self.handshake.enter_poll() { timeout } else { Some(Duration::ZERO) }
        } else {
            Some(Duration::ZERO)
        };
        let result = match state.poll.poll(&mut state.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            other => other,
        };
        if may_block {
            self.handshake.leave_poll();
        }
        for e in state.events.iter() {
            if e.token() != WAKE_TOKEN {
                dispatch(e);
            }
        }
        self.drain(&mut state.batch);
        self.free_retired();
        POLLING.with(|p| p.set(false));
        result
    }

    /// Frees an event whose two life conditions hold (see `Event::destroy`)
    /// at the first moment no turn can name it: now, if this thread holds
    /// the poller or can take it; else when the turn in progress ends.
    pub(crate) fn retire(&self, event: NonNull<Event>) {
        // SAFETY (of the free): both life bits are set, and the poller is
        // excluded: this thread is it, or holds its lock.
        self.retired.retire(Retired(event), on_poller_thread(), &self.poller, |r| unsafe { Event::release(r.0) });
    }

    /// Frees the retired events. Called by the thread that holds the poller,
    /// at the end of its turn.
    fn free_retired(&self) {
        // SAFETY: retired events had both life bits set, and the poller is
        // this thread.
        self.retired.collect(|r| unsafe { Event::release(r.0) });
    }

    /// Frees what was retired while no thread polls (after the I/O thread
    /// stopped): nothing else would.
    pub(crate) fn free_retired_if_idle(&self) {
        if self.retired.is_pending() {
            if let Ok(_poller) = self.poller.try_lock() {
                self.free_retired();
            }
        }
    }


    /// Delivers what is queued now; items queued meanwhile wait for the next
    /// turn (which then does not block), so a self-sending owner cannot
    /// starve the poller.
    fn drain(&self, batch: &mut Vec<Pending>) {
        self.handshake.turn_done();
        if !self.handshake.is_queued() {
            // The common turn: readiness only, no lock taken.
            return;
        }
        {
            let mut q = lock(&self.queue);
            std::mem::swap(&mut *q, batch);
            // Set before `queued` clears: a look at `has_pending` never
            // finds both false while items are in hand.
            self.delivering.store(true, Ordering::SeqCst);
            self.handshake.clear_queued();
        }
        for item in batch.drain(..) {
            // SAFETY: see `Pending`: the record outlives its queued items.
            let ev = unsafe { item.event.as_ref() };
            delivery::deliver(ev, item.flags, item.arg);
            if item.is_final {
                Event::final_delivered(item.event);
            }
        }
        self.delivering.store(false, Ordering::SeqCst);
    }
}

/// Turns one epoll report into at most one notification, as the Pony
/// runtime does: READ on readable, hung up or error; WRITE on writable (and
/// on error or hang-up, so that a failed connect is reported); a ONESHOT
/// event is told only when its flag was false, and the flag is set first.
fn dispatch(e: &mio::event::Event) {
    // A token names an event only while the event's slot holds it; a
    // stale one (a registration the kernel kept after its event was
    // freed) names nothing.
    let Some(ev) = registry::event_for(slots::Token(e.token().0)) else { return };
    // SAFETY: a matched slot's event is freed only by a thread that
    // excludes the poller, which this thread holds until its turn ends.
    let ev = unsafe { &*ev };
    let flags = ev.flags();
    if flags == ASIO_DISPOSABLE {
        return;
    }
    let oneshot = flags & ASIO_ONESHOT != 0;
    let mut out = 0;
    let mut arg = 0;

    // EPOLLIN, EPOLLHUP/EPOLLRDHUP (peer closed) and EPOLLERR all mean "a read
    // will not block": it returns data, 0 (EOF) or the pending error.
    let read_ready = e.is_readable() || e.is_read_closed() || e.is_error() || e.is_priority();
    if flags & ASIO_READ != 0 && (e.is_read_closed() || e.is_error() || e.is_priority()) {
        ev.note_read_unsure();
    }
    if flags & ASIO_READ != 0 && read_ready && ev.take_read_edge(oneshot) {
        out |= ASIO_READ;
    }
    // EPOLLOUT, or EPOLLERR/EPOLLHUP: a connect that failed is "done" too.
    let write_ready = e.is_writable() || e.is_error() || e.is_write_closed();
    if flags & ASIO_WRITE != 0 && write_ready && (!ev.mark_writeable() || !oneshot) {
        out |= ASIO_WRITE;
    }
    if flags & (ASIO_TIMER | ASIO_SIGNAL) != 0 && read_ready {
        let count = ev.take_owned_count();
        if count > 0 {
            out |= flags & (ASIO_TIMER | ASIO_SIGNAL);
            if flags & ASIO_SIGNAL != 0 {
                arg = u32::try_from(count).unwrap_or(u32::MAX);
            }
        }
    }
    if out != 0 {
        delivery::deliver(ev, out, arg);
    }
}
