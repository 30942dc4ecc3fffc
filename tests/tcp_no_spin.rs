//! Defect "no busy loop on EAGAIN": connections that wait — a muted one
//! with unread data in its socket, a throttled one with writes queued, an
//! idle one — use no CPU while they wait. (A read or write loop that
//! re-arms a socket that is still ready, or retries would-block at once,
//! burns a core here.) Its own test binary: it measures the process.

mod net_util;

use net_util::*;
use ponynet::net::{ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Muted from the start; counts what it gets once unmuted.
struct Muted {
    slot: Slot,
    bytes: Arc<AtomicUsize>,
}

impl TcpConnectionNotify for Muted {
    fn accepted(&mut self, conn: &mut TcpConn) {
        conn.mute();
        *lock(&self.slot) = conn.handle();
    }
    fn received(&mut self, _conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.bytes.fetch_add(data.len(), Ordering::SeqCst);
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Writes more than the muted peer's buffers hold, then closes.
struct Writer {
    log: Log,
    size: usize,
}

impl TcpConnectionNotify for Writer {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.write(vec![9u8; self.size]);
        conn.close();
    }
    fn throttled(&mut self, _conn: &mut TcpConn) {
        self.log.push("throttled");
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

#[test]
fn waiting_connections_do_not_spin() {
    let rt = runtime();
    let slot: Slot = Arc::default();
    let bytes = Arc::new(AtomicUsize::new(0));
    let (s, b) = (Arc::clone(&slot), Arc::clone(&bytes));
    let (_listener, port) = serve(&rt, 2, ListenOptions::default(), move || {
        Box::new(Muted { slot: Arc::clone(&s), bytes: Arc::clone(&b) })
    });
    let log = Log::default();
    let size = 64 << 20;
    TcpConnection::connect(&rt, Writer { log: log.clone(), size }, "127.0.0.1", &port.to_string());
    wait_until("the writer to be throttled", || log.count("throttled") == 1);
    let muted = lock(&slot).take().expect("the muted server connection");
    // A second, idle connection (muted on the server side too).
    let idle = TcpConnection::connect(&rt, Echo, "127.0.0.1", &port.to_string());
    wait_until("the idle connection", || lock(&slot).is_some());
    let idle_server = lock(&slot).take().expect("the idle server connection");

    // A measurement window, not a wait: nothing may happen in it.
    let before = cpu_time();
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_time() - before;
    assert!(used < Duration::from_millis(100), "waiting connections used {used:?} of CPU in 500 ms");

    muted.unmute();
    idle_server.unmute();
    idle.close();
    settle(&rt);
    assert_eq!(bytes.load(Ordering::SeqCst), size);
}
