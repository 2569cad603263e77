//! [`Client`]: a handle on a broker instance, and the capacity it
//! publishes ([`State`], [`Source`], [`Generation`]).

use std::ffi::CString;
use std::fmt;
use std::os::raw::c_int;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::ffi;
use crate::pool::{Pool, Ticket};

/// A handle on the broker instance of a name (`cb_open`); closed
/// (`cb_close`) on drop.
///
/// Every method takes `&self`: a `Client` is [`Send`] and [`Sync`], so
/// threads share one (in an `Arc`, or borrowed by scoped threads), as
/// the C library allows every call but `cb_close` on one handle from
/// many threads at once.  `cb_close` runs only in `Drop`, which the
/// borrow checker keeps from racing with anything: [`Pool`],
/// [`Hold`](crate::Hold), [`Waiter`](crate::Waiter) and
/// [`Launch`](crate::Launch) borrow the `Client`, so it cannot be
/// closed under them.
///
/// A handle must not be used in a child of `fork()`: open a new
/// `Client` there (reservations on an inherited one fail with
/// [`Error::Invalid`]).
pub struct Client {
    raw: NonNull<ffi::cb_client>,
    /// The state word in the read-only state mapping, stable for the
    /// life of the handle (`cb_state_word`, read once at open).
    word: NonNull<AtomicU64>,
    /// The generation the last [`watch`](Client::watch) returned.
    /// Relaxed: it is a hint for the next watch, ordering nothing.
    seen: AtomicU32,
}

// SAFETY: capbroker.h's thread rules: every call but cb_close may be
// made on one handle from many threads at once (cb_errmsg answers each
// thread its own failure), and cb_close runs only from Drop, with no
// borrow left.  The state word is only ever loaded atomically.
unsafe impl Send for Client {}
// SAFETY: as above; &Client methods map to the concurrent-safe calls.
unsafe impl Sync for Client {}

impl Client {
    /// Attach to the broker instance `name` (`""` means `"default"`),
    /// claiming an entry in its client table so the broker undoes this
    /// handle's holds if the process dies.
    ///
    /// Errors: [`Error::NotFound`] no such broker, [`Error::Protocol`]
    /// an incompatible segment, [`Error::PermissionDenied`] not in the
    /// broker's group, [`Error::NoSpace`] client table full,
    /// [`Error::Invalid`] a bad name.
    pub fn open(name: &str) -> Result<Client> {
        Client::open_flags(name, 0)
    }

    /// Attach read-only (`CB_OPEN_RDONLY`): observe the capacity, never
    /// reserve (reservations fail with [`Error::PermissionDenied`]).
    /// Works for observers outside the broker's group.
    pub fn open_readonly(name: &str) -> Result<Client> {
        Client::open_flags(name, ffi::CB_OPEN_RDONLY)
    }

    fn open_flags(name: &str, flags: u32) -> Result<Client> {
        let cname = c_string(name)?;
        let mut out: *mut ffi::cb_client = ptr::null_mut();
        // SAFETY: out and cname are valid for the call.
        let r = unsafe { ffi::cb_open(&mut out, cname.as_ptr(), flags) };
        if r < 0 {
            // SAFETY: no arguments; read in this thread right after.
            let msg = ffi::text(unsafe { ffi::cb_open_errmsg() });
            return Err(Error::from_code(r, msg, 0));
        }
        let raw = NonNull::new(out).expect("cb_open returned 0 and no handle");
        // SAFETY: raw is a live handle.  The word (checked below: not
        // NULL, 8-byte aligned) has AtomicU64's layout and lives until
        // cb_close, which only Drop calls.  We only load it, so the
        // read-only mapping is never written.
        let word = unsafe { ffi::cb_state_word(raw.as_ptr()) } as *mut AtomicU64;
        let word = match NonNull::new(word) {
            Some(w) if w.as_ptr() as usize % 8 == 0 => w,
            _ => {
                // SAFETY: the handle is ours and nothing borrows it.
                unsafe { ffi::cb_close(raw.as_ptr()) };
                return Err(Error::Protocol {
                    message: "cb_state_word: no aligned state word".to_owned(),
                });
            }
        };
        Ok(Client {
            raw,
            word,
            seen: AtomicU32::new(0),
        })
    }

    pub(crate) fn raw(&self) -> *mut ffi::cb_client {
        self.raw.as_ptr()
    }

    /// The error for `code`, with this thread's message on this handle:
    /// call it in the failing thread right after the failing call.
    pub(crate) fn error(&self, code: c_int, retry_after_ms: u32) -> Error {
        // SAFETY: a live handle; the text is copied at once.
        let msg = ffi::text(unsafe { ffi::cb_errmsg(self.raw()) });
        Error::from_code(code, msg, retry_after_ms)
    }

    /// `Ok(r)` for `r >= 0`, else the error for `r`.
    pub(crate) fn check(&self, r: c_int) -> Result<c_int> {
        if r < 0 {
            Err(self.error(r, 0))
        } else {
            Ok(r)
        }
    }

