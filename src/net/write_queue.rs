//! Data written but not yet handed to the OS: whole buffers, the first one
//! possibly part-sent, handed to `pony_os_writev` as iovecs.

use super::byteseq::ByteSeq;
use std::collections::VecDeque;
use std::mem::MaybeUninit;

#[derive(Default)]
pub(crate) struct WriteQueue {
    chunks: VecDeque<ByteSeq>,
    /// Bytes of the first chunk already sent.
    head: usize,
    /// Bytes queued and not yet sent.
    total: usize,
}

impl WriteQueue {
    /// Queues `data` (empty buffers are not kept).
    pub(crate) fn push(&mut self, data: ByteSeq) {
        if !data.is_empty() {
            self.total += data.len();
            self.chunks.push_back(data);
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub(crate) fn clear(&mut self) {
        *self = WriteQueue::default();
    }

    /// Fills `iov` with the first unsent buffers (as many as fit); returns
    /// how many, and their bytes. The iovecs point into the queue: use them
    /// before the next change.
    pub(crate) fn iovecs<'a>(&self, iov: &'a mut [MaybeUninit<libc::iovec>]) -> (&'a [libc::iovec], usize) {
        let mut bytes = 0;
        let mut count = 0;
        for (slot, (i, chunk)) in iov.iter_mut().zip(self.chunks.iter().enumerate()) {
            let part = if i == 0 { &chunk[self.head..] } else { &chunk[..] };
            bytes += part.len();
            count += 1;
            slot.write(libc::iovec { iov_base: part.as_ptr().cast_mut().cast(), iov_len: part.len() });
        }
        // SAFETY: the loop initialised the first `count` slots.
        let filled = unsafe { std::slice::from_raw_parts(iov.as_ptr().cast::<libc::iovec>(), count) };
        (filled, bytes)
    }

    /// Drops the first `n` bytes (they were sent).
    pub(crate) fn consume(&mut self, mut n: usize) {
        self.total -= n.min(self.total);
        while n > 0 {
            let Some(front) = self.chunks.front() else { break };
            let left = front.len() - self.head;
            if n < left {
                self.head += n;
                return;
            }
            n -= left;
            self.head = 0;
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sends_keep_the_rest_in_order() {
        let mut q = WriteQueue::default();
        q.push(b"hello".into());
        q.push(Vec::new().into());
        q.push(b" world".into());
        assert_eq!(q.total(), 11);
        let mut iov = [MaybeUninit::uninit(); 8];
        let (first, bytes) = q.iovecs(&mut iov[..1]);
        assert_eq!((first.len(), bytes), (1, 5));
        q.consume(3);
        let (two, bytes) = q.iovecs(&mut iov);
        assert_eq!((two.len(), bytes), (2, 8));
        assert_eq!(two[0].iov_len, 2);
        q.consume(4);
        assert_eq!(q.total(), 4);
        assert_eq!(q.iovecs(&mut iov).1, 4);
        q.consume(4);
        assert!(q.is_empty());
        assert_eq!(q.iovecs(&mut iov).0.len(), 0);
    }
}
