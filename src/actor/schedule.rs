//! An actor's scheduling state: who may queue it, and when a worker that
//! finishes a run must queue it again, so that an actor runs on one worker
//! at a time and no message or notification is left without a run.
//!
//! | state | meaning | a sender's `mark` | the worker |
//! |---|---|---|---|
//! | IDLE | not queued, not running | → SCHEDULED, and queues it | — |
//! | SCHEDULED | queued | stays | `begin_run` → RUNNING |
//! | RUNNING | a worker runs it | → NOTIFIED | `end_run`: work left → SCHEDULED (queued again); none → IDLE |
//! | NOTIFIED | running, and marked meanwhile | stays | `end_run` → SCHEDULED (queued again) |
//!
//! Senders record their work (mail, flags) before `mark`; `mark` is always
//! a read-modify-write and `begin_run` a swap, so either the run sees the
//! work, or the sender sees RUNNING and the worker runs again (no store
//! buffering between them). `make test-loom` checks it (`loom_schedule_*`).

use crate::sync::AtomicU8;
use std::sync::atomic::Ordering;

const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;
const NOTIFIED: u8 = 3;

pub(crate) struct Schedule(AtomicU8);

impl Schedule {
    pub(crate) fn new() -> Self {
        Schedule(AtomicU8::new(IDLE))
    }

    /// A sender recorded work: true if the actor was idle and the caller
    /// must queue it.
    pub(crate) fn mark(&self) -> bool {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let next = match current {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                other => other,
            };
            match self.0.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return current == IDLE,
                Err(seen) => current = seen,
            }
        }
    }

    /// A worker took the actor from a queue and runs it.
    pub(crate) fn begin_run(&self) {
        self.0.swap(RUNNING, Ordering::AcqRel);
    }

    /// A worker finished a run; `work_left` is what it saw after the run.
    /// True if the caller must queue the actor again.
    pub(crate) fn end_run(&self, work_left: bool) -> bool {
        if work_left {
            self.0.store(SCHEDULED, Ordering::Release);
            return true;
        }
        match self.0.compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => false,
            Err(_) => {
                // NOTIFIED while running: go round again.
                self.0.store(SCHEDULED, Ordering::Release);
                true
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::Schedule;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Mutex;
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;

    struct ModelActor {
        sched: Schedule,
        /// The mailbox (its length), and its length mirrored for a look
        /// without the lock, as in `Cell`.
        mailbox: Mutex<usize>,
        mail: AtomicUsize,
        /// Notification flags, recorded without a lock, as `EventOwner` does.
        flags: AtomicUsize,
        /// How many times the actor sits in a queue right now.
        queued: Mutex<usize>,
        running: AtomicUsize,
        handled: AtomicUsize,
    }

    impl ModelActor {
        fn enqueue(&self) {
            let mut q = self.queued.lock().unwrap();
            *q += 1;
            assert_eq!(*q, 1, "an actor sits in one queue at most");
        }
    }

    /// A sender of mail and a notifier (flags recorded without a lock) race
    /// a worker: every piece of work is handled (a lost run leaves the
    /// worker spinning, which loom reports), the actor is never queued twice
    /// and never run by two at once.
    #[test]
    fn loom_schedule_no_lost_run_and_one_runner() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let actor = Arc::new(ModelActor {
                sched: Schedule::new(),
                mailbox: Mutex::new(0),
                mail: AtomicUsize::new(0),
                flags: AtomicUsize::new(0),
                queued: Mutex::new(0),
                running: AtomicUsize::new(0),
                handled: AtomicUsize::new(0),
            });
            let senders: Vec<_> = (0..2)
                .map(|i| {
                    let a = Arc::clone(&actor);
                    loom::thread::spawn(move || {
                        if i == 0 {
                            let mut mailbox = a.mailbox.lock().unwrap();
                            *mailbox += 1;
                            a.mail.store(*mailbox, SeqCst);
                        } else {
                            a.flags.fetch_or(1, SeqCst);
                        }
                        if a.sched.mark() {
                            a.enqueue();
                        }
                    })
                })
                .collect();
            while actor.handled.load(SeqCst) < 2 {
                let taken = {
                    let mut q = actor.queued.lock().unwrap();
                    let taken = *q > 0;
                    if taken {
                        *q -= 1;
                    }
                    taken
                };
                if !taken {
                    loom::thread::yield_now();
                    continue;
                }
                actor.sched.begin_run();
                assert_eq!(actor.running.fetch_add(1, SeqCst), 0, "one runner");
                if actor.mail.load(SeqCst) > 0 {
                    let mut mailbox = actor.mailbox.lock().unwrap();
                    actor.handled.fetch_add(std::mem::take(&mut *mailbox), SeqCst);
                    actor.mail.store(0, SeqCst);
                }
                if actor.flags.load(SeqCst) != 0 {
                    actor.handled.fetch_add(actor.flags.swap(0, SeqCst), SeqCst);
                }
                actor.running.fetch_sub(1, SeqCst);
                let work_left = actor.mail.load(SeqCst) > 0 || actor.flags.load(SeqCst) != 0;
                if actor.sched.end_run(work_left) {
                    actor.enqueue();
                }
            }
            for s in senders {
                s.join().unwrap();
            }
        });
    }
}
