//! Asynchronous I/O: event records, the poller and the I/O thread.
//!
//! - [`event`]: the event record handed to C, its flags and its life cycle.
//! - [`reactor`]: the mio poller, the queue of pending notifications, dispatch.
//! - [`thread`]: starting and stopping the I/O thread that drives the reactor.
//! - [`signal`]: the async-signal-safe signal handler and its watchers.
//! - [`registry`]: the set of live event pointers (destroy checks it).
//! - [`reoffer`]: listeners starved of fds (EMFILE) and their re-arm.

pub mod event;
pub mod reactor;
pub(crate) mod slots;
pub mod registry;
pub mod reoffer;
pub mod signal;
pub mod thread;
pub(crate) mod wake;

#[cfg(all(test, loom))]
mod loom_models;
