//! Soak through the Rust API: many loopback `TcpConnection`s, each sending
//! many messages of random sizes (1 B .. 64 KiB, from a seeded PRNG) to an
//! echo server behind a `TcpListener`.
//!
//! A message is a 16-byte header (magic, connection, sequence, length) and
//! a payload that is a pure function of (seed, connection, sequence, byte
//! offset): the server checks the sequence and every payload byte of what
//! it receives and echoes it; the client checks the echo against what it
//! sent. So anything lost, duplicated or reordered is a mismatch. Clients
//! keep a window of messages in flight; both sides `mute` at random and are
//! `unmute`d a little later (by the test's thread, through the handle).
//! Most connections send every message and `close`; some `close` midway,
//! some `hard_close` in the middle of a message: their bytes are accounted
//! for (the server got a prefix of what was written, the client a prefix of
//! the echo), not counted as lost.
//!
//! At the end: every byte accounted for, no fd left, no noisy subscription
//! left, and RSS at the end within `RSS_BOUND_KIB` of RSS after the warm-up
//! (the first tenth of the messages).
//!
//! Size: SOAK_CONNS connections x SOAK_MSGS messages (default 50 x 200);
//! SOAK_SEED seeds the PRNG, SOAK_SECONDS bounds the run. `make soak` runs
//! 500 x 2000 in release and prints the totals (`--nocapture`).

mod net_util;

