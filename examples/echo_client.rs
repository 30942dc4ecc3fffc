//! An echo client on the Rust net API.
//!
//! ```text
//! cargo run --example echo_client -- [PORT] [MESSAGE] [--count N]
//! ```
//! Connects to 127.0.0.1:PORT (default 7000) N times at once (default 1),
//! sends MESSAGE (default "hello") on each, prints what comes back, and
//! closes. Exits with status 1 if a connection failed or the echo differed.

use ponynet::actor::Runtime;
use ponynet::net::{TcpConn, TcpConnection, TcpConnectionNotify};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Client {
    message: Vec<u8>,
    got: Vec<u8>,
    failures: Arc<AtomicUsize>,
}

impl TcpConnectionNotify for Client {
    fn connected(&mut self, conn: &mut TcpConn) {
        conn.write(self.message.clone());
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.got.extend_from_slice(&data);
        if self.got.len() >= self.message.len() {
            println!("echo: {}", String::from_utf8_lossy(&self.got));
            if self.got != self.message {
                self.failures.fetch_add(1, Ordering::SeqCst);
            }
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {
        eprintln!("echo_client: could not connect");
        self.failures.fetch_add(1, Ordering::SeqCst);
    }
    fn closed(&mut self, _conn: &mut TcpConn) {
        if self.got.len() < self.message.len() {
            eprintln!("echo_client: closed before the whole echo arrived");
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = None;
    let mut message = None;
    let mut count = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => count = args.next().ok_or("--count needs a number")?.parse()?,
            p if port.is_none() && p.parse::<u16>().is_ok() => port = Some(p.to_owned()),
            m if message.is_none() => message = Some(m.to_owned()),
            other => return Err(format!("usage: echo_client [PORT] [MESSAGE] [--count N] (got {other:?})").into()),
        }
    }
    let port = port.unwrap_or_else(|| "7000".to_owned());
    let message = message.unwrap_or_else(|| "hello".to_owned()).into_bytes();
    let rt = Runtime::with_default_workers()?;
    let failures = Arc::new(AtomicUsize::new(0));
    for _ in 0..count {
        let client = Client { message: message.clone(), got: Vec::new(), failures: Arc::clone(&failures) };
        TcpConnection::connect(&rt, client, "127.0.0.1", &port);
    }
    rt.run_until_idle();
    if failures.load(Ordering::SeqCst) > 0 {
        std::process::exit(1);
    }
    Ok(())
}
