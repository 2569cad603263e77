package capbroker

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// The sentinel errors, one per errno the C interface names.  Every
// failure of a libcapbroker call is an *Error (or an *OverLimitError
// wrapping one) that matches its sentinel with errors.Is, and also the
// plain syscall.Errno, so errors.Is(err, syscall.ESTALE) and
// errors.Is(err, fs.ErrNotExist) work too.
var (
	// ErrOverLimit: -EAGAIN, the pool is at its limit (fail fast).
	// The error is an *OverLimitError carrying the retry-after hint.
	ErrOverLimit error = &sentinel{syscall.EAGAIN, "over the limit"}
	// ErrTimeout: -ETIMEDOUT, not admitted (or no change seen) in time;
	// also a wait whose context deadline passed (a *WaitError), and
	// cb_broker_check's stale heartbeat.
	ErrTimeout error = &sentinel{syscall.ETIMEDOUT, "timed out"}
	// ErrStale: -ESTALE, the ticket was already released, reclaimed or
	// expired, or the waiter is no longer queued.
	ErrStale error = &sentinel{syscall.ESTALE, "stale ticket or waiter"}
	// ErrNotFound: -ENOENT, no such broker instance, pool or worker, or
	// no ready worker (PickWorker).
	ErrNotFound error = &sentinel{syscall.ENOENT, "not found"}
	// ErrProtocol: -EPROTO, an incompatible or corrupt segment, or one
	// retired by a broker started with --replace: close and reopen.
	ErrProtocol error = &sentinel{syscall.EPROTO, "incompatible or retired segment"}
	// ErrPermission: -EACCES, not in the broker's group, or reserving
	// through a read-only Client.
	ErrPermission error = &sentinel{syscall.EACCES, "permission denied"}
	// ErrNoSpace: -ENOSPC, a table is full (clients, reservations,
	// waiters, holds of this process).
	ErrNoSpace error = &sentinel{syscall.ENOSPC, "table full"}
	// ErrInvalid: -EINVAL, a bad name, request or ticket, or a handle
	// used in a child of fork().
	ErrInvalid error = &sentinel{syscall.EINVAL, "invalid argument"}
	// ErrNoMemory: -ENOMEM.
	ErrNoMemory error = &sentinel{syscall.ENOMEM, "out of memory"}
	// ErrOtherNamespace: -EXDEV, not in the broker's PID namespace
	// (OpenReadOnly still observes).
	ErrOtherNamespace error = &sentinel{syscall.EXDEV, "not in the broker's PID namespace"}
	// ErrBrokerGone: -ESRCH from CheckBroker, the broker stopped or
	// its process is gone.
	ErrBrokerGone error = &sentinel{syscall.ESRCH, "broker gone"}
	// ErrInterrupted: -EINTR.  The binding retries interrupted waits
	// itself; it is here for completeness.
	ErrInterrupted error = &sentinel{syscall.EINTR, "interrupted"}

	// ErrClosed: a method of a Client after Close (the binding's own,
	// no errno).
	ErrClosed = errors.New("capbroker: client is closed")
)

// sentinel is the type of the Err* values that stand for an errno.
type sentinel struct {
	errno syscall.Errno
	text  string
}

func (s *sentinel) Error() string { return "capbroker: " + s.text }

// Unwrap makes errors.Is(ErrNotFound, fs.ErrNotExist) hold, as it does
// for the errors that match it.
func (s *sentinel) Unwrap() error { return s.errno }

// Error is a failed libcapbroker call: the C function, the errno it
// returned (negated back to positive) and the library's message for
// that failure (cb_errmsg, read in the same cgo call, see native.go).
type Error struct {
	Op    string        // the C function, e.g. "cb_reserve"
	Errno syscall.Errno // the positive errno
	Msg   string        // the library's message (cb_strerror if none)
}

func (e *Error) Error() string {
	return fmt.Sprintf("capbroker: %s: %s", e.Op, e.Msg)
}

// Unwrap returns the errno, so errors.Is(err, syscall.EAGAIN) holds.
func (e *Error) Unwrap() error { return e.Errno }

// Is matches the sentinel of e's errno.
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	return ok && s.errno == e.Errno
}

// OverLimitError is the error of a fail-fast reservation over the
// pool's limit (-EAGAIN): errors.Is(err, ErrOverLimit) holds, and
// errors.As(err, &ole) gives the broker's retry-after hint (the
// earliest launch deadline in the pool, or its default).
type OverLimitError struct {
	RetryAfter time.Duration
	Err        *Error
}

func (e *OverLimitError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.RetryAfter)
}

func (e *OverLimitError) Unwrap() error { return e.Err }

// WaitError is a wait given up because its context ended (Hold,
// Waiter.Wait, PickWorker): errors.Is(err, ctx.Err()) holds, and
// errors.Is(err, ErrTimeout) too when the deadline passed.  RetryAfter
// is the broker's hint from the last slice of the wait (0 if none).
type WaitError struct {
	Op         string // "hold", "wait" or "pick worker"
	Pool       string
	RetryAfter time.Duration
	Err        error // the context's error
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("capbroker: %s on pool %q: %v", e.Op, e.Pool, e.Err)
}

func (e *WaitError) Unwrap() error { return e.Err }

func (e *WaitError) Is(target error) bool {
	return target == ErrTimeout && e.Err == context.DeadlineExceeded
}

// newError builds the error of C function op returning r < 0 with the
// library's message msg; -EAGAIN becomes an *OverLimitError.
func newError(op string, r int, msg string, retry time.Duration) error {
	if msg == "" {
		msg = strerror(r)
	}
	e := &Error{Op: op, Errno: syscall.Errno(-r), Msg: msg}
	if e.Errno == syscall.EAGAIN {
		return &OverLimitError{RetryAfter: retry, Err: e}
	}
	return e
}
