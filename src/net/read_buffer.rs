//! Read buffers are lent to connections only while they read: a connection
//! that reached would-block gives its buffer back (keeping a partial frame
//! in a buffer of its size), so an idle connection holds none. Each worker
//! keeps the last buffer given back for the next connection that reads, so
//! a busy connection does not allocate one per turn; a notifier that hands
//! its `received` buffers back (`TcpConn::recycle`) reads without allocating.

use std::cell::Cell;

/// Larger buffers go back to the allocator rather than staying with the thread.
const KEEP_MAX: usize = 1 << 20;

thread_local! {
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// An empty buffer: this thread's spare, or a new one.
pub(super) fn take() -> Vec<u8> {
    SPARE.with(Cell::take)
}

/// Keeps `buf` (emptied) as this thread's spare if it is larger than the
/// one kept now.
pub(super) fn give(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > KEEP_MAX {
        return;
    }
    buf.clear();
    SPARE.with(|s| {
        let old = s.take();
        s.set(if old.capacity() > buf.capacity() { old } else { buf });
    });
}

/// Called at would-block: gives `buf` back when it holds nothing, or
/// moves a small remainder into a buffer of its own size.
pub(super) fn release(buf: &mut Vec<u8>) {
    if buf.capacity() == 0 || buf.len() * 8 > buf.capacity() {
        return;
    }
    let spare = std::mem::replace(buf, buf.as_slice().to_vec());
    give(spare);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_larger_spare_is_kept_and_handed_out_empty() {
        let _ = take();
        give(Vec::with_capacity(100));
        give(vec![1u8; 10]);
        let got = take();
        assert!(got.is_empty());
        assert!(got.capacity() >= 100);
        assert_eq!(take().capacity(), 0, "one spare per thread");
    }

    #[test]
    fn a_remainder_moves_to_a_buffer_of_its_size() {
        let _ = take();
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(b"abc");
        release(&mut buf);
        assert_eq!(buf, b"abc");
        assert!(buf.capacity() < 4096);
        assert!(take().capacity() >= 4096);
    }
}