use net_util::{lock, Rng};
use ponynet::actor::Runtime;
use ponynet::ffi::lifecycle::ponynet_asio_noisy_count;
use ponynet::net::{
    ConnectOptions, ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify, TcpListen, TcpListenNotify,
    TcpListener,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const HDR: usize = 16;
const MAX_PAYLOAD: u64 = 65536;
const MAGIC: u32 = 0x504f_4e59;
/// Messages a client has in flight.
const WINDOW: u32 = 4;
/// A `received` mutes its connection with these odds.
const MUTE_ONE_IN: u64 = 32;
const RSS_BOUND_KIB: u64 = 16 * 1024;
const READ_BUFFER: usize = 65536;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ---- messages: a pure function of (seed, connection, sequence, offset) ----

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[derive(Clone, Copy)]
struct Gen {
    seed: u64,
}

impl Gen {
    fn key(self, conn: u32, seq: u32) -> u64 {
        mix(self.seed ^ (u64::from(conn) << 32) ^ u64::from(seq))
    }

    /// Payload length of message `seq` of `conn`: 1 ..= 64 KiB.
    fn len(self, conn: u32, seq: u32) -> usize {
        1 + (mix(self.key(conn, seq)) % MAX_PAYLOAD) as usize
    }

    /// Bytes `from .. from + out.len()` of the message (header included).
    fn fill(self, conn: u32, seq: u32, len: usize, from: usize, out: &mut [u8]) {
        let mut hdr = [0u8; HDR];
        for (i, w) in [MAGIC, conn, seq, len as u32].into_iter().enumerate() {
            hdr[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        let key = self.key(conn, seq);
        let mut i = 0;
        while i < out.len() && from + i < HDR {
            out[i] = hdr[from + i];
            i += 1;
        }
        while i < out.len() {
            let p = from + i - HDR;
            let w = mix(key.wrapping_add((p / 8) as u64)).to_le_bytes();
            let b = p % 8;
            let n = (8 - b).min(out.len() - i);
            out[i..i + n].copy_from_slice(&w[b..b + n]);
            i += n;
        }
    }

    fn message(self, conn: u32, seq: u32) -> Vec<u8> {
        let len = self.len(conn, seq);
        let mut m = vec![0; HDR + len];
        self.fill(conn, seq, len, 0, &mut m);
        m
    }

    /// Whether `data` is bytes `from .. from + data.len()` of the message.
    fn matches(self, conn: u32, seq: u32, len: usize, mut from: usize, mut data: &[u8]) -> bool {
        let mut want = [0u8; 4096];
        while !data.is_empty() {
            let n = data.len().min(want.len());
            self.fill(conn, seq, len, from, &mut want[..n]);
            if want[..n] != data[..n] {
                return false;
            }
            from += n;
            data = &data[n..];
        }
        true
    }
}

// ---- what both sides record ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Full,
    CloseMidway,
    HardMidway,
}

#[derive(Clone, Copy, Debug, Default)]
struct ClientRec {
    written: u64,
    received: u64,
    echoed_msgs: u32,
    closed: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct ServerRec {
    received: u64,
    msgs: u32,
    at_boundary: bool,
    ended: bool,
}

struct Shared {
    gen: Gen,
    conns: u32,
    clients: Mutex<Vec<ClientRec>>,
    servers: Mutex<Vec<ServerRec>>,
    clients_done: AtomicUsize,
    accepted: AtomicUsize,
    servers_closed: AtomicUsize,
    failures: AtomicUsize,
    first_failure: Mutex<String>,
    echoed_msgs: AtomicU64,
    mutes: AtomicUsize,
    throttles: AtomicUsize,
    /// Muted connections and when the test's thread unmutes them.
    unmute: Mutex<Vec<(Instant, TcpConnection)>>,
}

impl Shared {
    fn fail(&self, what: String) {
        if self.failures.fetch_add(1, SeqCst) == 0 {
            *lock(&self.first_failure) = what;
        }
    }

    /// Mutes `conn` for 20 us .. 1 ms.
    fn mute_for_a_while(&self, conn: &mut TcpConn, rng: &mut Rng) {
        let Some(handle) = conn.handle() else { return };
        conn.mute();
        self.mutes.fetch_add(1, SeqCst);
        let until = Instant::now() + Duration::from_micros(20 + rng.next() % 980);
        lock(&self.unmute).push((until, handle));
    }

    /// Unmutes the connections whose time came (all of them if `all`).
    fn unmute_due(&self, all: bool) {
        let now = Instant::now();
        let due: Vec<TcpConnection> = {
            let mut list = lock(&self.unmute);
            let (due, later) = list.drain(..).partition(|(t, _)| all || *t <= now);
            *list = later;
            due.into_iter().map(|(_, h)| h).collect()
        };
        for h in due {
            h.unmute();
        }
    }
}

// ---- the client ----

struct Client {
    sh: Arc<Shared>,
    id: u32,
    kind: Kind,
    stop_after: u32,
    /// HardMidway: bytes of message `stop_after` written before the hard close.
    cut: usize,
    send_seq: u32,
    recv_seq: u32,
    recv_off: usize,
    written: u64,
    received: u64,
    rng: Rng,
    closing: bool,
}

impl Client {
    fn send_more(&mut self, conn: &mut TcpConn) {
        let gen = self.sh.gen;
        while !self.closing && self.send_seq < self.stop_after && self.send_seq < self.recv_seq + WINDOW {
            let m = gen.message(self.id, self.send_seq);
            self.written += m.len() as u64;
            conn.write(m);
            self.send_seq += 1;
        }
        if self.closing || self.send_seq < self.stop_after {
            return;
        }
        self.closing = true;
        if self.kind == Kind::HardMidway {
            // Part of one more message, then drop the connection: queued
            // writes and unread echoes go with it.
            let mut m = gen.message(self.id, self.send_seq);
            m.truncate(self.cut);
            self.written += m.len() as u64;
            conn.write(m);
            self.send_seq += 1;
            conn.hard_close();
        } else {
            conn.close();
        }
    }

    /// Checks the echo, message by message.
    fn check(&mut self, mut data: &[u8]) -> Result<(), String> {
        let gen = self.sh.gen;
        while !data.is_empty() {
            if self.recv_seq >= self.send_seq {
                return Err(format!("client {}: more came back than was written", self.id));
            }
            let len = gen.len(self.id, self.recv_seq);
            let take = (HDR + len - self.recv_off).min(data.len());
            if !gen.matches(self.id, self.recv_seq, len, self.recv_off, &data[..take]) {
                return Err(format!("client {}: the echo of message {} differs", self.id, self.recv_seq));
            }
            self.recv_off += take;
            data = &data[take..];
            if self.recv_off == HDR + len {
                self.recv_off = 0;
                self.recv_seq += 1;
                self.sh.echoed_msgs.fetch_add(1, SeqCst);
            }
        }
        Ok(())
    }
}

impl TcpConnectionNotify for Client {
    fn connected(&mut self, conn: &mut TcpConn) {
        self.send_more(conn);
    }

    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.received += data.len() as u64;
        if let Err(e) = self.check(&data) {
            self.sh.fail(e);
            conn.hard_close();
            return true;
        }
        conn.recycle(data);
        self.send_more(conn);
        // A muted connection cannot see the peer's EOF, so none once closing.
        if !self.closing && self.rng.next() % MUTE_ONE_IN == 0 {
            self.sh.mute_for_a_while(conn, &mut self.rng);
        }
        true
    }

    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.sh.fail(format!("client {}: connect failed", self.id));
        self.sh.clients_done.fetch_add(1, SeqCst);
    }

    fn closed(&mut self, _conn: &mut TcpConn) {
        lock(&self.sh.clients)[self.id as usize] = ClientRec {
            written: self.written,
            received: self.received,
            echoed_msgs: self.recv_seq,
            closed: true,
        };
        self.sh.clients_done.fetch_add(1, SeqCst);
    }

    fn throttled(&mut self, _conn: &mut TcpConn) {
        self.sh.throttles.fetch_add(1, SeqCst);
    }
}

// ---- the server ----

struct ServerConn {
    sh: Arc<Shared>,
    hdr: [u8; HDR],
    hdr_have: usize,
    id: Option<u32>,
    seq: u32,
    len: usize,
    pay_off: usize,
    broken: bool,
    received: u64,
    msgs: u32,
    rng: Rng,
}

impl ServerConn {
    /// Checks the incoming stream: headers in sequence, payloads as generated.
    fn check(&mut self, mut data: &[u8]) -> Result<(), String> {
        let gen = self.sh.gen;
        while !data.is_empty() {
            if self.hdr_have < HDR {
                let take = (HDR - self.hdr_have).min(data.len());
                self.hdr[self.hdr_have..self.hdr_have + take].copy_from_slice(&data[..take]);
                self.hdr_have += take;
                data = &data[take..];
                if self.hdr_have < HDR {
                    return Ok(());
                }
                let w: Vec<u32> =
                    self.hdr.chunks(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
                if self.id.is_none() && w[1] < self.sh.conns {
                    self.id = Some(w[1]);
                }
                let id = self.id.unwrap_or(u32::MAX);
                if w[0] != MAGIC || w[1] != id || w[2] != self.seq || w[3] as usize != gen.len(id, self.seq) {
                    return Err(format!("server: header {w:?} out of sequence (connection {id}, expected {})", self.seq));
                }
                self.len = w[3] as usize;
                self.pay_off = 0;
            }
            let id = self.id.unwrap_or(u32::MAX);
            let take = (self.len - self.pay_off).min(data.len());
            if !gen.matches(id, self.seq, self.len, HDR + self.pay_off, &data[..take]) {
                return Err(format!("server: payload of message {} of connection {id} differs", self.seq));
            }
            self.pay_off += take;
            data = &data[take..];
            if self.pay_off == self.len {
                self.hdr_have = 0;
                self.seq += 1;
                self.msgs += 1;
            }
        }
        Ok(())
    }
}

impl TcpConnectionNotify for ServerConn {
    fn accepted(&mut self, conn: &mut TcpConn) {
        self.sh.accepted.fetch_add(1, SeqCst);
        // A small send buffer: echoes often wait for the client to read.
        let _ = conn.set_so_sndbuf(32 * 1024);
    }

    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.received += data.len() as u64;
        if !self.broken {
            if let Err(e) = self.check(&data) {
                self.broken = true;
                self.sh.fail(e);
            }
        }
        conn.write(data);
        if self.rng.next() % (2 * MUTE_ONE_IN) == 0 {
            self.sh.mute_for_a_while(conn, &mut self.rng);
        }
        true
    }

    fn connect_failed(&mut self, _conn: &mut TcpConn) {}

    fn throttled(&mut self, _conn: &mut TcpConn) {
        self.sh.throttles.fetch_add(1, SeqCst);
    }

    fn closed(&mut self, _conn: &mut TcpConn) {
        if let Some(id) = self.id {
            lock(&self.sh.servers)[id as usize] = ServerRec {
                received: self.received,
                msgs: self.msgs,
                at_boundary: self.hdr_have == 0,
                ended: true,
            };
        }
        self.sh.servers_closed.fetch_add(1, SeqCst);
    }
}

struct Listen {
    sh: Arc<Shared>,
    port: mpsc::Sender<u16>,
    rng: Rng,
}

impl TcpListenNotify for Listen {
    fn listening(&mut self, listen: &mut TcpListen) {
        let _ = self.port.send(listen.local_address().map(|a| a.port()).unwrap_or(0));
    }
    fn not_listening(&mut self, _listen: &mut TcpListen) {
        let _ = self.port.send(0);
    }
    fn connected(&mut self, _listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        Some(Box::new(ServerConn {
            sh: Arc::clone(&self.sh),
            hdr: [0; HDR],
            hdr_have: 0,
            id: None,
            seq: 0,
            len: 0,
            pay_off: 0,
            broken: false,
            received: 0,
            msgs: 0,
            rng: Rng::new(self.rng.next()),
        }))
    }
}

// ---- the run ----

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count().saturating_sub(1)).unwrap_or(0)
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * (unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64 / 1024)
}

