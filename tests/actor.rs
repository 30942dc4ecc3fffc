//! The executor: ordering, fairness, exclusivity, quiescence, and events
//! owned by actors through the exported ABI.

use ponynet::actor::{Actor, ActorRef, Context, Runtime, RuntimeHandle};
use ponynet::asio::event::{Event, ASIO_DISPOSABLE, ASIO_TIMER};
use ponynet::ffi::event::{pony_asio_event_create, pony_asio_event_destroy, pony_asio_event_unsubscribe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<u32>>>,
}
impl Actor for Recorder {}

#[test]
fn behaviours_run_in_the_order_sent() {
    let rt = Runtime::new(2).expect("runtime");
    let rec = Recorder::default();
    let seen = Arc::clone(&rec.seen);
    let a = rt.spawn(rec);
    for i in 0..10_000u32 {
        a.send(move |r, _| r.seen.lock().unwrap().push(i));
    }
    assert!(rt.run_until_idle_for(LIMIT));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 10_000);
    assert!(seen.windows(2).all(|w| w[0] + 1 == w[1]));
}

struct Pinger {
    peer: Option<ActorRef<Pinger>>,
    left: u32,
    done: Arc<AtomicUsize>,
}
impl Actor for Pinger {}

fn ping(p: &mut Pinger, ctx: &Context<Pinger>) {
    if p.left == 0 {
        p.done.fetch_add(1, Ordering::SeqCst);
        return;
    }
    p.left -= 1;
    let me = ctx.this();
    if let Some(peer) = &p.peer {
        peer.send(move |q, qctx| {
            q.peer.get_or_insert(me);
            ping(q, qctx);
        });
    }
}

#[test]
fn two_actors_ping_pong_until_idle() {
    let rt = Runtime::new(2).expect("runtime");
    let done = Arc::new(AtomicUsize::new(0));
    let a = rt.spawn(Pinger { peer: None, left: 5_000, done: Arc::clone(&done) });
    let b = rt.spawn(Pinger { peer: Some(a.clone()), left: 5_000, done: Arc::clone(&done) });
    b.send(ping);
    assert!(rt.run_until_idle_for(LIMIT));
    assert_eq!(done.load(Ordering::SeqCst), 1, "one side ran out first and stopped the rally");
}

struct Spinner {
    stop: Arc<AtomicBool>,
    turns: usize,
}
impl Actor for Spinner {}

fn spin(s: &mut Spinner, ctx: &Context<Spinner>) {
    s.turns += 1;
    if !s.stop.load(Ordering::SeqCst) {
        ctx.this().send(spin);
    }
}

#[test]
fn a_self_sending_actor_does_not_starve_others_on_one_worker() {
    let rt = Runtime::new(1).expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = rt.spawn(Spinner { stop: Arc::clone(&stop), turns: 0 });
    spinner.send(spin);
    let stopper = rt.spawn(Recorder::default());
    let flag = Arc::clone(&stop);
    stopper.send(move |_, _| flag.store(true, Ordering::SeqCst));
    assert!(rt.run_until_idle_for(LIMIT), "the stopper never ran: the spinner starved it");
    assert!(stop.load(Ordering::SeqCst));
}

struct Exclusive {
    inside: Arc<AtomicBool>,
    overlaps: Arc<AtomicUsize>,
    count: usize,
}
impl Actor for Exclusive {}

