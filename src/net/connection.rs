//! `TcpConnection`: the connection actor (Pony's `TCPConnection`) and the
//! handle that sends it behaviours.

use super::abi::{self, AsioEvent, IpVersion, Recv, ASIO_DISPOSABLE, ASIO_ERROR, ASIO_READ, ASIO_WRITE};
use super::byteseq::ByteSeq;
use super::connect;
use super::listener::{ListenerActor, ListenerLink};
use super::notify::TcpConnectionNotify;
use super::read_buffer;
use super::tcp_conn::{Op, Phase, Sizes, TcpConn};
use crate::actor::{Actor, ActorRef, Context, Spawn};
use crate::asio::event::Event;
use std::os::fd::RawFd;

/// `received` calls in one read turn before the connection yields.
const MAX_RECEIVED_CALLS: usize = 50;
/// Buffers handed to one `pony_os_writev` at most (an array on the stack).
const WRITEV_BATCH: usize = 64;

/// How a client connection is made. `Default` gives Pony's defaults.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Local address to connect from ("" = any).
    pub from: String,
    /// IPv4, IPv6 or either.
    pub ip_version: IpVersion,
    /// Read buffer size: the most one `received` carries, and the largest
    /// quantity `expect` accepts. Default 16384.
    pub read_buffer_size: usize,
    /// Bytes read in one turn before yielding to other actors. Default 16384.
    pub yield_after_reading: usize,
    /// Bytes written in one turn before yielding. Default 16384.
    pub yield_after_writing: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            from: String::new(),
            ip_version: IpVersion::Any,
            read_buffer_size: 16384,
            yield_after_reading: 16384,
            yield_after_writing: 16384,
        }
    }
}

impl ConnectOptions {
    pub(crate) fn sizes(&self) -> Sizes {
        Sizes {
            read_buffer_size: self.read_buffer_size.max(1),
            yield_after_reading: self.yield_after_reading,
            yield_after_writing: self.yield_after_writing,
        }
    }
}

/// A TCP connection: a handle to its actor. Cheap to clone; every method
/// sends the actor a behaviour, run after the ones sent before it.
///
/// Client connections use Happy Eyeballs: every address the host resolves
/// to is tried at once; the first to connect wins and the others are
/// cancelled. Data written before the connection is established is
/// discarded (as in Pony).
///
/// ```
/// use ponynet::actor::Runtime;
/// use ponynet::net::{TcpConn, TcpConnection, TcpConnectionNotify, TcpListen, TcpListenNotify, TcpListener};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// // The server echoes what it receives.
/// struct Echo;
/// impl TcpConnectionNotify for Echo {
///     fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
///         conn.write(data);
///         true
///     }
///     fn connect_failed(&mut self, _conn: &mut TcpConn) {}
/// }
///
/// // The listener hands out Echo notifiers, and stops after one connection.
/// struct Server(mpsc::Sender<String>);
/// impl TcpListenNotify for Server {
///     fn listening(&mut self, listen: &mut TcpListen) {
///         let port = listen.local_address().map(|a| a.port()).unwrap_or(0);
///         let _ = self.0.send(port.to_string());
///     }
///     fn not_listening(&mut self, _listen: &mut TcpListen) {}
///     fn connected(&mut self, listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
///         listen.close();
///         Some(Box::new(Echo))
///     }
/// }
///
/// // The client says hello, and closes once it has heard it back.
/// struct Client(mpsc::Sender<Vec<u8>>);
/// impl TcpConnectionNotify for Client {
///     fn connected(&mut self, conn: &mut TcpConn) {
///         conn.write("hello");
///     }
///     fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
///         let _ = self.0.send(data);
///         conn.close();
///         true
///     }
///     fn connect_failed(&mut self, _conn: &mut TcpConn) {}
/// }
///
/// let rt = Runtime::new(2)?;
/// let (port_tx, port_rx) = mpsc::channel();
/// TcpListener::listen(&rt, Server(port_tx), "127.0.0.1", "0");
/// let port = port_rx.recv_timeout(Duration::from_secs(10))?;
/// let (tx, rx) = mpsc::channel();
/// TcpConnection::connect(&rt, Client(tx), "127.0.0.1", &port);
/// assert!(rt.run_until_idle_for(Duration::from_secs(10)));
/// assert_eq!(rx.try_recv()?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TcpConnection {
    pub(crate) actor: ActorRef<ConnActor>,
}

