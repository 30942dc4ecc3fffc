//! Defect "every fd is closed exactly once": connections ending every way
//! there is leave no fd behind (none leaked), and none is closed twice — a
//! second close would hit a "sentinel" pipe that took the freed number
//! meanwhile. Its own test binary: it counts the process's fds.

mod net_util;

use net_util::*;
use ponynet::net::{TcpConn, TcpConnection, TcpConnectionNotify, TcpListen, TcpListenNotify, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// A pipe end and the inode it had when made.
struct Sentinel {
    fd: i32,
    ino: u64,
}

fn inode(fd: i32) -> Option<u64> {
    // SAFETY: fstat fills the struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    (unsafe { libc::fstat(fd, &mut st) } == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO).then_some(st.st_ino)
}

fn sentinels(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Sentinel>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        while !stop.load(Ordering::SeqCst) && out.len() < 6000 {
            let mut p = [0i32; 2];
            // SAFETY: two ints out.
            if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } == 0 {
                for fd in p {
                    if let Some(ino) = inode(fd) {
                        out.push(Sentinel { fd, ino });
                    }
                }
            }
        }
        out
    })
}

/// Client endings.
#[derive(Clone, Copy)]
enum End {
    Close,
    HardClose,
    PeerCloses,
}

struct Client {
    end: End,
}

impl TcpConnectionNotify for Client {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.write("hello");
        match self.end {
            End::Close => conn.close(),
            End::HardClose => conn.hard_close(),
            End::PeerCloses => {}
        }
    }
    fn received(&mut self, _conn: &mut TcpConn, _data: Vec<u8>, _times: usize) -> bool {
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Server side: echoes; every third connection hard-closes on its first
/// data; every fifth is refused.
struct Server {
    port: mpsc::Sender<u16>,
    n: usize,
    accepts: usize,
}

struct ServerConn {
    hard: bool,
}

impl TcpConnectionNotify for ServerConn {
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        conn.write(data);
        if self.hard {
            conn.hard_close();
        } else {
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

impl TcpListenNotify for Server {
    fn listening(&mut self, listen: &mut TcpListen) {
        let _ = self.port.send(listen.local_address().map(|a| a.port()).unwrap_or(0));
    }
    fn not_listening(&mut self, _listen: &mut TcpListen) {
        let _ = self.port.send(0);
    }
    fn connected(&mut self, listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        self.n += 1;
        if self.n == self.accepts {
            listen.close();
        }
        if self.n % 5 == 0 {
            return None;
        }
        Some(Box::new(ServerConn { hard: self.n % 3 == 0 }))
    }
}

/// Closes itself as soon as it is connecting.
struct Cancel;

impl TcpConnectionNotify for Cancel {
    fn connecting(&mut self, conn: &mut TcpConn, _count: u32) {
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

#[test]
fn every_socket_is_closed_once() {
    const CLIENTS: usize = 300;
    let rt = runtime();
    let (_bh, _filler, blackhole_port) = blackhole("127.0.0.1:0").expect("blackhole");
    let refused_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    // Warm up: the poller and wakers exist before counting.
    let (tx, rx) = mpsc::channel();
    let warm = TcpListener::listen(&rt, Server { port: tx, n: 0, accepts: 0 }, "127.0.0.1", "0");
    rx.recv_timeout(LIMIT).expect("port");
    warm.close();
    settle(&rt);
    let before = open_fds();

    let stop = Arc::new(AtomicBool::new(false));
    let guard = sentinels(Arc::clone(&stop));
    let (tx, rx) = mpsc::channel();
    // The clients and 10 plain peers; the listener closes after the last.
    TcpListener::listen(&rt, Server { port: tx, n: 0, accepts: CLIENTS + 10 }, "127.0.0.1", "0");
    let port = rx.recv_timeout(LIMIT).expect("port").to_string();
    for i in 0..CLIENTS {
        let end = [End::Close, End::HardClose, End::PeerCloses][i % 3];
        TcpConnection::connect(&rt, Client { end }, "127.0.0.1", &port);
        if i % 20 == 0 {
            TcpConnection::connect(&rt, Client { end }, "127.0.0.1", &refused_port.to_string());
            TcpConnection::connect(&rt, Cancel, "127.0.0.1", &blackhole_port.to_string());
        }
    }
    for _ in 0..10 {
        drop(std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("peer"));
    }
    settle(&rt);
    stop.store(true, Ordering::SeqCst);
    let sentinels = guard.join().expect("sentinels");

    for s in &sentinels {
        assert_eq!(inode(s.fd), Some(s.ino), "fd {} was closed behind its owner's back", s.fd);
    }
    assert_eq!(open_fds(), before + sentinels.len(), "fds leaked");
    for s in sentinels {
        // SAFETY: our own pipe ends, closed once.
        unsafe { libc::close(s.fd) };
    }
}
