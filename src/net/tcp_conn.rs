//! `TcpConn`: the state of one connection and the "ref" view of it that
//! its notifier gets (Pony's `TCPConnection ref`).

use super::abi::{self, AsioEvent};
use super::address::NetAddress;
use super::byteseq::ByteSeq;
use super::connection::TcpConnection;
use super::listener::ListenerLink;
use super::sockopt;
use super::write_queue::WriteQueue;
use crate::actor::RuntimeHandle;
use crate::asio::event::Event;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::RawFd;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Spawned; its first behaviour (connect or adopt) has not run.
    New,
    /// Happy Eyeballs attempts in flight.
    Connecting,
    /// Connected (or accepted): the socket is ours.
    Open,
    /// Closed, or never connected: only final notifications are awaited.
    Done,
}

/// A request made on the ref view, applied in order once the running
/// notification returns (the notifier is busy until then).
pub(crate) enum Op {
    Write(ByteSeq),
    Writev(Vec<ByteSeq>),
    WriteFinal(ByteSeq),
    Expect(usize),
    Mute,
    Unmute,
    Close,
    HardClose,
}

/// `expect` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectError {
    /// More than the connection's read buffer holds.
    TooLarge {
        /// The quantity asked for.
        requested: usize,
        /// The read buffer size the connection was created with.
        max: usize,
    },
}

impl fmt::Display for ExpectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectError::TooLarge { requested, max } => {
                write!(f, "cannot expect {requested} bytes: the read buffer holds {max}")
            }
        }
    }
}

impl std::error::Error for ExpectError {}

/// Sizes a connection is created with (Pony's defaults: 16 KiB each).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    pub(crate) read_buffer_size: usize,
    pub(crate) yield_after_reading: usize,
    pub(crate) yield_after_writing: usize,
}

/// One TCP connection as its notifier sees it.
///
/// Queries and socket options act at once. `write`, `writev`,
/// `write_final`, `expect`, `mute`, `unmute`, `close` and `hard_close` are
/// applied in the order called as soon as the current notification
/// returns.
pub struct TcpConn {
    pub(crate) this: Option<TcpConnection>,
    pub(crate) listener: Option<ListenerLink>,
    pub(crate) phase: Phase,
    /// In-flight Happy Eyeballs attempts (the seed's connect count).
    pub(crate) attempts: Vec<AsioEvent>,
    /// Why no attempt could start.
    pub(crate) connect_error: Option<io::Error>,
    /// The connection's event, until its final notification.
    pub(crate) event: Option<AsioEvent>,
    pub(crate) fd: RawFd,
    pub(crate) readable: bool,
    pub(crate) reading: bool,
    pub(crate) writeable: bool,
    pub(crate) throttled: bool,
    /// No more writes accepted; shut down once the queue is sent.
    pub(crate) closed: bool,
    /// Our side was shut down (SHUT_WR).
    pub(crate) shutdown: bool,
    /// The peer shut down its side (EOF read).
    pub(crate) shutdown_peer: bool,
    pub(crate) in_sent: bool,
    pub(crate) muted: bool,
    pub(crate) writes: WriteQueue,
    /// Bytes read and not yet delivered (its length is the seed's offset).
    pub(crate) read_buf: Vec<u8>,
    pub(crate) sizes: Sizes,
    pub(crate) expect: usize,
    pub(crate) ops: VecDeque<Op>,
    pub(crate) read_again_queued: bool,
    pub(crate) write_again_queued: bool,
}

impl TcpConn {
    pub(crate) fn new(sizes: Sizes, listener: Option<ListenerLink>) -> TcpConn {
        TcpConn {
            this: None,
            listener,
            phase: Phase::New,
            attempts: Vec::new(),
            connect_error: None,
            event: None,
            fd: -1,
            readable: false,
            reading: false,
            writeable: false,
            throttled: false,
            closed: false,
            shutdown: false,
            shutdown_peer: false,
            in_sent: false,
            muted: false,
            writes: WriteQueue::default(),
            read_buf: Vec::new(),
            sizes,
            expect: 0,
            ops: VecDeque::new(),
            read_again_queued: false,
            write_again_queued: false,
        }
    }

    /// A handle to this connection (to give to other actors).
    pub fn handle(&self) -> Option<TcpConnection> {
        self.this.clone()
    }

    /// The runtime the connection runs on: start actors or connections from
    /// inside a notification (`TcpConnection::connect(&handle, ...)`).
    pub fn runtime(&self) -> Option<RuntimeHandle> {
        self.this.as_ref().map(|h| h.actor.runtime())
    }

    /// Writes `data` (after the notifier's `sent` transform). Discarded if
    /// the connection is not (or no longer) open for writing. A shared or
    /// static [`ByteSeq`] is written without a copy.
    pub fn write(&mut self, data: impl Into<ByteSeq>) {
        self.ops.push_back(Op::Write(data.into()));
    }

