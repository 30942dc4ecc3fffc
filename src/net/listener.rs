//! `TcpListener`: accepts connections (Pony's `TCPListener`), at most
//! `limit` open at once; connections that arrive meanwhile wait in the
//! kernel's queue and are accepted as open ones close.

use super::abi::{self, Accepted, AsioEvent, IpVersion, ASIO_DISPOSABLE, ASIO_ERROR, ASIO_READ};
use super::address::NetAddress;
use super::connection::TcpConnection;
use super::notify::TcpListenNotify;
use super::tcp_conn::Sizes;
use crate::actor::{Actor, ActorRef, Context, Spawn};
use crate::asio::event::Event;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Consecutive accept errors (other than running out of fds) tolerated in
/// one accept turn before waiting for the next notification.
const ACCEPT_RETRIES: usize = 8;

/// How a listener is made. `Default` gives Pony's defaults.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// The most connections open at once (0: no limit).
    pub limit: usize,
    /// IPv4, IPv6 or either.
    pub ip_version: IpVersion,
    /// Read buffer size of accepted connections. Default 16384.
    pub read_buffer_size: usize,
    /// Yield after reading this many bytes in a turn. Default 16384.
    pub yield_after_reading: usize,
    /// Yield after writing this many bytes in a turn. Default 16384.
    pub yield_after_writing: usize,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            limit: 0,
            ip_version: IpVersion::Any,
            read_buffer_size: 16384,
            yield_after_reading: 16384,
            yield_after_writing: 16384,
        }
    }
}

/// A TCP listener: a handle to its actor. Cheap to clone.
#[derive(Clone)]
pub struct TcpListener {
    actor: ActorRef<ListenerActor>,
}

impl TcpListener {
    /// Listens on `host`/`service` ("" host: any address; "0" or ""
    /// service: a free port) over IPv4 or IPv6, with Pony's defaults.
    /// `service` is a port, 0 to 65535 in decimal digits, or a service name
    /// ("http"); a larger or signed number is `not_listening`.
    pub fn listen(rt: &impl Spawn, notify: impl TcpListenNotify, host: &str, service: &str) -> TcpListener {
        TcpListener::listen_with(rt, notify, host, service, ListenOptions::default())
    }

    /// Listens over IPv4 only.
    pub fn listen_ip4(rt: &impl Spawn, notify: impl TcpListenNotify, host: &str, service: &str) -> TcpListener {
        let options = ListenOptions { ip_version: IpVersion::V4, ..ListenOptions::default() };
        TcpListener::listen_with(rt, notify, host, service, options)
    }

    /// Listens over IPv6 only.
    pub fn listen_ip6(rt: &impl Spawn, notify: impl TcpListenNotify, host: &str, service: &str) -> TcpListener {
        let options = ListenOptions { ip_version: IpVersion::V6, ..ListenOptions::default() };
        TcpListener::listen_with(rt, notify, host, service, options)
    }

    /// Listens with explicit options.
    pub fn listen_with(
        rt: &impl Spawn,
        notify: impl TcpListenNotify,
        host: &str,
        service: &str,
        options: ListenOptions,
    ) -> TcpListener {
        let sizes = Sizes {
            read_buffer_size: options.read_buffer_size.max(1),
            yield_after_reading: options.yield_after_reading,
            yield_after_writing: options.yield_after_writing,
        };
        let actor = rt.spawn(ListenerActor { listen: TcpListen::new(options.limit, sizes), notify: Box::new(notify) });
        let (host, service, version) = (host.to_owned(), service.to_owned(), options.ip_version);
        actor.send(move |l, ctx| l.turn(ctx, |l| l.start(ctx, &host, &service, version)));
        TcpListener { actor }
    }

    /// Stops listening (open connections are not affected).
    pub fn close(&self) {
        self.actor.send(|l, ctx| l.turn(ctx, |l| l.listen.close_requested = true));
    }

    /// Same as [`close`](TcpListener::close) (Pony's `dispose`).
    pub fn dispose(&self) {
        self.close();
    }

    /// Replaces the notifier.
    pub fn set_notify(&self, notify: impl TcpListenNotify) {
        let notify: Box<dyn TcpListenNotify> = Box::new(notify);
        self.actor.send(move |l, ctx| l.turn(ctx, |l| l.notify = notify));
    }

    /// Runs `f` on the listener's actor with its ref view.
    pub fn with(&self, f: impl FnOnce(&mut TcpListen) + Send + 'static) {
        self.actor.send(move |l, ctx| l.turn(ctx, |l| f(&mut l.listen)));
    }
}

/// A listener as its notifier sees it (Pony's `TCPListener ref`).
pub struct TcpListen {
    this: Option<TcpListener>,
    event: Option<AsioEvent>,
    fd: RawFd,
    /// Why it could not listen.
    error: Option<io::Error>,
    closed: bool,
    close_requested: bool,
    limit: usize,
    /// Accepted connections not yet closed; each decrements it as it closes.
    open: Arc<AtomicUsize>,
    paused: bool,
    sizes: Sizes,
}

/// What an accepted connection keeps of its listener: it counts itself out
/// when it closes, and wakes the listener only if that listener may be
/// paused at its limit (a message per connection otherwise).
pub(crate) struct ListenerLink {
    listener: ActorRef<ListenerActor>,
    open: Arc<AtomicUsize>,
    limit: usize,
}

