//! `ByteSeq`: bytes handed to a connection to write (Pony's `ByteSeq val`).
//!
//! Owned bytes are moved in; a shared buffer (`Arc<[u8]>`) or static bytes
//! are written straight from where they are: writing the same payload to
//! many connections, or again and again, copies nothing in user space and
//! allocates nothing.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Immutable bytes to write: owned, shared, or static. Cheap to clone
/// unless owned.
#[derive(Clone)]
pub struct ByteSeq(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>, Range<usize>),
    Static(&'static [u8]),
}

impl ByteSeq {
    /// Static bytes, written without a copy.
    pub const fn from_static(bytes: &'static [u8]) -> ByteSeq {
        ByteSeq(Repr::Static(bytes))
    }

    /// Part of a shared buffer, written without a copy.
    ///
    /// # Panics
    /// If `range` is not within `buf`.
    pub fn shared(buf: Arc<[u8]>, range: Range<usize>) -> ByteSeq {
        assert!(range.start <= range.end && range.end <= buf.len(), "ByteSeq::shared: range out of bounds");
        ByteSeq(Repr::Shared(buf, range))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Shared(buf, range) => &buf[range.clone()],
            Repr::Static(s) => s,
        }
    }

    /// The bytes as an owned vector (a copy unless they were owned).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(v) => v,
            _ => self.as_slice().to_vec(),
        }
    }
}

impl Deref for ByteSeq {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for ByteSeq {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for ByteSeq {
    fn eq(&self, other: &ByteSeq) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for ByteSeq {}

impl fmt::Debug for ByteSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ByteSeq").field(&self.as_slice()).finish()
    }
}

impl From<Vec<u8>> for ByteSeq {
    fn from(v: Vec<u8>) -> ByteSeq {
        ByteSeq(Repr::Owned(v))
    }
}

impl From<String> for ByteSeq {
    fn from(s: String) -> ByteSeq {
        ByteSeq(Repr::Owned(s.into_bytes()))
    }
}

impl From<Box<[u8]>> for ByteSeq {
    fn from(b: Box<[u8]>) -> ByteSeq {
        ByteSeq(Repr::Owned(b.into_vec()))
    }
}

impl From<Arc<[u8]>> for ByteSeq {
    fn from(buf: Arc<[u8]>) -> ByteSeq {
        let range = 0..buf.len();
        ByteSeq(Repr::Shared(buf, range))
    }
}

/// Borrowed bytes are copied (use [`ByteSeq::from_static`] to avoid it).
impl From<&[u8]> for ByteSeq {
    fn from(s: &[u8]) -> ByteSeq {
        ByteSeq(Repr::Owned(s.to_vec()))
    }
}

/// Borrowed text is copied.
impl From<&str> for ByteSeq {
    fn from(s: &str) -> ByteSeq {
        ByteSeq(Repr::Owned(s.as_bytes().to_vec()))
    }
}

impl<const N: usize> From<&[u8; N]> for ByteSeq {
    fn from(s: &[u8; N]) -> ByteSeq {
        ByteSeq(Repr::Owned(s.to_vec()))
    }
}

impl<const N: usize> From<[u8; N]> for ByteSeq {
    fn from(s: [u8; N]) -> ByteSeq {
        ByteSeq(Repr::Owned(s.to_vec()))
    }
}

impl From<ByteSeq> for Vec<u8> {
    fn from(b: ByteSeq) -> Vec<u8> {
        b.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_as_its_bytes() {
        let shared: Arc<[u8]> = Arc::from(&b"0123456789"[..]);
        let cases = [
            (ByteSeq::from(b"abc".to_vec()), &b"abc"[..]),
            (ByteSeq::from("abc"), b"abc"),
            (ByteSeq::from_static(b"abc"), b"abc"),
            (ByteSeq::from(Arc::clone(&shared)), b"0123456789"),
            (ByteSeq::shared(Arc::clone(&shared), 2..5), b"234"),
        ];
        for (seq, want) in cases {
            assert_eq!(seq.as_slice(), want);
            assert_eq!(seq.len(), want.len());
            assert_eq!(seq.into_vec(), want);
        }
    }

    #[test]
    fn a_shared_buffer_is_not_copied() {
        let shared: Arc<[u8]> = Arc::from(vec![7u8; 64].into_boxed_slice());
        let seq = ByteSeq::shared(Arc::clone(&shared), 8..16);
        assert_eq!(seq.as_slice().as_ptr(), shared[8..].as_ptr());
        assert_eq!(Arc::strong_count(&shared), 2);
        drop(seq);
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn a_range_beyond_the_buffer_is_refused() {
        let shared: Arc<[u8]> = Arc::from(&b"abc"[..]);
        let _ = ByteSeq::shared(shared, 1..4);
    }
}
