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
// Hold, Waiter.Wait, PickWorker and Watch wait in C calls of at most
// 50 ms (waitSlice) when their context can end, and check the context
// between them: a cancelled or expired wait returns within 50 ms plus a
// wake-up.  A context that can never end (context.Background()) waits
// in one C call without a limit.  A Hold whose context ends leaves the
// queue; a Waiter's Wait keeps its place (Dequeue gives it up).
// Waiting in slices has two costs against one long cb_wait: at the
// head of the queue, a blocking C reserver of the same priority may
// take a free unit during the first 1 ms of each slice (the library's
// barging bound restarts with each cb_wait call), and a waiter sleeping
// in slices never runs the library's check for a dead head while the
// broker is down (that check needs 2 s in one call); waiters that wait
// without a limit, or the broker on its return, prune it.  And each
// slice that ends unadmitted counts as one refusal in the pool's
// rejected counter (capdump, capbroker_pool_rejected_total), as does
// the fail-fast try a Hold makes before it queues.
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
