//! The notifier traits: what a connection or listener tells its owner
//! (Pony's `TCPConnectionNotify` and `TCPListenNotify`).
//!
//! Every method runs on the connection's (listener's) actor, with the
//! "ref" view of it: calls made on that view from inside a notification
//! (`write`, `close`, `expect`, `mute`...) take effect, in the order made,
//! as soon as the notification returns — before the next `received`.

use super::byteseq::ByteSeq;
use super::listener::TcpListen;
use super::tcp_conn::TcpConn;

/// Notifications of one TCP connection. Only [`connect_failed`] has no
/// default: a client must decide what a failed connection means.
///
/// [`connect_failed`]: TcpConnectionNotify::connect_failed
pub trait TcpConnectionNotify: Send + 'static {
    /// The connection was accepted by a [`TcpListener`](super::TcpListener).
    fn accepted(&mut self, _conn: &mut TcpConn) {}

    /// Before connecting: return the host and service to connect to
    /// instead (a proxy), or `None` — the default — to connect to
    /// `host`/`service`. (Pony's returns the pair itself; `None` spares the
    /// common case two string copies per connection.)
    fn proxy_via(&mut self, _host: &str, _service: &str) -> Option<(String, String)> {
        None
    }

    /// Name resolution succeeded and `count` connection attempts are in
    /// flight; called again each time an attempt fails while others remain.
    fn connecting(&mut self, _conn: &mut TcpConn, _count: u32) {}

    /// One attempt succeeded: the connection is established (the others
    /// were cancelled).
    fn connected(&mut self, _conn: &mut TcpConn) {}

    /// No attempt could connect (or none could start, or the connection was
    /// closed while connecting). The connection will never be established;
    /// nothing follows.
    fn connect_failed(&mut self, conn: &mut TcpConn);

    /// For protocols layered on TCP (e.g. TLS) to report an authentication
    /// failure; a raw connection never calls it.
    fn auth_failed(&mut self, _conn: &mut TcpConn) {}

    /// Transforms data about to be written (return an empty vector to
    /// swallow it).
    fn sent(&mut self, _conn: &mut TcpConn, data: ByteSeq) -> ByteSeq {
        data
    }

    /// Transforms a vectored write about to be written.
    fn sentv(&mut self, _conn: &mut TcpConn, data: Vec<ByteSeq>) -> Vec<ByteSeq> {
        data
    }

    /// Data arrived: exactly the expected number of bytes if
    /// [`TcpConn::expect`] set one, else whatever was read. `times` counts
    /// the calls in this read turn. Return false to yield (reading resumes
    /// in a later turn, after other actors ran).
    fn received(&mut self, _conn: &mut TcpConn, _data: Vec<u8>, _times: usize) -> bool {
        true
    }

    /// The connection was told to expect `qty` bytes per `received`; return
    /// the quantity to use (a layered protocol may change it).
    fn expect(&mut self, _conn: &mut TcpConn, qty: usize) -> usize {
        qty
    }

    /// The connection is closed (after `accepted`/`connected`); nothing follows.
    fn closed(&mut self, _conn: &mut TcpConn) {}

    /// Writes are being queued: the OS send buffer is full. Calls to
    /// `throttled` and `unthrottled` alternate, starting with `throttled`.
    fn throttled(&mut self, _conn: &mut TcpConn) {}

    /// The queued writes were all handed to the OS.
    fn unthrottled(&mut self, _conn: &mut TcpConn) {}
}

impl<T: TcpConnectionNotify + ?Sized> TcpConnectionNotify for Box<T> {
    fn accepted(&mut self, conn: &mut TcpConn) {
        (**self).accepted(conn)
    }
    fn proxy_via(&mut self, host: &str, service: &str) -> Option<(String, String)> {
        (**self).proxy_via(host, service)
    }
    fn connecting(&mut self, conn: &mut TcpConn, count: u32) {
        (**self).connecting(conn, count)
    }
    fn connected(&mut self, conn: &mut TcpConn) {
        (**self).connected(conn)
    }
    fn connect_failed(&mut self, conn: &mut TcpConn) {
        (**self).connect_failed(conn)
    }
    fn auth_failed(&mut self, conn: &mut TcpConn) {
        (**self).auth_failed(conn)
    }
    fn sent(&mut self, conn: &mut TcpConn, data: ByteSeq) -> ByteSeq {
        (**self).sent(conn, data)
    }
    fn sentv(&mut self, conn: &mut TcpConn, data: Vec<ByteSeq>) -> Vec<ByteSeq> {
        (**self).sentv(conn, data)
    }
    fn received(&mut self, conn: &mut TcpConn, data: Vec<u8>, times: usize) -> bool {
        (**self).received(conn, data, times)
    }
    fn expect(&mut self, conn: &mut TcpConn, qty: usize) -> usize {
        (**self).expect(conn, qty)
    }
    fn closed(&mut self, conn: &mut TcpConn) {
        (**self).closed(conn)
    }
    fn throttled(&mut self, conn: &mut TcpConn) {
        (**self).throttled(conn)
    }
    fn unthrottled(&mut self, conn: &mut TcpConn) {
        (**self).unthrottled(conn)
    }
}

/// Notifications of a TCP listener.
pub trait TcpListenNotify: Send + 'static {
    /// The listener is bound and listening.
    fn listening(&mut self, _listen: &mut TcpListen) {}

    /// The listener could not bind (nothing follows).
    fn not_listening(&mut self, listen: &mut TcpListen);

    /// The listener is closed.
    fn closed(&mut self, _listen: &mut TcpListen) {}

    /// A connection was accepted: return the notifier of its
    /// [`TcpConnection`](super::TcpConnection), or `None` to refuse it
    /// (the socket is closed).
    fn connected(&mut self, listen: &mut TcpListen) -> Option<Box<dyn TcpConnectionNotify>>;
}
