//! Data written but not yet handed to the OS: whole buffers, the first one
//! possibly part-sent, handed to `pony_os_writev` as iovecs.

use super::byteseq::ByteSeq;
use std::collections::VecDeque;

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

    /// Fills `iov` with the first `max` unsent buffers; returns their bytes.
    /// The iovecs point into the queue: use them before the next change.
    pub(crate) fn iovecs(&self, max: usize, iov: &mut Vec<libc::iovec>) -> usize {
        iov.clear();
        let mut bytes = 0;
        for (i, chunk) in self.chunks.iter().take(max).enumerate() {
            let part = if i == 0 { &chunk[self.head..] } else { &chunk[..] };
            bytes += part.len();
            iov.push(libc::iovec { iov_base: part.as_ptr().cast_mut().cast(), iov_len: part.len() });
        }
        bytes
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
        let mut iov = Vec::new();
        assert_eq!(q.iovecs(1, &mut iov), 5);
        q.consume(3);
        assert_eq!(q.iovecs(8, &mut iov), 8);
        assert_eq!(iov.len(), 2);
        assert_eq!(iov[0].iov_len, 2);
        q.consume(4);
        assert_eq!(q.total(), 4);
        assert_eq!(q.iovecs(8, &mut iov), 4);
        q.consume(4);
        assert!(q.is_empty());
        assert_eq!(q.iovecs(8, &mut iov), 0);
    }
}
