//! Pools and reservations: [`Pool`], [`Hold`], [`WorkerHold`],
//! [`Launch`], [`Waiter`], [`LaunchWaiter`], [`Ticket`].

use std::fmt;
use std::os::raw::{c_char, c_int, c_ulong};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::client::{c_string, timeout_ms, Client};
use crate::error::{Error, Result};
use crate::ffi;

/// How long a reservation may wait for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wait {
    /// Fail fast (`timeout_ms` 0): [`Error::OverLimit`] if the pool is
    /// full, or if a waiter of the same or a higher priority is queued.
    No,
    /// Wait in the pool's fair queue at most this long (rounded up to
    /// whole milliseconds, at most `i32::MAX` ms), then
    /// [`Error::TimedOut`].  `Wait::For(Duration::ZERO)` is `Wait::No`.
    For(Duration),
    /// Wait without a limit (`timeout_ms` -1).
    Forever,
}

impl Wait {
    fn timeout_ms(self) -> c_int {
        match self {
            Wait::No => 0,
            Wait::For(d) => timeout_ms(d),
            Wait::Forever => -1,
        }
    }
}

/// A worker placement policy for [`Pool::pick_worker`]
/// (`enum cb_placement`).  Among ready workers with room; equal scores
/// go to the worker whose id sorts first.  Displays and parses as the
/// library's names (`cb_placement_name`, `cb_placement_parse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// The busiest worker (most holds in flight): pack work onto busy
    /// workers, keep idle ones free (`"consolidate"`).
    Consolidate,
    /// The highest available ratio (limit - in flight) / limit
    /// (`"spread"`).
    Spread,
    /// The fewest holds in flight (`"least_loaded"`).
    LeastLoaded,
}

impl Placement {
    fn to_raw(self) -> c_int {
        match self {
            Placement::Consolidate => ffi::CB_PLACE_CONSOLIDATE,
            Placement::Spread => ffi::CB_PLACE_SPREAD,
            Placement::LeastLoaded => ffi::CB_PLACE_LEAST_LOADED,
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: any int is accepted; the result is a literal.
        f.write_str(ffi::static_text(unsafe {
            ffi::cb_placement_name(self.to_raw())
        }))
    }
}

impl FromStr for Placement {
    type Err = Error;

    /// `"consolidate"`, `"spread"` or `"least_loaded"`; else
    /// [`Error::Invalid`].
    fn from_str(s: &str) -> Result<Placement> {
        let cs = c_string(s)?;
        // SAFETY: a NUL-terminated string.
        match unsafe { ffi::cb_placement_parse(cs.as_ptr()) } {
            ffi::CB_PLACE_CONSOLIDATE => Ok(Placement::Consolidate),
            ffi::CB_PLACE_SPREAD => Ok(Placement::Spread),
            ffi::CB_PLACE_LEAST_LOADED => Ok(Placement::LeastLoaded),
            _ => Err(Error::invalid(format!("unknown placement policy: {:?}", s))),
        }
    }
}

/// A pool's limit and usage (`struct cb_pool_info`), each counter read
/// atomically on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInfo {
    /// The pool's name.
    pub name: String,
    /// The current limit.
    pub limit: u32,
    /// The published observation (launch admission).
    pub observed: u32,
    /// Active holds.
    pub held: u32,
    /// Active launch reservations.
    pub launching: u32,
    /// The launch visibility window.
    pub window: Duration,
}

/// A reservation's ticket: its identity, which outlives the process
/// that took it (for launches).  Its text form (`cb_ticket_format`,
/// [`Display`](fmt::Display)) is what `capctl` prints and what
/// [`FromStr`] (`cb_ticket_parse`) reads back, so a launch can be
/// passed to another process and released there with
/// [`Client::release_ticket`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(ffi::cb_ticket);

impl Ticket {
    pub(crate) fn raw(&self) -> *const ffi::cb_ticket {
        &self.0
    }
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0 as c_char; ffi::CB_TICKET_STRLEN];
        // SAFETY: buf has the CB_TICKET_STRLEN bytes the call needs.
        let r = unsafe { ffi::cb_ticket_format(&self.0, buf.as_mut_ptr(), buf.len() as c_ulong) };
        if r < 0 {
            return Err(fmt::Error);
        }
        f.write_str(&ffi::text(buf.as_ptr()))
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticket({})", self)
    }
}

