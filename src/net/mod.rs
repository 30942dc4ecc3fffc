//! The Pony `net` package's TCP classes in Rust: [`TcpConnection`] with
//! [`TcpConnectionNotify`], [`TcpListener`] with [`TcpListenNotify`], and
//! [`NetAddress`].
//!
//! Each connection and listener is an actor on a [`Runtime`](crate::actor::Runtime).
//! They are built only on the library's exported C ABI — the same
//! `pony_asio_event_*` and `pony_os_*` functions, and the same pointers, a C
//! program uses (`abi.rs` and `abi_udp.rs` are the files that call them;
//! beyond them only socket(2)/bind(2)/connect(2) for Happy Eyeballs and
//! getsockopt(2)/setsockopt(2), as Pony's own code calls them). Behaviour follows
//! Pony's `TCPConnection` (ponyc, Sept 2023), with its known defects fixed:
//!
//! - `set_nodelay` sets `TCP_NODELAY` at level `IPPROTO_TCP`.
//! - Closing while connecting cancels every Happy Eyeballs attempt at once
//!   (closing its socket) and ends with one `connect_failed`.
//! - Once closed, a notification already on its way is ignored: nothing
//!   becomes readable or writeable again.
//! - `expect` beyond the read buffer size is an error; a notifier's `expect`
//!   transform beyond it grows the buffer (the 2023 code stalled).
//! - Backpressure is re-armed whether muted or not, is released whenever the
//!   queue empties (also after a yield), and `throttled`/`unthrottled`
//!   alternate.
//! - Would-block stops reading/writing and re-arms; nothing spins.
//! - Every socket is closed exactly once.
//! - The peer's EOF closes gracefully: what was queued is still sent.
//!
//! Requests made on the ref view ([`TcpConn`]) from inside a notification
//! (`write`, `close`, `expect`, `mute`...) take effect in order right after
//! it returns, before the next `received`.

mod abi;
mod abi_udp;
mod address;
mod byteseq;
mod connect;
mod connection;
mod listener;
mod notify;
mod read_buffer;
pub mod sockopt;
mod tcp_conn;
#[cfg(test)]
mod test_sockets;
mod udp;
mod write_queue;

pub use crate::os::resolve::ResolveError;
pub use abi::IpVersion;
pub use address::NetAddress;
pub use byteseq::ByteSeq;
pub use connection::{ConnectOptions, TcpConnection};
pub use listener::{ListenOptions, TcpListen, TcpListener};
pub use notify::{TcpConnectionNotify, TcpListenNotify};
pub use tcp_conn::{ExpectError, TcpConn};
pub use udp::{Dns, UdpNotify, UdpOptions, UdpSock, UdpSocket};
