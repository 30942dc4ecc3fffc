//! Services and names through the public Rust API: a port number beyond
//! 65535, a signed one or one with spaces fails to listen, to connect and
//! to resolve (getaddrinfo alone would take it modulo 65536); names keep
//! working; a failure to listen, bind, connect or resolve says why.

mod net_util;

use net_util::*;
use ponynet::net::{
    Dns, IpVersion, ResolveError, TcpConn, TcpConnection, TcpConnectionNotify, TcpListen, TcpListenNotify, TcpListener, UdpNotify,
    UdpOptions, UdpSock, UdpSocket,
};

const BAD_PORTS: [&str; 6] = ["99999", "4294967297", "65536", "-1", "+80", " 80"];

/// The reason a failure gives, short: "EINVAL", "NotFound"...
fn why(e: Option<&std::io::Error>) -> String {
    match e {
        None => "no reason".into(),
        Some(e) => match (reason(e), e.raw_os_error()) {
            (Some(r), _) => format!("{r:?}"),
            (None, Some(libc::EINVAL)) => "EINVAL".into(),
            (None, Some(errno)) => format!("errno {errno}"),
            (None, None) => format!("{e}"),
        },
    }
}

/// Logs what a listener hears, with the port it listens on; closes at once.
struct ListenLog(Log);

impl TcpListenNotify for ListenLog {
    fn listening(&mut self, listen: &mut TcpListen) {
        let port = listen.local_address().map(|a| a.port()).unwrap_or(0);
        self.0.push(format!("listening on {port}"));
        listen.close();
    }
    fn not_listening(&mut self, listen: &mut TcpListen) {
        self.0.push(format!("not_listening {}", why(listen.listen_error())));
    }
    fn connected(&mut self, _listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        None
    }
}

/// Logs what a client hears; closes once connected.
struct ConnectLog(Log);

impl TcpConnectionNotify for ConnectLog {
    fn connecting(&mut self, _conn: &mut TcpConn, count: u32) {
        self.0.push(format!("connecting {count}"));
    }
    fn connected(&mut self, conn: &mut TcpConn) {
        self.0.push("connected");
        conn.close();
    }
    fn connect_failed(&mut self, conn: &mut TcpConn) {
        self.0.push(format!("connect_failed {}", why(conn.connect_error())));
    }
}

/// Logs what a UDP socket hears, with its port; closes at once.
struct UdpLog(Log);

impl UdpNotify for UdpLog {
    fn listening(&mut self, sock: &mut UdpSock<'_>) {
        let port = sock.local_address().map_or(0, |a| a.port());
        self.0.push(format!("listening on {port}"));
        sock.dispose();
    }
    fn not_listening(&mut self, sock: &mut UdpSock<'_>) {
        self.0.push(format!("not_listening {}", why(sock.listen_error())));
    }
}

#[test]
fn out_of_range_ports_do_not_listen() {
    let rt = runtime();
    for port in BAD_PORTS {
        for host in ["127.0.0.1", "localhost", ""] {
            let log = Log::default();
            TcpListener::listen_ip4(&rt, ListenLog(log.clone()), host, port);
            let udp = UdpOptions { host: host.into(), service: port.into(), version: IpVersion::V4, ..UdpOptions::default() };
            UdpSocket::bind(&rt, UdpLog(log.clone()), udp);
            settle(&rt);
            assert_eq!(log.all(), ["not_listening EINVAL", "not_listening EINVAL"], "{host:?} {port:?}");
        }
    }
}

#[test]
fn an_empty_service_listens_on_a_free_port() {
    let rt = runtime();
    for host in ["127.0.0.1", ""] {
        let log = Log::default();
        TcpListener::listen_ip4(&rt, ListenLog(log.clone()), host, "");
        let udp = UdpOptions { host: host.into(), service: String::new(), version: IpVersion::V4, ..UdpOptions::default() };
        UdpSocket::bind(&rt, UdpLog(log.clone()), udp);
        settle(&rt);
        let all = log.all();
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all.iter().all(|e| e.starts_with("listening on ") && e != "listening on 0"), "{host:?}: {all:?}");
    }
}