impl FromStr for Ticket {
    type Err = Error;

    /// Parse a ticket's text; [`Error::Invalid`] if it is not one.
    fn from_str(s: &str) -> Result<Ticket> {
        let cs = c_string(s)?;
        let mut t = ffi::cb_ticket::default();
        // SAFETY: a NUL-terminated string and a valid out pointer.
        if unsafe { ffi::cb_ticket_parse(cs.as_ptr(), &mut t) } < 0 {
            return Err(Error::invalid(format!("not a ticket: {:?}", s)));
        }
        Ok(Ticket(t))
    }
}

/// A named limit of a broker, from [`Client::pool`].  Cheap to clone;
/// borrows its [`Client`].
#[derive(Debug, Clone)]
pub struct Pool<'c> {
    client: &'c Client,
    index: c_int,
    name: String,
}

impl<'c> Pool<'c> {
    pub(crate) fn new(client: &'c Client, index: c_int, name: &str) -> Pool<'c> {
        Pool {
            client,
            index,
            name: name.to_owned(),
        }
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pool's index (`cb_pool`; 0 is `"default"`).
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The client the pool belongs to.
    pub fn client(&self) -> &'c Client {
        self.client
    }

    /// Limit, observation, holds, launches and window (`cb_pool_info`).
    pub fn info(&self) -> Result<PoolInfo> {
        let mut out = ffi::cb_pool_info {
            name: [0; 32],
            limit: 0,
            observed: 0,
            held: 0,
            launching: 0,
            window_ms: 0,
        };
        // SAFETY: a live handle and a valid out pointer.
        let r = unsafe { ffi::cb_pool_info(self.client.raw(), self.index, &mut out) };
        self.client.check(r)?;
        // The library NUL-terminates name; never read past the array.
        out.name[31] = 0;
        Ok(PoolInfo {
            name: ffi::text(out.name.as_ptr()),
            limit: out.limit,
            observed: out.observed,
            held: out.held,
            launching: out.launching,
            window: Duration::from_millis(u64::from(out.window_ms)),
        })
    }

    fn request(&self, kind: c_int, observed: u32, priority: i32, wait: Wait) -> ffi::cb_request {
        ffi::cb_request {
            pool: self.index,
            kind,
            observed,
            timeout_ms: wait.timeout_ms(),
            priority,
        }
    }

    fn reserve(&self, req: &ffi::cb_request) -> Result<Ticket> {
        let mut t = ffi::cb_ticket::default();
        let mut retry = 0u32;
        // SAFETY: a live handle and valid pointers for the call.
        let r = unsafe { ffi::cb_reserve(self.client.raw(), req, &mut t, &mut retry) };
        if r < 0 {
            return Err(self.client.error(r, retry));
        }
        Ok(Ticket(t))
    }

    /// Reserve one in-flight unit (`CB_HOLD`) at priority 0; see
    /// [`hold_with`](Pool::hold_with).
    pub fn hold(&self, wait: Wait) -> Result<Hold<'c>> {
        self.hold_with(0, wait)
    }

