//! Shared helpers for the net tests: a listener that hands out notifiers
//! from a closure, a callback log, a PRNG, checksums, bounded waits.

#![allow(dead_code)]

use ponynet::actor::Runtime;
use ponynet::net::{
    ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify, TcpListen, TcpListenNotify, TcpListener,
};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bound of every wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(60);

pub fn runtime() -> Runtime {
    Runtime::new(2).expect("runtime")
}

/// Waits for the runtime to go idle; panics if it does not within LIMIT.
pub fn settle(rt: &Runtime) {
    assert!(rt.run_until_idle_for(LIMIT), "the runtime did not go idle within {LIMIT:?}");
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A list of what happened, shared between notifiers and the test.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, what: impl Into<String>) {
        lock(&self.0).push(what.into());
    }
    pub fn all(&self) -> Vec<String> {
        lock(&self.0).clone()
    }
    pub fn count(&self, what: &str) -> usize {
        lock(&self.0).iter().filter(|s| *s == what).count()
    }
}

/// Polls `cond` until it holds; panics after LIMIT.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A listener notifier: reports its port, makes each connection's
/// notifier with `make`, and closes itself after `accepts` connections.
pub struct Server<F> {
    make: F,
    port: mpsc::Sender<u16>,
    accepts: usize,
    accepted: usize,
}

impl<F> TcpListenNotify for Server<F>
where
    F: FnMut() -> Box<dyn TcpConnectionNotify> + Send + 'static,
{
    fn listening(&mut self, listen: &mut TcpListen) {
        let port = listen.local_address().map(|a| a.port()).unwrap_or(0);
        let _ = self.port.send(port);
    }
    fn not_listening(&mut self, _listen: &mut TcpListen) {
        let _ = self.port.send(0);
    }
    fn connected(&mut self, listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        self.accepted += 1;
        if self.accepted >= self.accepts {
            listen.close();
        }
        Some((self.make)())
    }
}

/// Listens on 127.0.0.1 (a free port) and returns the listener and port.
pub fn serve<F>(rt: &Runtime, accepts: usize, options: ListenOptions, make: F) -> (TcpListener, u16)
where
    F: FnMut() -> Box<dyn TcpConnectionNotify> + Send + 'static,
{
    serve_at(rt, "127.0.0.1", accepts, options, make)
}

/// As [`serve`], on `host`.
pub fn serve_at<F>(rt: &Runtime, host: &str, accepts: usize, options: ListenOptions, make: F) -> (TcpListener, u16)
where
    F: FnMut() -> Box<dyn TcpConnectionNotify> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let listener = TcpListener::listen_with(rt, Server { make, port: tx, accepts, accepted: 0 }, host, "0", options);
    let port = rx.recv_timeout(LIMIT).expect("listening");
    assert_ne!(port, 0, "could not listen");
    (listener, port)
}

/// Echoes everything back; closes when the peer does.
pub struct Echo;

impl TcpConnectionNotify for Echo {
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        conn.write(data);
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// xorshift64*: reproducible sizes and bytes without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// FNV-1a, streaming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub fn of(data: &[u8]) -> Fnv {
        let mut f = Fnv::default();
        f.update(data);
        f
    }
}

/// A handle slot shared between actors and the test.
pub type Slot = Arc<Mutex<Option<TcpConnection>>>;

pub mod netns;

#[path = "../../src/net/test_sockets.rs"]
mod test_sockets;
#[allow(unused_imports)] // each test binary uses some of them
pub use test_sockets::{blackhole, syn_sent_to};
