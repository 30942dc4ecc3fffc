//! The same workloads on tokio's multi-threaded runtime: what a Rust user
//! would pick instead.

use crate::stats::latency_line;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MSG: usize = 64;
const CHUNK: usize = 64 * 1024;

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
    let (c, s) = (c.expect("connect"), s.expect("accept").0);
    c.set_nodelay(true).expect("nodelay");
    s.set_nodelay(true).expect("nodelay");
    (c, s)
}

async fn echo(mut s: TcpStream) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The client is a task on the runtime, as a Rust user writes it: a
/// future left in `block_on` runs on the main thread, not a worker, and
/// every message would hop threads.
async fn pingpong(rounds: usize) -> String {
    let (mut c, s) = pair().await;
    tokio::spawn(echo(s));
    let client = tokio::spawn(async move {
        let msg = [b'p'; MSG];
        let mut buf = [0u8; MSG];
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t0 = Instant::now();
            c.write_all(&msg).await.expect("write");
            c.read_exact(&mut buf).await.expect("read");
            assert_eq!(buf, msg, "echo content");
            samples.push(t0.elapsed().as_nanos() as u64);
        }
        samples
    });
    latency_line("tokio", client.await.expect("client"))
}

async fn bulk(bytes: u64) -> String {
    let (mut c, mut s) = pair().await;
    let sink = tokio::spawn(async move {
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
        }
    });
    let t0 = Instant::now();
    // The writer is a task too (see `pingpong`).
    let writer = tokio::spawn(async move {
        let chunk = vec![b'b'; CHUNK];
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(CHUNK as u64) as usize;
            c.write_all(&chunk[..n]).await.expect("write");
            sent += n as u64;
        }
        c.shutdown().await.expect("shutdown");
    });
    writer.await.expect("writer");
    let received = sink.await.expect("sink");
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(received, bytes, "bulk byte count");
    format!("RESULT impl=tokio workload=bulk mib_s={:.1} bytes={bytes}", bytes as f64 / 1048576.0 / secs)
}

async fn connrate(conns: usize, chains: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    let t0 = Instant::now();
    let per_chain = conns / chains;
    let mut tasks = Vec::new();
    for _ in 0..chains {
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_chain {
                let mut c = TcpStream::connect(addr).await.expect("connect");
                c.shutdown().await.expect("shutdown");
                let mut buf = [0u8; 16];
                assert_eq!(c.read(&mut buf).await.expect("read"), 0, "EOF expected");
            }
        }));
    }
    for t in tasks {
        t.await.expect("chain");
    }
    let secs = t0.elapsed().as_secs_f64();
    let kind = if chains > 1 { "par" } else { "seq" };
    format!("RESULT impl=tokio workload=connrate-{kind} conns_s={:.0} conns={}", (per_chain * chains) as f64 / secs, per_chain * chains)
}

async fn many(conns: usize, rounds: usize, c10k: bool) -> String {
    crate::raise_nofile(conns as u64 * 2 + 64);
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let rss0 = crate::rss_bytes();
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        let c = c.expect("connect");
        let s = s.expect("accept").0;
        c.set_nodelay(true).expect("nodelay");
        s.set_nodelay(true).expect("nodelay");
        tokio::spawn(echo(s));
        clients.push(c);
    }
    let per_conn = (crate::rss_bytes() - rss0) / conns as i64;
    let t0 = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let msg = [b'm'; MSG];
                let mut buf = [0u8; MSG];
                for _ in 0..rounds {
                    c.write_all(&msg).await.expect("write");
                    c.read_exact(&mut buf).await.expect("read");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    let secs = t0.elapsed().as_secs_f64();
    if c10k {
        format!("RESULT impl=tokio workload=c10k bytes_per_conn={per_conn} drain_ms={:.2}", secs * 1000.0)
    } else {
        format!("RESULT impl=tokio workload=many rt_s={:.0}", (conns * rounds) as f64 / secs)
    }
}

/// Runs one workload and returns its RESULT line.
pub fn run(workload: &str, n: u64, arg: u64) -> Option<String> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    Some(rt.block_on(async move {
        match workload {
            "pingpong" => pingpong(n as usize).await,
            "bulk" => bulk(n).await,
            "connrate" => connrate(n as usize, arg as usize).await,
            "many" => many(n as usize, arg as usize, false).await,
            "c10k" => many(n as usize, 1, true).await,
            _ => String::new(),
        }
    }))
    .filter(|s| !s.is_empty())
}