    /// Reserve one in-flight unit (`cb_reserve`, `CB_HOLD`).
    ///
    /// Blocked requests are served higher `priority` first, then in
    /// arrival order.  [`Wait::No`] fails fast with
    /// [`Error::OverLimit`]; [`Wait::For`] sleeps in the pool's fair
    /// queue until admitted or [`Error::TimedOut`]; both carry the
    /// broker's `retry_after` hint (a 429's Retry-After).  The [`Hold`]
    /// releases on drop; the broker undoes it if the process dies.
    pub fn hold_with(&self, priority: i32, wait: Wait) -> Result<Hold<'c>> {
        let ticket = self.reserve(&self.request(ffi::CB_HOLD, 0, priority, wait))?;
        Ok(Hold::new(self.client, ticket))
    }

    /// Reserve one fleet launch (`CB_LAUNCH`), failing fast; see
    /// [`launch_with`](Pool::launch_with).
    pub fn launch(&self, observed: u32) -> Result<Launch<'c>> {
        self.launch_with(observed, 0, Wait::No)
    }

    /// Reserve one fleet launch (`cb_reserve`, `CB_LAUNCH`): admitted
    /// iff `observed + launching + held + 1 <= limit`, where observed is
    /// the larger of `observed` (units the caller already sees) and the
    /// pool's published observation.  The reservation ends when
    /// [released](Launch::release) (the launch failed) or when the
    /// pool's visibility window passes: NOT when the [`Launch`] is
    /// dropped or its process exits.
    pub fn launch_with(&self, observed: u32, priority: i32, wait: Wait) -> Result<Launch<'c>> {
        let ticket = self.reserve(&self.request(ffi::CB_LAUNCH, observed, priority, wait))?;
        Ok(Launch {
            client: self.client,
            ticket,
        })
    }

    /// Take a place for one hold at the back of `priority` in the
    /// pool's fair queue (`cb_enqueue`); see [`Waiter`].
    pub fn enqueue(&self, priority: i32) -> Result<Waiter<'c>> {
        let req = self.request(ffi::CB_HOLD, 0, priority, Wait::Forever);
        Ok(Waiter {
            q: Queued::enqueue(self, &req)?,
        })
    }

    /// Take a place for one launch at the back of `priority` in the
    /// pool's fair queue (`cb_enqueue`, `CB_LAUNCH`), with `observed`
    /// as for [`launch_with`](Pool::launch_with); see [`LaunchWaiter`].
    pub fn enqueue_launch(&self, observed: u32, priority: i32) -> Result<LaunchWaiter<'c>> {
        let req = self.request(ffi::CB_LAUNCH, observed, priority, Wait::Forever);
        Ok(LaunchWaiter {
            q: Queued::enqueue(self, &req)?,
        })
    }

    /// Hold one unit of the pool AND one slot of a ready worker chosen
    /// by `placement`, at priority 0; see
    /// [`pick_worker_with`](Pool::pick_worker_with).
    pub fn pick_worker(&self, placement: Placement, wait: Wait) -> Result<WorkerHold<'c>> {
        self.pick_worker_with(placement, 0, wait)
    }

    /// Hold one unit of the pool and one slot of a ready worker in one
    /// step (`cb_pick_worker`).  The worker's own limit (its
    /// max_running) bounds its slots across every process.
    ///
    /// Errors: [`Error::OverLimit`] / [`Error::TimedOut`] the pool or
    /// every ready worker is full; [`Error::NotFound`] no ready worker
    /// at all; [`Error::NoSpace`] too many bound holds in this handle.
    pub fn pick_worker_with(
        &self,
        placement: Placement,
        priority: i32,
        wait: Wait,
    ) -> Result<WorkerHold<'c>> {
        let req = self.request(ffi::CB_HOLD, 0, priority, wait);
        let mut t = ffi::cb_ticket::default();
        let mut id = [0 as c_char; ffi::CB_WORKER_ID_STRLEN];
        let mut retry = 0u32;
        // SAFETY: a live handle; id has CB_WORKER_ID_STRLEN bytes.
        let r = unsafe {
            ffi::cb_pick_worker(
                self.client.raw(),
                &req,
                placement.to_raw(),
                &mut t,
                id.as_mut_ptr(),
                id.len() as c_ulong,
                &mut retry,
            )
        };
        if r < 0 {
            return Err(self.client.error(r, retry));
        }
        id[ffi::CB_WORKER_ID_STRLEN - 1] = 0;
        Ok(WorkerHold {
            worker_id: ffi::text(id.as_ptr()),
            hold: Hold::new(self.client, Ticket(t)),
        })
    }
}

/// One in-flight unit of a pool, from [`Pool::hold`]: released when
/// dropped (errors then are ignored) or by [`release`](Hold::release),
/// which reports them.
///
/// A `Hold` is [`Send`]: it may be released in another thread than the
/// one that took it.  That is legal but costs more: a hold goes through
/// the taking thread's lane, and the first release from another thread
/// revokes that lane's bias (one `membarrier(2)`), after which every
/// hold and release through the lane takes its mutex for the rest of
/// the handle's life (`lib/reserve.h`, docs/ARCHITECTURE.md).  On the
/// hottest paths, take and drop a hold in the same thread.  The broker
/// undoes the hold if the process dies.
#[must_use = "a Hold is released as soon as it is dropped"]
pub struct Hold<'c> {
    client: &'c Client,
    ticket: Ticket,
    /// Set once cb_release ran, so Drop does not run it again.
    released: bool,
}