    /// Writes several buffers in order (after the notifier's `sentv`).
    pub fn writev<I, B>(&mut self, data: I)
    where
        I: IntoIterator<Item = B>,
        B: Into<ByteSeq>,
    {
        self.ops.push_back(Op::Writev(data.into_iter().map(Into::into).collect()));
    }

    /// Writes `data` as is, bypassing the `sent` transform.
    pub fn write_final(&mut self, data: impl Into<ByteSeq>) {
        self.ops.push_back(Op::WriteFinal(data.into()));
    }

    /// Gives a buffer back to read into — typically a `received` buffer
    /// once its bytes have been used: a notifier that does so lets the
    /// connection read without allocating. (Outside `received` the buffer
    /// is kept for whichever connection reads next on this worker.)
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.reading && self.read_buf.capacity() == 0 && buf.capacity() >= self.sizes.read_buffer_size {
            let mut buf = buf;
            buf.clear();
            self.read_buf = buf;
        } else {
            super::read_buffer::give(buf);
        }
    }

    /// Makes each `received` carry exactly `qty` bytes (0: any amount),
    /// through the notifier's `expect`. Refused if `qty` exceeds the read
    /// buffer size; ignored inside `sent`/`sentv`.
    pub fn expect(&mut self, qty: usize) -> Result<(), ExpectError> {
        let max = self.sizes.read_buffer_size;
        if qty > max {
            return Err(ExpectError::TooLarge { requested: qty, max });
        }
        if !self.in_sent {
            self.ops.push_back(Op::Expect(qty));
        }
        Ok(())
    }

    /// Stops reading until [`unmute`](TcpConn::unmute).
    pub fn mute(&mut self) {
        self.ops.push_back(Op::Mute);
    }

    /// Resumes reading: data already read is delivered first, in order.
    pub fn unmute(&mut self) {
        self.ops.push_back(Op::Unmute);
    }

    /// Graceful close: no new writes; queued writes are sent, then our side
    /// is shut down, and the socket closes when the peer's side is (its
    /// EOF). A muted connection cannot see that EOF and closes at once.
    /// While connecting, cancels every attempt (then `connect_failed`).
    pub fn close(&mut self) {
        self.ops.push_back(Op::Close);
    }

    /// Immediate close: queued writes are dropped.
    pub fn hard_close(&mut self) {
        self.ops.push_back(Op::HardClose);
    }

    /// Whether the connection is established and not closed.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether `close` or `hard_close` was applied (or it never connected).
    pub fn is_closed(&self) -> bool {
        self.closed || self.phase == Phase::Done
    }

    /// Whether reading is muted.
    pub fn is_muted(&self) -> bool {
        self.muted
    }

    /// Whether writes are being queued (between `throttled` and `unthrottled`).
    pub fn is_throttled(&self) -> bool {
        self.throttled
    }

    /// Whether the connection believes its socket readable (it reads until
    /// the OS says it would block).
    pub fn is_readable(&self) -> bool {
        self.readable
    }

    /// Whether the connection believes its socket writeable.
    pub fn is_writeable(&self) -> bool {
        self.writeable
    }

    /// Bytes written and not yet handed to the OS.
    pub fn pending_bytes(&self) -> usize {
        self.writes.total()
    }

    /// The quantity each `received` carries (0: any).
    pub fn expecting(&self) -> usize {
        self.expect
    }

    /// The read buffer size the connection was created with.
    pub fn read_buffer_size(&self) -> usize {
        self.sizes.read_buffer_size
    }

    /// The socket (-1 when not connected). Closing it is the connection's job.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The connection's asio event (NULL when it has none): the raw ABI
    /// escape hatch, e.g. for `pony_asio_event_send`. Valid until closed.
    pub fn asio_event(&self) -> *mut Event {
        self.event.map_or(std::ptr::null_mut(), AsioEvent::as_ptr)
    }

    /// Why no connection attempt could start, once `connect_failed` said
    /// so: a name that does not resolve (the error carries a
    /// [`ResolveError`](super::ResolveError)), a malformed service
    /// (`EINVAL`), no route... `None` otherwise, also when attempts started
    /// and each failed.
    pub fn connect_error(&self) -> Option<&io::Error> {
        self.connect_error.as_ref()
    }

    /// The local address (`pony_os_sockname`).
    pub fn local_address(&self) -> io::Result<NetAddress> {
        abi::socket_name(self.fd, false).map(|ip| NetAddress::from_raw(&ip)).ok_or_else(abi::last_error)
    }

    /// The peer's address (`pony_os_peername`).
    pub fn remote_address(&self) -> io::Result<NetAddress> {
        abi::socket_name(self.fd, true).map(|ip| NetAddress::from_raw(&ip)).ok_or_else(abi::last_error)
    }

    fn connected_fd(&self) -> io::Result<RawFd> {
        if self.phase == Phase::Open {
            Ok(self.fd)
        } else {
            Err(io::Error::from(io::ErrorKind::NotConnected))
        }
    }

    /// Turns Nagle's algorithm off (`true`) or on: `TCP_NODELAY` at level
    /// `IPPROTO_TCP`. Only on a connected socket.
    pub fn set_nodelay(&mut self, state: bool) -> io::Result<()> {
        self.connected_fd()?;
        self.set_tcp_nodelay(state)
    }

    /// TCP keepalive after about `secs` idle seconds (0 turns it off,
    /// `pony_os_keepalive`): `secs / 2` idle seconds, at most 32767, and
    /// `secs / 2` probes, at most 127, one second apart. Every `secs` is
    /// taken. Only on a connected socket.
    pub fn set_keepalive(&mut self, secs: u32) -> io::Result<()> {
        abi::keepalive(self.connected_fd()?, secs)
    }

    /// getsockopt(2): the option's bytes (at most `max_size`). Levels and
    /// options: [`sockopt`](super::sockopt).
    pub fn getsockopt(&self, level: i32, option: i32, max_size: usize) -> io::Result<Vec<u8>> {
        sockopt::get(self.fd, level, option, max_size)
    }

    /// getsockopt(2) of a C `int`-sized option.
    pub fn getsockopt_u32(&self, level: i32, option: i32) -> io::Result<u32> {
        sockopt::get_u32(self.fd, level, option)
    }

    /// setsockopt(2) with the option's bytes (native byte order), as they
    /// are: a value the kernel refuses is its error (`EINVAL`...), and the
    /// option keeps its old value. The named setters take any value.
    pub fn setsockopt(&mut self, level: i32, option: i32, value: &[u8]) -> io::Result<()> {
        sockopt::set(self.fd, level, option, value)
    }

    /// setsockopt(2) of a C `int`-sized option, as it is (see
    /// [`setsockopt`](TcpConn::setsockopt)).
    pub fn setsockopt_u32(&mut self, level: i32, option: i32, value: u32) -> io::Result<()> {
        sockopt::set_u32(self.fd, level, option, value)
    }

    fn get_named(&self, level: Option<i32>, option: Option<i32>) -> io::Result<u32> {
        let (level, option) = sockopt::pair(level, option)?;
        self.getsockopt_u32(level, option)
    }

    fn set_named(&mut self, level: Option<i32>, option: Option<i32>, value: u32) -> io::Result<()> {
        let (level, option) = sockopt::pair(level, option)?;
        self.setsockopt_u32(level, option, value)
    }

    /// `SO_ERROR` (reading it clears it).
    pub fn get_so_error(&self) -> io::Result<u32> {
        self.get_named(sockopt::sol_socket(), sockopt::so_error())
    }

    /// `SO_RCVBUF`.
    pub fn get_so_rcvbuf(&self) -> io::Result<u32> {
        self.get_named(sockopt::sol_socket(), sockopt::so_rcvbuf())
    }

    /// `SO_SNDBUF`.
    pub fn get_so_sndbuf(&self) -> io::Result<u32> {
        self.get_named(sockopt::sol_socket(), sockopt::so_sndbuf())
    }

    /// `TCP_NODELAY` (level `IPPROTO_TCP`).
    pub fn get_tcp_nodelay(&self) -> io::Result<u32> {
        self.get_named(sockopt::ipproto_tcp(), sockopt::tcp_nodelay())
    }

    /// Sets `SO_RCVBUF`. Any size is taken: the kernel lowers one above
    /// `net.core.rmem_max` to it (and raises a tiny one to its minimum);
    /// `get_so_rcvbuf` then reads it back doubled, as Linux keeps it.
    pub fn set_so_rcvbuf(&mut self, size: u32) -> io::Result<()> {
        self.set_named(sockopt::sol_socket(), sockopt::so_rcvbuf(), size)
    }

    /// Sets `SO_SNDBUF`. Any size is taken: the kernel lowers one above
    /// `net.core.wmem_max` to it (and raises a tiny one to its minimum);
    /// `get_so_sndbuf` then reads it back doubled.
    pub fn set_so_sndbuf(&mut self, size: u32) -> io::Result<()> {
        self.set_named(sockopt::sol_socket(), sockopt::so_sndbuf(), size)
    }

    /// Sets `TCP_NODELAY` at level `IPPROTO_TCP` (the 2023 runtime used
    /// `SOL_SOCKET`, where the same number is another option).
    pub fn set_tcp_nodelay(&mut self, state: bool) -> io::Result<()> {
        self.set_named(sockopt::ipproto_tcp(), sockopt::tcp_nodelay(), u32::from(state))
    }
}

impl fmt::Debug for TcpConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConn")
            .field("phase", &self.phase)
            .field("fd", &self.fd)
            .field("attempts", &self.attempts.len())
            .field("pending_bytes", &self.writes.total())
            .field("muted", &self.muted)
            .field("throttled", &self.throttled)
            .finish_non_exhaustive()
    }
}
