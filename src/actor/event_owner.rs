//! The ABI owner of an actor's events. Its `notify` records the flags in
//! per-event atomic slots and schedules the actor: no allocation, no lock,
//! no user code on the polling thread.

use crate::asio::event::{Event, ASIO_DISPOSABLE, ASIO_SIGNAL};
use crate::ffi::types::Owner;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::sync::Mutex;

/// Bit standing for `ASIO_DISPOSABLE` (which is flags 0) in a slot.
const DISPOSED: u32 = 1 << 31;
/// Events one owner tracks without a lock (Happy Eyeballs needs a few).
const SLOTS: usize = 8;

#[derive(Default)]
struct Slot {
    event: AtomicPtr<Event>,
    pending: AtomicU32,
    arg: AtomicU32,
}

impl Slot {
    fn record(&self, flags: u32, arg: u32) {
        if flags == ASIO_DISPOSABLE {
            self.pending.fetch_or(DISPOSED, Ordering::AcqRel);
            return;
        }
        if flags & ASIO_SIGNAL != 0 {
            self.arg.fetch_add(arg, Ordering::AcqRel);
        } else if arg != 0 {
            self.arg.store(arg, Ordering::Release);
        }
        self.pending.fetch_or(flags, Ordering::AcqRel);
    }
}

/// The ABI owner (`ponynet_owner_t` first) of every event of one actor.
#[repr(C)]
pub struct EventOwner {
    base: Owner,
    slots: [Slot; SLOTS],
    /// Notifications for events beyond SLOTS (rare), in order.
    overflow: Mutex<Vec<(usize, u32, u32)>>,
    /// Whether `overflow` may hold entries: the common drain takes no lock.
    spilled: AtomicBool,
    target: AtomicPtr<()>,
    retain: unsafe fn(*const ()),
    schedule: unsafe fn(*const (), bool),
}

/// One notification taken from an owner: the event, its flags, its arg.
pub struct Taken {
    /// The event.
    pub event: *mut Event,
    /// Coalesced flags, or `ASIO_DISPOSABLE` alone.
    pub flags: u32,
    /// The arg (signal count since the last delivery, errno of `ASIO_ERROR`).
    pub arg: u32,
}

impl EventOwner {
    /// An owner that records each notification and calls
    /// `schedule(target, held)`; for the final one it first calls
    /// `retain(target)`, and `held` says `schedule` consumes that hold.
    pub(crate) fn new(
        target: *const (),
        retain: unsafe fn(*const ()),
        schedule: unsafe fn(*const (), bool),
    ) -> Self {
        EventOwner {
            base: Owner { notify: Some(notify) },
            slots: Default::default(),
            overflow: Mutex::new(Vec::new()),
            spilled: AtomicBool::new(false),
            target: AtomicPtr::new(target as *mut ()),
            retain,
            schedule,
        }
    }

    /// Points the owner at its actor (once the actor has its address).
    pub(crate) fn set_target(&self, target: *const ()) {
        self.target.store(target as *mut (), Ordering::Release);
    }

    /// The pointer to hand to the ABI as owner.
    pub fn as_owner(&self) -> *mut Owner {
        &self.base as *const Owner as *mut Owner
    }

    fn record(&self, ev: *mut Event, flags: u32, arg: u32) {
        for slot in &self.slots {
            let current = slot.event.load(Ordering::Acquire);
            if current == ev {
                slot.record(flags, arg);
                return;
            }
            if current.is_null()
                && slot.event.compare_exchange(ptr::null_mut(), ev, Ordering::AcqRel, Ordering::Acquire).is_ok()
            {
                slot.record(flags, arg);
                return;
            }
        }
        self.overflow.lock().unwrap_or_else(|p| p.into_inner()).push((ev as usize, flags, arg));
        self.spilled.store(true, Ordering::Release);
    }

    /// Takes every pending notification (the actor's side), calling `f` for
    /// each; a disposed event's slot is freed after its last notification.
    pub fn drain(&self, mut f: impl FnMut(Taken)) {
        for slot in &self.slots {
            let ev = slot.event.load(Ordering::Acquire);
            if ev.is_null() {
                continue;
            }
            if slot.pending.load(Ordering::Acquire) == 0 {
                continue;
            }
            let bits = slot.pending.swap(0, Ordering::AcqRel);
            // An arg recorded after this look comes with its flags next time.
            let arg = if slot.arg.load(Ordering::Acquire) == 0 { 0 } else { slot.arg.swap(0, Ordering::AcqRel) };
            let flags = bits & !DISPOSED;
            if flags != 0 {
                f(Taken { event: ev, flags, arg });
            }
            if bits & DISPOSED != 0 {
                // Nothing follows the final notification: the slot is free.
                slot.event.store(ptr::null_mut(), Ordering::Release);
                f(Taken { event: ev, flags: ASIO_DISPOSABLE, arg: 0 });
            }
        }
        if !self.spilled.load(Ordering::Acquire) || !self.spilled.swap(false, Ordering::AcqRel) {
            return;
        }
        let spilled = std::mem::take(&mut *self.overflow.lock().unwrap_or_else(|p| p.into_inner()));
        for (ev, flags, arg) in spilled {
            f(Taken { event: ev as *mut Event, flags, arg });
        }
    }

    /// Whether notifications wait to be drained.
    pub fn has_pending(&self) -> bool {
        self.slots.iter().any(|s| s.pending.load(Ordering::Acquire) != 0)
            || self.spilled.load(Ordering::Acquire)
    }
}

unsafe extern "C" fn notify(owner: *mut Owner, ev: *mut Event, flags: u32, arg: u32) {
    // SAFETY: the library calls us with the owner pointer we handed out,
    // which points to the `base` field (first, repr(C)) of a live EventOwner.
    let this = unsafe { &*(owner as *const EventOwner) };
    let target = this.target.load(Ordering::Acquire);
    // The actor keeps itself alive while this event is live. Only the
    // final notification ends that: once it is recorded, the worker running
    // the actor may drain it and let the actor go, so for it a hold is
    // taken first, before anything is recorded.
    let is_final = flags == ASIO_DISPOSABLE;
    if is_final {
        // SAFETY: alive, as the event is and its end is not recorded yet.
        unsafe { (this.retain)(target) };
    }
    this.record(ev, flags, arg);
    // SAFETY: alive: the event still is (not final), or the hold taken
    // above (final), which `schedule` then consumes.
    unsafe { (this.schedule)(target, is_final) };
}
