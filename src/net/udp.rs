//! `UdpSocket` + `UdpNotify`: Pony's `UDPSocket`, an actor that owns one
//! datagram socket. Its UDP calls into the library are in [`super::abi_udp`].

use super::abi::{self, AsioEvent, IpVersion, ASIO_DISPOSABLE, ASIO_READ};
use super::abi_udp;
use super::address::NetAddress;
use crate::actor::{Actor, ActorRef, Context, Spawn};
use crate::asio::event::Event;
use std::io;

/// Bytes read in one turn before the socket yields to other actors (Pony's 4 KiB).
const YIELD_AFTER_READING: usize = 1 << 12;

/// Notifications of a [`UdpSocket`]. Runs on the socket's actor.
pub trait UdpNotify: Send + 'static {
    /// The socket is bound.
    fn listening(&mut self, _sock: &mut UdpSock<'_>) {}
    /// The socket could not be bound. No other notification follows.
    fn not_listening(&mut self, sock: &mut UdpSock<'_>);
    /// A datagram arrived.
    fn received(&mut self, _sock: &mut UdpSock<'_>, _data: Vec<u8>, _from: NetAddress) {}
    /// The socket is closed (after `dispose`, or after a send or receive failed).
    fn closed(&mut self, _sock: &mut UdpSock<'_>) {}
}

/// Where and how a [`UdpSocket`] binds.
#[derive(Clone, Debug)]
pub struct UdpOptions {
    /// Host to bind (empty: any).
    pub host: String,
    /// Service or port to bind ("0" or "": any free port; a port is 0 to
    /// 65535 in decimal digits, a larger or signed number fails to bind).
    pub service: String,
    /// Address families.
    pub version: IpVersion,
    /// Largest datagram received whole (Pony's `size`, default 1024).
    pub packet_size: usize,
}

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions { host: String::new(), service: "0".into(), version: IpVersion::Any, packet_size: 1024 }
    }
}

/// The socket's state, which notifications see through [`UdpSock`].
struct Core {
    event: Option<AsioEvent>,
    fd: i32,
    readable: bool,
    closed: bool,
    packet_size: usize,
    local: Option<NetAddress>,
    /// Why it could not bind.
    error: Option<io::Error>,
    replacement: Option<Box<dyn UdpNotify>>,
}

/// The socket as a notification sees it (Pony's `UDPSocket ref`).
pub struct UdpSock<'a> {
    core: &'a mut Core,
}

impl UdpSock<'_> {
    /// Sends one datagram; a failure closes the socket, as in Pony.
    pub fn write(&mut self, data: &[u8], to: &NetAddress) {
        self.core.write(data, to);
    }

    /// The bound address (None when not listening).
    pub fn local_address(&self) -> Option<NetAddress> {
        self.core.local
    }

    /// Why the socket could not bind, once `not_listening` said so: a name
    /// that does not resolve (the error carries a
    /// [`ResolveError`](super::ResolveError)), a malformed service
    /// (`EINVAL`), an address in use... `None` otherwise.
    pub fn listen_error(&self) -> Option<&io::Error> {
        self.core.error.as_ref()
    }

    /// Closes the socket; `closed` follows.
    pub fn dispose(&mut self) {
        self.core.close();
    }

    /// Replaces the notifier after this notification returns.
    pub fn set_notify(&mut self, notify: Box<dyn UdpNotify>) {
        self.core.replacement = Some(notify);
    }
}

impl Core {
    fn write(&mut self, data: &[u8], to: &NetAddress) {
        if self.closed {
            return;
        }
        if abi_udp::sendto(self.fd, data, to).is_err() {
            self.close();
        }
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.readable = false;
        if let Some(ev) = self.event {
            ev.unsubscribe();
        }
    }
}

struct UdpActor {
    notify: Option<Box<dyn UdpNotify>>,
    core: Core,
}