impl<'c> Hold<'c> {
    fn new(client: &'c Client, ticket: Ticket) -> Hold<'c> {
        Hold {
            client,
            ticket,
            released: false,
        }
    }

    /// The hold's ticket.
    pub fn ticket(&self) -> Ticket {
        self.ticket
    }

    /// Release the unit now (`cb_release`).  [`Error::Stale`] if the
    /// broker already reclaimed it or it was released by its ticket
    /// ([`Client::release_ticket`]).
    pub fn release(mut self) -> Result<()> {
        self.released = true;
        self.client.release_ticket(&self.ticket)
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if !self.released {
            // Nothing to report to in a drop: a stale ticket means the
            // unit is already free.
            let _ = self.client.release_ticket(&self.ticket);
        }
    }
}

impl fmt::Debug for Hold<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hold").field("ticket", &self.ticket).finish()
    }
}

/// A [`Hold`] bound to a worker, from [`Pool::pick_worker`]: it holds
/// one unit of the pool and one slot of the worker [`worker_id`]
/// names; releasing it (or dropping it) frees both.
///
/// [`worker_id`]: WorkerHold::worker_id
#[must_use = "a WorkerHold is released as soon as it is dropped"]
#[derive(Debug)]
pub struct WorkerHold<'c> {
    hold: Hold<'c>,
    worker_id: String,
}

impl<'c> WorkerHold<'c> {
    /// The chosen worker's id.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The hold's ticket.
    pub fn ticket(&self) -> Ticket {
        self.hold.ticket()
    }

    /// Release the pool unit and the worker slot now (`cb_release`);
    /// [`Error::Stale`] as for [`Hold::release`].
    pub fn release(self) -> Result<()> {
        self.hold.release()
    }
}

/// A launch reservation, from [`Pool::launch`].
///
/// A launch outlives its launcher by design: dropping a `Launch` does
/// NOT release it, nor does the death of its process.  The unit counts
/// until the launched member becomes visible (the pool's observation
/// grows) and the pool's visibility window passes, or until someone
/// calls [`release`](Launch::release) (the launch failed: free the
/// unit at once).  Any process holding its [`Ticket`] may release it
/// with [`Client::release_ticket`].
pub struct Launch<'c> {
    client: &'c Client,
    ticket: Ticket,
}

impl<'c> Launch<'c> {
    /// The launch's ticket, to release it later or elsewhere.
    pub fn ticket(&self) -> Ticket {
        self.ticket
    }

    /// Free the unit now (`cb_release`): the launch failed.
    /// [`Error::Stale`] if the window already expired it or it was
    /// released by its ticket.
    pub fn release(self) -> Result<()> {
        self.client.release_ticket(&self.ticket)
    }
}

impl fmt::Debug for Launch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launch").field("ticket", &self.ticket).finish()
    }
}

/// A place in a pool's fair queue, from [`Pool::enqueue`]
/// (`cb_enqueue`).
///
/// Waiters are served by priority (higher first), then in arrival
/// order, across processes and languages; only the head of the queue
/// takes a free unit.  [`wait`](Waiter::wait) blocks until admitted or
/// times out keeping the place, so a caller can wait in slices and
/// report its [`position`](Waiter::position) in between:
///
/// ```no_run
/// # fn main() -> capbroker::Result<()> {
/// use std::time::Duration;
/// use capbroker::{Client, Error, Wait};
/// let client = Client::open("default")?;
/// let pool = client.pool("gw")?;
/// let mut waiter = pool.enqueue(0)?;
/// let hold = loop {
///     match waiter.wait(Wait::For(Duration::from_millis(500))) {
///         Err(Error::TimedOut { .. }) => println!("position {}", waiter.position()?),
///         other => break other?,
///     }
/// };
/// # drop(hold);
/// # Ok(())
/// # }
/// ```
///
/// Dropping a waiter that is still queued leaves the queue
/// (`cb_dequeue`), and the waiter behind it moves up.
pub struct Waiter<'c> {
    q: Queued<'c>,
}

