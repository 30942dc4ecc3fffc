//! 10,000 concurrent loopback connections, each exchanging one message.
//!
//! The server answers no message before all 10,000 have arrived, so every
//! connection is open at once. That takes about 20,000 fds (both ends);
//! when the hard RLIMIT_NOFILE is below that, the clients run in a child
//! process (this test binary again), each process needing about 10,000.

mod net_util;

use net_util::*;
use ponynet::actor::Runtime;
use ponynet::net::{ConnectOptions, ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONNECTIONS: usize = 10_000;
/// fds a process needs besides its sockets (stdio, poller, wakers, test harness).
const SPARE_FDS: u64 = 64;
const CHILD_ENV: &str = "PONYNET_TCP_MANY_CLIENT_PORT";
const TEST_NAME: &str = "ten_thousand_concurrent_connections_each_exchange_one_message";
const WAIT: Duration = Duration::from_secs(240);

/// Raises the soft fd limit to the hard one; returns the new limit.
fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        rl.rlim_cur = rl.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
        rl.rlim_cur
    }
}

/// Server side: holds every message until all have arrived, then answers
/// each with its own message reversed.
#[derive(Default)]
struct Barrier {
    waiting: Vec<(TcpConnection, Vec<u8>)>,
}

struct ServerConn {
    barrier: Arc<Mutex<Barrier>>,
    open: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl TcpConnectionNotify for ServerConn {
    fn accepted(&mut self, _conn: &mut TcpConn) {
        let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }
    fn received(&mut self, conn: &mut TcpConn, mut data: Vec<u8>, _times: usize) -> bool {
        let Some(me) = conn.handle() else { return true };
        data.reverse();
        let mut barrier = lock(&self.barrier);
        barrier.waiting.push((me, data));
        if barrier.waiting.len() == CONNECTIONS {
            for (conn, reply) in barrier.waiting.drain(..) {
                conn.write(reply);
            }
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Client side: sends its number, checks the answer, closes.
struct Client {
    message: Vec<u8>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl TcpConnectionNotify for Client {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.write(self.message.clone());
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        let mut expected = self.message.clone();
        expected.reverse();
        if data == expected {
            self.ok.fetch_add(1, Ordering::SeqCst);
        } else {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        conn.close();
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        self.failed.fetch_add(1, Ordering::SeqCst);
    }
}

/// Starts the clients on `rt`; returns (answered correctly, failed).
fn start_clients(rt: &Runtime, port: u16) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let options = ConnectOptions { read_buffer_size: 256, ..ConnectOptions::default() };
    for i in 0..CONNECTIONS {
        let client = Client {
            message: format!("message {i:05}").into_bytes(),
            ok: Arc::clone(&ok),
            failed: Arc::clone(&failed),
        };
        TcpConnection::connect_with(rt, client, "127.0.0.1", &port.to_string(), options.clone());
    }
    (ok, failed)
}

/// The child process: only clients.
fn run_child(port: u16) {
    raise_fd_limit();
    let rt = Runtime::new(2).expect("runtime");
    let (ok, failed) = start_clients(&rt, port);
    assert!(rt.run_until_idle_for(WAIT), "clients did not finish");
    assert_eq!(failed.load(Ordering::SeqCst), 0, "client failures");
    assert_eq!(ok.load(Ordering::SeqCst), CONNECTIONS);
}

#[test]
fn ten_thousand_concurrent_connections_each_exchange_one_message() {
    if let Ok(port) = std::env::var(CHILD_ENV) {
        run_child(port.parse().expect("port"));
        return;
    }
    let limit = raise_fd_limit();
    let per_side = CONNECTIONS as u64 + SPARE_FDS;
    if limit < per_side {
        println!(
            "SKIPPED ten_thousand_concurrent_connections: RLIMIT_NOFILE hard limit {limit} < {per_side} \
             (fds for {CONNECTIONS} sockets in one process)"
        );
        return;
    }
    let rt = runtime();
    let barrier = Arc::new(Mutex::new(Barrier::default()));
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (b, o, p) = (Arc::clone(&barrier), Arc::clone(&open), Arc::clone(&peak));
    let options = ListenOptions { read_buffer_size: 256, ..ListenOptions::default() };
    let (_listener, port) = serve(&rt, CONNECTIONS, options, move || {
        Box::new(ServerConn { barrier: Arc::clone(&b), open: Arc::clone(&o), peak: Arc::clone(&p) })
    });

    if limit >= 2 * per_side {
        let (ok, failed) = start_clients(&rt, port);
        assert!(rt.run_until_idle_for(WAIT), "did not finish");
        assert_eq!(failed.load(Ordering::SeqCst), 0);
        assert_eq!(ok.load(Ordering::SeqCst), CONNECTIONS);
    } else {
        println!("fd hard limit {limit}: the clients run in a child process");
        let exe = std::env::current_exe().expect("current_exe");
        let child = Command::new(exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the client process");
        assert!(rt.run_until_idle_for(WAIT), "the server side did not finish");
        let out = child.wait_with_output().expect("client process");
        assert!(
            out.status.success(),
            "client process failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(peak.load(Ordering::SeqCst), CONNECTIONS, "not every connection was open at once");
    assert_eq!(open.load(Ordering::SeqCst), 0);
}