impl UdpActor {
    fn with_notify(&mut self, f: impl FnOnce(&mut dyn UdpNotify, &mut UdpSock<'_>)) {
        let Some(mut notify) = self.notify.take() else { return };
        f(notify.as_mut(), &mut UdpSock { core: &mut self.core });
        self.notify = Some(self.core.replacement.take().unwrap_or(notify));
    }

    fn start(&mut self, ctx: &Context<Self>, options: &UdpOptions) {
        let event = abi_udp::listen_udp(ctx.owner(), &options.host, &options.service, options.version);
        match event {
            Ok(ev) => {
                ctx.events_created(1);
                self.core.event = Some(ev);
                self.core.fd = ev.fd();
                self.core.local = abi::socket_name(self.core.fd, false).map(|raw| NetAddress::from_raw(&raw));
                self.with_notify(|n, s| n.listening(s));
            }
            Err(e) => {
                self.core.closed = true;
                self.core.error = Some(e);
                self.with_notify(|n, s| n.not_listening(s));
            }
        }
    }

    /// Reads while datagrams are there; yields after 4 KiB (a self-message).
    fn pending_reads(&mut self, ctx: &Context<Self>) {
        let Some(ev) = self.core.event else { return };
        let mut sum = 0;
        while self.core.readable && !self.core.closed {
            let mut data = vec![0u8; self.core.packet_size];
            match abi_udp::recvfrom(ev, &mut data) {
                Ok(None) => {
                    // Would block: the edge-triggered event reports the next datagram.
                    self.core.readable = false;
                    return;
                }
                Ok(Some((len, from))) => {
                    data.truncate(len);
                    self.with_notify(|n, s| n.received(s, data, from));
                    sum += len;
                    if sum > YIELD_AFTER_READING {
                        ctx.this().send(|s, ctx| s.pending_reads(ctx));
                        return;
                    }
                }
                Err(_) => {
                    self.core.close();
                    return;
                }
            }
        }
    }
}

impl Actor for UdpActor {
    fn event(&mut self, ctx: &Context<Self>, ev: *mut Event, flags: u32, _arg: u32) {
        let Some(event) = self.core.event.filter(|e| e.as_ptr() == ev) else { return };
        if flags & ASIO_READ != 0 && !self.core.closed {
            self.core.readable = true;
            self.pending_reads(ctx);
        }
        if flags == ASIO_DISPOSABLE {
            event.destroy();
            self.core.event = None;
            abi::socket_close(self.core.fd);
            self.core.fd = -1;
            self.with_notify(|n, s| n.closed(s));
        }
    }
}

/// A UDP socket: an actor on `rt`. Behaviours queue in order.
#[derive(Clone)]
pub struct UdpSocket {
    actor: ActorRef<UdpActor>,
}

impl UdpSocket {
    /// Binds as `options` say; `listening` or `not_listening` follows.
    pub fn bind(rt: &impl Spawn, notify: impl UdpNotify, options: UdpOptions) -> UdpSocket {
        let actor = rt.spawn(UdpActor {
            notify: Some(Box::new(notify)),
            core: Core {
                event: None,
                fd: -1,
                readable: false,
                closed: false,
                packet_size: options.packet_size.max(1),
                local: None,
                error: None,
                replacement: None,
            },
        });
        actor.send(move |a, ctx| a.start(ctx, &options));
        UdpSocket { actor }
    }

    /// Sends one datagram to `to`.
    pub fn write(&self, data: Vec<u8>, to: NetAddress) {
        self.actor.send(move |a, _| a.core.write(&data, &to));
    }

    /// Sends each buffer as its own datagram to `to`.
    pub fn writev(&self, data: Vec<Vec<u8>>, to: NetAddress) {
        self.actor.send(move |a, _| data.iter().for_each(|d| a.core.write(d, &to)));
    }

    /// Replaces the notifier.
    pub fn set_notify(&self, notify: impl UdpNotify) {
        self.actor.send(move |a, _| a.notify = Some(Box::new(notify)));
    }