impl TcpConnection {
    /// Connects to `host`/`service` over IPv4 or IPv6 with Pony's defaults.
    /// `service` is a port, 1 to 65535 in decimal digits, or a service name
    /// ("http"); anything else (port 0, a larger or signed number) starts
    /// no attempt: `connect_failed` follows.
    pub fn connect(rt: &impl Spawn, notify: impl TcpConnectionNotify, host: &str, service: &str) -> TcpConnection {
        TcpConnection::connect_with(rt, notify, host, service, ConnectOptions::default())
    }

    /// Connects over IPv4 only.
    pub fn connect_ip4(rt: &impl Spawn, notify: impl TcpConnectionNotify, host: &str, service: &str) -> TcpConnection {
        let options = ConnectOptions { ip_version: IpVersion::V4, ..ConnectOptions::default() };
        TcpConnection::connect_with(rt, notify, host, service, options)
    }

    /// Connects over IPv6 only.
    pub fn connect_ip6(rt: &impl Spawn, notify: impl TcpConnectionNotify, host: &str, service: &str) -> TcpConnection {
        let options = ConnectOptions { ip_version: IpVersion::V6, ..ConnectOptions::default() };
        TcpConnection::connect_with(rt, notify, host, service, options)
    }

    /// Connects with explicit options.
    pub fn connect_with(
        rt: &impl Spawn,
        notify: impl TcpConnectionNotify,
        host: &str,
        service: &str,
        options: ConnectOptions,
    ) -> TcpConnection {
        let sizes = options.sizes();
        let start = Start::Connect { host: host.to_owned(), service: service.to_owned(), options };
        let actor = rt.spawn(ConnActor::new(Box::new(notify), sizes, None, Some(start)));
        TcpConnection { actor }
    }

    /// A connection for a socket a listener accepted.
    pub(crate) fn accepted(
        ctx: &Context<ListenerActor>,
        notify: Box<dyn TcpConnectionNotify>,
        fd: RawFd,
        sizes: Sizes,
        listener: ListenerLink,
    ) -> TcpConnection {
        let actor = ctx.spawn(ConnActor::new(notify, sizes, Some(listener), Some(Start::Accepted(fd))));
        TcpConnection { actor }
    }

    fn op(&self, op: Op) {
        self.actor.send(move |a, ctx| a.turn(ctx, |a| a.conn.ops.push_back(op)));
    }

    /// Writes `data` (through the notifier's `sent`).
    pub fn write(&self, data: impl Into<ByteSeq>) {
        self.op(Op::Write(data.into()));
    }

    /// Writes several buffers in order (through the notifier's `sentv`).
    pub fn writev<I, B>(&self, data: I)
    where
        I: IntoIterator<Item = B>,
        B: Into<ByteSeq>,
    {
        self.op(Op::Writev(data.into_iter().map(Into::into).collect()));
    }

    /// Stops reading until `unmute`.
    pub fn mute(&self) {
        self.op(Op::Mute);
    }

    /// Resumes reading.
    pub fn unmute(&self) {
        self.op(Op::Unmute);
    }

    /// Graceful close (see [`TcpConn::close`]).
    pub fn close(&self) {
        self.op(Op::Close);
    }

    /// Immediate close: queued writes are dropped.
    pub fn hard_close(&self) {
        self.op(Op::HardClose);
    }

    /// Same as [`close`](TcpConnection::close) (Pony's `dispose`).
    pub fn dispose(&self) {
        self.close();
    }

    /// Replaces the notifier.
    pub fn set_notify(&self, notify: impl TcpConnectionNotify) {
        let notify: Box<dyn TcpConnectionNotify> = Box::new(notify);
        self.actor.send(move |a, ctx| a.turn(ctx, |a| a.notify = notify));
    }

    /// Runs `f` on the connection's actor with its ref view (to query it,
    /// set options, or call several ref methods in one behaviour).
    pub fn with(&self, f: impl FnOnce(&mut TcpConn) + Send + 'static) {
        self.actor.send(move |a, ctx| a.turn(ctx, |a| f(&mut a.conn)));
    }