impl<'c> Waiter<'c> {
    /// The number of live waiters ahead of this one
    /// (`cb_queue_position`): 0 is the head, next to be admitted.
    /// [`Error::Stale`] once it is no longer queued.
    pub fn position(&self) -> Result<usize> {
        self.q.position()
    }

    /// True until admitted or out of the queue.
    pub fn is_queued(&self) -> bool {
        self.q.queued
    }

    /// Wait in the queue until admitted (`cb_wait`) and return the
    /// [`Hold`].  [`Wait::No`] takes one look.  On [`Error::TimedOut`]
    /// the waiter keeps its place and may wait again; after any other
    /// error it has left the queue.  A signal handler that interrupts
    /// the wait does not end it: it goes on until the same deadline.
    pub fn wait(&mut self, wait: Wait) -> Result<Hold<'c>> {
        let ticket = self.q.wait(wait)?;
        Ok(Hold::new(self.q.client, ticket))
    }

    /// A handle another thread can end this waiter's
    /// [`wait`](Waiter::wait) with ([`Interrupter::interrupt`]).
    pub fn interrupter(&self) -> Interrupter<'c> {
        self.q.interrupter()
    }

    /// Leave the queue now (`cb_dequeue`), as dropping does, but
    /// reporting [`Error::Stale`] if it was no longer queued.
    pub fn cancel(self) -> Result<()> {
        self.q.cancel()
    }
}

impl fmt::Debug for Waiter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter").field("queued", &self.q.queued).finish()
    }
}

/// A place in a pool's fair queue for one launch, from
/// [`Pool::enqueue_launch`]: a [`Waiter`] whose
/// [`wait`](LaunchWaiter::wait) returns a [`Launch`] (admitted by the
/// launch rule of [`Pool::launch_with`]).  Dropped while still queued,
/// it leaves the queue.
pub struct LaunchWaiter<'c> {
    q: Queued<'c>,
}

impl<'c> LaunchWaiter<'c> {
    /// Live waiters ahead of this one, as [`Waiter::position`].
    pub fn position(&self) -> Result<usize> {
        self.q.position()
    }

    /// True until admitted or out of the queue.
    pub fn is_queued(&self) -> bool {
        self.q.queued
    }

    /// Wait until admitted and return the [`Launch`]; errors and the
    /// place in the queue as [`Waiter::wait`].
    pub fn wait(&mut self, wait: Wait) -> Result<Launch<'c>> {
        let ticket = self.q.wait(wait)?;
        Ok(Launch {
            client: self.q.client,
            ticket,
        })
    }

    /// A handle that ends this waiter's wait, as
    /// [`Waiter::interrupter`].
    pub fn interrupter(&self) -> Interrupter<'c> {
        self.q.interrupter()
    }

    /// Leave the queue now, as [`Waiter::cancel`].
    pub fn cancel(self) -> Result<()> {
        self.q.cancel()
    }
}

impl fmt::Debug for LaunchWaiter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaunchWaiter")
            .field("queued", &self.q.queued)
            .finish()
    }
}

/// Ends a [`Waiter`]'s or [`LaunchWaiter`]'s wait from another thread
/// (`cb_wait_cancel`), from [`Waiter::interrupter`].  It is [`Send`] and
/// [`Sync`], and it borrows only the [`Client`], so a thread can keep it
/// while the waiter's own thread waits (`wait` takes `&mut`).
///
/// ```no_run
/// # fn main() -> capbroker::Result<()> {
/// use capbroker::{Client, Error, Wait};
/// let client = Client::open("default")?;
/// let pool = client.pool("gw")?;
/// let mut waiter = pool.enqueue(0)?;
/// let stop = waiter.interrupter();
/// std::thread::scope(|s| {
///     s.spawn(move || stop.interrupt());   // a shutdown, say
///     match waiter.wait(Wait::Forever) {
///         Err(Error::Cancelled { .. }) => println!("still queued: {}", waiter.is_queued()),
///         other => drop(other),
///     }
/// });
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct Interrupter<'c> {
    client: &'c Client,
    /// A copy: `cb_wait_cancel` finds the queue entry by the waiter's
    /// contents, not its address.
    raw: ffi::cb_waiter,
}

