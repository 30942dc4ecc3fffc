//! A small actor executor: Pony's actor model for the Rust net API.
//!
//! - An actor owns its state and a mailbox; behaviours are messages
//!   (closures run with `&mut` state), run in the order they were sent.
//! - A fixed pool of workers runs actors; an actor runs on at most one
//!   worker at a time, at most [`BATCH`] behaviours per turn, so none starves
//!   the others.
//! - Asio notifications reach an actor through an [`EventOwner`]: the ABI
//!   owner of one event. Its `notify` (on whichever thread holds the poller)
//!   only records the flags in atomics and schedules the actor; it never runs
//!   user code.
//! - Whoever parks, polls: an idle worker takes the poller and blocks in it,
//!   and an actor made runnable by a notification goes to that worker's LIFO
//!   slot, so readiness and the actor's code meet on one thread (as tokio's
//!   workers do). The library's own I/O thread steps aside meanwhile.

mod cell;
mod event_owner;
mod runtime;
mod schedule;

pub use cell::{ActorRef, Context};
pub use event_owner::EventOwner;
pub use runtime::{Runtime, RuntimeHandle, Spawn};

/// Behaviours one actor runs per turn before the worker moves on.
pub const BATCH: usize = 64;

/// The state of an actor. `event` receives the notifications of the
/// events the actor owns (created with [`Context::owner`] as their owner).
pub trait Actor: Send + Sized + 'static {
    /// Whether the actor runs [`Actor::started`] as soon as it is spawned.
    const STARTS: bool = false;

    /// With `STARTS`: runs once, first, before any behaviour or
    /// notification (an actor whose first step is always the same starts
    /// without a message: no allocation, no mailbox lock).
    fn started(&mut self, _ctx: &Context<Self>) {}

    /// An asio notification for `event`: the ABI's flags and arg. Several
    /// READ/WRITE notifications of one event that arrive before the actor runs
    /// come as one; `ASIO_DISPOSABLE` (flags 0) is always last and alone.
    fn event(&mut self, _ctx: &Context<Self>, _event: *mut crate::asio::event::Event, _flags: u32, _arg: u32) {}
}