    /// Whether two handles name the same connection.
    pub fn same(&self, other: &TcpConnection) -> bool {
        self.actor.same(&other.actor)
    }
}

/// The connection actor: its state and its notifier.
pub(crate) struct ConnActor {
    pub(crate) conn: TcpConn,
    pub(crate) notify: Box<dyn TcpConnectionNotify>,
    /// What the actor does first (taken by `started`).
    start: Option<Start>,
}

/// A connection's first step.
enum Start {
    Connect { host: String, service: String, options: ConnectOptions },
    Accepted(RawFd),
}

impl Actor for ConnActor {
    const STARTS: bool = true;

    fn started(&mut self, ctx: &Context<Self>) {
        match self.start.take() {
            Some(Start::Connect { host, service, options }) => {
                self.turn(ctx, |a| a.start_connect(ctx, &host, &service, &options));
            }
            Some(Start::Accepted(fd)) => self.turn(ctx, |a| a.start_accepted(ctx, fd)),
            None => {}
        }
    }

    fn event(&mut self, ctx: &Context<Self>, ev: *mut Event, flags: u32, arg: u32) {
        self.turn(ctx, |a| a.on_event(ev, flags, arg));
    }
}

impl ConnActor {
    fn new(
        notify: Box<dyn TcpConnectionNotify>,
        sizes: Sizes,
        listener: Option<ListenerLink>,
        start: Option<Start>,
    ) -> Self {
        ConnActor { conn: TcpConn::new(sizes, listener), notify, start }
    }

    /// Runs one behaviour: `f`, then what it asked of the ref view, then a
    /// shutdown that became possible.
    fn turn(&mut self, ctx: &Context<Self>, f: impl FnOnce(&mut Self)) {
        self.conn.this = Some(TcpConnection { actor: ctx.this() });
        f(self);
        loop {
            self.run_ops();
            self.try_shutdown();
            if self.conn.ops.is_empty() {
                break;
            }
        }
        // Not kept between turns: the actor must not keep itself alive.
        self.conn.this = None;
    }

    /// Applies the requests made on the ref view, in order.
    fn run_ops(&mut self) {
        while let Some(op) = self.conn.ops.pop_front() {
            match op {
                Op::Write(data) => {
                    if self.accepts_writes() {
                        self.conn.in_sent = true;
                        let data = self.notify.sent(&mut self.conn, data);
                        self.conn.in_sent = false;
                        self.write_final(data);
                    }
                }
                Op::Writev(data) => {
                    if self.accepts_writes() {
                        self.conn.in_sent = true;
                        let data = self.notify.sentv(&mut self.conn, data);
                        self.conn.in_sent = false;
                        data.into_iter().for_each(|d| self.conn.writes.push(d));
                        self.pending_writes();
                    }
                }
                Op::WriteFinal(data) => self.write_final(data),
                Op::Expect(qty) => self.conn.expect = self.notify.expect(&mut self.conn, qty),
                Op::Mute => self.conn.muted = true,
                Op::Unmute => {
                    self.conn.muted = false;
                    self.pending_reads();
                }
                Op::Close => self.close(),
                Op::HardClose => self.hard_close(),
            }
        }
    }

    fn accepts_writes(&self) -> bool {
        self.conn.phase == Phase::Open && !self.conn.closed
    }

    // ---- starting -------------------------------------------------------

    fn start_connect(&mut self, ctx: &Context<Self>, host: &str, service: &str, options: &ConnectOptions) {
        let proxy = self.notify.proxy_via(host, service);
        let (host, service) = proxy.as_ref().map_or((host, service), |(h, s)| (h.as_str(), s.as_str()));
        let attempts = connect::start(ctx.owner(), host, service, &options.from, options.ip_version);
        let attempts = attempts.unwrap_or_else(|e| {
            self.conn.connect_error = Some(e);
            Vec::new()
        });
        ctx.events_created(attempts.len());
        self.conn.attempts = attempts;
        self.conn.phase = Phase::Connecting;
        self.notify_connecting();
    }

    /// `connecting(count)` while attempts remain, else `connect_failed`.
    fn notify_connecting(&mut self) {
        match u32::try_from(self.conn.attempts.len()) {
            Ok(0) => {
                self.conn.phase = Phase::Done;
                self.conn.closed = true;
                self.notify.connect_failed(&mut self.conn);
            }
            Ok(n) => self.notify.connecting(&mut self.conn, n),
            Err(_) => self.notify.connecting(&mut self.conn, u32::MAX),
        }
    }