    /// The instance name, as passed to [`open`](Client::open).
    pub fn name(&self) -> String {
        // SAFETY: a live handle; copied at once.
        ffi::text(unsafe { ffi::cb_name(self.raw()) })
    }

    /// The current capacity: one acquire load (`cb_current`).
    pub fn current(&self) -> u32 {
        // SAFETY: a live handle.
        unsafe { ffi::cb_current(self.raw()) }
    }

    /// The tier that produced the current capacity (`cb_source`).
    pub fn source(&self) -> Source {
        // SAFETY: a live handle.
        Source::from_raw(unsafe { ffi::cb_source(self.raw()) })
    }

    /// Capacity, source, flags and generation from ONE acquire load of
    /// the state word: never torn, unlike [`current`](Client::current)
    /// followed by [`source`](Client::source).  No call into the
    /// library: this is the hot-loop read (`cb_state_load`).
    #[inline]
    pub fn state(&self) -> State {
        // SAFETY: see open_flags; the word outlives &self.
        let word = unsafe { self.word.as_ref() };
        // This acquire pairs with the broker's release store of the
        // word: what it published before the word is visible after.
        State(word.load(Ordering::Acquire))
    }

    /// Wait until the broker publishes a state newer than the one the
    /// last `watch` on this handle returned (`cb_watch`).
    ///
    /// `timeout`: `None` waits without a limit, `Some(Duration::ZERO)`
    /// polls.  Returns the new generation, or `Ok(None)` if the timeout
    /// passed first.  The first call on a handle returns at once with
    /// the current generation, so a late subscriber starts from the
    /// latest state.  The last generation is kept per handle, shared by
    /// its threads; a thread that must see every change it has not
    /// seen itself keeps its own with [`watch_since`](Client::watch_since).
    pub fn watch(&self, timeout: Option<Duration>) -> Result<Option<Generation>> {
        let since = Generation(self.seen.load(Ordering::Relaxed));
        let r = self.watch_since(since, timeout)?;
        if let Some(g) = r {
            self.seen.store(g.0, Ordering::Relaxed);
        }
        Ok(r)
    }

    /// Wait until the published generation differs from `since`
    /// (`cb_watch`); `Generation(0)` returns at once with the current
    /// one.  `timeout` as for [`watch`](Client::watch).  Signals do
    /// not end the wait.
    pub fn watch_since(
        &self,
        since: Generation,
        timeout: Option<Duration>,
    ) -> Result<Option<Generation>> {
        // A timeout too far to represent is no limit.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut gen = since.0;
        loop {
            // A wait past i32::MAX ms goes in slices of that.
            let ms = match deadline {
                None => -1,
                Some(d) => timeout_ms(d.saturating_duration_since(Instant::now())),
            };
            // SAFETY: a live handle and a valid out pointer.
            let r = unsafe { ffi::cb_watch(self.raw(), &mut gen, ms) };
            if r == 0 {
                return Ok(Some(Generation(gen)));
            }
            if r != -ffi::ETIMEDOUT {
                return Err(self.error(r, 0));
            }
            match deadline {
                Some(d) if Instant::now() < d => continue,
                _ => return Ok(None),
            }
        }
    }

    /// Is the broker alive (`cb_broker_check` == 0)?  False when it
    /// stopped, its process is gone, its heartbeat is stale or the
    /// segment was retired.  Reservations keep working while it is
    /// down; only death notices wait for its return.
    pub fn broker_alive(&self) -> bool {
        // SAFETY: a live handle.
        unsafe { ffi::cb_broker_check(self.raw()) == 0 }
    }

