//! An echo server on the Rust net API.
//!
//! ```text
//! cargo run --example echo_server -- [PORT] [--once | --count N]
//! ```
//! Listens on 127.0.0.1:PORT (default 7000; 0 picks a free port) and echoes
//! what each client sends. With `--count N` (`--once` = 1) it stops
//! listening after N connections and exits once they have closed;
//! otherwise it serves until killed.

use ponynet::actor::Runtime;
use ponynet::net::{TcpConn, TcpConnectionNotify, TcpListen, TcpListenNotify, TcpListener};

struct Echo;

impl TcpConnectionNotify for Echo {
    fn accepted(&mut self, conn: &mut TcpConn) {
        let peer = conn.remote_address().map(|a| a.to_string()).unwrap_or_default();
        println!("accepted {peer}");
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        conn.write(data);
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
    fn closed(&mut self, _conn: &mut TcpConn) {
        println!("closed");
    }
}

struct Server {
    left: Option<usize>,
}

impl TcpListenNotify for Server {
    fn listening(&mut self, listen: &mut TcpListen) {
        match listen.local_address() {
            Ok(a) => println!("listening on {a}"),
            Err(e) => println!("listening (address unknown: {e})"),
        }
    }
    fn not_listening(&mut self, _listen: &mut TcpListen) {
        eprintln!("echo_server: could not listen");
    }
    fn connected(&mut self, listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        if let Some(left) = self.left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                listen.close();
            }
        }
        Some(Box::new(Echo))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = "7000".to_owned();
    let mut count = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => count = Some(1),
            "--count" => count = Some(args.next().ok_or("--count needs a number")?.parse()?),
            p if p.parse::<u16>().is_ok() => port = p.to_owned(),
            other => return Err(format!("usage: echo_server [PORT] [--once | --count N] (got {other:?})").into()),
        }
    }
    let rt = Runtime::with_default_workers()?;
    TcpListener::listen(&rt, Server { left: count }, "127.0.0.1", &port);
    rt.run_until_idle();
    Ok(())
}