    /// Test seam: Happy Eyeballs over the addresses of several hosts (a
    /// name with several addresses cannot be set up in a test).
    #[cfg(test)]
    fn start_connect_each(&mut self, ctx: &Context<Self>, targets: &[(String, String)]) {
        let attempts: Vec<AsioEvent> = targets
            .iter()
            .flat_map(|(host, service)| connect::start(ctx.owner(), host, service, "", IpVersion::Any).unwrap_or_default())
            .collect();
        ctx.events_created(attempts.len());
        self.conn.attempts = attempts;
        self.conn.phase = Phase::Connecting;
        self.notify_connecting();
    }

    fn start_accepted(&mut self, ctx: &Context<Self>, fd: RawFd) {
        let Some(ev) = AsioEvent::create(ctx.owner(), fd, abi::READ_WRITE_ONESHOT) else {
            abi::socket_close(fd);
            self.conn.phase = Phase::Done;
            self.conn.closed = true;
            self.tell_listener();
            return;
        };
        ctx.events_created(1);
        self.conn.event = Some(ev);
        self.conn.fd = fd;
        self.conn.phase = Phase::Open;
        // A new socket can be written: no need to wait for a notification.
        ev.set_writeable(true);
        self.conn.writeable = true;
        // Data may already be waiting: read (unless `accepted` muted or closed).
        self.conn.readable = true;
        self.notify.accepted(&mut self.conn);
        self.run_ops();
        self.pending_reads();
    }

    // ---- notifications --------------------------------------------------

    fn on_event(&mut self, ev: *mut Event, flags: u32, _arg: u32) {
        let Some(ev) = AsioEvent::from_raw(ev) else { return };
        if flags == ASIO_DISPOSABLE {
            ev.destroy();
            if self.conn.event == Some(ev) {
                self.conn.event = None;
            }
            return;
        }
        if self.conn.event == Some(ev) {
            // Once closed, a notification that was already on its way must
            // not touch the socket (its fd number may be someone else's now).
            if self.conn.phase != Phase::Open {
                return;
            }
            if flags & ASIO_ERROR != 0 {
                self.hard_close();
                return;
            }
            if flags & ASIO_WRITE != 0 {
                self.conn.writeable = true;
                self.pending_writes();
            }
            if flags & ASIO_READ != 0 && self.conn.phase == Phase::Open {
                self.conn.readable = true;
                self.pending_reads();
            }
        } else if let Some(i) = self.conn.attempts.iter().position(|a| *a == ev) {
            // An attempt completes with its first WRITE (or a refused
            // subscription); READ alone cannot come before that.
            if flags & (ASIO_WRITE | ASIO_ERROR) == 0 {
                return;
            }
            self.conn.attempts.remove(i);
            let fd = ev.fd();
            if flags & ASIO_ERROR == 0 && self.conn.phase == Phase::Connecting && abi::connected(fd) {
                self.adopt(ev, fd, flags & ASIO_READ != 0);
            } else {
                ev.unsubscribe();
                abi::socket_close(fd);
                if self.conn.phase == Phase::Connecting {
                    self.notify_connecting();
                }
            }
        }
        // Otherwise: an attempt cancelled earlier; its fd is closed already.
    }

    /// The first attempt that connected becomes the connection. It reads
    /// at once only if the notification said READ: data that arrives later
    /// is a new edge, reported as READ (a read now would only find
    /// would-block — a syscall per connection).
    fn adopt(&mut self, ev: AsioEvent, fd: RawFd, readable: bool) {
        self.cancel_attempts();
        self.conn.event = Some(ev);
        self.conn.fd = fd;
        self.conn.phase = Phase::Open;
        self.conn.writeable = true;
        self.conn.readable = readable;
        self.notify.connected(&mut self.conn);
        self.run_ops();
        self.pending_reads();
        self.pending_writes();
    }

    /// Unsubscribes every attempt still in flight and closes its socket.
    /// Their final `ASIO_DISPOSABLE` still comes (and destroys them).
    fn cancel_attempts(&mut self) {
        for ev in std::mem::take(&mut self.conn.attempts) {
            let fd = ev.fd();
            ev.unsubscribe();
            abi::socket_close(fd);
        }
    }

