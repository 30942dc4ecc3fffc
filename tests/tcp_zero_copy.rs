//! The allocation-free data path of the Rust API: a shared `ByteSeq` is
//! written without a copy, and a notifier that recycles its `received`
//! buffers reads without allocating. Counted with a global allocator that
//! tallies large allocations (the only test in this binary, so nothing else
//! allocates meanwhile).

mod net_util;

use net_util::*;
use ponynet::net::{ConnectOptions, ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

/// Allocations at least this large are counted: the payload buffers.
const LARGE: usize = 100_000;
const CHUNK: usize = 128 * 1024;
const CHUNKS: usize = 64;

static LARGE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= LARGE {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc`/`dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Counts and checksums what it reads, handing each buffer back.
struct Sink {
    got: usize,
    sum: Fnv,
    done: mpsc::Sender<(usize, Fnv)>,
}

impl TcpConnectionNotify for Sink {
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.got += data.len();
        self.sum.update(&data);
        conn.recycle(data);
        if self.got == CHUNK * CHUNKS {
            let _ = self.done.send((self.got, self.sum));
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// Writes the one shared buffer CHUNKS times, then closes.
struct SharedWriter(Arc<[u8]>);

impl TcpConnectionNotify for SharedWriter {
    fn connected(&mut self, conn: &mut TcpConn) {
        for _ in 0..CHUNKS {
            conn.write(Arc::clone(&self.0));
        }
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        panic!("connect failed");
    }
}

#[test]
fn shared_writes_and_recycled_reads_allocate_no_payload_buffers() {
    let rt = runtime();
    let payload: Arc<[u8]> = Rng::new(7).bytes(CHUNK).into();
    let mut want = Fnv::default();
    (0..CHUNKS).for_each(|_| want.update(&payload));

    let (done_tx, done_rx) = mpsc::channel();
    let options = ListenOptions { read_buffer_size: CHUNK, yield_after_reading: 1 << 20, ..ListenOptions::default() };
    let (_l, port) = serve(&rt, 1, options, move || Box::new(Sink { got: 0, sum: Fnv::default(), done: done_tx.clone() }));

    let before = LARGE_ALLOCATIONS.load(Ordering::SeqCst);
    let client = TcpConnection::connect_with(
        &rt,
        SharedWriter(Arc::clone(&payload)),
        "127.0.0.1",
        &port.to_string(),
        ConnectOptions { yield_after_writing: 1 << 20, ..ConnectOptions::default() },
    );
    let (got, sum) = done_rx.recv_timeout(LIMIT).expect("all bytes received");
    let large = LARGE_ALLOCATIONS.load(Ordering::SeqCst) - before;
    drop(client);
    settle(&rt);

    assert_eq!(got, CHUNK * CHUNKS);
    assert_eq!(sum, want, "the bytes arrived changed");
    // One read buffer per worker that read, at most; a copy per write or
    // a fresh buffer per read would be CHUNKS or more.
    assert!(large <= 2, "{large} payload-sized allocations for {CHUNKS} chunks each way");
    // Every clone the writer queued is gone once sent, and the notifier's
    // with its actor (whose worker may still be letting go of it).
    wait_until("the payload released", || Arc::strong_count(&payload) == 1);
}
