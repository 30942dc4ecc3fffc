//! libponynet: the Pony runtime's network layer — asio events and the
//! `pony_os_*` socket calls — re-implemented in Rust behind a C ABI.
//!
//! Code map (details in `docs/ARCHITECTURE.md`):
//! - [`actor`]: a small actor executor whose idle workers drive the poller.
//! - [`ffi`]: every exported `extern "C"` function, thin, behind one panic boundary.
//! - [`asio`]: the event records, the poller (mio) and the I/O thread.
//! - [`host`]: the seams that differ between a C host and a Pony runtime host:
//!   delivery of notifications, failure of partial calls, returned strings, noisy hooks.
//! - [`os`]: one small safe wrapper per system call.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod actor;
pub mod asio;
pub mod ffi;
pub mod host;
pub mod net;
pub mod os;
pub(crate) mod sync;