    // ---- reading --------------------------------------------------------

    /// Reads while the socket has data and the connection is not muted,
    /// delivering whole `expect`-sized pieces; yields after
    /// `yield_after_reading` bytes or `MAX_RECEIVED_CALLS` calls.
    fn pending_reads(&mut self) {
        if self.conn.reading {
            // Unmuted from inside `received`: the running loop goes on.
            return;
        }
        self.conn.reading = true;
        self.read_loop();
        self.conn.reading = false;
    }

    fn read_loop(&mut self) {
        let mut sum = 0;
        let mut calls = 0;
        // The last read returned less than asked for: the socket is empty.
        let mut emptied = false;
        while self.conn.phase == Phase::Open && !self.conn.muted {
            // Deliver what is already here.
            while let Some(data) = self.next_piece() {
                calls += 1;
                let go_on = self.notify.received(&mut self.conn, data, calls);
                // What `received` asked (expect, mute, writes, close) applies
                // before the next piece is cut.
                self.run_ops();
                if self.conn.phase != Phase::Open || self.conn.muted {
                    return;
                }
                if !go_on || calls >= MAX_RECEIVED_CALLS {
                    self.read_again();
                    return;
                }
            }
            if !self.conn.readable || self.conn.shutdown_peer {
                return;
            }
            let Some(ev) = self.conn.event else { return };
            if emptied {
                // The read stopped short: the socket is most likely empty.
                // The re-arm asks the kernel again unless the library knows
                // it is (a TCP socket with no close, error or urgent data
                // seen), so stopping here loses nothing.
                self.wait_readable(ev);
                return;
            }
            if sum >= self.conn.sizes.yield_after_reading {
                self.read_again();
                return;
            }
            let want = self.conn.sizes.read_buffer_size.max(self.conn.expect);
            let buf = &mut self.conn.read_buf;
            if buf.capacity() == 0 {
                // Only a connection that is reading holds a buffer.
                *buf = read_buffer::take();
            }
            let room = want.saturating_sub(buf.len()).max(1);
            buf.reserve(room);
            match abi::recv(ev, &mut buf.spare_capacity_mut()[..room]) {
                Ok(Recv::Bytes(n)) => {
                    // SAFETY: pony_os_recv initialised the first `n` spare bytes.
                    unsafe { buf.set_len(buf.len() + n) };
                    sum += n;
                    emptied = n < room;
                }
                Ok(Recv::WouldBlock) => {
                    self.wait_readable(ev);
                    return;
                }
                Ok(Recv::Eof) => {
                    // The peer will send nothing more: send what is queued,
                    // then shut down and close.
                    self.conn.readable = false;
                    self.conn.shutdown_peer = true;
                    self.conn.closed = true;
                    self.try_shutdown();
                    return;
                }
                Err(_) => {
                    self.hard_close();
                    return;
                }
            }
        }
    }

    /// Nothing more to read for now: re-arm, and hear when there is. An
    /// idle connection keeps no (or only a small) buffer.
    fn wait_readable(&mut self, ev: AsioEvent) {
        read_buffer::release(&mut self.conn.read_buf);
        self.conn.readable = false;
        ev.set_readable(false);
        ev.resubscribe();
    }

    /// The next piece `received` gets, cut from the read buffer: `expect`
    /// bytes, or everything when nothing is expected.
    fn next_piece(&mut self) -> Option<Vec<u8>> {
        let buf = &mut self.conn.read_buf;
        let have = buf.len();
        let cut = if self.conn.expect == 0 { have } else { self.conn.expect };
        if have == 0 || have < cut {
            return None;
        }
        if cut == have && have * 4 >= buf.capacity() {
            // The whole buffer, mostly full: hand it over, no copy.
            return Some(std::mem::take(buf));
        }
        let piece = buf[..cut].to_vec();
        buf.drain(..cut);
        Some(piece)
    }

    fn read_again(&mut self) {
        if std::mem::replace(&mut self.conn.read_again_queued, true) {
            return;
        }
        if let Some(this) = &self.conn.this {
            this.actor.send(|a, ctx| {
                a.turn(ctx, |a| {
                    a.conn.read_again_queued = false;
                    a.pending_reads();
                })
            });
        }
    }

