//! The handshake between threads that queue notifications and the thread
//! that polls: the poller's eventfd is written only while a poll that may
//! block is under way, and no queued item is ever left waiting for a poll
//! that blocks.
//!
//! | side | steps |
//! |---|---|
//! | queuing thread | under the queue lock: push, `queued` = true; then [`WakeHandshake::needs_wake`]: fence, load `in_poll`; if set and no wake-up was sent this turn, write the waker |
//! | polling thread | [`WakeHandshake::enter_poll`]: `in_poll` = true, fence, load `queued`: block only if nothing is queued; after the poll [`WakeHandshake::leave_poll`]; once the turn takes the queue, [`WakeHandshake::turn_done`] |
//!
//! The fences make it a store-buffering pair: either the poller sees the
//! item queued (and does not block), or the queuing thread sees it polling
//! (and wakes it). `make test-loom` checks it (`loom_wake_*`).

use crate::sync::{fence, AtomicBool};
use std::sync::atomic::Ordering;

pub(crate) struct WakeHandshake {
    /// Items are queued (written under the queue lock).
    queued: AtomicBool,
    /// A thread is in (or about to enter) a poll that may block.
    in_poll: AtomicBool,
    /// The waker was written since the poller last looked.
    wake_sent: AtomicBool,
}

impl WakeHandshake {
    pub(crate) fn new() -> Self {
        WakeHandshake { queued: AtomicBool::new(false), in_poll: AtomicBool::new(false), wake_sent: AtomicBool::new(false) }
    }

    /// Items were queued (the caller holds the queue lock).
    pub(crate) fn set_queued(&self) {
        self.queued.store(true, Ordering::SeqCst);
    }

    /// The queue was taken whole (the caller holds the queue lock).
    pub(crate) fn clear_queued(&self) {
        self.queued.store(false, Ordering::SeqCst);
    }

    /// Whether items are queued (a look without the lock).
    pub(crate) fn is_queued(&self) -> bool {
        self.queued.load(Ordering::SeqCst)
    }

    /// After queuing, outside the lock: whether the caller must write the
    /// waker (a poll that may block is under way and nobody woke it yet).
    pub(crate) fn needs_wake(&self) -> bool {
        fence(Ordering::SeqCst);
        self.in_poll.load(Ordering::SeqCst) && !self.wake_sent.swap(true, Ordering::AcqRel)
    }

    /// Before a poll that may block: whether it may block (nothing is
    /// queued). From here until `leave_poll`, queuing threads wake it.
    pub(crate) fn enter_poll(&self) -> bool {
        self.in_poll.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        !self.queued.load(Ordering::SeqCst)
    }

    /// The poll returned.
    pub(crate) fn leave_poll(&self) {
        self.in_poll.store(false, Ordering::SeqCst);
    }

    /// The turn is about to look at the queue: wake-ups sent so far are
    /// answered by it.
    pub(crate) fn turn_done(&self) {
        self.wake_sent.store(false, Ordering::Release);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::WakeHandshake;
    use loom::sync::{Condvar, Mutex};
    use std::sync::Arc;

    /// A thread queues an item while the poller turns: the poller never
    /// blocks with the item queued and nobody to wake it (loom reports the
    /// deadlock), and it gets the item.
    #[test]
    fn loom_wake_no_item_waits_for_a_blocked_poll() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let handshake = Arc::new(WakeHandshake::new());
            let queue = Arc::new(Mutex::new(0usize));
            let waker = Arc::new((Mutex::new(false), Condvar::new()));
            let pusher = {
                let (h, q, w) = (Arc::clone(&handshake), Arc::clone(&queue), Arc::clone(&waker));
                loom::thread::spawn(move || {
                    {
                        let mut items = q.lock().unwrap();
                        *items += 1;
                        h.set_queued();
                    }
                    if h.needs_wake() {
                        *w.0.lock().unwrap() = true;
                        w.1.notify_one();
                    }
                })
            };
            let mut got = 0;
            while got == 0 {
                if !handshake.is_queued() {
                    if handshake.enter_poll() {
                        let mut woken = waker.0.lock().unwrap();
                        while !*woken {
                            woken = waker.1.wait(woken).unwrap();
                        }
                        *woken = false;
                    }
                    handshake.leave_poll();
                }
                handshake.turn_done();
                if handshake.is_queued() {
                    let mut items = queue.lock().unwrap();
                    got += std::mem::take(&mut *items);
                    handshake.clear_queued();
                }
            }
            pusher.join().unwrap();
            assert_eq!(got, 1);
        });
    }
}