#[test]
fn an_actor_runs_on_one_worker_at_a_time() {
    let rt = Runtime::new(4).expect("runtime");
    let overlaps = Arc::new(AtomicUsize::new(0));
    let a = rt.spawn(Exclusive { inside: Arc::new(AtomicBool::new(false)), overlaps: Arc::clone(&overlaps), count: 0 });
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let a = a.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    a.send(|e, _| {
                        if e.inside.swap(true, Ordering::SeqCst) {
                            e.overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        e.count += 1;
                        std::hint::spin_loop();
                        e.inside.store(false, Ordering::SeqCst);
                    });
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    assert!(rt.run_until_idle_for(LIMIT));
    let total = Arc::new(AtomicUsize::new(0));
    let t = Arc::clone(&total);
    a.send(move |e, _| t.store(e.count, Ordering::SeqCst));
    assert!(rt.run_until_idle_for(LIMIT));
    assert_eq!(total.load(Ordering::SeqCst), 8_000);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
}

/// An actor that owns a timer through the exported ABI, re-arms it a few
/// times, then disposes of it.
struct Ticker {
    fired: Arc<AtomicUsize>,
    disposed: Arc<AtomicBool>,
}
impl Actor for Ticker {
    fn event(&mut self, _ctx: &Context<Self>, ev: *mut Event, flags: u32, _arg: u32) {
        if flags & ASIO_TIMER != 0 {
            if self.fired.fetch_add(1, Ordering::SeqCst) + 1 < 5 {
                // SAFETY: a live event of ours.
                unsafe { ponynet::ffi::event::pony_asio_event_setnsec(ev, 1_000) };
            } else {
                // SAFETY: as above.
                unsafe { pony_asio_event_unsubscribe(ev) };
            }
        }
        if flags == ASIO_DISPOSABLE {
            self.disposed.store(true, Ordering::SeqCst);
            // SAFETY: disposable now: its last notification.
            unsafe { pony_asio_event_destroy(ev) };
        }
    }
}

#[test]
fn an_actor_owns_a_noisy_timer_until_disposed() {
    let rt = Runtime::new(2).expect("runtime");
    let fired = Arc::new(AtomicUsize::new(0));
    let disposed = Arc::new(AtomicBool::new(false));
    let t = rt.spawn(Ticker { fired: Arc::clone(&fired), disposed: Arc::clone(&disposed) });
    t.send(|_, ctx| {
        // SAFETY: the owner is this actor's, which stays alive while the event lives.
        let ev = unsafe { pony_asio_event_create(ctx.owner(), -1, ASIO_TIMER, 1_000, true) };
        assert!(!ev.is_null());
        ctx.events_created(1);
    });
    assert!(rt.run_until_idle_for(LIMIT), "noisy timer never disposed");
    assert_eq!(fired.load(Ordering::SeqCst), 5);
    assert!(disposed.load(Ordering::SeqCst));
}

/// A chain of actors, each started from inside the previous one's
/// behaviour through a `RuntimeHandle` (no hop through the caller).
struct Link {
    rt: RuntimeHandle,
    left: u32,
    done: Arc<AtomicUsize>,
}
impl Actor for Link {}

fn next_link(rt: &RuntimeHandle, left: u32, done: Arc<AtomicUsize>) {
    let a = rt.spawn(Link { rt: rt.clone(), left, done });
    a.send(|l, ctx| {
        l.done.fetch_add(1, Ordering::SeqCst);
        if l.left > 0 {
            // The handle it was given, or the one its context gives.
            let rt = if l.left % 2 == 0 { l.rt.clone() } else { ctx.runtime() };
            next_link(&rt, l.left - 1, Arc::clone(&l.done));
        }
    });
}

#[test]
fn a_runtime_handle_starts_actors_from_inside_a_behaviour() {
    let rt = Runtime::new(2).expect("runtime");
    let done = Arc::new(AtomicUsize::new(0));
    next_link(&rt.handle(), 99, Arc::clone(&done));
    assert!(rt.run_until_idle_for(LIMIT));
    assert_eq!(done.load(Ordering::SeqCst), 100);
}

/// Records `started` (0) and behaviours (1, 2...).
struct Starter {
    seen: Arc<Mutex<Vec<u32>>>,
}
impl Actor for Starter {
    const STARTS: bool = true;
    fn started(&mut self, _ctx: &Context<Self>) {
        self.seen.lock().unwrap().push(0);
    }
}

#[test]
fn started_runs_once_first_even_without_a_message() {
    let rt = Runtime::new(2).expect("runtime");
    let quiet = Arc::new(Mutex::new(Vec::new()));
    let _q = rt.spawn(Starter { seen: Arc::clone(&quiet) });
    let busy = Arc::new(Mutex::new(Vec::new()));
    let b = rt.spawn(Starter { seen: Arc::clone(&busy) });
    for i in 1..=100u32 {
        b.send(move |s, _| s.seen.lock().unwrap().push(i));
    }
    assert!(rt.run_until_idle_for(LIMIT));
    assert_eq!(*quiet.lock().unwrap(), [0], "an actor that gets no message still starts");
    assert_eq!(*busy.lock().unwrap(), (0..=100).collect::<Vec<u32>>(), "started first, once, then the behaviours in order");
}