    fn when_open(&self, f: impl FnOnce(i32) + Send + 'static) {
        self.actor.send(move |a, _| {
            if !a.core.closed {
                f(a.core.fd)
            }
        });
    }

    /// Enables or disables broadcast. On IPv6 (which has no broadcast) it
    /// joins the all-nodes group ff02::1, as Pony does.
    pub fn set_broadcast(&self, state: bool) {
        self.actor.send(move |a, _| {
            if a.core.closed {
                return;
            }
            if a.core.local.is_some_and(|l| l.ip6()) {
                abi_udp::multicast_join(a.core.fd, "FF02::1", "");
            } else {
                abi_udp::broadcast(a.core.fd, state);
            }
        });
    }

    /// The interface multicast is sent from ("" lets the OS choose).
    pub fn set_multicast_interface(&self, from: impl Into<String>) {
        let from = from.into();
        self.when_open(move |fd| abi_udp::multicast_interface(fd, &from));
    }

    /// Whether this host receives its own multicast.
    pub fn set_multicast_loopback(&self, loopback: bool) {
        self.when_open(move |fd| abi_udp::multicast_loopback(fd, loopback));
    }

    /// The TTL (hop limit) of multicast sends.
    pub fn set_multicast_ttl(&self, ttl: u8) {
        self.when_open(move |fd| abi_udp::multicast_ttl(fd, ttl));
    }

    /// Joins a multicast group, on interface `to` ("" for the default).
    pub fn multicast_join(&self, group: impl Into<String>, to: impl Into<String>) {
        let (group, to) = (group.into(), to.into());
        self.when_open(move |fd| abi_udp::multicast_join(fd, &group, &to));
    }

    /// Leaves a multicast group.
    pub fn multicast_leave(&self, group: impl Into<String>, to: impl Into<String>) {
        let (group, to) = (group.into(), to.into());
        self.when_open(move |fd| abi_udp::multicast_leave(fd, &group, &to));
    }

    /// Stops listening; `closed` follows.
    pub fn dispose(&self) {
        self.actor.send(|a, _| a.core.close());
    }
}

/// Name lookups (Pony's `DNS`), through `pony_os_addrinfo`.
pub struct Dns;

impl Dns {
    /// Every address `host`/`service` resolves to, IPv4 and IPv6. A
    /// numeric `service` is a port, 0 to 65535 in decimal digits: a larger
    /// or signed number fails with `EINVAL`. A name that does not resolve
    /// fails with an error that carries a [`ResolveError`](super::ResolveError)
    /// (`e.get_ref()`), the resolver's reason in its message.
    pub fn resolve(host: &str, service: &str) -> io::Result<Vec<NetAddress>> {
        Dns::lookup(IpVersion::Any, host, service)
    }

    /// The IPv4 addresses.
    pub fn ip4(host: &str, service: &str) -> io::Result<Vec<NetAddress>> {
        Dns::lookup(IpVersion::V4, host, service)
    }

    /// The IPv6 addresses.
    pub fn ip6(host: &str, service: &str) -> io::Result<Vec<NetAddress>> {
        Dns::lookup(IpVersion::V6, host, service)
    }

    /// Whether `host` is a literal IPv4 address (`pony_os_host_ip4`).
    pub fn is_ip4(host: &str) -> bool {
        abi_udp::host_ip4(host)
    }

    /// Whether `host` is a literal IPv6 address (`pony_os_host_ip6`).
    pub fn is_ip6(host: &str) -> bool {
        abi_udp::host_ip6(host)
    }

    fn lookup(version: IpVersion, host: &str, service: &str) -> io::Result<Vec<NetAddress>> {
        // Any socket type: each address once.
        let all = abi::lookup(version, host, Some(service), libc::SOCK_STREAM)?;
        Ok(all.iter().map(NetAddress::from_raw).collect())
    }
}
