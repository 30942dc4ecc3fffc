//! The event record: one subscription of one owner to one fd, timer or
//! signal, and its life cycle (ABI.md §2).
//!
//! Life cycle: `create` (subscribes) → any number of notifications →
//! `unsubscribe` (flags become `ASIO_DISPOSABLE`, one final notification is
//! queued) → the final notification is delivered and `destroy` is called, in
//! either order; whichever comes second frees the record.

use super::reactor::{self, Pending, Reactor};
use super::slots::Token;
use super::{registry, signal, thread};
use crate::ffi::types::Owner;
use crate::host::delivery::{self, OwnerTag};
use crate::host::noisy;
use crate::os;
use std::io;
use std::io::Write;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The event is unsubscribed; also the flags of the final notification.
pub const ASIO_DISPOSABLE: u32 = 0;
/// Interest in (and notification of) readability.
pub const ASIO_READ: u32 = 1;
/// Interest in (and notification of) writeability.
pub const ASIO_WRITE: u32 = 2;
/// A timer event: the library owns a timer fd that fires once after `nsec`.
pub const ASIO_TIMER: u32 = 4;
/// A signal event: `nsec` is the signal number.
pub const ASIO_SIGNAL: u32 = 8;
/// Delivered only: the OS refused the subscription; `arg` is the errno.
pub const ASIO_ERROR: u32 = 16;
/// READ/WRITE are reported once, then again only after the owner clears
/// the readable/writeable flag and resubscribes.
pub const ASIO_ONESHOT: u32 = 256;
/// Flags value of an event that was destroyed (never valid for create).
pub const ASIO_DESTROYED: u32 = 0xFFFF_FFFF;

/// `read_state`: the readable flag the owner and the poller share.
const READABLE: u8 = 1;
/// An edge came while READABLE was set and was not delivered (ONESHOT): the
/// next re-arm must ask the kernel again.
const READ_MISSED: u8 = 2;
/// The owner's last `pony_os_recv` on this event emptied the socket and no
/// edge was taken since: the edge-triggered registration reports the next
/// data by itself, so a re-arm needs no system call. Emptied: it hit
/// would-block; or, on a TCP socket, it returned less than asked for while
/// the poller had seen no close, error or urgent data (`READ_UNSURE`) — a
/// TCP read stops short with more queued only at urgent data or at a FIN.
/// Other sockets stop short at ancillary data or record boundaries.
const READ_DRAINED: u8 = 4;
/// The poller saw the peer's close, an error or urgent data on this event
/// (sticky): a short read may have left the rest behind while its edge is
/// spent, so only would-block counts as emptying.
const READ_UNSURE: u8 = 8;

/// `stream_kind`: not probed yet, a TCP socket, anything else.
const KIND_UNKNOWN: u8 = 0;
const KIND_TCP: u8 = 1;
const KIND_OTHER: u8 = 2;

const MAGIC_LIVE: usize = 0x706f_6e79_6e65_7431;
const MAGIC_DEAD: usize = 0x6465_6164_6576_656e;

/// Life bits: which of the two conditions for freeing the record hold.
const FINAL_DELIVERED: u8 = 1;
const DESTROY_REQUESTED: u8 = 2;

/// The two conditions for freeing an event — its final notification was
/// delivered, and `destroy` accepted it — set in either order by two
/// threads; whoever sets the second frees it.
pub(crate) struct Life(crate::sync::AtomicU8);

impl Life {
    pub(crate) fn new() -> Life {
        Life(crate::sync::AtomicU8::new(0))
    }

    /// The final notification was delivered; true if the caller frees.
    pub(crate) fn final_delivered(&self) -> bool {
        self.0.fetch_or(FINAL_DELIVERED, Ordering::AcqRel) & DESTROY_REQUESTED != 0
    }

    /// `destroy` accepted the event; true if the caller frees.
    pub(crate) fn destroy_accepted(&self) -> bool {
        self.0.fetch_or(DESTROY_REQUESTED, Ordering::AcqRel) & FINAL_DELIVERED != 0
    }
}

