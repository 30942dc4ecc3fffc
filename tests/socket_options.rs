//! Socket options through the public Rust API: every value a setter takes
//! is accepted; one beyond what the kernel takes is clamped to its limit,
//! never refused with the old value left in place.

mod net_util;

use net_util::*;
use ponynet::net::{sockopt, ListenOptions, TcpConn, TcpConnection, TcpConnectionNotify};
use std::sync::mpsc;

/// What the server side read back: (what was set, the option, its value).
type Readings = Vec<(String, &'static str, Result<u32, String>)>;

/// On accept: sets each option and reads it back, then closes.
struct Setter(mpsc::Sender<Readings>);

fn read(conn: &TcpConn, level: Option<i32>, option: Option<i32>) -> Result<u32, String> {
    let (level, option) = (level.ok_or("no level")?, option.ok_or("no option")?);
    conn.getsockopt_u32(level, option).map_err(|e| e.to_string())
}

impl TcpConnectionNotify for Setter {
    fn accepted(&mut self, conn: &mut TcpConn) {
        let tcp = sockopt::ipproto_tcp;
        let mut got = Readings::new();
        for secs in [10, 300, 65536, u32::MAX] {
            let set = format!("keepalive {secs}: {:?}", conn.set_keepalive(secs).map_err(|e| e.to_string()));
            got.push((set.clone(), "TCP_KEEPIDLE", read(conn, tcp(), sockopt::tcp_keepidle())));
            got.push((set.clone(), "TCP_KEEPCNT", read(conn, tcp(), sockopt::tcp_keepcnt())));
            got.push((set, "TCP_KEEPINTVL", read(conn, tcp(), sockopt::tcp_keepintvl())));
        }
        let set = format!("rcvbuf max: {:?}", conn.set_so_rcvbuf(u32::MAX).map_err(|e| e.to_string()));
        got.push((set, "SO_RCVBUF", conn.get_so_rcvbuf().map_err(|e| e.to_string())));
        let set = format!("sndbuf max: {:?}", conn.set_so_sndbuf(u32::MAX).map_err(|e| e.to_string()));
        got.push((set, "SO_SNDBUF", conn.get_so_sndbuf().map_err(|e| e.to_string())));
        let _ = self.0.send(got);
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

struct Client;

impl TcpConnectionNotify for Client {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.close();
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

/// A sysctl of /proc/sys/net/core, if readable.
fn core_sysctl(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/sys/net/core/{name}")).ok()?.trim().parse().ok()
}

#[test]
fn huge_values_are_clamped_to_the_kernels_limits() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let (_listener, port) = serve(&rt, 1, ListenOptions::default(), move || Box::new(Setter(tx.clone())));
    TcpConnection::connect(&rt, Client, "127.0.0.1", &port.to_string());
    let got = rx.recv_timeout(LIMIT).expect("the server read its options back");
    settle(&rt);
    let value = |set: &str, option: &str| {
        got.iter().find(|(s, o, _)| s.starts_with(set) && *o == option).map(|(s, _, v)| (s.clone(), v.clone()))
    };
    let want_keepalive = [(10, 5, 5), (300, 150, 127), (65536, 32767, 127), (u32::MAX, 32767, 127)];
    for (secs, idle, count) in want_keepalive {
        let set = format!("keepalive {secs}: Ok(())");
        assert_eq!(value(&set, "TCP_KEEPIDLE"), Some((set.clone(), Ok(idle))), "{got:#?}");
        assert_eq!(value(&set, "TCP_KEEPCNT"), Some((set.clone(), Ok(count))), "{got:#?}");
        assert_eq!(value(&set, "TCP_KEEPINTVL"), Some((set.clone(), Ok(1))), "{got:#?}");
    }
    // The kernel keeps a buffer size doubled, at most twice its *mem_max.
    for (set, option, sysctl) in [("rcvbuf max: Ok(())", "SO_RCVBUF", "rmem_max"), ("sndbuf max: Ok(())", "SO_SNDBUF", "wmem_max")] {
        let (_, v) = value(set, option).unwrap_or_else(|| panic!("{set}: {got:#?}"));
        let v = v.expect(option);
        match core_sysctl(sysctl) {
            Some(max) => assert_eq!(u64::from(v), 2 * u64::from(max), "{option}"),
            None => assert!(v > 65536, "{option}: {v}"),
        }
    }
}
