//! TcpConnection through the public Rust API: echo, framing, backpressure,
//! mute, close flavours, half-close, failures, Happy Eyeballs.

mod net_util;

use net_util::*;
use ponynet::net::{ByteSeq, ConnectOptions, ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify};
use std::io::{Read, Write};
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const MIB: usize = 1 << 20;

/// Writes `data` in random-sized pieces (some vectored) once connected;
/// closes once it has heard all of it back.
struct EchoClient {
    data: Arc<Vec<u8>>,
    seed: u64,
    got: Arc<Mutex<Vec<u8>>>,
    log: Log,
}

impl TcpConnectionNotify for EchoClient {
    fn connected(&mut self, conn: &mut TcpConn) {
        self.log.push("connected");
        let mut rng = Rng::new(self.seed);
        let mut at = 0;
        while at < self.data.len() {
            let n = rng.range(1, 64 * 1024).min(self.data.len() - at);
            if rng.range(0, 3) == 0 && n > 1 {
                let half = n / 2;
                conn.writev([self.data[at..at + half].to_vec(), self.data[at + half..at + n].to_vec()]);
            } else {
                conn.write(self.data[at..at + n].to_vec());
            }
            at += n;
        }
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        let mut got = lock(&self.got);
        got.extend_from_slice(&data);
        if got.len() >= self.data.len() {
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.log.push("connect_failed");
    }
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
}

#[test]
fn echoes_one_mib_written_in_random_pieces() {
    let rt = runtime();
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), || Box::new(Echo));
    let data = Arc::new(Rng::new(7).bytes(MIB));
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = Log::default();
    let client = EchoClient { data: Arc::clone(&data), seed: 11, got: Arc::clone(&got), log: log.clone() };
    TcpConnection::connect(&rt, client, "127.0.0.1", &port.to_string());
    settle(&rt);
    let got = lock(&got);
    assert_eq!(got.len(), MIB);
    assert_eq!(Fnv::of(&got), Fnv::of(&data), "checksums differ");
    assert_eq!(log.all(), ["connected", "closed"]);
}

/// Sends length-prefixed messages, cut at random places.
struct FramedSender {
    wire: Vec<u8>,
}

