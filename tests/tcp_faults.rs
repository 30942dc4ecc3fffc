//! Faults seen through the Rust API: Happy Eyeballs with one family
//! refusing, a peer's reset in the middle of a transfer, a connect behind a
//! black-holed route cancelled by `close`, and a transfer over a
//! rate-limited link. The last two run in network namespaces they make
//! (root and `ip netns` needed; elsewhere they say why and pass).

mod net_util;

use net_util::netns::{self, Home, Link};
use net_util::*;
use ponynet::net::{ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

const MIB: usize = 1 << 20;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Logs the connection-level notifications of a client.
struct Recorder {
    log: Log,
}

impl TcpConnectionNotify for Recorder {
    fn connecting(&mut self, _conn: &mut TcpConn, count: u32) {
        self.log.push(format!("connecting {count}"));
    }
    fn connected(&mut self, conn: &mut TcpConn) {
        let family = conn.remote_address().map_or("?", |a| if a.ip4() { "ip4" } else { "ip6" });
        self.log.push(format!("connected {family}"));
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.log.push("connect_failed");
    }
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
}

fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// "" names both loopback addresses; a listener on one of them only makes
/// the other family refuse.
fn one_family_refuses(listen_on: &str, works: &str) {
    let rt = runtime();
    let (_l, port) = serve_at(&rt, listen_on, 1, ListenOptions::default(), || Box::new(Echo));
    let log = Log::default();
    TcpConnection::connect(&rt, Recorder { log: log.clone() }, "", &port.to_string());
    settle(&rt);
    let events = log.all();
    assert_eq!(events.first().map(String::as_str), Some("connecting 2"), "{events:?}");
    assert_eq!(log.count(&format!("connected {works}")), 1, "{events:?}");
    assert_eq!(log.count("connect_failed"), 0, "{events:?}");
    assert_eq!(log.count("closed"), 1, "{events:?}");
}

#[test]
fn happy_eyeballs_connects_through_the_family_that_does_not_refuse() {
    if !has_ipv6_loopback() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    one_family_refuses("127.0.0.1", "ip4");
    one_family_refuses("::1", "ip6");
}

/// SIGPIPE at its default (it would kill the test) while alive.
struct SigpipeKills(libc::sighandler_t);

impl SigpipeKills {
    fn new() -> SigpipeKills {
        // SAFETY: setting a signal to its default disposition.
        SigpipeKills(unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) })
    }
}

impl Drop for SigpipeKills {
    fn drop(&mut self) {
        // SAFETY: restores the disposition saved in `new`.
        unsafe { libc::signal(libc::SIGPIPE, self.0) };
    }
}

/// Closes `stream` with a reset (SO_LINGER 0).
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).expect("SO_LINGER");
    drop(stream);
}

/// Writes 64 MiB on accept; logs throttling and the close.
struct Flood {
    log: Log,
}

impl TcpConnectionNotify for Flood {
    fn accepted(&mut self, conn: &mut TcpConn) {
        let chunk: Arc<[u8]> = pattern(MIB).into();
        for _ in 0..64 {
            conn.write(Arc::clone(&chunk));
        }
    }
    fn throttled(&mut self, _conn: &mut TcpConn) {
        self.log.push("throttled");
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
}

/// The peer reads a little of a 64 MiB reply and resets: the writing
/// connection closes, once, with its queue dropped; nothing hangs, no SIGPIPE.
#[test]
fn a_reset_while_writing_closes_the_connection_once() {
    let _sigpipe = SigpipeKills::new();
    let rt = runtime();
    let log = Log::default();
    let l = log.clone();
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || Box::new(Flood { log: l.clone() }));
    let mut peer = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut got = vec![0u8; 256 * 1024];
    peer.read_exact(&mut got).expect("read");
    assert_eq!(got, pattern(MIB)[..got.len()]);
    wait_until("the writer to be throttled", || log.count("throttled") > 0);
    reset(peer);
    settle(&rt);
    assert_eq!(log.count("closed"), 1, "{:?}", log.all());
}

/// Collects what it receives; logs the close.
struct Collector {
    got: Arc<Mutex<Vec<u8>>>,
    log: Log,
}

impl TcpConnectionNotify for Collector {
    fn received(&mut self, _conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        lock(&self.got).extend_from_slice(&data);
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.log.push("closed");
    }
}