/// One subscription. C sees it as the opaque `pony_asio_event_t`; its
/// address is stable from create until it is freed.
pub struct Event {
    magic: AtomicUsize,
    owner: *mut Owner,
    tag: OwnerTag,
    fd: AtomicI32,
    flags: AtomicU32,
    nsec: AtomicU64,
    read_state: AtomicU8,
    writeable: AtomicBool,
    wants_noisy: bool,
    /// A timer or signal event: the fd is the library's own.
    owns_fd: bool,
    /// Whether the caller's fd is non-blocking: 0 not known yet, 1 yes, 2 no.
    fd_nonblocking: AtomicU8,
    /// Whether the fd is a TCP socket (`KIND_*`), probed at the first short
    /// read.
    stream_kind: AtomicU8,
    life: Life,
    /// An accept on this listener failed for lack of fds: the re-offer
    /// (`reoffer`) re-arms it, not the owner's resubscribe, which would
    /// find the backlog ready at once and spin.
    starved: AtomicBool,
    /// The poller token: set once, before the first registration.
    token: Token,
    subscription: Mutex<Subscription>,
}

// SAFETY: the owner pointer is only passed back to the owner's own callback;
// every other field is atomic or behind a mutex.
unsafe impl Send for Event {}
// SAFETY: as above.
unsafe impl Sync for Event {}

/// Registration state; its lock orders subscribe, unsubscribe, resubscribe,
/// setnsec and the reading of library-owned fds.
#[derive(Default)]
struct Subscription {
    /// `unsubscribe` ran: nothing may register the event again.
    ended: bool,
    registered: bool,
    counted_noisy: bool,
    signal_slot: Option<signal::Slot>,
}

impl Event {
    /// Allocates an event and subscribes it. `None` for the flags
    /// `ASIO_DISPOSABLE`/`ASIO_DESTROYED`, an owner the host cannot notify,
    /// or a poller that cannot be created.
    ///
    /// # Safety
    /// `owner` is NULL or points to an owner that outlives the event.
    pub unsafe fn create(
        owner: *mut Owner,
        fd: i32,
        flags: u32,
        nsec: u64,
        noisy: bool,
    ) -> Option<NonNull<Event>> {
        if flags == ASIO_DISPOSABLE || flags == ASIO_DESTROYED {
            return None;
        }
        // SAFETY: forwarded caller contract.
        let tag = unsafe { delivery::adopt_owner(owner) }?;
        reactor::get().ok()?;
        let owns_fd = flags & (ASIO_TIMER | ASIO_SIGNAL) != 0;
        let mut event = Box::new(Event {
            magic: AtomicUsize::new(0),
            owner,
            tag,
            fd: AtomicI32::new(if owns_fd { -1 } else { fd }),
            flags: AtomicU32::new(flags),
            nsec: AtomicU64::new(nsec),
            read_state: AtomicU8::new(0),
            writeable: AtomicBool::new(false),
            wants_noisy: noisy,
            owns_fd,
            fd_nonblocking: AtomicU8::new(0),
            stream_kind: AtomicU8::new(KIND_UNKNOWN),
            life: Life::new(),
            starved: AtomicBool::new(false),
            token: Token(0),
            subscription: Mutex::new(Subscription::default()),
        });
        let addr: *mut Event = &mut *event;
        let Some(token) = registry::admit(addr) else {
            delivery::release_owner(&event);
            return None;
        };
        event.token = token;
        event.magic.store(addr as usize ^ MAGIC_LIVE, Ordering::Release);
        let ptr = NonNull::from(Box::leak(event));
        // SAFETY: just leaked; valid until freed by `release`.
        unsafe { ptr.as_ref() }.subscribe();
        Some(ptr)
    }

    /// Whether `ptr` carries the live magic word. Only a cheap guard
    /// against stale pointers; `destroy` checks the registry as well.
    pub fn has_live_magic(&self) -> bool {
        self.magic.load(Ordering::Acquire) == (self as *const Event as usize) ^ MAGIC_LIVE
    }

    /// The owner this event notifies.
    pub fn owner(&self) -> *mut Owner {
        self.owner
    }

    /// What the host recorded about the owner at create.
    pub fn owner_tag(&self) -> OwnerTag {
        self.tag
    }

    /// The fd: the caller's, or the library's timer/signal fd (-1 once closed).
    pub fn fd(&self) -> i32 {
        self.fd.load(Ordering::Acquire)
    }

