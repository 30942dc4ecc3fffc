//! Test helpers shared by the crate's unit tests (`src/net/`) and the
//! integration tests (`tests/net_util`, which include this file by path):
//! connections that hang in SYN_SENT, and counting them.

use std::time::Duration;

/// Sockets to `port` in SYN_SENT (state 02) in /proc/net/tcp{,6}.
pub fn syn_sent_to(port: u16) -> usize {
    let needle = format!(":{port:04X} 02");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().filter(|l| l.contains(&needle)).count())
        .sum()
}

/// A listener on `addr` whose accept queue is full: connects to it stay
/// in SYN_SENT (the kernel drops their SYNs). Keep both values alive.
pub fn blackhole(addr: &str) -> Option<(socket2::Socket, std::net::TcpStream, u16)> {
    use socket2::{Domain, Socket, Type};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let listener = Socket::new(Domain::for_address(addr), Type::STREAM, None).ok()?;
    listener.bind(&addr.into()).ok()?;
    listener.listen(0).ok()?;
    let local = listener.local_addr().ok()?.as_socket()?;
    // Backlog 0 admits one connection into the queue; it is now full.
    let filler = std::net::TcpStream::connect_timeout(&local, Duration::from_secs(5)).ok()?;
    Some((listener, filler, local.port()))
}
