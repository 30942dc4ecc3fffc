//! TcpListener through the public Rust API: the connection limit, clients
//! queued at the limit accepted later, failure to listen, close.

mod net_util;

use net_util::*;
use ponynet::net::{
    ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify, TcpListen, TcpListenNotify, TcpListener,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// Tracks how many server connections are open at once; hands its handle
/// to the test, which closes it.
struct Held {
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    handles: Arc<Mutex<Vec<TcpConnection>>>,
}

impl TcpConnectionNotify for Held {
    fn accepted(&mut self, conn: &mut TcpConn) {
        let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if let Some(h) = conn.handle() {
            lock(&self.handles).push(h);
        }
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A client that counts its connection and its end.
struct Patient {
    connected: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl TcpConnectionNotify for Patient {
    fn connected(&mut self, _conn: &mut TcpConn) {
        self.connected.fetch_add(1, Ordering::SeqCst);
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn the_limit_holds_and_waiting_clients_are_accepted_as_others_close() {
    const CLIENTS: usize = 6;
    const LIMIT_OPEN: usize = 2;
    let rt = runtime();
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handles = Arc::new(Mutex::new(Vec::new()));
    let (o, p, h) = (Arc::clone(&open), Arc::clone(&peak), Arc::clone(&handles));
    let options = ListenOptions { limit: LIMIT_OPEN, ..ListenOptions::default() };
    let (listener, port) = serve(&rt, CLIENTS, options, move || {
        Box::new(Held { open: Arc::clone(&o), peak: Arc::clone(&p), handles: Arc::clone(&h) })
    });
    let connected = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    for _ in 0..CLIENTS {
        let client = Patient { connected: Arc::clone(&connected), closed: Arc::clone(&closed) };
        TcpConnection::connect(&rt, client, "127.0.0.1", &port.to_string());
    }
    // Every client's handshake completes (the kernel queues them), but the
    // listener holds only LIMIT_OPEN of them.
    wait_until("every client to connect", || connected.load(Ordering::SeqCst) == CLIENTS);
    wait_until("the first accepts", || lock(&handles).len() == LIMIT_OPEN);
    // A round trip through the listener: it has seen the queued clients
    // and still holds only LIMIT_OPEN.
    let (tx, rx) = mpsc::channel();
    listener.with(move |l| {
        let _ = tx.send(l.count());
    });
    assert_eq!(rx.recv_timeout(LIMIT).ok(), Some(LIMIT_OPEN), "the listener accepted beyond its limit");
    // Close the server connections one at a time: each frees a place.
    for i in 0..CLIENTS {
        wait_until("the next accept", || lock(&handles).len() > i);
        let conn = lock(&handles)[i].clone();
        conn.close();
    }
    settle(&rt);
    assert_eq!(lock(&handles).len(), CLIENTS);
    assert_eq!(closed.load(Ordering::SeqCst), CLIENTS);
    assert!(peak.load(Ordering::SeqCst) <= LIMIT_OPEN, "peak {} open", peak.load(Ordering::SeqCst));
    assert_eq!(open.load(Ordering::SeqCst), 0);
    let (tx, rx) = mpsc::channel();
    listener.with(move |l| {
        let _ = tx.send(l.count());
    });
    assert_eq!(rx.recv_timeout(LIMIT).ok(), Some(0), "every closed connection counted itself out");
}

/// Logs the listener's life.
struct ListenLog {
    log: Log,
}

impl TcpListenNotify for ListenLog {
    fn listening(&mut self, listen: &mut TcpListen) {
        let ok = listen.local_address().map(|a| a.port() != 0 && a.ip4()).unwrap_or(false);
        self.log.push(format!("listening {ok}"));
        listen.close();
    }
    fn not_listening(&mut self, _listen: &mut TcpListen) {
        self.log.push("not_listening");
    }
    fn closed(&mut self, _listen: &mut TcpListen) {
        self.log.push("closed");
    }
    fn connected(&mut self, _listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        None
    }
}

#[test]
fn listening_closing_and_failing_to_listen_are_reported() {
    let rt = runtime();
    let log = Log::default();
    TcpListener::listen_ip4(&rt, ListenLog { log: log.clone() }, "127.0.0.1", "0");
    settle(&rt);
    assert_eq!(log.all(), ["listening true", "closed"]);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let log = Log::default();
    TcpListener::listen(&rt, ListenLog { log: log.clone() }, "127.0.0.1", &port.to_string());
    TcpListener::listen(&rt, ListenLog { log: log.clone() }, "no-such-host.invalid", "0");
    settle(&rt);
    assert_eq!(log.all(), ["not_listening", "not_listening"]);
}

/// Refuses every connection.
struct Refuser {
    log: Log,
}

impl TcpListenNotify for Refuser {
    fn not_listening(&mut self, _listen: &mut TcpListen) {}
    fn connected(&mut self, listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        self.log.push("refused");
        listen.close();
        None
    }
}

#[test]
fn a_refused_connection_is_closed() {
    let rt = runtime();
    let log = Log::default();
    let (tx, rx) = mpsc::channel();
    let listener = TcpListener::listen(&rt, Refuser { log: log.clone() }, "127.0.0.1", "0");
    listener.with(move |l| {
        let _ = tx.send(l.local_address().map(|a| a.port()).unwrap_or(0));
    });
    let port = rx.recv_timeout(LIMIT).expect("port");
    let mut peer = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut buf = [0u8; 1];
    // The refused socket is closed: the peer reads EOF.
    assert_eq!(std::io::Read::read(&mut peer, &mut buf).expect("read"), 0);
    settle(&rt);
    assert_eq!(log.all(), ["refused"]);
}