    /// The pool `name` (`cb_pool`; `"default"` is pool 0, whose limit
    /// is the broker's capacity).  [`Error::NotFound`] if there is none.
    pub fn pool(&self, name: &str) -> Result<Pool<'_>> {
        let cname = c_string(name)?;
        // SAFETY: a live handle and a NUL-terminated name.
        let r = unsafe { ffi::cb_pool(self.raw(), cname.as_ptr()) };
        let index = self.check(r)?;
        Ok(Pool::new(self, index, name))
    }

    /// Holds in flight bound to the worker `worker_id`, as counted in
    /// shared memory (`cb_worker_inflight`).  [`Error::NotFound`] for an
    /// unknown worker.
    pub fn worker_inflight(&self, worker_id: &str) -> Result<u32> {
        let cid = c_string(worker_id)?;
        // SAFETY: a live handle and a NUL-terminated id.
        let r = unsafe { ffi::cb_worker_inflight(self.raw(), cid.as_ptr()) };
        self.check(r).map(|n| n as u32)
    }

    /// Release a reservation by its ticket (`cb_release`): a
    /// [`Launch`](crate::Launch) whose ticket came from another process
    /// (`capctl release` does the same), or a hold of this handle.
    /// [`Error::Stale`] if it was already released, reclaimed or
    /// expired; [`Error::Invalid`] if this handle may not release it.
    pub fn release_ticket(&self, ticket: &Ticket) -> Result<()> {
        // SAFETY: a live handle and a valid ticket.
        let r = unsafe { ffi::cb_release(self.raw(), ticket.raw()) };
        self.check(r).map(drop)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: nothing borrows self any more (Pool, Hold, Waiter and
        // Launch borrow it), so no other call can race with cb_close.
        unsafe { ffi::cb_close(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}

/// A Rust string as a C string; [`Error::Invalid`] if it holds a NUL.
pub(crate) fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{:?}: contains a NUL byte", s)))
}

/// A duration as the C timeout_ms (> 0): rounded up, so a short wait
/// never becomes 0 ("fail fast"), and capped at i32::MAX ms (24.8 days).
pub(crate) fn timeout_ms(d: Duration) -> c_int {
    if d.is_zero() {
        return 0;
    }
    let ms = d.as_nanos().saturating_add(999_999) / 1_000_000;
    ms.clamp(1, c_int::MAX as u128) as c_int
}

/// The tier that produced the capacity (`enum cb_source`; see
/// capbrokerd(8)).  Displays as the library's name for it
/// (`cb_source_name`): `override`, `reported`, `mixed`, `fallback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// `CB_SOURCE_OVERRIDE`: an operator-pinned value.
    Override,
    /// `CB_SOURCE_REPORTED`: every ready worker reports max_running.
    Reported,
    /// `CB_SOURCE_MIXED`: some or no ready workers report.
    Mixed,
    /// `CB_SOURCE_FALLBACK`: no ready worker, the legacy maximum.
    Fallback,
    /// A value this binding does not know (a newer library).
    Unknown(i32),
}

impl Source {
    /// The source for the C value (`enum cb_source`).
    pub fn from_raw(source: i32) -> Source {
        match source {
            0 => Source::Override,
            1 => Source::Reported,
            2 => Source::Mixed,
            3 => Source::Fallback,
            n => Source::Unknown(n),
        }
    }

    /// The C value (`enum cb_source`).
    pub fn to_raw(self) -> i32 {
        match self {
            Source::Override => 0,
            Source::Reported => 1,
            Source::Mixed => 2,
            Source::Fallback => 3,
            Source::Unknown(n) => n,
        }
    }

    /// The library's name for it (`cb_source_name`), `"unknown"` for
    /// a value it does not know.
    pub fn name(self) -> &'static str {
        // SAFETY: any int is accepted; the result is a literal.
        ffi::static_text(unsafe { ffi::cb_source_name(self.to_raw()) })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A published state's generation: +1 for every distinct state the
/// broker publishes (32 bits, wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub u32);

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One load of the state word (see [`Client::state`]): capacity,
/// source, flags and generation that always belong together.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct State(u64);

impl State {
    /// `CB_STATE_F_STOPPING`: the broker shut down cleanly.
    pub const STOPPING: u8 = 0x01;
    /// `CB_STATE_F_RETIRED`: the segment was replaced; open a new
    /// [`Client`].
    pub const RETIRED: u8 = 0x02;

    /// Decode a raw state word, as the `CB_STATE_*()` macros do.
    pub const fn from_raw(word: u64) -> State {
        State(word)
    }

    /// The raw word.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The capacity, 1..=65535 (`CB_STATE_CAPACITY`).
    pub const fn capacity(self) -> u32 {
        (self.0 & 0xffff) as u32
    }

    /// The tier that produced it (`CB_STATE_SOURCE`).
    pub fn source(self) -> Source {
        Source::from_raw(((self.0 >> 16) & 0xff) as i32)
    }

    /// The flags (`CB_STATE_FLAGS`): [`State::STOPPING`],
    /// [`State::RETIRED`].
    pub const fn flags(self) -> u8 {
        ((self.0 >> 24) & 0xff) as u8
    }

    /// The generation (`CB_STATE_GENERATION`).
    pub const fn generation(self) -> Generation {
        Generation((self.0 >> 32) as u32)
    }

    /// The broker shut down cleanly (the capacity is its last one).
    pub const fn stopping(self) -> bool {
        self.flags() & State::STOPPING != 0
    }

    /// The segment was retired: open a new [`Client`].
    pub const fn retired(self) -> bool {
        self.flags() & State::RETIRED != 0
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("capacity", &self.capacity())
            .field("source", &self.source())
            .field("flags", &self.flags())
            .field("generation", &self.generation().0)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_decodes_like_the_macros() {
        let s = State::from_raw(7 << 32 | 0x03 << 24 | 2 << 16 | 300);
        assert_eq!(s.capacity(), 300);
        assert_eq!(s.source(), Source::Mixed);
        assert_eq!(s.flags(), 3);
        assert!(s.stopping() && s.retired());
        assert_eq!(s.generation(), Generation(7));
    }

    #[test]
    fn source_names_come_from_the_library() {
        assert_eq!(Source::Override.to_string(), "override");
        assert_eq!(Source::Fallback.to_string(), "fallback");
        assert_eq!(Source::Unknown(9).to_string(), "unknown");
        assert_eq!(Source::from_raw(1), Source::Reported);
    }

    #[test]
    fn timeouts_round_up_and_saturate() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_nanos(1)), 1);
        assert_eq!(timeout_ms(Duration::from_micros(1500)), 2);
        assert_eq!(timeout_ms(Duration::from_secs(u64::MAX)), c_int::MAX);
    }
}