impl ListenerLink {
    /// The connection closed.
    pub(crate) fn closed(self) {
        let before = self.open.fetch_sub(1, Ordering::AcqRel);
        if self.limit != 0 && before == self.limit {
            self.listener.send(|l, ctx| l.conn_closed(ctx));
        }
    }
}

impl TcpListen {
    fn new(limit: usize, sizes: Sizes) -> TcpListen {
        TcpListen {
            this: None,
            event: None,
            fd: -1,
            error: None,
            closed: false,
            close_requested: false,
            limit,
            open: Arc::new(AtomicUsize::new(0)),
            paused: false,
            sizes,
        }
    }

    /// A handle to this listener.
    pub fn handle(&self) -> Option<TcpListener> {
        self.this.clone()
    }

    /// The bound address (`pony_os_sockname`).
    pub fn local_address(&self) -> io::Result<NetAddress> {
        abi::socket_name(self.fd, false).map(|ip| NetAddress::from_raw(&ip)).ok_or_else(abi::last_error)
    }

    /// Why the listener could not listen, once `not_listening` said so: a
    /// name that does not resolve (the error carries a
    /// [`ResolveError`](super::ResolveError)), a malformed service
    /// (`EINVAL`), an address in use (`EADDRINUSE`)... `None` otherwise.
    pub fn listen_error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Stops listening once the current notification returns.
    pub fn close(&mut self) {
        self.close_requested = true;
    }

    /// Whether the listener is closed (or never listened).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Accepted connections not yet closed.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// The most connections open at once (0: no limit).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The listening socket (-1 when closed).
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    fn below_limit(&self) -> bool {
        self.limit == 0 || self.count() < self.limit
    }
}

impl fmt::Debug for TcpListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListen")
            .field("fd", &self.fd)
            .field("closed", &self.closed)
            .field("count", &self.count())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// The listener actor: its state and its notifier.
pub(crate) struct ListenerActor {
    listen: TcpListen,
    notify: Box<dyn TcpListenNotify>,
}

impl Actor for ListenerActor {
    fn event(&mut self, ctx: &Context<Self>, ev: *mut Event, flags: u32, _arg: u32) {
        self.turn(ctx, |l| l.on_event(ctx, ev, flags));
    }
}

impl ListenerActor {
    fn turn(&mut self, ctx: &Context<Self>, f: impl FnOnce(&mut Self)) {
        self.listen.this = Some(TcpListener { actor: ctx.this() });
        f(self);
        if self.listen.close_requested {
            self.close();
        }
        self.listen.this = None;
    }

    fn start(&mut self, ctx: &Context<Self>, host: &str, service: &str, version: IpVersion) {
        match abi::listen_tcp(ctx.owner(), host, service, version) {
            Ok(ev) => {
                ctx.events_created(1);
                self.listen.event = Some(ev);
                self.listen.fd = ev.fd();
                self.notify.listening(&mut self.listen);
            }
            Err(e) => {
                self.listen.closed = true;
                self.listen.error = Some(e);
                self.notify.not_listening(&mut self.listen);
            }
        }
    }

    fn on_event(&mut self, ctx: &Context<Self>, ev: *mut Event, flags: u32) {
        let Some(ev) = AsioEvent::from_raw(ev) else { return };
        if self.listen.event != Some(ev) {
            return;
        }
        if flags == ASIO_DISPOSABLE {
            ev.destroy();
            self.listen.event = None;
            return;
        }
        if flags & ASIO_ERROR != 0 {
            self.close();
        } else if flags & ASIO_READ != 0 {
            self.accept(ctx);
        }
    }

    /// An accepted connection closed while the listener was at its limit:
    /// below it again, accept the connections that waited.
    pub(crate) fn conn_closed(&mut self, ctx: &Context<Self>) {
        self.turn(ctx, |l| {
            if l.listen.paused && l.listen.below_limit() {
                l.listen.paused = false;
                l.accept(ctx);
            }
        });
    }

    /// Accepts until none is pending or the limit is reached (then pauses).
    fn accept(&mut self, ctx: &Context<Self>) {
        let Some(ev) = self.listen.event else { return };
        let mut errors = 0;
        while !self.listen.closed && !self.listen.close_requested {
            if !self.listen.below_limit() {
                self.listen.paused = true;
                return;
            }
            match abi::accept(ev) {
                Accepted::WouldBlock => return,
                Accepted::Fd(fd) => self.spawn(ctx, fd),
                Accepted::Failed(e) => {
                    // Out of fds: the library offers the queue again once
                    // fds are freed. Anything else: try a few more times.
                    errors += 1;
                    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) || errors > ACCEPT_RETRIES {
                        return;
                    }
                }
            }
        }
    }

    fn spawn(&mut self, ctx: &Context<Self>, fd: RawFd) {
        match self.notify.connected(&mut self.listen) {
            Some(notify) => {
                self.listen.open.fetch_add(1, Ordering::AcqRel);
                let link = ListenerLink { listener: ctx.this(), open: Arc::clone(&self.listen.open), limit: self.listen.limit };
                TcpConnection::accepted(ctx, notify, fd, self.listen.sizes, link);
            }
            None => abi::socket_close(fd),
        }
    }

    fn close(&mut self) {
        self.listen.close_requested = false;
        if self.listen.closed {
            return;
        }
        self.listen.closed = true;
        if let Some(ev) = self.listen.event {
            ev.unsubscribe();
            abi::socket_close(std::mem::replace(&mut self.listen.fd, -1));
            self.notify.closed(&mut self.listen);
        }
    }
}
