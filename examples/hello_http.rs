//! An HTTP/1.0-style "hello" server on the Rust net API.
//!
//! ```text
//! cargo run --example hello_http -- [PORT] [--once | --count N]
//! curl http://127.0.0.1:8080/
//! ```
//! Listens on 127.0.0.1:PORT (default 8080), answers every request with
//! `hello` and closes the connection (HTTP/1.0). With `--count N`
//! (`--once` = 1) it stops after N connections; otherwise it serves until
//! killed.

use ponynet::actor::Runtime;
use ponynet::net::{TcpConn, TcpConnectionNotify, TcpListen, TcpListenNotify, TcpListener};

const RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";
/// Requests longer than this are refused.
const MAX_REQUEST: usize = 16 * 1024;

#[derive(Default)]
struct Http {
    request: Vec<u8>,
}

impl TcpConnectionNotify for Http {
    fn accepted(&mut self, conn: &mut TcpConn) {
        let _ = conn.set_nodelay(true);
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, _times: usize) -> bool {
        self.request.extend_from_slice(&data);
        if let Some(end) = self.request.windows(4).position(|w| w == b"\r\n\r\n") {
            let line = self.request[..end].split(|&b| b == b'\r').next().unwrap_or_default();
            println!("{}", String::from_utf8_lossy(line));
            conn.write(RESPONSE);
            conn.close();
        } else if self.request.len() > MAX_REQUEST {
            conn.write(&b"HTTP/1.0 431 Request Header Fields Too Large\r\n\r\n"[..]);
            conn.close();
        }
        true
    }
    fn connect_failed(&mut self, _conn: &mut TcpConn) {}
}

struct Server {
    left: Option<usize>,
}

impl TcpListenNotify for Server {
    fn listening(&mut self, listen: &mut TcpListen) {
        if let Ok(a) = listen.local_address() {
            println!("listening on http://{a}/");
        }
    }
    fn not_listening(&mut self, _listen: &mut TcpListen) {
        eprintln!("hello_http: could not listen");
    }
    fn connected(&mut self, listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>> {
        if let Some(left) = self.left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                listen.close();
            }
        }
        Some(Box::<Http>::default())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = "8080".to_owned();
    let mut count = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => count = Some(1),
            "--count" => count = Some(args.next().ok_or("--count needs a number")?.parse()?),
            p if p.parse::<u16>().is_ok() => port = p.to_owned(),
            other => return Err(format!("usage: hello_http [PORT] [--once | --count N] (got {other:?})").into()),
        }
    }
    let rt = Runtime::with_default_workers()?;
    TcpListener::listen(&rt, Server { left: count }, "127.0.0.1", &port);
    rt.run_until_idle();
    Ok(())
}