/// Polls `cond` (unmuting what is due meanwhile) until it holds or `deadline` passes.
fn wait_for(sh: &Shared, deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
    loop {
        sh.unmute_due(false);
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

#[test]
fn echo_soak_through_the_rust_api() {
    let conns = env_or("SOAK_CONNS", 50) as u32;
    let msgs = env_or("SOAK_MSGS", 200) as u32;
    let gen = Gen { seed: env_or("SOAK_SEED", 0x50a4) };
    let limit = Duration::from_secs(env_or("SOAK_SECONDS", 25));
    assert!(conns > 0 && msgs > 0, "SOAK_CONNS and SOAK_MSGS must be positive");
    let start = Instant::now();
    let deadline = start + limit;

    let rt = Runtime::new(2).expect("runtime");
    let rss_start = rss_kib();
    let sh = Arc::new(Shared {
        gen,
        conns,
        clients: Mutex::new(vec![ClientRec::default(); conns as usize]),
        servers: Mutex::new(vec![ServerRec::default(); conns as usize]),
        clients_done: AtomicUsize::new(0),
        accepted: AtomicUsize::new(0),
        servers_closed: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
        first_failure: Mutex::new(String::new()),
        echoed_msgs: AtomicU64::new(0),
        mutes: AtomicUsize::new(0),
        throttles: AtomicUsize::new(0),
        unmute: Mutex::new(Vec::new()),
    });
    let (tx, rx) = mpsc::channel();
    let options = ListenOptions { read_buffer_size: READ_BUFFER, ..ListenOptions::default() };
    let listen = Listen { sh: Arc::clone(&sh), port: tx, rng: Rng::new(gen.seed ^ 0x5e) };
    let listener = TcpListener::listen_with(&rt, listen, "127.0.0.1", "0", options);
    let port = rx.recv_timeout(limit).expect("listening");
    assert_ne!(port, 0, "could not listen");
    let fds0 = open_fds();

    let mut rng = Rng::new(gen.seed ^ 0xc1);
    let mut kinds = Vec::new();
    let options = ConnectOptions { read_buffer_size: READ_BUFFER, ..ConnectOptions::default() };
    for id in 0..conns {
        let r = rng.next() % 10;
        let kind = match r {
            0..=7 => Kind::Full,
            8 => Kind::CloseMidway,
            _ => Kind::HardMidway,
        };
        let mut stop_after = if kind == Kind::Full { msgs } else { (rng.next() % u64::from(msgs)) as u32 };
        // A hard close comes after the first header at least: the server knows whose stream it was.
        if kind == Kind::HardMidway {
            stop_after = stop_after.max(1);
        }
        let cut = 1 + (rng.next() % (HDR + gen.len(id, stop_after) - 1) as u64) as usize;
        kinds.push((kind, stop_after));
        let client = Client {
            sh: Arc::clone(&sh),
            id,
            kind,
            stop_after,
            cut,
            send_seq: 0,
            recv_seq: 0,
            recv_off: 0,
            written: 0,
            received: 0,
            rng: Rng::new(rng.next()),
            closing: false,
        };
        TcpConnection::connect_with(&rt, client, "127.0.0.1", &port.to_string(), options.clone());
    }
    let planned: u64 = kinds.iter().map(|&(_, n)| u64::from(n)).sum();
    let n = conns as usize;

    // Warm-up: the first tenth of the messages; then RSS is taken.
    let warmed = wait_for(&sh, deadline, || {
        sh.echoed_msgs.load(SeqCst) >= planned / 10 || sh.failures.load(SeqCst) > 0 || sh.clients_done.load(SeqCst) == n
    });
    let rss_warm = rss_kib();
    let done = warmed
        && wait_for(&sh, deadline, || {
            sh.clients_done.load(SeqCst) == n && sh.servers_closed.load(SeqCst) == sh.accepted.load(SeqCst)
                && sh.accepted.load(SeqCst) == n
        });
    sh.unmute_due(true);
    let secs = start.elapsed().as_secs_f64();
    let rss_end = rss_kib();
    assert!(
        done,
        "not done after {secs:.0} s: {} of {n} clients closed, {} accepted, {} server connections closed",
        sh.clients_done.load(SeqCst),
        sh.accepted.load(SeqCst),
        sh.servers_closed.load(SeqCst)
    );
    assert_eq!(sh.failures.load(SeqCst), 0, "first failure: {}", lock(&sh.first_failure));

    // Every byte accounted for.
    let clients = lock(&sh.clients).clone();
    let servers = lock(&sh.servers).clone();
    let (mut written, mut echoed, mut msgs_back, mut abandoned) = (0u64, 0u64, 0u64, 0u64);
    let mut mismatched = Vec::new();
    for (id, ((&(kind, stop_after), c), s)) in kinds.iter().zip(&clients).zip(&servers).enumerate() {
        written += c.written;
        echoed += c.received;
        msgs_back += u64::from(c.echoed_msgs);
        let ok = if kind == Kind::HardMidway {
            abandoned += c.written - c.received;
            // The server got a prefix of what was written, the client a prefix of that.
            c.closed && s.received <= c.written && c.received <= s.received
        } else {
            // (A connection that wrote nothing never told the server its id.)
            c.closed
                && c.echoed_msgs == stop_after
                && c.received == c.written
                && (c.written == 0 || (s.ended && s.at_boundary && s.received == c.written && s.msgs == stop_after))
        };
        if !ok {
            mismatched.push(format!("connection {id} ({kind:?}, {stop_after} messages): client {c:?}, server {s:?}"));
        }
    }
    assert!(mismatched.is_empty(), "bytes not accounted for: {:#?}", &mismatched[..mismatched.len().min(5)]);

    assert_eq!(open_fds(), fds0, "fds left behind");
    assert_eq!(ponynet_asio_noisy_count(), 1, "noisy subscriptions other than the listener");
    listener.dispose();
    assert!(wait_for(&sh, Instant::now() + limit, || ponynet_asio_noisy_count() == 0), "the listener stayed subscribed");
    assert!(rt.run_until_idle_for(limit), "the runtime did not go idle");
    assert!(rss_end <= rss_warm + RSS_BOUND_KIB, "RSS grew from {rss_warm} KiB after the warm-up to {rss_end} KiB");
    if planned >= 1000 {
        assert!(sh.mutes.load(SeqCst) > 0 && sh.throttles.load(SeqCst) > 0, "no mute or no throttling: not a soak");
    }
    let count = |k: Kind| kinds.iter().filter(|&&(kind, _)| kind == k).count();
    println!(
        "soak (Rust API): {n} connections ({} all messages, {} closed midway, {} hard-closed midway), \
         {msgs_back} messages echoed, {written} bytes written and {echoed} echoed back ({abandoned} abandoned by \
         hard closes), {} mutes, {} throttles, {secs:.1} s, RSS start {rss_start} KiB, after warm-up {rss_warm} KiB, \
         end {rss_end} KiB (bound: warm-up + {RSS_BOUND_KIB} KiB)",
        count(Kind::Full),
        count(Kind::CloseMidway),
        count(Kind::HardMidway),
        sh.mutes.load(SeqCst),
        sh.throttles.load(SeqCst),
    );
}
