//! Model checks (loom) of the event core's protocols between threads:
//! every interleaving, up to a preemption bound, of the real code.
//! Run: `make test-loom` (`RUSTFLAGS="--cfg loom" cargo test --lib loom_`).

use super::event::Life;
use super::reactor::Retirement;
use super::thread::{Host, Lifecycle};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Condvar, Mutex};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, OnceLock, Weak};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// Destroy and the final notification race: exactly one of them frees.
#[test]
fn loom_life_exactly_one_side_frees() {
    model(|| {
        let life = Arc::new(Life::new());
        let l2 = Arc::clone(&life);
        let destroyer = loom::thread::spawn(move || l2.destroy_accepted());
        let poller_frees = life.final_delivered();
        let destroyer_frees = destroyer.join().unwrap();
        assert!(poller_frees ^ destroyer_frees, "exactly one frees");
    });
}

/// A record the poller may look up by token while another thread retires
/// it: `live` is the slot's generation check, `value` the record's memory.
struct Record {
    live: AtomicBool,
    value: UnsafeCell<u32>,
}

/// The poller looks a record up and reads it under its lock, then frees
/// what was retired; another thread retires the record (free: the
/// generation changes, then the memory is written as a free would). Loom
/// fails the model if a read and the free ever race.
#[test]
fn loom_retirement_never_frees_under_a_turn() {
    model(|| {
        let poller = Arc::new(Mutex::new(()));
        let retirement = Arc::new(Retirement::<Arc<Record>>::new());
        let record = Arc::new(Record { live: AtomicBool::new(true), value: UnsafeCell::new(7) });
        let freed = Arc::new(AtomicUsize::new(0));
        let free = {
            let freed = Arc::clone(&freed);
            move |r: Arc<Record>| {
                r.live.store(false, SeqCst);
                // SAFETY: loom checks that no read runs concurrently.
                r.value.with_mut(|v| unsafe { *v = 0xdead });
                freed.fetch_add(1, SeqCst);
            }
        };
        let (p, ret, rec, f2) = (Arc::clone(&poller), Arc::clone(&retirement), Arc::clone(&record), free.clone());
        let destroyer = loom::thread::spawn(move || ret.retire(rec, false, &p, f2));
        for _turn in 0..2 {
            let _held = poller.lock().unwrap();
            if record.live.load(SeqCst) {
                // SAFETY: loom checks that no free runs concurrently.
                record.value.with(|v| assert_eq!(unsafe { *v }, 7));
            }
            retirement.collect(free.clone());
        }
        destroyer.join().unwrap();
        let _held = poller.lock().unwrap();
        retirement.collect(free);
        assert_eq!(freed.load(SeqCst), 1, "freed exactly once");
    });
}

/// The I/O thread of the model: waits for wake-ups and asks the state
/// machine after each; counts how many run at once.
struct ModelIo {
    lifecycle: OnceLock<Weak<Lifecycle<ModelHost>>>,
    woken: Mutex<bool>,
    wake: Condvar,
    alive: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    noisy: AtomicBool,
}

struct ModelHost(Arc<ModelIo>);

impl Host for ModelHost {
    type Thread = loom::thread::JoinHandle<()>;

    fn spawn(&self) -> Option<Self::Thread> {
        let io = Arc::clone(&self.0);
        io.started.fetch_add(1, SeqCst);
        Some(loom::thread::spawn(move || {
            let lifecycle = io.lifecycle.get().and_then(Weak::upgrade).expect("lifecycle");
            assert_eq!(io.alive.fetch_add(1, SeqCst), 0, "never two I/O threads");
            loop {
                {
                    let mut woken = io.woken.lock().unwrap();
                    while !*woken {
                        woken = io.wake.wait(woken).unwrap();
                    }
                    *woken = false;
                }
                if lifecycle.take_stop_request() && lifecycle.thread_decides() {
                    break;
                }
            }
            io.alive.fetch_sub(1, SeqCst);
            io.finished.fetch_add(1, SeqCst);
        }))
    }

    fn join(&self, thread: Self::Thread) {
        thread.join().unwrap();
    }

    fn wake(&self) {
        *self.0.woken.lock().unwrap() = true;
        self.0.wake.notify_one();
    }

    fn noisy(&self) -> bool {
        self.0.noisy.load(SeqCst)
    }

    fn busy(&self) -> bool {
        self.noisy()
    }
}

fn lifecycle() -> (Arc<Lifecycle<ModelHost>>, Arc<ModelIo>) {
    let io = Arc::new(ModelIo {
        lifecycle: OnceLock::new(),
        woken: Mutex::new(false),
        wake: Condvar::new(),
        alive: AtomicUsize::new(0),
        started: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        noisy: AtomicBool::new(false),
    });
    let lc = Arc::new(Lifecycle::new(ModelHost(Arc::clone(&io))));
    io.lifecycle.set(Arc::downgrade(&lc)).ok().expect("set once");
    (lc, io)
}

/// A stop that answers true: every thread started before it has ended.
fn stop_truly(lc: &Lifecycle<ModelHost>, io: &ModelIo) -> bool {
    let started_before = io.started.load(SeqCst);
    let stopped = lc.stop();
    if stopped {
        assert!(io.finished.load(SeqCst) >= started_before, "true means the thread ended");
    }
    stopped
}

/// Two stops and a start race: never two threads, no deadlock (loom
/// reports one), each true answer true, and a final stop ends it all.
#[test]
fn loom_lifecycle_two_stops_and_a_start() {
    model(|| {
        let (lc, io) = lifecycle();
        lc.ensure_running();
        let stoppers: Vec<_> = (0..2)
            .map(|_| {
                let (lc, io) = (Arc::clone(&lc), Arc::clone(&io));
                loom::thread::spawn(move || stop_truly(&lc, &io))
            })
            .collect();
        lc.ensure_running();
        for s in stoppers {
            s.join().unwrap();
        }
        assert!(stop_truly(&lc, &io));
        assert_eq!(io.alive.load(SeqCst), 0);
    });
}

/// A noisy subscription races a stop: the thread serves it afterwards
/// (the stop is refused, or a new thread starts).
#[test]
fn loom_lifecycle_noisy_start_racing_a_stop_is_served() {
    model(|| {
        let (lc, io) = lifecycle();
        lc.ensure_running();
        let (lc2, io2) = (Arc::clone(&lc), Arc::clone(&io));
        let creator = loom::thread::spawn(move || {
            io2.noisy.store(true, SeqCst);
            lc2.ensure_running();
        });
        stop_truly(&lc, &io);
        creator.join().unwrap();
        assert!(lc.is_running(), "a noisy subscription has a thread");
        io.noisy.store(false, SeqCst);
        assert!(stop_truly(&lc, &io));
    });
}