    // ---- writing --------------------------------------------------------

    fn write_final(&mut self, data: ByteSeq) {
        if !self.accepts_writes() || data.is_empty() {
            return;
        }
        if let (true, true, Some(ev)) = (self.conn.writes.is_empty(), self.conn.writeable, self.conn.event) {
            // Nothing queued: straight to the OS, queued only if it does
            // not take it all (the common small write skips the queue).
            let iov = [libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() }];
            match abi::writev(ev, &iov) {
                Ok(n) if n == data.len() => self.release_backpressure(),
                Ok(n) => {
                    self.conn.writes.push(data);
                    self.conn.writes.consume(n);
                    self.apply_backpressure(ev);
                }
                Err(_) => self.hard_close(),
            }
            return;
        }
        self.conn.writes.push(data);
        self.pending_writes();
    }

    /// Hands queued data to the OS while it takes it; on a short write,
    /// applies backpressure and waits for WRITE. Yields after
    /// `yield_after_writing` bytes. Releases backpressure once all is sent.
    fn pending_writes(&mut self) {
        let mut iov = [std::mem::MaybeUninit::<libc::iovec>::uninit(); WRITEV_BATCH];
        let max = abi::writev_max().min(WRITEV_BATCH);
        let mut sent = 0;
        while self.conn.phase == Phase::Open && self.conn.writeable && !self.conn.writes.is_empty() {
            if sent >= self.conn.sizes.yield_after_writing {
                self.write_again();
                return;
            }
            let Some(ev) = self.conn.event else { return };
            let (iovecs, batch) = self.conn.writes.iovecs(&mut iov[..max]);
            match abi::writev(ev, iovecs) {
                Ok(n) => {
                    self.conn.writes.consume(n);
                    sent += n;
                    if n < batch {
                        self.apply_backpressure(ev);
                    }
                }
                Err(_) => {
                    self.hard_close();
                    return;
                }
            }
        }
        if self.conn.phase == Phase::Open && self.conn.writes.is_empty() {
            self.release_backpressure();
        }
    }

    fn write_again(&mut self) {
        if std::mem::replace(&mut self.conn.write_again_queued, true) {
            return;
        }
        if let Some(this) = &self.conn.this {
            this.actor.send(|a, ctx| {
                a.turn(ctx, |a| {
                    a.conn.write_again_queued = false;
                    a.pending_writes();
                })
            });
        }
    }

    /// The OS took less than offered: wait for WRITE (re-armed whether or
    /// not the connection is muted).
    fn apply_backpressure(&mut self, ev: AsioEvent) {
        if !self.conn.throttled {
            self.conn.throttled = true;
            self.notify.throttled(&mut self.conn);
        }
        self.conn.writeable = false;
        ev.set_writeable(false);
        ev.resubscribe();
    }

    fn release_backpressure(&mut self) {
        if self.conn.throttled {
            self.conn.throttled = false;
            self.notify.unthrottled(&mut self.conn);
        }
    }

    // ---- closing --------------------------------------------------------

    fn close(&mut self) {
        match self.conn.phase {
            Phase::Connecting => self.hard_close(),
            Phase::Open if self.conn.muted => self.hard_close(),
            Phase::Open => {
                self.conn.closed = true;
                self.try_shutdown();
            }
            Phase::New | Phase::Done => {}
        }
    }

    /// Once closed and all is sent: shut our side down; once the peer's
    /// side is down too, close the socket. When the peer's side is down
    /// already, the close alone sends our FIN: no separate shutdown(2).
    fn try_shutdown(&mut self) {
        if self.conn.phase != Phase::Open || !self.conn.closed {
            return;
        }
        if self.conn.shutdown_peer && self.conn.writes.is_empty() {
            self.hard_close();
            return;
        }
        if !self.conn.shutdown && self.conn.writes.is_empty() {
            self.conn.shutdown = true;
            abi::socket_shutdown(self.conn.fd);
        }
        if self.conn.shutdown && self.conn.shutdown_peer {
            self.hard_close();
        }
    }

    fn hard_close(&mut self) {
        match self.conn.phase {
            Phase::Connecting => {
                self.cancel_attempts();
                self.conn.phase = Phase::Done;
                self.conn.closed = true;
                self.notify.connect_failed(&mut self.conn);
            }
            Phase::Open => {
                let c = &mut self.conn;
                c.phase = Phase::Done;
                c.closed = true;
                c.shutdown = true;
                c.shutdown_peer = true;
                c.readable = false;
                c.writeable = false;
                c.writes.clear();
                c.read_buf.clear();
                read_buffer::release(&mut c.read_buf);
                if let Some(ev) = c.event {
                    ev.unsubscribe();
                }
                abi::socket_close(std::mem::replace(&mut c.fd, -1));
                self.notify.closed(&mut self.conn);
                self.tell_listener();
            }
            Phase::New | Phase::Done => {}
        }
    }

    fn tell_listener(&mut self) {
        if let Some(listener) = self.conn.listener.take() {
            listener.closed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Runtime;
    use crate::net::test_sockets::{blackhole, syn_sent_to};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Log {
        fn push(&self, s: impl Into<String>) {
            self.0.lock().unwrap().push(s.into());
        }
        fn all(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    struct Recorder {
        log: Log,
        close_at: Option<u32>,
    }

    impl TcpConnectionNotify for Recorder {
        fn connecting(&mut self, conn: &mut TcpConn, count: u32) {
            self.log.push(format!("connecting {count}"));
            if self.close_at == Some(count) {
                conn.hard_close();
            }
        }
        fn connected(&mut self, conn: &mut TcpConn) {
            self.log.push("connected");
            conn.hard_close();
        }
        fn connect_failed(&mut self, _conn: &mut TcpConn) {
            self.log.push("connect_failed");
        }
        fn closed(&mut self, _conn: &mut TcpConn) {
            self.log.push("closed");
        }
    }

    fn run(targets: Vec<(String, String)>, close_at: Option<u32>) -> Vec<String> {
        let rt = Runtime::new(2).expect("runtime");
        let log = Log::default();
        let notify = Recorder { log: log.clone(), close_at };
        let actor = rt.spawn(ConnActor::new(Box::new(notify), ConnectOptions::default().sizes(), None, None));
        actor.send(move |a, ctx| a.turn(ctx, |a| a.start_connect_each(ctx, &targets)));
        assert!(rt.run_until_idle_for(Duration::from_secs(10)), "attempts still in flight");
        log.all()
    }

    #[test]
    fn closing_while_connecting_cancels_every_attempt() {
        let (_a, _fa, p4) = blackhole("127.0.0.1:0").expect("blackhole");
        let (_b, _fb, p4b) = blackhole("127.0.0.1:0").expect("blackhole");
        let mut targets = vec![("127.0.0.1".to_owned(), p4.to_string()), ("127.0.0.1".to_owned(), p4b.to_string())];
        let v6 = blackhole("[::1]:0");
        if let Some((_, _, p6)) = &v6 {
            targets.push(("::1".to_owned(), p6.to_string()));
        }
        let n = targets.len();
        assert_eq!(run(targets, Some(n as u32)), [format!("connecting {n}"), "connect_failed".to_owned()]);
        assert_eq!(syn_sent_to(p4) + syn_sent_to(p4b), 0);
        if let Some((_, _, p6)) = v6 {
            assert_eq!(syn_sent_to(p6), 0);
        }
    }

    #[test]
    fn the_first_attempt_to_connect_wins_and_the_others_are_cancelled() {
        let (_a, _fa, hole) = blackhole("127.0.0.1:0").expect("blackhole");
        let live = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = live.local_addr().expect("addr").port();
        let targets = vec![("127.0.0.1".to_owned(), hole.to_string()), ("127.0.0.1".to_owned(), port.to_string())];
        assert_eq!(run(targets, None), ["connecting 2", "connected", "closed"]);
        assert_eq!(syn_sent_to(hole), 0, "the losing attempt was not cancelled");
    }

    #[test]
    fn every_attempt_failing_counts_down_to_connect_failed() {
        let ports: Vec<u16> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port())
            .collect();
        let targets = ports.iter().map(|p| ("127.0.0.1".to_owned(), p.to_string())).collect();
        assert_eq!(run(targets, None), ["connecting 3", "connecting 2", "connecting 1", "connect_failed"]);
    }
}
