// Package capbroker is the Go binding of libcapbroker: one capacity
// limit shared by every process on a host, with holds that a crashed
// process cannot leak.  A broker daemon (capbrokerd) publishes the
// capacity in POSIX shared memory; this package maps it through cgo and
// reserves against the same table as the C, Python and Rust clients.
//
//	c, err := capbroker.Open("default")
//	if err != nil { ... }
//	defer c.Close()
//	gw, err := c.Pool("backend")
//	h, err := gw.Hold(ctx)            // waits in the fair queue until ctx ends
//	var ole *capbroker.OverLimitError
//	if errors.As(err, &ole) { ... }   // TryHold: 429, Retry-After: ole.RetryAfter
//	defer h.Release()
//
// # Errors
//
// Every failure of a library call is an *Error carrying the C
// function, the errno and the library's own message; it matches the
// sentinel of its errno with errors.Is (ErrOverLimit, ErrTimeout,
// ErrStale, ErrNotFound, ErrProtocol, ErrPermission, ErrNoSpace,
// ErrInvalid, ...) and the syscall.Errno itself.  Over the limit it is
// wrapped in an *OverLimitError with the broker's retry-after hint.  A
// wait ended by its context is a *WaitError that matches ctx.Err().
//
// # Contexts and cancellation
//
// Hold and Waiter.Wait wait in the fair queue in one cb_wait call up
// to the context's deadline (no limit without one); while it runs, a
// goroutine watches ctx.Done() and ends the call with cb_wait_cancel,
// so a cancelled wait returns at once (a wake-up), and the goroutine
// exits when the call returns.  One call keeps what waiting in one
// call gives a C waiter: the library's 1 ms barging bound at the head
// of the queue counts from the start of the wait, a waiter behind a
// dead head prunes it while the broker is down, and a cancelled wait
// counts no refusal in the pool's rejected counter (capdump,
// capbroker_pool_rejected_total; the fail-fast try a Hold makes before
// it queues still counts one).  A Hold whose context ends leaves the
// queue; a Waiter's Wait keeps its place (Dequeue gives it up).
//
// PickWorker and Watch wait through C calls that another thread cannot
// end (cb_pick_worker, cb_watch): with a context that can end they run
// as calls of at most 50 ms (waitSlice) with the context checked
// between them, so they return within 50 ms plus a wake-up of its end,
// and each PickWorker slice that ends unadmitted counts one refusal.
// Pickers wait on the pool's pickers word, not in the fair queue, so
// the slices give up no place.  A context that can never end
// (context.Background()) waits in one C call without a limit.
//
// # Goroutines and OS threads
//
// Every method is safe for concurrent use by many goroutines, except
// Client.Close, which must not race with any other call on the Client
// or on its Pools, Holds, Launches and Waiters (as cb_close must not).
// A Hold may be released from any goroutine.
//
// The C library keeps per-OS-thread state, and goroutines move between
// threads between any two calls:
//
//   - Error messages (cb_errmsg) are per thread; the binding copies the
//     message inside the same cgo call as the failing function (gocb.c),
//     so an error always carries its own message.
//   - Holds go through a per-thread lane (docs/ARCHITECTURE.md,
//     "lanes"): a release made on another OS thread than the one that
//     took the hold is a foreign release, which revokes the owner
//     lane's bias (membarrier, once per lane) and takes the lane's
//     mutex: correct, and a little slower than the owner's fast path
//     (BenchmarkRelease* in the tests: 115-130 ns against 80-100 ns,
//     cgo included, on the 2-core test machine).  A goroutine that
//     holds and releases without blocking usually stays on its thread;
//     one that blocks in between (network I/O) often does not.
//   - Each blocked Hold or Wait occupies an OS thread for its C call.
//     A handle has 64 lanes: holds on further threads go through its
//     shared entry (at most 16 in flight at once), still correct.
//
// A Client must not be used in a child of fork(); Go programs rarely
// fork without exec, and os/exec is fine.
package capbroker