impl TcpConnectionNotify for FramedSender {
    fn connected(&mut self, conn: &mut TcpConn) {
        let mut rng = Rng::new(3);
        let mut at = 0;
        while at < self.wire.len() {
            let n = rng.range(1, 700).min(self.wire.len() - at);
            conn.write(self.wire[at..at + n].to_vec());
            at += n;
        }
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Reads a 4-byte length, then exactly that many bytes, with `expect`.
struct FramedReceiver {
    header: bool,
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
    bad_sizes: Arc<AtomicUsize>,
}

impl TcpConnectionNotify for FramedReceiver {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.expect(4).expect("expect 4");
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        let wanted = conn.expecting();
        if data.len() != wanted {
            self.bad_sizes.fetch_add(1, Ordering::SeqCst);
        }
        if self.header {
            let len = u32::from_be_bytes(data[..4].try_into().unwrap_or_default()) as usize;
            conn.expect(len).expect("expect payload");
        } else {
            lock(&self.messages).push(data);
            conn.expect(4).expect("expect header");
        }
        self.header = !self.header;
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

#[test]
fn expect_frames_length_prefixed_messages() {
    let rt = runtime();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let bad_sizes = Arc::new(AtomicUsize::new(0));
    let (m, b) = (Arc::clone(&messages), Arc::clone(&bad_sizes));
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || {
        Box::new(FramedReceiver { header: true, messages: Arc::clone(&m), bad_sizes: Arc::clone(&b) })
    });
    let mut rng = Rng::new(5);
    let sent: Vec<Vec<u8>> = (0..500)
        .map(|_| {
            let n = rng.range(1, 3000);
            rng.bytes(n)
        })
        .collect();
    let mut wire = Vec::new();
    for m in &sent {
        wire.extend_from_slice(&(m.len() as u32).to_be_bytes());
        wire.extend_from_slice(m);
    }
    TcpConnection::connect(&rt, FramedSender { wire }, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert_eq!(bad_sizes.load(Ordering::SeqCst), 0, "a received call did not carry the expected size");
    assert!(*lock(&messages) == sent, "messages lost, cut wrongly or reordered");
}

/// A frame that arrives in pieces, with the reader idle (at would-block)
/// between them: the partial frame is kept while the connection gives its
/// read buffer back.
#[test]
fn expect_keeps_a_partial_frame_across_idle_pauses() {
    let rt = runtime();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let bad_sizes = Arc::new(AtomicUsize::new(0));
    let (m, b) = (Arc::clone(&messages), Arc::clone(&bad_sizes));
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || {
        Box::new(FramedReceiver { header: true, messages: Arc::clone(&m), bad_sizes: Arc::clone(&b) })
    });
    let sent: Vec<Vec<u8>> = vec![vec![7u8; 10], vec![9u8; 5000], vec![1u8; 3]];
    let mut wire = Vec::new();
    for m in &sent {
        wire.extend_from_slice(&(m.len() as u32).to_be_bytes());
        wire.extend_from_slice(m);
    }
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    // Cut inside a header, inside a payload, and between frames.
    for piece in [&wire[..2], &wire[2..9], &wire[9..2000], &wire[2000..5018], &wire[5018..]] {
        client.write_all(piece).expect("write");
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    drop(client);
    settle(&rt);
    assert_eq!(bad_sizes.load(Ordering::SeqCst), 0, "a received call did not carry the expected size");
    assert!(*lock(&messages) == sent, "a frame split across pauses was lost or cut wrongly");
}

/// Opens `gate` (unmutes the receiver) once the sender is throttled and
/// the receiver's handle is known, whichever comes second.
#[derive(Default)]
struct Gate {
    receiver: Option<TcpConnection>,
    throttled: bool,
    opened: bool,
}

impl Gate {
    fn try_open(&mut self) {
        if let (Some(r), true, false) = (&self.receiver, self.throttled, self.opened) {
            r.unmute();
            self.opened = true;
        }
    }
}

/// Receives muted until the gate opens; closes after `total` bytes.
struct SlowReceiver {
    gate: Arc<Mutex<Gate>>,
    total: usize,
    sum: Fnv,
    seen: usize,
    result: Arc<Mutex<Option<Fnv>>>,
}

impl TcpConnectionNotify for SlowReceiver {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.mute();
        let mut gate = lock(&self.gate);
        gate.receiver = conn.handle();
        gate.try_open();
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.sum.update(&data);
        self.seen += data.len();
        if self.seen >= self.total {
            *lock(&self.result) = Some(self.sum);
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Writes `data` at once; logs throttled/unthrottled.
struct Flood {
    data: Arc<Vec<u8>>,
    gate: Arc<Mutex<Gate>>,
    log: Log,
}

impl TcpConnectionNotify for Flood {
    fn connected(&mut self, conn: &mut TcpConn) {
        for piece in self.data.chunks(64 * 1024) {
            conn.write(piece.to_vec());
        }
    }
    fn received(&mut self, _conn: &mut TcpConn, _data: Vec<u8>, _times: usize) -> bool {
        true
    }
    fn throttled(&mut self, _conn: &mut TcpConn) {
        self.log.push("throttled");
        let mut gate = lock(&self.gate);
        gate.throttled = true;
        gate.try_open();
    }
    fn unthrottled(&mut self, conn: &mut TcpConn) {
        self.log.push("unthrottled");
        if conn.pending_bytes() == 0 {
            self.log.push("drained");
        }
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
}

#[test]
fn a_slow_reader_throttles_then_unthrottles_the_writer() {
    let rt = runtime();
    let gate = Arc::new(Mutex::new(Gate::default()));
    let result = Arc::new(Mutex::new(None));
    let data = Arc::new(Rng::new(9).bytes(16 * MIB));
    let (g, r, total) = (Arc::clone(&gate), Arc::clone(&result), data.len());
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || {
        Box::new(SlowReceiver { gate: Arc::clone(&g), total, sum: Fnv::default(), seen: 0, result: Arc::clone(&r) })
    });
    let log = Log::default();
    let flood = Flood { data: Arc::clone(&data), gate: Arc::clone(&gate), log: log.clone() };
    TcpConnection::connect(&rt, flood, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert_eq!(*lock(&result), Some(Fnv::of(&data)), "the reader did not get every byte in order");
    let events = log.all();
    assert_eq!(events.first().map(String::as_str), Some("throttled"), "{events:?}");
    assert!(events.contains(&"drained".to_owned()), "never unthrottled with the queue empty: {events:?}");
    let flow: Vec<_> = events.iter().filter(|e| *e == "throttled" || *e == "unthrottled").collect();
    assert!(flow.windows(2).all(|w| w[0] != w[1]), "throttled/unthrottled did not alternate: {flow:?}");
    assert_eq!(flow.last().map(|s| s.as_str()), Some("unthrottled"));
}

/// Mutes itself after every `every`-th 4-byte number and has itself
/// unmuted by a later behaviour; records the numbers.
struct Stutter {
    every: u32,
    numbers: Arc<Mutex<Vec<u32>>>,
    total: u32,
}

impl TcpConnectionNotify for Stutter {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.expect(4).expect("expect");
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        let n = u32::from_be_bytes(data[..4].try_into().unwrap_or_default());
        let mut numbers = lock(&self.numbers);
        numbers.push(n);
        if numbers.len() as u32 == self.total {
            conn.close();
        } else if n % self.every == 0 {
            conn.mute();
            if let Some(me) = conn.handle() {
                me.unmute();
            }
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Sends 0..total as 4-byte numbers in one write, then closes.
struct Counter {
    total: u32,
}

impl TcpConnectionNotify for Counter {
    fn connected(&mut self, conn: &mut TcpConn) {
        let wire: Vec<u8> = (0..self.total).flat_map(u32::to_be_bytes).collect();
        conn.write(wire);
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

#[test]
fn mute_and_unmute_keep_every_message_in_order() {
    let rt = runtime();
    let numbers = Arc::new(Mutex::new(Vec::new()));
    let total = 20_000;
    let n = Arc::clone(&numbers);
    let (_listener, port) =
        serve(&rt, 1, ListenOptions::default(), move || Box::new(Stutter { every: 7, numbers: Arc::clone(&n), total }));
    TcpConnection::connect(&rt, Counter { total }, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert!(lock(&numbers).iter().copied().eq(0..total), "numbers lost or reordered across mute/unmute");
}

/// Records whether anything arrived while muted.
struct Muted {
    received: Arc<AtomicUsize>,
    slot: Slot,
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl TcpConnectionNotify for Muted {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.mute();
        *lock(&self.slot) = conn.handle();
    }
    fn received(&mut self, _conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.received.fetch_add(1, Ordering::SeqCst);
        lock(&self.bytes).extend_from_slice(&data);
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Bytes the kernel holds for reading on `fd` (FIONREAD).
fn queued_for_reading(fd: i32) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } != 0 {
        return 0;
    }
    n as usize
}

#[test]
fn a_muted_connection_reads_nothing_until_unmuted() {
    let rt = runtime();
    let received = Arc::new(AtomicUsize::new(0));
    let slot: Slot = Arc::default();
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let (r, s, b) = (Arc::clone(&received), Arc::clone(&slot), Arc::clone(&bytes));
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || {
        Box::new(Muted { received: Arc::clone(&r), slot: Arc::clone(&s), bytes: Arc::clone(&b) })
    });
    let mut peer = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    peer.write_all(b"while muted").expect("write");
    wait_until("the muted connection", || lock(&slot).is_some());
    let server = lock(&slot).clone().expect("handle");
    // The bytes sit in the socket, unread, while the connection is muted.
    let queued = Arc::new(AtomicUsize::new(0));
    wait_until("the bytes to reach the muted socket", || {
        let q = Arc::clone(&queued);
        server.with(move |c| q.store(queued_for_reading(c.fd()), Ordering::SeqCst));
        queued.load(Ordering::SeqCst) == 11
    });
    assert_eq!(received.load(Ordering::SeqCst), 0, "a muted connection delivered data");
    server.unmute();
    drop(peer);
    settle(&rt);
    assert_eq!(*lock(&bytes), b"while muted");
}

/// Unmutes the receiver once the writer has closed and the receiver's
/// handle is known, whichever comes second.
#[derive(Default)]
struct CloseGate {
    receiver: Option<TcpConnection>,
    writer_closed: bool,
}

impl CloseGate {
    fn try_open(&mut self) {
        if self.writer_closed {
            if let Some(r) = self.receiver.take() {
                r.unmute();
            }
        }
    }
}

/// Writes `size` bytes once connected, then closes (gracefully or not) in
/// one behaviour, noting what was still queued.
struct WriteThenClose {
    size: usize,
    hard: bool,
    log: Log,
    pending_at_close: Arc<AtomicUsize>,
    gate: Arc<Mutex<CloseGate>>,
}

impl TcpConnectionNotify for WriteThenClose {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.write(vec![7u8; self.size]);
        let (hard, pending, gate) = (self.hard, Arc::clone(&self.pending_at_close), Arc::clone(&self.gate));
        if let Some(me) = conn.handle() {
            me.with(move |c| {
                pending.store(c.pending_bytes(), Ordering::SeqCst);
                if hard {
                    c.hard_close();
                } else {
                    c.close();
                }
                let mut gate = lock(&gate);
                gate.writer_closed = true;
                gate.try_open();
            });
        }
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.log.push("connect_failed");
    }
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
}

/// Counts bytes, muted until the gate opens; closes when the peer does.
struct Sink {
    bytes: Arc<AtomicUsize>,
    log: Log,
    gate: Arc<Mutex<CloseGate>>,
}

impl TcpConnectionNotify for Sink {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.mute();
        let mut gate = lock(&self.gate);
        gate.receiver = conn.handle();
        gate.try_open();
    }
    fn received(&mut self, _conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.bytes.fetch_add(data.len(), Ordering::SeqCst);
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("sink closed");
    }
}

/// Returns (bytes the peer got, bytes written, bytes queued at the close).
fn close_flavour(hard: bool) -> (usize, usize, usize, Log) {
    let rt = runtime();
    let bytes = Arc::new(AtomicUsize::new(0));
    let log = Log::default();
    let gate = Arc::new(Mutex::new(CloseGate::default()));
    let (b, l, g) = (Arc::clone(&bytes), log.clone(), Arc::clone(&gate));
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || {
        Box::new(Sink { bytes: Arc::clone(&b), log: l.clone(), gate: Arc::clone(&g) })
    });
    let pending = Arc::new(AtomicUsize::new(0));
    // More than the kernel buffers of a muted peer hold.
    let size = 64 * MIB;
    let client = WriteThenClose { size, hard, log: log.clone(), pending_at_close: Arc::clone(&pending), gate };
    TcpConnection::connect(&rt, client, "127.0.0.1", &port.to_string());
    settle(&rt);
    let pending = pending.load(Ordering::SeqCst);
    assert!(pending > 0, "the write finished at once: nothing to tell the closes apart");
    (bytes.load(Ordering::SeqCst), size, pending, log)
}

#[test]
fn close_sends_everything_queued_first() {
    let (got, size, _pending, log) = close_flavour(false);
    assert_eq!(got, size, "a graceful close lost queued data");
    assert_eq!(log.count("closed"), 1);
    assert_eq!(log.count("sink closed"), 1);
}

#[test]
fn hard_close_drops_what_is_queued() {
    let (got, size, pending, log) = close_flavour(true);
    assert_eq!(got, size - pending, "hard_close must drop exactly what was still queued");
    assert_eq!(log.count("closed"), 1);
    assert_eq!(log.count("sink closed"), 1);
}

/// Writes a request and closes (half-close); logs what comes after.
struct HalfCloser {
    log: Log,
    after_close: Arc<AtomicUsize>,
}

impl TcpConnectionNotify for HalfCloser {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.write("request");
        conn.close();
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        assert!(conn.is_closed());
        self.after_close.fetch_add(data.len(), Ordering::SeqCst);
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("client closed");
    }
}

/// Answers the request with `reply` bytes.
struct Replier {
    reply: usize,
    log: Log,
}

impl TcpConnectionNotify for Replier {
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        if data == b"request" {
            conn.write(vec![1u8; self.reply]);
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("server closed");
    }
}

#[test]
fn after_close_the_connection_still_receives_until_the_peer_closes() {
    let rt = runtime();
    let log = Log::default();
    let l = log.clone();
    let reply = 4 * MIB;
    let (_listener, port) =
        serve(&rt, 1, ListenOptions::default(), move || Box::new(Replier { reply, log: l.clone() }));
    let after = Arc::new(AtomicUsize::new(0));
    let client = HalfCloser { log: log.clone(), after_close: Arc::clone(&after) };
    TcpConnection::connect(&rt, client, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert_eq!(after.load(Ordering::SeqCst), reply, "data sent after our close was lost");
    assert_eq!(log.count("client closed"), 1);
    assert_eq!(log.count("server closed"), 1);
}

#[test]
fn a_peer_that_shuts_down_its_side_still_gets_the_whole_reply() {
    let rt = runtime();
    let log = Log::default();
    let l = log.clone();
    let reply = 8 * MIB;
    let (_listener, port) =
        serve(&rt, 1, ListenOptions::default(), move || Box::new(Replier { reply, log: l.clone() }));
    let peer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(b"request").expect("write");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("read");
        got.len()
    });
    settle(&rt);
    assert_eq!(peer.join().expect("peer"), reply, "the reply was cut when the peer half-closed");
    assert_eq!(log.count("server closed"), 1);
}

/// Logs every connection-level notification.
struct Recorder {
    log: Log,
}

impl TcpConnectionNotify for Recorder {
    fn connecting(&mut self, _conn: &mut TcpConn, count: u32) {
        self.log.push(format!("connecting {count}"));
    }
    fn connected(&mut self, conn: &mut TcpConn) {
        self.log.push("connected");
        if let Ok(a) = conn.remote_address() {
            self.log.push(format!("remote {}", a.port()));
        }
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.log.push("connect_failed");
    }
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
}

#[test]
fn a_refused_connection_reports_connect_failed_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let rt = runtime();
    let log = Log::default();
    TcpConnection::connect(&rt, Recorder { log: log.clone() }, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert_eq!(log.all(), ["connecting 1", "connect_failed"]);
}

#[test]
fn a_name_that_does_not_resolve_reports_connect_failed() {
    let rt = runtime();
    let log = Log::default();
    TcpConnection::connect(&rt, Recorder { log: log.clone() }, "no-such-host.invalid", "80");
    TcpConnection::connect(&rt, Recorder { log: log.clone() }, "127.0.0.1", "no-such-service-name");
    settle(&rt);
    assert_eq!(log.all(), ["connect_failed", "connect_failed"]);
}

#[test]
fn happy_eyeballs_to_localhost_connects_once() {
    let rt = runtime();
    // Listen on every loopback address localhost may name.
    let (_l4, port) = serve(&rt, 1, ListenOptions::default(), || Box::new(Echo));
    let addrs: std::collections::BTreeSet<_> =
        ("localhost", port).to_socket_addrs().expect("resolve localhost").map(|a| a.ip()).collect();
    let log = Log::default();
    TcpConnection::connect(&rt, Recorder { log: log.clone() }, "localhost", &port.to_string());
    settle(&rt);
    let events = log.all();
    assert_eq!(events.first(), Some(&format!("connecting {}", addrs.len())), "{events:?}");
    assert_eq!(log.count("connected"), 1, "{events:?}");
    assert_eq!(log.count("closed"), 1, "{events:?}");
    assert_eq!(log.count("connect_failed"), 0, "{events:?}");
    assert!(events.contains(&format!("remote {port}")), "{events:?}");
}

#[test]
fn ip4_and_ip6_variants_pick_their_family() {
    let rt = runtime();
    let (_l, port) = serve(&rt, 1, ListenOptions::default(), || Box::new(Echo));
    let log4 = Log::default();
    TcpConnection::connect_ip4(&rt, Recorder { log: log4.clone() }, "127.0.0.1", &port.to_string());
    let log6 = Log::default();
    TcpConnection::connect_ip6(&rt, Recorder { log: log6.clone() }, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert_eq!(log4.count("connected"), 1, "{:?}", log4.all());
    assert_eq!(log6.all(), ["connect_failed"], "an IPv4 literal has no IPv6 address");
}

/// Uppercases what it sends and records what `proxy_via` was asked.
struct Transforming {
    log: Log,
}

impl TcpConnectionNotify for Transforming {
    fn proxy_via(&mut self, host: &str, service: &str) -> Option<(String, String)> {
        self.log.push(format!("proxy_via {host} {service}"));
        // The "proxy" is the real server: `service` carries its port.
        Some(("127.0.0.1".to_owned(), service.trim_start_matches("proxied-").to_owned()))
    }
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.write("abc");
        conn.writev(["de", "f"]);
        conn.write_final("-raw");
    }
    fn sent(&mut self, _conn: &mut TcpConn, data: ByteSeq) -> ByteSeq {
        data.to_ascii_uppercase().into()
    }
    fn sentv(&mut self, _conn: &mut TcpConn, data: Vec<ByteSeq>) -> Vec<ByteSeq> {
        data.into_iter().map(|d| d.to_ascii_uppercase().into()).collect()
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.log.push(String::from_utf8_lossy(&data).into_owned());
        conn.close();
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.log.push("connect_failed");
    }
}

/// Replies with everything once it has `n` bytes.
struct Collect {
    n: usize,
    buf: Vec<u8>,
}

impl TcpConnectionNotify for Collect {
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= self.n {
            conn.write(std::mem::take(&mut self.buf));
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

#[test]
fn proxy_via_and_the_sent_transforms_apply() {
    let rt = runtime();
    let (_l, port) = serve(&rt, 1, ListenOptions::default(), || Box::new(Collect { n: 10, buf: Vec::new() }));
    let log = Log::default();
    let options = ConnectOptions { read_buffer_size: 64, ..ConnectOptions::default() };
    let service = format!("proxied-{port}");
    TcpConnection::connect_with(&rt, Transforming { log: log.clone() }, "example.invalid", &service, options);
    settle(&rt);
    assert_eq!(log.all(), [format!("proxy_via example.invalid {service}"), "ABCDEF-raw".to_owned()]);
}
