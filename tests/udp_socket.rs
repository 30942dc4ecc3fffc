//! UdpSocket and Dns through the public Rust API.

use ponynet::actor::Runtime;
use ponynet::net::{Dns, IpVersion, NetAddress, UdpNotify, UdpOptions, UdpSock, UdpSocket};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// Echoes every datagram; reports its address, then closes after `count`.
struct Echo {
    addr: Sender<NetAddress>,
    left: usize,
    closed: Arc<Mutex<bool>>,
}

impl UdpNotify for Echo {
    fn listening(&mut self, sock: &mut UdpSock<'_>) {
        let _ = self.addr.send(sock.local_address().expect("bound address"));
    }
    fn not_listening(&mut self, _sock: &mut UdpSock<'_>) {
        panic!("echo server could not bind");
    }
    fn received(&mut self, sock: &mut UdpSock<'_>, data: Vec<u8>, from: NetAddress) {
        sock.write(&data, &from);
        self.left -= 1;
        if self.left == 0 {
            sock.dispose();
        }
    }
    fn closed(&mut self, _sock: &mut UdpSock<'_>) {
        *self.closed.lock().unwrap() = true;
    }
}

/// Sends `messages` to `to`, collects the echoes, closes when all came back.
struct Client {
    to: NetAddress,
    messages: Vec<Vec<u8>>,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl UdpNotify for Client {
    fn listening(&mut self, sock: &mut UdpSock<'_>) {
        for m in &self.messages {
            sock.write(m, &self.to);
        }
    }
    fn not_listening(&mut self, _sock: &mut UdpSock<'_>) {
        panic!("client could not bind");
    }
    fn received(&mut self, sock: &mut UdpSock<'_>, data: Vec<u8>, from: NetAddress) {
        assert_eq!(from, self.to, "the echo comes from the server");
        let mut got = self.got.lock().unwrap();
        got.push(data);
        if got.len() == self.messages.len() {
            sock.dispose();
        }
    }
}

fn echo_round_trip(host: &str, version: IpVersion) {
    let rt = Runtime::new(2).expect("runtime");
    let (tx, rx) = channel();
    let server_closed = Arc::new(Mutex::new(false));
    let messages: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 1 + i as usize * 10]).collect();
    let _server = UdpSocket::bind(
        &rt,
        Echo { addr: tx, left: messages.len(), closed: Arc::clone(&server_closed) },
        UdpOptions { host: host.into(), version, ..UdpOptions::default() },
    );
    let server_addr = rx.recv_timeout(LIMIT).expect("server listening");
    assert_eq!(server_addr.ip4(), version == IpVersion::V4);
    assert_ne!(server_addr.port(), 0);
    let got = Arc::new(Mutex::new(Vec::new()));
    let _client = UdpSocket::bind(
        &rt,
        Client { to: server_addr, messages: messages.clone(), got: Arc::clone(&got) },
        UdpOptions { host: host.into(), version, ..UdpOptions::default() },
    );
    assert!(rt.run_until_idle_for(LIMIT), "echo did not finish");
    let mut got = got.lock().unwrap().clone();
    got.sort();
    let mut want = messages;
    want.sort();
    assert_eq!(got, want, "every datagram came back whole");
    assert!(*server_closed.lock().unwrap());
}

#[test]
fn udp_echo_ipv4() {
    echo_round_trip("127.0.0.1", IpVersion::V4);
}

#[test]
fn udp_echo_ipv6() {
    echo_round_trip("::1", IpVersion::V6);
}

struct Refused(Sender<bool>);
impl UdpNotify for Refused {
    fn not_listening(&mut self, _sock: &mut UdpSock<'_>) {
        let _ = self.0.send(true);
    }
}

#[test]
fn binding_a_bad_address_is_not_listening() {
    let rt = Runtime::new(1).expect("runtime");
    let (tx, rx) = channel();
    let _s = UdpSocket::bind(&rt, Refused(tx), UdpOptions { host: "::1".into(), version: IpVersion::V4, ..UdpOptions::default() });
    assert_eq!(rx.recv_timeout(LIMIT), Ok(true));
    assert!(rt.run_until_idle_for(LIMIT));
}

#[test]
fn dns_lookups() {
    let v4 = Dns::ip4("127.0.0.1", "80").expect("lookup");
    assert_eq!(v4.len(), 1);
    assert!(v4[0].ip4() && v4[0].port() == 80);
    let v6 = Dns::ip6("::1", "http").expect("lookup");
    assert!(v6.iter().all(|a| a.ip6() && a.port() == 80));
    let any = Dns::resolve("localhost", "7").expect("lookup");
    assert!(!any.is_empty() && any.iter().all(|a| a.port() == 7));
    assert!(Dns::is_ip4("10.0.0.1") && !Dns::is_ip4("::1"));
    assert!(Dns::is_ip6("::1") && !Dns::is_ip6("localhost"));
    assert!(Dns::resolve("no such host.invalid", "80").is_err());
}