impl Interrupter<'_> {
    /// End the wait the waiter's thread is in, or is about to enter, at
    /// once: it returns [`Error::Cancelled`] and the waiter keeps its
    /// place, so it can wait again.  Each call ends one wait.  `Ok` too
    /// when there is nothing to end any more (admitted or left the
    /// queue meanwhile).
    pub fn interrupt(&self) -> Result<()> {
        // SAFETY: a live handle (borrowed) and a waiter of it, by value.
        let r = unsafe { ffi::cb_wait_cancel(self.client.raw(), &self.raw) };
        if r == -ffi::ESTALE {
            return Ok(());
        }
        self.client.check(r).map(drop)
    }
}

impl fmt::Debug for Interrupter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupter").finish_non_exhaustive()
    }
}

/// The queue entry behind [`Waiter`] and [`LaunchWaiter`]: a
/// `cb_waiter` (a plain value: the entry itself lives in shared memory,
/// so it may move) and whether it is still queued.
struct Queued<'c> {
    client: &'c Client,
    raw: ffi::cb_waiter,
    /// True until admitted, dequeued, or told it is out of the queue.
    queued: bool,
}

impl<'c> Queued<'c> {
    fn enqueue(pool: &Pool<'c>, req: &ffi::cb_request) -> Result<Queued<'c>> {
        let mut w = ffi::cb_waiter::default();
        // SAFETY: a live handle and valid pointers for the call.
        let r = unsafe { ffi::cb_enqueue(pool.client.raw(), req, &mut w) };
        pool.client.check(r)?;
        Ok(Queued {
            client: pool.client,
            raw: w,
            queued: true,
        })
    }

    fn position(&self) -> Result<usize> {
        // SAFETY: a live handle and a waiter of it.
        let r = unsafe { ffi::cb_queue_position(self.client.raw(), &self.raw) };
        self.client.check(r).map(|n| n as usize)
    }

    /// cb_wait until admitted or `wait` runs out; EINTR goes on to the
    /// same deadline.
    fn wait(&mut self, wait: Wait) -> Result<Ticket> {
        let deadline = match wait {
            Wait::For(d) => Instant::now().checked_add(d),
            _ => None,
        };
        let mut ms = wait.timeout_ms();
        loop {
            let mut t = ffi::cb_ticket::default();
            let mut retry = 0u32;
            // SAFETY: a live handle, a waiter of it and valid pointers.
            let r = unsafe {
                ffi::cb_wait(self.client.raw(), &mut self.raw, ms, &mut t, &mut retry)
            };
            if r == 0 {
                self.queued = false;
                return Ok(Ticket(t));
            }
            if r == -ffi::EINTR {
                if let Some(d) = deadline {
                    ms = timeout_ms(d.saturating_duration_since(Instant::now()));
                }
                continue;
            }
            // Timed out or cancelled: still queued.  Anything else: out
            // of the queue.
            if r != -ffi::ETIMEDOUT && r != -ffi::ECANCELED {
                self.queued = false;
            }
            return Err(self.client.error(r, retry));
        }
    }

    fn interrupter(&self) -> Interrupter<'c> {
        Interrupter {
            client: self.client,
            raw: self.raw,
        }
    }

    fn cancel(mut self) -> Result<()> {
        self.queued = false;
        // SAFETY: a live handle and a waiter of it.
        let r = unsafe { ffi::cb_dequeue(self.client.raw(), &mut self.raw) };
        self.client.check(r).map(drop)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.queued {
            // SAFETY: a live handle and a waiter of it.  Stale means
            // it already left: nothing to undo.
            let _ = unsafe { ffi::cb_dequeue(self.client.raw(), &mut self.raw) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_maps_to_the_c_timeout() {
        assert_eq!(Wait::No.timeout_ms(), 0);
        assert_eq!(Wait::Forever.timeout_ms(), -1);
        assert_eq!(Wait::For(Duration::ZERO).timeout_ms(), 0);
        assert_eq!(Wait::For(Duration::from_nanos(1)).timeout_ms(), 1);
        assert_eq!(Wait::For(Duration::from_secs(2)).timeout_ms(), 2000);
    }
}