    /// Whether the fd is non-blocking, asked of `probe` the first time only
    /// (a socket's mode does not change under its event in practice, and
    /// this spares a system call per accept).
    pub fn fd_nonblocking(&self, probe: impl FnOnce() -> io::Result<bool>) -> io::Result<bool> {
        match self.fd_nonblocking.load(Ordering::Acquire) {
            1 => Ok(true),
            2 => Ok(false),
            _ => {
                let nb = probe()?;
                self.fd_nonblocking.store(if nb { 1 } else { 2 }, Ordering::Release);
                Ok(nb)
            }
        }
    }

    /// Current flags; `ASIO_DISPOSABLE` after unsubscribe.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    /// Whether the event was unsubscribed.
    pub fn is_disposable(&self) -> bool {
        self.flags() == ASIO_DISPOSABLE
    }

    /// Timer interval (or signal number).
    pub fn nsec(&self) -> u64 {
        self.nsec.load(Ordering::Acquire)
    }

    /// The readable flag shared by owner and poller.
    pub fn readable(&self) -> bool {
        self.read_state.load(Ordering::Acquire) & READABLE != 0
    }

    /// The writeable flag shared by owner and poller.
    pub fn writeable(&self) -> bool {
        self.writeable.load(Ordering::Acquire)
    }

    /// Sets the readable flag; a no-op on a disposable event.
    pub fn set_readable(&self, value: bool) {
        if !self.is_disposable() {
            if value {
                self.read_state.fetch_or(READABLE, Ordering::AcqRel);
            } else {
                self.read_state.fetch_and(!READABLE, Ordering::AcqRel);
            }
        }
    }

    /// Sets the writeable flag; a no-op on a disposable event.
    pub fn set_writeable(&self, value: bool) {
        if !self.is_disposable() {
            self.writeable.store(value, Ordering::Release);
        }
    }