#[test]
fn out_of_range_ports_are_not_connected_to() {
    let rt = runtime();
    for port in BAD_PORTS.iter().chain(&["0", ""]) {
        for host in ["127.0.0.1", "localhost"] {
            let log = Log::default();
            TcpConnection::connect(&rt, ConnectLog(log.clone()), host, port);
            settle(&rt);
            // No attempt starts: connect_failed comes alone, and says why.
            assert_eq!(log.all(), ["connect_failed EINVAL"], "{host:?} {port:?}");
        }
    }
}

#[test]
fn out_of_range_ports_do_not_resolve() {
    for port in BAD_PORTS {
        for host in ["127.0.0.1", "localhost"] {
            let got = Dns::resolve(host, port);
            assert_eq!(got.as_ref().err().and_then(|e| e.raw_os_error()), Some(libc::EINVAL), "{host:?} {port:?}: {got:?}");
        }
    }
    let ports = |service| Dns::ip4("127.0.0.1", service).expect(service).iter().map(|a| a.port()).collect::<Vec<_>>();
    assert_eq!(ports("65535"), [65535]);
    assert_eq!(ports("080"), [80]);
    assert_eq!(ports("http"), [80]);
}

/// The resolver failure inside an error, if any.
fn reason(e: &std::io::Error) -> Option<ResolveError> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<ResolveError>()).copied()
}

#[test]
fn a_name_that_does_not_exist_is_not_found_with_the_resolvers_words() {
    // An empty label, a scope of no interface, an unknown service, a
    // literal of the other family: glibc answers without a name server.
    for (host, service) in [("a..b", "80"), ("::1%no-such-if", "80"), ("127.0.0.1", "no-such-service-xyz")] {
        let e = Dns::resolve(host, service).expect_err(host);
        assert_eq!(reason(&e), Some(ResolveError::NotFound), "{host:?} {service:?}: {e}");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(e.raw_os_error(), None, "not an errno: {e}");
        assert!(e.to_string().contains("Name or service not known"), "{e}");
    }
    let e = Dns::ip4("::1", "80").expect_err("an IPv6 literal has no IPv4 address");
    assert_eq!(reason(&e), Some(ResolveError::NotFound), "{e}");
}

#[test]
fn an_unreachable_name_server_is_a_temporary_failure() {
    // A thread in a network namespace of its own (no interface up): no name
    // server can be reached from it.
    let got = std::thread::spawn(|| {
        // SAFETY: unshare affects only the calling thread's network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        Some(Dns::resolve("no-such-host.invalid", "80"))
    })
    .join()
    .expect("lookup thread");
    let Some(got) = got else {
        eprintln!("skipped: no network namespace for this user");
        return;
    };
    let e = got.expect_err("nothing resolves without a network");
    assert_eq!(reason(&e), Some(ResolveError::TryAgain), "{e}");
    assert!(e.to_string().contains("Temporary failure in name resolution"), "{e}");
}

#[test]
fn listen_bind_and_connect_failures_say_why() {
    let rt = runtime();
    let log = Log::default();
    for host in ["a..b", "::1%no-such-if"] {
        TcpListener::listen(&rt, ListenLog(log.clone()), host, "0");
        UdpSocket::bind(&rt, UdpLog(log.clone()), UdpOptions { host: host.into(), ..UdpOptions::default() });
        TcpConnection::connect(&rt, ConnectLog(log.clone()), host, "80");
        settle(&rt);
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    TcpListener::listen(&rt, ListenLog(log.clone()), "127.0.0.1", &port);
    TcpListener::listen(&rt, ListenLog(log.clone()), "127.0.0.1", "a\0b");
    settle(&rt);
    let mut all = log.all();
    all.sort();
    let want = [
        "connect_failed NotFound",
        "connect_failed NotFound",
        "not_listening NotFound",
        "not_listening NotFound",
        "not_listening NotFound",
        "not_listening NotFound",
        "not_listening a host, service or address holds a NUL",
        &format!("not_listening errno {}", libc::EADDRINUSE),
    ];
    assert_eq!(all, want);
}
