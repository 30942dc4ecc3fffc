//! One test per defect of the 2023 `TCPConnection`; each fails on the 2023
//! behaviour (said where) and passes on ours. The busy-loop and
//! fd-accounting tests measure the whole process, so they live in their own
//! files (`tcp_no_spin.rs`, `tcp_fds.rs`).

mod net_util;

use net_util::*;
use ponynet::asio::event::{ASIO_READ, ASIO_WRITE};
use ponynet::ffi::event::pony_asio_event_send;
use ponynet::net::{ConnectOptions, ExpectError, ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

const MIB: usize = 1 << 20;

fn raw_getsockopt(fd: i32, level: i32, option: i32) -> i32 {
    let mut v: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: one int out, its length in `len`.
    let rc = unsafe { libc::getsockopt(fd, level, option, (&mut v as *mut libc::c_int).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
    v
}

/// Sets TCP_NODELAY on and off, reading it back with the kernel's own
/// constants.
struct NoDelay {
    tx: mpsc::Sender<Vec<i32>>,
}

impl TcpConnectionNotify for NoDelay {
    fn connected(&mut self, conn: &mut TcpConn) {
        let fd = conn.fd();
        let mut seen = Vec::new();
        conn.set_nodelay(true).expect("set_nodelay(true)");
        seen.push(raw_getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY));
        seen.push(conn.get_tcp_nodelay().map_or(-1, |v| v as i32));
        // The 2023 code set SOL_SOCKET/TCP_NODELAY, i.e. SO_DEBUG on Linux.
        seen.push(raw_getsockopt(fd, libc::SOL_SOCKET, libc::SO_DEBUG));
        conn.set_nodelay(false).expect("set_nodelay(false)");
        seen.push(raw_getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY));
        let _ = self.tx.send(seen);
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// 2023: `set_nodelay` wrote level SOL_SOCKET, so TCP_NODELAY stayed 0 (and
/// SO_DEBUG was set instead).
#[test]
fn set_nodelay_sets_tcp_nodelay_at_ipproto_tcp() {
    let rt = runtime();
    let (_l, port) = serve(&rt, 1, ListenOptions::default(), || Box::new(Echo));
    let (tx, rx) = mpsc::channel();
    TcpConnection::connect(&rt, NoDelay { tx }, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert_eq!(rx.try_recv().expect("connected"), [1, 1, 0, 0], "[nodelay, get_tcp_nodelay, SO_DEBUG, nodelay off]");
}

/// Closes (hard or graceful) as soon as it hears it is connecting.
struct CloseWhileConnecting {
    hard: bool,
    log: Log,
}

impl TcpConnectionNotify for CloseWhileConnecting {
    fn connecting(&mut self, conn: &mut TcpConn, count: u32) {
        self.log.push(format!("connecting {count}"));
        if self.hard {
            conn.hard_close();
        } else {
            conn.close();
        }
    }
    fn connected(&mut self, _conn: &mut TcpConn) {
        self.log.push("connected");
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.log.push("connect_failed");
    }
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
}

fn close_while_connecting(hard: bool) {
    let Some((_listener, _filler, port)) = blackhole("127.0.0.1:0") else {
        panic!("could not set up a listener with a full accept queue");
    };
    let rt = runtime();
    let log = Log::default();
    TcpConnection::connect(&rt, CloseWhileConnecting { hard, log: log.clone() }, "127.0.0.1", &port.to_string());
    // The attempt would sit in SYN_SENT for minutes; cancelled, it is gone
    // at once, with its event (nothing noisy is left).
    assert!(rt.run_until_idle_for(Duration::from_secs(10)), "an attempt is still in flight");
    assert_eq!(log.all(), ["connecting 1", "connect_failed"]);
    assert_eq!(syn_sent_to(port), 0, "the attempt's socket was not closed");
}

/// 2023: `hard_close` while connecting did nothing (the attempt later
/// connected and `connected` ran on a closed connection); `close` waited
/// for the attempts to finish and reported nothing.
#[test]
fn hard_close_while_connecting_cancels_the_attempts() {
    close_while_connecting(true);
}

/// See above, for `close`.
#[test]
fn close_while_connecting_cancels_the_attempts() {
    close_while_connecting(false);
}

/// Mutes itself on accept and hands its handle out; logs every callback.
struct Victim {
    log: Log,
    slot: Slot,
}

impl TcpConnectionNotify for Victim {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.mute();
        *lock(&self.slot) = conn.handle();
    }
    fn received(&mut self, _conn: &mut TcpConn, _data: Vec<u8>, _times: usize) -> bool {
        self.log.push("received");
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
    fn throttled(&mut self, _conn: &mut TcpConn) {
        self.log.push("throttled");
    }
    fn unthrottled(&mut self, _conn: &mut TcpConn) {
        self.log.push("unthrottled");
    }
}

/// 2023: a READ/WRITE notification already queued when `hard_close` ran set
/// `_readable`/`_writeable` again on the closed connection.
#[test]
fn no_notification_resurrects_a_hard_closed_connection() {
    let rt = runtime();
    let log = Log::default();
    let slot: Slot = Arc::default();
    let (l, s) = (log.clone(), Arc::clone(&slot));
    let (_listener, port) =
        serve(&rt, 1, ListenOptions::default(), move || Box::new(Victim { log: l.clone(), slot: Arc::clone(&s) }));
    let mut peer = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::io::Write::write_all(&mut peer, b"data waiting to be read").expect("write");
    wait_until("the accepted connection", || lock(&slot).is_some());
    let conn = lock(&slot).clone().expect("handle");
    conn.with(|c| {
        // A READ|WRITE on its way (the ABI's own way to queue one), then
        // the close: the notification is handled after the close.
        // SAFETY: the connection's live event.
        unsafe { pony_asio_event_send(c.asio_event(), ASIO_READ | ASIO_WRITE, 0) };
        c.hard_close();
    });
    // Idle: every notification, the late one included, was handled.
    settle(&rt);
    let (tx, rx) = mpsc::channel();
    conn.with(move |c| {
        let _ = tx.send((c.is_readable(), c.is_writeable(), c.is_connected(), c.fd()));
    });
    settle(&rt);
    assert_eq!(rx.try_recv().expect("state"), (false, false, false, -1));
    assert_eq!(log.all(), ["closed"], "a callback ran after hard_close");
    drop(peer);
}

/// Asks for more than its read buffer, then frames 1024-byte messages.
struct BigExpect {
    results: Arc<Mutex<Vec<Result<(), ExpectError>>>>,
    pieces: Arc<Mutex<Vec<usize>>>,
}

impl TcpConnectionNotify for BigExpect {
    fn accepted(&mut self, conn: &mut TcpConn) {
        let mut r = lock(&self.results);
        r.push(conn.expect(1025));
        r.push(conn.expect(usize::MAX));
        r.push(conn.expect(1024));
        r.push(conn.expect(6_000_000_000));
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        let mut pieces = lock(&self.pieces);
        pieces.push(data.len());
        if pieces.len() == 8 {
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Sends `n` bytes and closes.
struct Send {
    n: usize,
}

impl TcpConnectionNotify for Send {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.write(vec![0x5a; self.n]);
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// `expect` beyond the read buffer is an error and changes nothing; the
/// largest allowed quantity frames exactly.
#[test]
fn expect_beyond_the_read_buffer_is_refused() {
    let rt = runtime();
    let results = Arc::new(Mutex::new(Vec::new()));
    let pieces = Arc::new(Mutex::new(Vec::new()));
    let (r, p) = (Arc::clone(&results), Arc::clone(&pieces));
    let options = ListenOptions { read_buffer_size: 1024, ..ListenOptions::default() };
    let (_l, port) =
        serve(&rt, 1, options, move || Box::new(BigExpect { results: Arc::clone(&r), pieces: Arc::clone(&p) }));
    TcpConnection::connect(&rt, Send { n: 8 * 1024 }, "127.0.0.1", &port.to_string());
    settle(&rt);
    let too_large = |requested| Err(ExpectError::TooLarge { requested, max: 1024 });
    assert_eq!(*lock(&results), [too_large(1025), too_large(usize::MAX), Ok(()), too_large(6_000_000_000)]);
    assert_eq!(*lock(&pieces), [1024; 8]);
}

/// Coordinates the two ends of the muted-while-throttled test.
#[derive(Default)]
struct Pair {
    client: Option<TcpConnection>,
    server_throttled: bool,
}

impl Pair {
    fn try_release_client(&mut self) {
        if self.server_throttled {
            if let Some(c) = self.client.take() {
                c.unmute();
            }
        }
    }
}

/// Server end: muted from the start, floods the client; once unthrottled
/// (still muted) it unmutes and reads the client's numbers.
struct MutedFlooder {
    pair: Arc<Mutex<Pair>>,
    log: Log,
    numbers: Arc<Mutex<Vec<u32>>>,
    expected: u32,
}

impl TcpConnectionNotify for MutedFlooder {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.mute();
        conn.expect(4).expect("expect");
        for _ in 0..16 {
            conn.write(vec![3u8; MIB]);
        }
    }
    fn throttled(&mut self, conn: &mut TcpConn) {
        self.log.push(format!("throttled muted={}", conn.is_muted()));
        let mut pair = lock(&self.pair);
        pair.server_throttled = true;
        pair.try_release_client();
    }
    fn unthrottled(&mut self, conn: &mut TcpConn) {
        self.log.push(format!("unthrottled muted={}", conn.is_muted()));
        conn.unmute();
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        let mut numbers = lock(&self.numbers);
        numbers.push(u32::from_be_bytes(data[..4].try_into().unwrap_or_default()));
        if numbers.len() as u32 == self.expected {
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Client end: muted until the server is throttled; sends numbers, reads
/// the flood, then closes.
struct MutedClient {
    pair: Arc<Mutex<Pair>>,
    total: u32,
    got: Arc<AtomicUsize>,
}

impl TcpConnectionNotify for MutedClient {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.mute();
        conn.write((0..self.total).flat_map(u32::to_be_bytes).collect::<Vec<u8>>());
        let mut pair = lock(&self.pair);
        pair.client = conn.handle();
        pair.try_release_client();
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        if self.got.fetch_add(data.len(), Ordering::SeqCst) + data.len() == 16 * MIB {
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// A muted connection that is throttled still re-arms its write interest
/// (it is unthrottled while muted), and unmuting resumes reading in order.
#[test]
fn a_muted_throttled_connection_still_writes_and_resumes_reading_in_order() {
    let rt = runtime();
    let pair = Arc::new(Mutex::new(Pair::default()));
    let log = Log::default();
    let numbers = Arc::new(Mutex::new(Vec::new()));
    let total = 64 * 1024;
    let (p, l, n) = (Arc::clone(&pair), log.clone(), Arc::clone(&numbers));
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || {
        Box::new(MutedFlooder { pair: Arc::clone(&p), log: l.clone(), numbers: Arc::clone(&n), expected: total })
    });
    let got = Arc::new(AtomicUsize::new(0));
    let client = MutedClient { pair: Arc::clone(&pair), total, got: Arc::clone(&got) };
    TcpConnection::connect(&rt, client, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert_eq!(log.all(), ["throttled muted=true", "unthrottled muted=true"]);
    assert_eq!(got.load(Ordering::SeqCst), 16 * MIB);
    assert!(lock(&numbers).iter().copied().eq(0..total), "numbers lost or reordered after unmute");
}

/// Writes 32 MiB at once and closes; logs throttled/unthrottled and opens
/// the gate (unmutes the reader) once throttled.
struct Producer {
    log: Log,
    gate: Arc<Mutex<Pair>>,
}

impl TcpConnectionNotify for Producer {
    fn connected(&mut self, conn: &mut TcpConn) {
        // Many small buffers: one writev takes at most IOV_MAX of them, so
        // even with room in the socket a turn ends with a yield.
        for _ in 0..32 * 1024 {
            conn.write(vec![1u8; 1024]);
        }
        conn.close();
    }
    fn throttled(&mut self, _conn: &mut TcpConn) {
        self.log.push("throttled");
        let mut gate = lock(&self.gate);
        gate.server_throttled = true;
        gate.try_release_client();
    }
    fn unthrottled(&mut self, _conn: &mut TcpConn) {
        self.log.push("unthrottled");
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Counts bytes; muted until the gate opens.
struct Count {
    bytes: Arc<AtomicUsize>,
    gate: Arc<Mutex<Pair>>,
}

impl TcpConnectionNotify for Count {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.mute();
        let mut gate = lock(&self.gate);
        gate.client = conn.handle();
        gate.try_release_client();
    }
    fn received(&mut self, _conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.bytes.fetch_add(data.len(), Ordering::SeqCst);
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// 2023: when the writes after a WRITE notification yielded
/// (`_write_again`) and then completed, `unthrottled` never came; calls
/// must alternate and end unthrottled.
#[test]
fn throttled_and_unthrottled_alternate_and_end_released_across_write_yields() {
    let rt = runtime();
    let bytes = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Mutex::new(Pair::default()));
    let (b, g) = (Arc::clone(&bytes), Arc::clone(&gate));
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || {
        Box::new(Count { bytes: Arc::clone(&b), gate: Arc::clone(&g) })
    });
    let log = Log::default();
    // Yield after every 4 KiB written: every WRITE turn goes through the
    // write-again path.
    let options = ConnectOptions { yield_after_writing: 4096, ..ConnectOptions::default() };
    let producer = Producer { log: log.clone(), gate };
    TcpConnection::connect_with(&rt, producer, "127.0.0.1", &port.to_string(), options);
    settle(&rt);
    let events = log.all();
    assert_eq!(bytes.load(Ordering::SeqCst), 32 * MIB);
    assert_eq!(events.first().map(String::as_str), Some("throttled"), "{events:?}");
    assert!(events.windows(2).all(|w| w[0] != w[1]), "two in a row: {events:?}");
    assert_eq!(events.last().map(String::as_str), Some("unthrottled"), "{events:?}");
}

/// Layers a protocol whose frames are four times what the user asks.
struct Layered {
    pieces: Arc<Mutex<Vec<usize>>>,
}

impl TcpConnectionNotify for Layered {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.expect(1024).expect("expect");
    }
    fn expect(&mut self, _conn: &mut TcpConn, qty: usize) -> usize {
        qty * 4
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        let mut pieces = lock(&self.pieces);
        pieces.push(data.len());
        if pieces.len() == 8 {
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// 2023: a notifier's `expect` beyond the read buffer left the buffer at
/// its size: the frame could never fill it (a zero-length read looked like
/// "would block") and the connection stalled. The buffer grows instead.
#[test]
fn an_expect_transform_beyond_the_read_buffer_still_frames() {
    let rt = runtime();
    let pieces = Arc::new(Mutex::new(Vec::new()));
    let p = Arc::clone(&pieces);
    let options = ListenOptions { read_buffer_size: 1024, ..ListenOptions::default() };
    let (_l, port) = serve(&rt, 1, options, move || Box::new(Layered { pieces: Arc::clone(&p) }));
    TcpConnection::connect(&rt, Send { n: 8 * 4096 }, "127.0.0.1", &port.to_string());
    settle(&rt);
    assert_eq!(*lock(&pieces), [4096; 8]);
}