    /// The poller saw a read edge: whether to deliver READ. A ONESHOT event
    /// is told only when its flag was false; otherwise the edge is noted as
    /// missed (in the same atomic step), so the owner's next re-arm asks the
    /// kernel again. Sets the flag.
    pub(crate) fn take_read_edge(&self, oneshot: bool) -> bool {
        let mut current = self.read_state.load(Ordering::Acquire);
        loop {
            let filtered = oneshot && current & READABLE != 0;
            let next = if filtered { current | READ_MISSED } else { (current | READABLE) & !READ_DRAINED };
            match self.read_state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return !filtered,
                Err(seen) => current = seen,
            }
        }
    }

    /// The owner's read on this event would block: see `READ_DRAINED`.
    pub fn note_read_drained(&self) {
        self.read_state.fetch_or(READ_DRAINED, Ordering::AcqRel);
    }

    /// The owner's read returned less than it asked for: on a TCP socket
    /// (`is_tcp` probes once) that empties it unless `READ_UNSURE`. One
    /// read-modify-write, so what the poller notes meanwhile is either seen
    /// here or arrives as a fresh edge.
    pub fn note_read_short(&self, is_tcp: impl FnOnce() -> bool) {
        let kind = match self.stream_kind.load(Ordering::Acquire) {
            KIND_UNKNOWN => {
                let kind = if is_tcp() { KIND_TCP } else { KIND_OTHER };
                self.stream_kind.store(kind, Ordering::Release);
                kind
            }
            kind => kind,
        };
        if kind == KIND_TCP {
            let _ = self.read_state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & READ_UNSURE == 0).then_some(s | READ_DRAINED)
            });
        }
    }

    /// The poller saw the peer's close, an error or urgent data.
    pub(crate) fn note_read_unsure(&self) {
        if self.read_state.load(Ordering::Acquire) & READ_UNSURE == 0 {
            self.read_state.fetch_or(READ_UNSURE, Ordering::AcqRel);
        }
    }


    /// Marks writeable for a poller delivery; returns the previous value.
    pub(crate) fn mark_writeable(&self) -> bool {
        // Most reports find it set already (an idle socket is writeable):
        // a load, no read-modify-write.
        self.writeable.load(Ordering::Acquire) || self.writeable.swap(true, Ordering::AcqRel)
    }

    fn lock(&self) -> MutexGuard<'_, Subscription> {
        self.subscription.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn token(&self) -> Token {
        self.token
    }

    /// The mio interest for these flags (never empty: mio requires one).
    fn interest(flags: u32) -> mio::Interest {
        let read = flags & (ASIO_READ | ASIO_TIMER | ASIO_SIGNAL) != 0;
        match (read, flags & ASIO_WRITE != 0) {
            // PRIORITY: urgent data must be seen (`READ_UNSURE`).
            (_, false) => mio::Interest::READABLE | mio::Interest::PRIORITY,
            (false, true) => mio::Interest::WRITABLE,
            (true, true) => mio::Interest::READABLE | mio::Interest::PRIORITY | mio::Interest::WRITABLE,
        }
    }

    /// (Re)registers with the poller. A refusal by the OS is reported to the
    /// owner as an `ASIO_ERROR` notification.
    pub fn subscribe(&self) {
        let Ok(reactor) = reactor::get() else { return };
        let mut sub = self.lock();
        let flags = self.flags();
        if sub.ended {
            return;
        }
        if self.wants_noisy && !sub.counted_noisy {
            noisy::add();
            sub.counted_noisy = true;
        }
        let result = self.register(reactor, &mut sub, flags);
        drop(sub);
        if let Err(e) = result {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            reactor.push(Pending::notify(self, delivery::refused_flags(self, flags), errno as u32));
        }
        thread::ensure_running();
    }

    fn register(&self, reactor: &Reactor, sub: &mut Subscription, flags: u32) -> io::Result<()> {
        if flags & ASIO_TIMER != 0 {
            if self.fd() < 0 {
                self.fd.store(os::timerfd::new()?, Ordering::Release);
            }
            os::timerfd::arm_once(self.fd(), self.nsec())?;
        } else if flags & ASIO_SIGNAL != 0 && sub.signal_slot.is_none() {
            if self.fd() < 0 {
                self.fd.store(os::eventfd::new()?, Ordering::Release);
            }
            let signo = i32::try_from(self.nsec()).unwrap_or(-1);
            sub.signal_slot = Some(signal::watch(signo, self.fd())?);
        }
        let interest = Self::interest(flags);
        if sub.registered {
            reactor.reregister(self.fd(), self.token(), interest)
        } else {
            reactor.register(self.fd(), self.token(), interest)?;
            sub.registered = true;
            Ok(())
        }
    }

    /// Deregisters; closes the library's own fd; the flags become
    /// `ASIO_DISPOSABLE` and one final notification is queued. A second
    /// call is a no-op.
    ///
    /// Queuing the final notification is this call's last touch of the
    /// event: from then on the poller may deliver it and the owner free
    /// the event, so the subscription lock is released before.
    pub fn unsubscribe(&self) {
        let Ok(reactor) = reactor::get() else { return };
        let mut sub = self.lock();
        if sub.ended {
            return;
        }
        sub.ended = true;
        // From here `send` and the poller drop whatever comes for the event.
        self.flags.store(ASIO_DISPOSABLE, Ordering::Release);
        let fd = self.fd();
        if sub.registered {
            // The caller may have closed its fd already (epoll then forgot it).
            let _ = reactor.deregister(fd);
            sub.registered = false;
        }
        if let Some(slot) = sub.signal_slot.take() {
            signal::unwatch(slot);
        }
        if self.owns_fd && fd >= 0 {
            let _ = os::close(fd);
            self.fd.store(-1, Ordering::Release);
        }
        if sub.counted_noisy {
            sub.counted_noisy = false;
            noisy::remove();
        }
        drop(sub);
        reactor.push_final(NonNull::from(self));
        thread::ensure_running();
    }

    /// Re-arms each of READ/WRITE that the event wants and whose flag is
    /// false; if the fd is ready already, a notification follows.
    pub fn resubscribe(&self) {
        let flags = self.flags();
        let rearm_read = flags & ASIO_READ != 0
            && !self.readable()
            && !self.starved.load(Ordering::Acquire)
            && self.read_rearm_needs_kernel();
        let rearm_write = flags & ASIO_WRITE != 0 && !self.writeable();
        if !(rearm_read || rearm_write) {
            return;
        }
        let Ok(reactor) = reactor::get() else { return };
        let sub = self.lock();
        if sub.registered && !self.is_disposable() {
            // EPOLL_CTL_MOD re-evaluates readiness: a ready fd yields a fresh edge.
            let _ = reactor.reregister(self.fd(), self.token(), Self::interest(flags));
        }
    }

    /// Whether re-arming READ needs `EPOLL_CTL_MOD`: not when the owner read
    /// to would-block and no edge was missed since (the edge-triggered
    /// registration is armed and reports the next data). Consumes both notes.
    fn read_rearm_needs_kernel(&self) -> bool {
        let old = self.read_state.fetch_and(!(READ_MISSED | READ_DRAINED), Ordering::AcqRel);
        old & READABLE == 0 && (old & READ_DRAINED == 0 || old & READ_MISSED != 0)
    }

    /// Sets the timer interval and re-arms a timer.
    pub fn set_nsec(&self, nsec: u64) {
        let sub = self.lock();
        if self.flags() & ASIO_TIMER == 0 || self.is_disposable() {
            return;
        }
        self.nsec.store(nsec, Ordering::Release);
        if sub.registered {
            let _ = os::timerfd::arm_once(self.fd(), nsec);
        }
    }

    /// Reads the library-owned counter fd of a timer or signal event (how
    /// many expiries or signals since the last read); 0 if none or if the
    /// event was unsubscribed meanwhile.
    pub(crate) fn take_owned_count(&self) -> u64 {
        let _sub = self.lock();
        let fd = self.fd();
        if self.is_disposable() || fd < 0 {
            return 0;
        }
        os::read_counter(fd).unwrap_or(0)
    }

    /// Queues a notification as if the poller had seen it; dropped once the
    /// event is disposable. Flags `ASIO_DISPOSABLE` are refused: only
    /// `unsubscribe` makes the final notification.
    pub fn send(&self, flags: u32, arg: u32) {
        if flags == ASIO_DISPOSABLE {
            return;
        }
        let Ok(reactor) = reactor::get() else { return };
        reactor.push(Pending::notify(self, flags, arg));
        thread::ensure_running();
    }

    /// Called by the poller after it delivered the final notification.
    pub(crate) fn final_delivered(ptr: NonNull<Event>) {
        // SAFETY: the record is not freed before both life bits are set,
        // and this sets the first or the second of them.
        if unsafe { ptr.as_ref() }.life.final_delivered() {
            // SAFETY: both bits are set now, by us last, on the poller.
            unsafe { Self::release(ptr) };
        }
    }

    /// Frees the event once it is disposable and its final notification
    /// was delivered (or, if not yet, right after that). Refused, with a
    /// diagnostic on stderr, for an event that is not disposable or a
    /// pointer that is not a live event.
    // Any pointer value is accepted: it is dereferenced only once the live
    // registry has confirmed it names a live event.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn destroy(ptr: *mut Event) {
        let mut free_now = false;
        let verdict = registry::take_if(ptr as usize, |ev| {
            if !ev.is_disposable() {
                return false;
            }
            delivery::release_owner(ev);
            free_now = ev.life.destroy_accepted();
            true
        });
        match verdict {
            None => diagnose(ptr, "not a live event (destroyed twice, or never created)"),
            Some(false) => diagnose(ptr, "still subscribed: unsubscribe it and destroy it after that"),
            Some(true) => {
                if let (true, Some(p), Ok(reactor)) = (free_now, NonNull::new(ptr), reactor::get()) {
                    // Both life bits are set, the second by us: the poller
                    // may still hold a stale token of it in this turn.
                    reactor.retire(p);
                }
            }
        }
    }

    /// Frees the record and its slot.
    ///
    /// # Safety
    /// Both life bits are set, the caller set the second one (or took the
    /// record from the retired list), and the poller is excluded: this
    /// thread holds it, or its lock.
    pub(crate) unsafe fn release(ptr: NonNull<Event>) {
        // SAFETY: caller contract: we are the only one left with the pointer.
        let ev = unsafe { Box::from_raw(ptr.as_ptr()) };
        registry::release(ev.token);
        ev.magic.store(MAGIC_DEAD, Ordering::Release);
        drop(ev);
    }

    /// Notes that an accept on this listener failed for lack of fds.
    pub(crate) fn mark_starved(&self) {
        self.starved.store(true, Ordering::Release);
    }

    /// Ends the starvation (the re-offer is about to re-arm); whether it was.
    pub(crate) fn take_starved(&self) -> bool {
        self.starved.load(Ordering::Acquire) && self.starved.swap(false, Ordering::AcqRel)
    }
}

fn diagnose(ptr: *mut Event, why: &str) {
    let _ = writeln!(io::stderr(), "libponynet: pony_asio_event_destroy({ptr:p}) refused: {why}");
}
