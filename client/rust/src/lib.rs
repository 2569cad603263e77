//! Rust binding of libcapbroker, the client library of capbroker: a
//! host-local capacity broker that shares one capacity limit between
//! every process on a host (see capbroker(3) and `include/capbroker.h`).
//!
//! ```no_run
//! use capbroker::{Client, Error, Wait};
//! # fn main() -> capbroker::Result<()> {
//! let client = Client::open("default")?;
//! println!("capacity {} from {}", client.current(), client.source());
//! let gw = client.pool("gw")?;
//! match gw.hold(Wait::No) {
//!     Ok(hold) => { /* serve the request */ drop(hold) } // releases
//!     Err(Error::OverLimit { retry_after, .. }) => {
//!         println!("429, Retry-After: {}", retry_after.as_secs().max(1))
//!     }
//!     Err(e) => return Err(e),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What maps to what
//!
//! | C                                   | Rust |
//! |-------------------------------------|------|
//! | `cb_open`, `cb_close`               | [`Client::open`], [`Client::open_readonly`], `Drop` |
//! | `cb_current`, `cb_source`           | [`Client::current`], [`Client::source`] ([`Source`]) |
//! | `cb_state_word` + `cb_state_load`   | [`Client::state`] ([`State`]): one acquire load, no call |
//! | `cb_watch`                          | [`Client::watch`], [`Client::watch_since`] ([`Generation`]) |
//! | `cb_broker_check`                   | [`Client::broker_alive`] |
//! | `cb_pool`, `cb_pool_info`           | [`Client::pool`], [`Pool::info`] ([`PoolInfo`]) |
//! | `cb_reserve` `CB_HOLD`, `cb_release`| [`Pool::hold`], [`Pool::hold_with`] ([`Wait`]); [`Hold`] releases on drop |
//! | `cb_reserve` `CB_LAUNCH`            | [`Pool::launch`], [`Pool::launch_with`]; [`Launch::release`] |
//! | `cb_enqueue`, `cb_queue_position`, `cb_wait`, `cb_dequeue` | [`Pool::enqueue`] ([`Waiter`]), [`Pool::enqueue_launch`] ([`LaunchWaiter`]) |
//! | `cb_pick_worker`, `cb_worker_inflight` | [`Pool::pick_worker`] ([`Placement`], [`WorkerHold`]), [`Client::worker_inflight`] |
//! | `cb_ticket_format`, `cb_ticket_parse` | [`Ticket`]'s `Display` and `FromStr`; [`Client::release_ticket`] |
//! | negative errno + `cb_errmsg`        | [`Error`] |
//!
//! # Threads and processes
//!
//! The C library lets every call but `cb_close` run on one handle from
//! many threads at once, and keeps each thread's last error message
//! apart.  So:
//!
//! - [`Client`] is [`Send`] and [`Sync`]: share one between threads
//!   (an `Arc<Client>`, or `&Client` in scoped threads).  It closes the
//!   handle in `Drop` only, which cannot race with any other call.
//! - [`Pool`], [`Hold`], [`WorkerHold`], [`Launch`], [`Waiter`] and
//!   [`LaunchWaiter`] borrow their `Client`, so it cannot be closed
//!   under them, and are [`Send`] and [`Sync`] too.  A hold may be released (dropped) in
//!   another thread than the one that took it; that is legal, but it
//!   moves the taking thread's lane to a locked path for good (see
//!   [`Hold`]).  [`Waiter::wait`] takes `&mut self`, so no other
//!   thread reads [`Waiter::position`] during a wait (the C library
//!   would allow it): wait in slices to report the position.
//! - Each [`Error`] carries the message of the failing thread, read
//!   right after the failing call.
//! - A handle must not be used in a child of `fork()`: open a new
//!   [`Client`] there.  The holds of a process that dies are undone by
//!   the broker; its launches are not (they outlive their launcher).
//!
//! # Linking
//!
//! The build script links `libcapbroker` from `CAPBROKER_LIB_DIR` when
//! that is set (a build tree; the crate's own tests and examples get it
//! as an rpath), else through `pkg-config capbroker`.

#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

mod client;
mod error;
mod ffi;
mod pool;

pub use client::{Client, Generation, Source, State};
pub use error::{strerror, Error, Result};
pub use pool::{
    Hold, Interrupter, Launch, LaunchWaiter, Placement, Pool, PoolInfo, Ticket, Wait, Waiter,
    WorkerHold,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn thread_rules_are_in_the_types() {
        send_sync::<Client>();
        send_sync::<Pool<'static>>();
        send_sync::<Hold<'static>>();
        send_sync::<WorkerHold<'static>>();
        send_sync::<Launch<'static>>();
        send_sync::<Waiter<'static>>();
        send_sync::<LaunchWaiter<'static>>();
        send_sync::<Error>();
    }
}
