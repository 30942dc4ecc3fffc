//! The same workloads through libponynet's Rust API: `ponynet::net` on the
//! `ponynet::actor` executor (one worker per core), the way a Rust user
//! writes them.

use crate::stats::latency_line;
use ponynet::actor::{Actor, Context, Runtime, RuntimeHandle};
use ponynet::asio::event::{Event, ASIO_DISPOSABLE, ASIO_READ, ASIO_TIMER};
use ponynet::ffi::event::{pony_asio_event_create, pony_asio_event_destroy, pony_asio_event_send, pony_asio_event_unsubscribe};
use ponynet::net::{
    ByteSeq, ConnectOptions, ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify, TcpListen, TcpListenNotify, TcpListener,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MSG: usize = 64;
static PING: [u8; MSG] = [b'p'; MSG];
const CHUNK: usize = 64 * 1024;
const LIMIT: Duration = Duration::from_secs(600);

fn runtime() -> Runtime {
    Runtime::with_default_workers().expect("runtime")
}

/// What a server connection does with what it reads.
#[derive(Clone)]
enum Serve {
    Echo,
    Sink { total: Arc<AtomicU64>, want: u64, done: Sender<()> },
    /// Reads to EOF; the connection then closes itself (Pony's EOF rule).
    Drain,
}

struct Server {
    serve: Serve,
}

impl TcpConnectionNotify for Server {
    fn accepted(&mut self, conn: &mut TcpConn) {
        // Latency workloads only (as the raw loop: connrate sets nothing).
        if matches!(self.serve, Serve::Echo) {
            let _ = conn.set_nodelay(true);
        }
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        match &self.serve {
            Serve::Echo => conn.write(data),
            Serve::Sink { total, want, done } => {
                if total.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64 == *want {
                    let _ = done.send(());
                }
                // Read the next chunk into the same buffer (as the raw loop does).
                conn.recycle(data);
            }
            Serve::Drain => {}
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

struct Listen {
    serve: Serve,
    port: Sender<u16>,
}

impl TcpListenNotify for Listen {
    fn listening(&mut self, listen: &mut TcpListen) {
        let _ = self.port.send(listen.local_address().map_or(0, |a| a.port()));
    }
    fn not_listening(&mut self, _listen: &mut TcpListen) {
        let _ = self.port.send(0);
    }
    fn connected(&mut self, _listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        Some(Box::new(Server { serve: self.serve.clone() }))
    }
}

fn listen(rt: &Runtime, serve: Serve, options: ListenOptions) -> (TcpListener, String) {
    let (tx, rx) = channel();
    let l = TcpListener::listen_with(rt, Listen { serve, port: tx }, "127.0.0.1", "0", options);
    let port = rx.recv_timeout(LIMIT).expect("listening");
    assert_ne!(port, 0, "listen failed");
    (l, port.to_string())
}

/// A client that does `rounds` sequential 64 B ping-pongs.
struct Pinger {
    /// Set: report the connection here when connected and wait to be started.
    ready: Option<Sender<TcpConnection>>,
    left: usize,
    got: usize,
    t0: Instant,
    samples: Option<Vec<u64>>,
    done: Sender<Vec<u64>>,
}

impl TcpConnectionNotify for Pinger {
    fn connected(&mut self, conn: &mut TcpConn) {
        let _ = conn.set_nodelay(true);
        if let Some(ready) = self.ready.take() {
            if let Some(h) = conn.handle() {
                let _ = ready.send(h);
            }
            return;
        }
        self.t0 = Instant::now();
        conn.write(ByteSeq::from_static(&PING));
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.got += data.len();
        while self.got >= MSG {
            self.got -= MSG;
            if let Some(s) = self.samples.as_mut() {
                s.push(self.t0.elapsed().as_nanos() as u64);
            }
            self.left -= 1;
            if self.left == 0 {
                let _ = self.done.send(self.samples.take().unwrap_or_default());
                conn.close();
                return true;
            }
            self.t0 = Instant::now();
            conn.write(ByteSeq::from_static(&PING));
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        panic!("connect failed");
    }
}

fn pinger(rounds: usize, record: bool, done: Sender<Vec<u64>>) -> Pinger {
    Pinger { ready: None, left: rounds, got: 0, t0: Instant::now(), samples: record.then(|| Vec::with_capacity(rounds)), done }
}

fn pingpong(rounds: usize) -> String {
    let rt = runtime();
    let (l, port) = listen(&rt, Serve::Echo, ListenOptions::default());
    let (tx, rx) = channel();
    let _c = TcpConnection::connect_with(&rt, pinger(rounds, true, tx), "127.0.0.1", &port, ConnectOptions::default());
    let samples = rx.recv_timeout(LIMIT).expect("pingpong finished");
    l.close();
    assert!(rt.run_until_idle_for(LIMIT));
    latency_line("rust-api", samples)
}

/// Streams `want` bytes in 64 KiB writes, 1 MiB per turn, pausing while
/// throttled (`unthrottled` resumes).
struct WriterState {
    sent: AtomicU64,
    want: u64,
    /// One buffer, shared by every write (as the raw loop sends from one).
    chunk: Arc<[u8]>,
}

fn pump(st: &Arc<WriterState>, conn: &mut TcpConn) {
    if conn.is_throttled() {
        return;
    }
    for _ in 0..16 {
        let sent = st.sent.load(Ordering::Relaxed);
        if sent >= st.want {
            conn.close();
            return;
        }
        let n = (st.want - sent).min(CHUNK as u64) as usize;
        conn.write(ByteSeq::shared(Arc::clone(&st.chunk), 0..n));
        st.sent.store(sent + n as u64, Ordering::Relaxed);
    }
    if let Some(h) = conn.handle() {
        let st = Arc::clone(st);
        h.with(move |c| pump(&st, c));
    }
}

struct Writer(Arc<WriterState>);

impl TcpConnectionNotify for Writer {
    fn connected(&mut self, conn: &mut TcpConn) {
        pump(&self.0, conn);
    }
    fn unthrottled(&mut self, conn: &mut TcpConn) {
        pump(&self.0, conn);
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        panic!("connect failed");
    }
}

fn bulk(bytes: u64) -> String {
    let rt = runtime();
    let total = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = channel();
    let options = ListenOptions { read_buffer_size: CHUNK, yield_after_reading: 1 << 20, ..ListenOptions::default() };
    let (l, port) = listen(&rt, Serve::Sink { total: Arc::clone(&total), want: bytes, done: done_tx }, options);
    let t0 = Instant::now();
    let opts = ConnectOptions { yield_after_writing: 1 << 20, ..ConnectOptions::default() };
    let writer = Writer(Arc::new(WriterState { sent: AtomicU64::new(0), want: bytes, chunk: vec![b'b'; CHUNK].into() }));
    let _c = TcpConnection::connect_with(&rt, writer, "127.0.0.1", &port, opts);
    done_rx.recv_timeout(LIMIT).expect("bulk finished");
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(total.load(Ordering::SeqCst), bytes, "bulk byte count");
    l.close();
    assert!(rt.run_until_idle_for(LIMIT));
    format!("RESULT impl=rust-api workload=bulk mib_s={:.1} bytes={bytes}", bytes as f64 / 1048576.0 / secs)
}

/// A chain of connections: each closes as soon as it is connected and,
/// once the peer's EOF closed it, reports and starts the next one from its
/// own `closed` (no hop through the main thread, as tokio's chains loop
/// inside a task).
struct Closer {
    chain: Arc<Chain>,
}

struct Chain {
    rt: RuntimeHandle,
    port: String,
    /// Connections not yet started, over all chains.
    left: AtomicU64,
    /// Connections not yet closed; the last one reports (as tokio's chains
    /// report only when they end).
    open: AtomicU64,
    done: Sender<()>,
}

impl Chain {
    fn start_next(self: &Arc<Self>) {
        let claimed = self.left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if claimed.is_ok() {
            let notify = Closer { chain: Arc::clone(self) };
            TcpConnection::connect_with(&self.rt, notify, "127.0.0.1", &self.port, ConnectOptions::default());
        }
    }
}

impl TcpConnectionNotify for Closer {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.close();
    }
    fn closed(&mut self, _conn: &mut TcpConn) {
        if self.chain.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.chain.done.send(());
        }
        self.chain.start_next();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        panic!("connect failed");
    }
}

fn connrate(conns: usize, chains: usize) -> String {
    let rt = runtime();
    let (l, port) = listen(&rt, Serve::Drain, ListenOptions::default());
    let (tx, rx): (Sender<()>, Receiver<()>) = channel();
    let n = conns as u64;
    let chain = Arc::new(Chain { rt: rt.handle(), port, left: AtomicU64::new(n), open: AtomicU64::new(n), done: tx });
    let t0 = Instant::now();
    for _ in 0..chains.min(conns) {
        chain.start_next();
    }
    rx.recv_timeout(LIMIT).expect("every connection closed");
    let secs = t0.elapsed().as_secs_f64();
    drop(chain);
    l.close();
    assert!(rt.run_until_idle_for(LIMIT));
    let kind = if chains > 1 { "par" } else { "seq" };
    format!("RESULT impl=rust-api workload=connrate-{kind} conns_s={:.0} conns={conns}", conns as f64 / secs)
}

fn many(conns: usize, rounds: usize, c10k: bool) -> String {
    crate::raise_nofile(conns as u64 * 2 + 64);
    let rt = runtime();
    let (l, port) = listen(&rt, Serve::Echo, ListenOptions::default());
    // Connect everyone first (idle), then measure memory, then start.
    let (ready_tx, ready_rx) = channel();
    let (tx, rx) = channel();
    let rss0 = crate::rss_bytes();
    for _ in 0..conns {
        let notify = Pinger { ready: Some(ready_tx.clone()), ..pinger(rounds, false, tx.clone()) };
        TcpConnection::connect_with(&rt, notify, "127.0.0.1", &port, ConnectOptions::default());
    }
    let handles: Vec<TcpConnection> = (0..conns).map(|_| ready_rx.recv_timeout(LIMIT).expect("connected")).collect();
    let per_conn = (crate::rss_bytes() - rss0) / conns as i64;
    let t0 = Instant::now();
    for h in &handles {
        h.write(vec![b'm'; MSG]);
    }
    for _ in 0..conns {
        rx.recv_timeout(LIMIT).expect("client finished");
    }
    let secs = t0.elapsed().as_secs_f64();
    l.close();
    assert!(rt.run_until_idle_for(LIMIT));
    if c10k {
        format!("RESULT impl=rust-api workload=c10k bytes_per_conn={per_conn} drain_ms={:.2}", secs * 1000.0)
    } else {
        format!("RESULT impl=rust-api workload=many rt_s={:.0}", (conns * rounds) as f64 / secs)
    }
}

/// Counts notifications of the events it owns; stops at `want`.
struct Counter {
    want: u32,
    done: Sender<()>,
    efd: i32,
    seen: u32,
}

impl Actor for Counter {
    fn event(&mut self, _ctx: &Context<Self>, ev: *mut Event, flags: u32, arg: u32) {
        if flags == ASIO_DISPOSABLE {
            // SAFETY: our event, disposable: its last notification.
            unsafe { pony_asio_event_destroy(ev) };
            return;
        }
        if self.efd >= 0 {
            // eventfd readiness: consume, count, and make the next one from here.
            let mut v = 0u64;
            // SAFETY: reading 8 bytes into a u64 from our eventfd.
            if unsafe { libc::read(self.efd, (&mut v as *mut u64).cast(), 8) } == 8 {
                self.seen += 1;
                if self.seen < self.want {
                    let one = 1u64;
                    // SAFETY: writing 8 bytes from a u64 to our eventfd.
                    unsafe { libc::write(self.efd, (&one as *const u64).cast(), 8) };
                } else {
                    let _ = self.done.send(());
                }
            }
        } else if arg == self.want {
            // Sends to one event coalesce while the actor is busy; the last
            // one carries the count.
            let _ = self.done.send(());
        }
    }
}

fn dispatch(count: u32, owners: usize) -> String {
    let rt = runtime();
    let (tx, rx) = channel();
    let per_owner = count / owners as u32;
    let events: Vec<usize> = (0..owners)
        .map(|_| {
            let a = rt.spawn(Counter { want: per_owner, done: tx.clone(), efd: -1, seen: 0 });
            let (etx, erx) = channel();
            a.send(move |_, ctx| {
                // SAFETY: the owner is this actor's; a timer that never fires.
                let ev = unsafe { pony_asio_event_create(ctx.owner(), -1, ASIO_TIMER, 3_600_000_000_000, false) };
                ctx.events_created(1);
                let _ = etx.send(ev as usize);
            });
            erx.recv_timeout(LIMIT).expect("event")
        })
        .collect();
    let t0 = Instant::now();
    for i in 0..per_owner {
        for &ev in &events {
            // SAFETY: a live event of one of our actors.
            unsafe { pony_asio_event_send(ev as *mut Event, ASIO_READ, i + 1) };
        }
    }
    for _ in 0..owners {
        rx.recv_timeout(LIMIT).expect("dispatch finished");
    }
    let secs = t0.elapsed().as_secs_f64();
    for &ev in &events {
        // SAFETY: as above; its final notification comes back to its actor.
        unsafe { pony_asio_event_unsubscribe(ev as *mut Event) };
    }
    assert!(rt.run_until_idle_for(LIMIT));
    format!("RESULT impl=rust-api workload=dispatch-send-{owners} per_s={:.0}", (per_owner as usize * owners) as f64 / secs)
}

fn dispatch_fd(count: u32) -> String {
    let rt = runtime();
    // SAFETY: plain eventfd creation.
    let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    let (tx, rx) = channel();
    let a = rt.spawn(Counter { want: count, done: tx, efd, seen: 0 });
    let (etx, erx) = channel();
    a.send(move |_, ctx| {
        // SAFETY: the owner is this actor's; the eventfd outlives the event.
        let ev = unsafe { pony_asio_event_create(ctx.owner(), efd, ASIO_READ, 0, false) };
        ctx.events_created(1);
        let _ = etx.send(ev as usize);
    });
    let ev = erx.recv_timeout(LIMIT).expect("event") as *mut Event;
    let t0 = Instant::now();
    let one = 1u64;
    // SAFETY: writing 8 bytes from a u64 to our eventfd.
    unsafe { libc::write(efd, (&one as *const u64).cast(), 8) };
    rx.recv_timeout(LIMIT).expect("dispatch-fd finished");
    let secs = t0.elapsed().as_secs_f64();
    // SAFETY: our live event.
    unsafe { pony_asio_event_unsubscribe(ev) };
    assert!(rt.run_until_idle_for(LIMIT));
    // SAFETY: our fd, no longer watched.
    unsafe { libc::close(efd) };
    format!("RESULT impl=rust-api workload=dispatch-fd per_s={:.0}", count as f64 / secs)
}

/// Runs one workload and returns its RESULT line.
pub fn run(workload: &str, n: u64, arg: u64) -> Option<String> {
    Some(match workload {
        "pingpong" => pingpong(n as usize),
        "bulk" => bulk(n),
        "connrate" => connrate(n as usize, arg.max(1) as usize),
        "many" => many(n as usize, arg as usize, false),
        "c10k" => many(n as usize, 1, true),
        "dispatch" => dispatch(n as u32, arg.max(1) as usize),
        "dispatch-fd" => dispatch_fd(n as u32),
        _ => return None,
    })
}