/// The peer writes 4 MiB and resets: the reader gets a prefix of the
/// stream (never more, never reordered), then closes once.
#[test]
fn a_reset_while_reading_closes_the_connection_once_after_a_prefix() {
    let _sigpipe = SigpipeKills::new();
    let rt = runtime();
    let log = Log::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (l, g) = (log.clone(), Arc::clone(&got));
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || {
        Box::new(Collector { got: Arc::clone(&g), log: l.clone() })
    });
    let data = pattern(4 * MIB);
    let mut peer = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    peer.write_all(&data).expect("write");
    wait_until("some data to arrive", || !lock(&got).is_empty());
    reset(peer);
    settle(&rt);
    assert_eq!(log.count("closed"), 1, "{:?}", log.all());
    let got = lock(&got);
    assert!(got.len() <= data.len() && got[..] == data[..got.len()], "not a prefix ({} bytes)", got.len());
}

/// Logs the notifications of a client that is closed while connecting.
struct Waiting {
    log: Log,
}

impl TcpConnectionNotify for Waiting {
    fn connecting(&mut self, _conn: &mut TcpConn, count: u32) {
        self.log.push(format!("connecting {count}"));
    }
    fn connected(&mut self, _conn: &mut TcpConn) {
        self.log.push("connected");
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.log.push("connect_failed");
    }
}

/// Behind a router that drops into a black hole, a connect stays in
/// SYN_SENT for as long as the kernel retries (the API has no connect
/// timeout: nothing is reported meanwhile); `close` cancels it at once and
/// leaves no socket behind.
#[test]
fn close_cancels_a_connect_behind_a_black_holed_route() {
    if netns::skip() {
        return;
    }
    let link = Link::new().expect("namespaces");
    let _home = Home::here().expect("this namespace");
    link.c.enter().expect("enter C");
    let rt = runtime(); // its workers, which make the sockets, start in C
    let (log4, log6) = (Log::default(), Log::default());
    let c4 = TcpConnection::connect(&rt, Waiting { log: log4.clone() }, "198.18.9.1", "80");
    let c6 = TcpConnection::connect(&rt, Waiting { log: log6.clone() }, "2001:db8:9::1", "80");
    wait_until("two attempts in SYN_SENT", || netns::sockets_to(80, "02") == 2);
    std::thread::sleep(Duration::from_millis(1500)); // time in which nothing may happen
    assert_eq!(log4.all(), ["connecting 1"]);
    assert_eq!(log6.all(), ["connecting 1"]);
    assert_eq!(netns::sockets_to(80, "02"), 2);
    c4.close();
    c6.close();
    settle(&rt);
    assert_eq!(log4.all(), ["connecting 1", "connect_failed"]);
    assert_eq!(log6.all(), ["connecting 1", "connect_failed"]);
    assert_eq!(netns::sockets_to(80, "02"), 0, "a cancelled attempt's socket is still open");
}

/// Sends `data` through a small send buffer and closes; logs throttling.
struct SlowSender {
    data: Vec<u8>,
    log: Log,
}

impl TcpConnectionNotify for SlowSender {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.set_so_sndbuf(32 * 1024).expect("SO_SNDBUF");
        conn.write(std::mem::take(&mut self.data));
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.log.push("connect_failed");
    }
    fn throttled(&mut self, _conn: &mut TcpConn) {
        self.log.push("throttled");
    }
    fn unthrottled(&mut self, _conn: &mut TcpConn) {
        self.log.push("unthrottled");
    }
}

/// 1 MiB over an 8 Mbit/s tbf with a small queue: the sender is throttled
/// and released in turn, and every byte arrives in order.
#[test]
fn a_transfer_over_a_rate_limited_link_arrives_intact() {
    if netns::skip() {
        return;
    }
    let link = Link::new().expect("namespaces");
    link.c.exec(&["tc", "qdisc", "add", "dev", "vc", "root", "tbf", "rate", "8mbit", "burst", "16kb", "limit", "32kb"])
        .expect("tbf");
    let home = Home::here().expect("this namespace");
    link.s.enter().expect("enter S");
    let listener = std::net::TcpListener::bind("198.18.0.1:0").expect("listen in S");
    let port = listener.local_addr().expect("port").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.set_read_timeout(Some(LIMIT));
            let _ = s.read_to_end(&mut all);
        }
        let _ = tx.send(all);
    });
    link.c.enter().expect("enter C");
    let rt = runtime();
    let log = Log::default();
    let data = pattern(MIB);
    let sender = SlowSender { data: data.clone(), log: log.clone() };
    TcpConnection::connect(&rt, sender, "198.18.0.1", &port.to_string());
    let got = rx.recv_timeout(LIMIT).expect("the server's read");
    settle(&rt);
    drop(home);
    assert!(got == data, "{} of {} bytes arrived, or not in order", got.len(), data.len());
    let events = log.all();
    assert_eq!(events.first().map(String::as_str), Some("throttled"), "{events:?}");
    assert!(events.windows(2).all(|w| w[0] != w[1]), "two in a row: {events:?}");
    assert_eq!(events.last().map(String::as_str), Some("unthrottled"), "{events:?}");
}
