package capbroker

/*
#include <stdlib.h>
#include "gocb.h"
*/
import "C"

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Pool is a named limit of a broker (cb_pool), from Client.Pool.  A
// Pool is immutable and safe for concurrent use; WithPriority gives a
// view of it that reserves at another priority.
type Pool struct {
	client   *Client
	index    int
	name     string
	priority int
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Index is the pool's cb_pool() index (0 = default).
func (p *Pool) Index() int { return p.index }

// Priority is the priority this view reserves at (default 0).
func (p *Pool) Priority() int { return p.priority }

// WithPriority returns a view of p whose reservations and waits are
// served at priority n: blocked reservers are served higher priority
// first, in arrival order within a priority.
func (p *Pool) WithPriority(n int) *Pool {
	q := *p
	q.priority = n
	return &q
}

// PoolInfo is struct cb_pool_info: a pool's limit and usage, each
// counter read atomically on its own.
type PoolInfo struct {
	Name      string
	Limit     uint32 // current limit
	Observed  uint32 // published observation (launch admission)
	Held      uint32 // active holds
	Launching uint32 // active launch reservations
	WindowMs  uint32 // launch visibility window
}

// Info reads the pool's limit and counters (cb_pool_info).
func (p *Pool) Info() (PoolInfo, error) {
	h, err := p.client.handle()
	if err != nil {
		return PoolInfo{}, err
	}
	o := getOut()
	defer putOut(o)
	var ci C.struct_cb_pool_info
	if r := C.gocb_pool_info(h, C.int(p.index), &ci, o); r < 0 {
		return PoolInfo{}, o.fail("cb_pool_info", r)
	}
	return PoolInfo{
		Name:      C.GoString(&ci.name[0]),
		Limit:     uint32(ci.limit),
		Observed:  uint32(ci.observed),
		Held:      uint32(ci.held),
		Launching: uint32(ci.launching),
		WindowMs:  uint32(ci.window_ms),
	}, nil
}

func (p *Pool) request(kind C.int, observed uint32, timeoutMs C.int) C.struct_cb_request {
	return C.struct_cb_request{
		pool:       C.int(p.index),
		kind:       kind,
		observed:   C.uint32_t(observed),
		timeout_ms: timeoutMs,
		priority:   C.int(p.priority),
	}
}

// reserve is one cb_reserve call.
func (p *Pool) reserve(kind C.int, observed uint32, timeoutMs C.int) (C.cb_ticket, error) {
	h, err := p.client.handle()
	if err != nil {
		return C.cb_ticket{}, err
	}
	o := getOut()
	defer putOut(o)
	o.req = p.request(kind, observed, timeoutMs)
	if r := C.gocb_reserve(h, &o.req, o); r < 0 {
		return C.cb_ticket{}, o.fail("cb_reserve", r)
	}
	return o.ticket, nil
}

// TryHold reserves one in-flight unit (CB_HOLD) or fails at once: an
// *OverLimitError (errors.Is ErrOverLimit, with RetryAfter) when the
// pool is at its limit or a waiter of this priority or higher is
// queued (no barging past the queue).
func (p *Pool) TryHold() (*Hold, error) {
	t, err := p.reserve(C.CB_HOLD, 0, 0)
	if err != nil {
		return nil, err
	}
	return &Hold{reservation{pool: p, ticket: t}, ""}, nil
}

// Hold reserves one in-flight unit (CB_HOLD), waiting in the pool's
// fair queue until admitted or until ctx ends.  An uncontended pool
// admits it without queueing (TryHold's path); otherwise it takes a
// place in the queue (cb_enqueue) and waits there (one cb_wait, ended
// by cb_wait_cancel when ctx ends: Waiter.Wait).  When ctx ends first the waiter
// leaves the queue (cb_dequeue), so it never holds up those behind
// it, and Hold returns a *WaitError: errors.Is(err, ctx.Err()) holds,
// and errors.Is(err, ErrTimeout) when the deadline passed.
//
// Release the Hold when done (defer h.Release()); if the process dies
// the broker undoes it.
func (p *Pool) Hold(ctx context.Context) (*Hold, error) {
	if err := ctx.Err(); err != nil {
		return nil, &WaitError{Op: "hold", Pool: p.name, Err: err}
	}
	h, err := p.TryHold()
	if err == nil || !isErrno(err, syscall.EAGAIN) {
		return h, err
	}
	w, err := p.Enqueue(p.priority)
	if err != nil {
		return nil, err
	}
	h, err = w.Wait(ctx)
	if err != nil {
		// Not admitted: leave (a no-op if the wait already left).
		_ = w.Dequeue()
		if we, ok := err.(*WaitError); ok {
			we.Op = "hold"
		}
	}
	return h, err
}

func isErrno(err error, n syscall.Errno) bool {
	switch e := err.(type) {
	case *Error:
		return e.Errno == n
	case *OverLimitError:
		return e.Err.Errno == n
	}
	return false
}

// Launch reserves one fleet launch (CB_LAUNCH), failing fast: admitted
// iff max(observed, the pool's published observation) + launching +
// held + 1 <= limit, else an *OverLimitError whose RetryAfter is the
// earliest launch deadline.  The reservation outlives this process; it
// ends when released (the launch failed) or when the pool's visibility
// window passes.
func (p *Pool) Launch(observed uint32) (*Launch, error) {
	t, err := p.reserve(C.CB_LAUNCH, observed, 0)
	if err != nil {
		return nil, err
	}
	return &Launch{reservation{pool: p, ticket: t}}, nil
}

// Enqueue takes a place at the back of priority in the pool's fair
// queue (cb_enqueue), for a hold.  See Waiter.
func (p *Pool) Enqueue(priority int) (*Waiter, error) {
	h, err := p.client.handle()
	if err != nil {
		return nil, err
	}
	o := getOut()
	defer putOut(o)
	w := &Waiter{pool: p.WithPriority(priority)}
	o.req = w.pool.request(C.CB_HOLD, 0, -1)
	if r := C.gocb_enqueue(h, &o.req, &w.w, o); r < 0 {
		return nil, o.fail("cb_enqueue", r)
	}
	return w, nil
}

// Waiter is a place in a pool's fair queue (Pool.Enqueue).  Waiters
// are served by priority, higher first, then in arrival order, across
// processes and languages.  Position may be called from any goroutine
// at any time; Wait keeps the place when its context ends, so a
// caller can wait in steps and report the position in between; Dequeue
// gives the place up.  Wait and Dequeue are serialised on a Waiter: a
// Dequeue waits for a Wait in progress to return (end that Wait
// through its context).
type Waiter struct {
	pool *Pool
	mu   sync.Mutex  // serialises Wait and Dequeue (cb_wait, cb_dequeue)
	w    C.cb_waiter // C reads and writes it only during a call
	done bool        // under mu: admitted or left the queue
}

// Position is the number of live waiters ahead (cb_queue_position):
// 0 = next to be admitted.  ErrStale once admitted or dequeued.
func (w *Waiter) Position() (int, error) {
	h, err := w.pool.client.handle()
	if err != nil {
		return 0, err
	}
	o := getOut()
	defer putOut(o)
	r := C.gocb_queue_position(h, &w.w, o)
	if r < 0 {
		return 0, o.fail("cb_queue_position", r)
	}
	return int(r), nil
}

// Wait waits in the queue until admitted (cb_wait) and returns the
// Hold, in one cb_wait call up to ctx's deadline; a goroutine ends it
// (cb_wait_cancel) when ctx is cancelled.  When ctx ends first it
// returns a *WaitError (errors.Is(err, ctx.Err())) at once (a wake-up)
// and the waiter KEEPS its place:
// call Wait again, or Dequeue.  Other errors (ErrStale: no longer
// queued; ErrProtocol: segment retired) mean it has left the queue.
func (w *Waiter) Wait(ctx context.Context) (*Hold, error) {
	h, err := w.pool.client.handle()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil, &Error{Op: "cb_wait", Errno: syscall.ESTALE,
			Msg: "the waiter was admitted or left the queue"}
	}
	o := getOut()
	defer putOut(o)
	for {
		if err := ctx.Err(); err != nil {
			return nil, &WaitError{Op: "wait", Pool: w.pool.name,
				RetryAfter: o.retryAfter(), Err: err}
		}
		stop := w.cancelOnDone(ctx, h)
		r := C.gocb_wait(h, &w.w, deadlineMs(ctx), o)
		stop()
		// ECANCELED (ctx ended: the watcher cancelled the wait; or a
		// cancel that came just after the previous wait returned),
		// EINTR (a signal handler ran on this thread: Go's runtime
		// sends some) and ETIMEDOUT keep the place: look at ctx, and
		// wait again if it has not ended.
		switch {
		case r == 0:
			w.done = true
			return &Hold{reservation{pool: w.pool, ticket: o.ticket}, ""}, nil
		case r == -C.int(syscall.ECANCELED),
			r == -C.int(syscall.ETIMEDOUT), r == -C.int(syscall.EINTR):
			continue
		}
		w.done = true
		return nil, o.fail("cb_wait", r)
	}
}

// cancelOnDone starts a watcher that ends the coming cb_wait on w
// (cb_wait_cancel) when ctx ends, and returns the function that stops
// it once the wait returned: stop returns after the watcher exited, so
// no watcher outlives its Wait and none cancels a later wait.  A
// cancel that lands between cb_wait's return and stop is consumed by
// the next cb_wait on w, which Wait's loop retries.  Nothing to watch
// (and no goroutine) when ctx can never end.
func (w *Waiter) cancelOnDone(ctx context.Context, h *C.cb_client) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			C.gocb_wait_cancel(h, &w.w)
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// Dequeue gives up the place (cb_dequeue); the waiter behind, if now
// the head, is woken.  A no-op once admitted or dequeued.
func (w *Waiter) Dequeue() error {
	h, err := w.pool.client.handle()
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	o := getOut()
	defer putOut(o)
	if r := C.gocb_dequeue(h, &w.w, o); r < 0 && r != -C.int(syscall.ESTALE) {
		return o.fail("cb_dequeue", r)
	}
	return nil
}

// Placement is a worker placement policy (enum cb_placement); equal
// scores go to the worker whose id sorts first.
type Placement int

const (
	// Consolidate picks the busiest ready worker with room.
	Consolidate Placement = C.CB_PLACE_CONSOLIDATE
	// Spread picks the highest (limit - in flight) / limit.
	Spread Placement = C.CB_PLACE_SPREAD
	// LeastLoaded picks the fewest holds in flight.
	LeastLoaded Placement = C.CB_PLACE_LEAST_LOADED
)

// String is "consolidate", "spread", "least_loaded" or "unknown".
func (pl Placement) String() string { return placementName(int(pl)) }

// TryPickWorker is PickWorker failing fast: an *OverLimitError when
// the pool is at its limit or no ready worker has room, ErrNotFound
// when no worker is ready at all.
func (p *Pool) TryPickWorker(pl Placement) (*Hold, error) {
	h, _, err := p.pick(pl, 0)
	return h, err
}

// PickWorker holds one unit of the pool AND one slot on a ready worker
// chosen by pl, in one step (cb_pick_worker); Hold.Worker names it and
// Release frees both.  It waits for room (in the pool and on a ready
// worker) until ctx ends, then returns a *WaitError as Hold does.
// Pickers wait on the pool's pickers word, not in the fair queue, so
// waiting in slices gives up no place.  ErrNotFound: no ready worker.
func (p *Pool) PickWorker(ctx context.Context, pl Placement) (*Hold, error) {
	var retry WaitError
	for {
		if err := ctx.Err(); err != nil {
			retry.Op, retry.Pool, retry.Err = "pick worker", p.name, err
			return nil, &retry
		}
		h, hint, err := p.pick(pl, sliceMs(ctx))
		if err == nil || !(isErrno(err, syscall.ETIMEDOUT) ||
			isErrno(err, syscall.EINTR)) {
			return h, err
		}
		retry.RetryAfter = hint
	}
}

// pick is one cb_pick_worker call; the retry-after hint goes with a
// failure.
func (p *Pool) pick(pl Placement, timeoutMs C.int) (*Hold, time.Duration, error) {
	h, err := p.client.handle()
	if err != nil {
		return nil, 0, err
	}
	o := getOut()
	defer putOut(o)
	o.req = p.request(C.CB_HOLD, 0, timeoutMs)
	if r := C.gocb_pick_worker(h, &o.req, C.int(pl), o); r < 0 {
		return nil, o.retryAfter(), o.fail("cb_pick_worker", r)
	}
	return &Hold{reservation{pool: p, ticket: o.ticket},
		C.GoString(&o.worker[0])}, 0, nil
}

// reservation is a ticket of a pool, released at most once through
// this object.
type reservation struct {
	pool     *Pool
	ticket   C.cb_ticket
	released uint32 // atomic: 1 once a Release was made
}

// Release frees the unit (cb_release); safe from any goroutine.  A
// second Release returns an error matching ErrStale without calling
// the library; ErrStale also when the broker already reclaimed or
// expired it.
func (r *reservation) Release() error {
	if !atomic.CompareAndSwapUint32(&r.released, 0, 1) {
		return &Error{Op: "cb_release", Errno: syscall.ESTALE,
			Msg: "already released through this object"}
	}
	h, err := r.pool.client.handle()
	if err != nil {
		return err
	}
	o := getOut()
	defer putOut(o)
	if rc := C.gocb_release(h, &r.ticket, o); rc < 0 {
		return o.fail("cb_release", rc)
	}
	return nil
}

// Pool is the pool the reservation counts against.
func (r *reservation) Pool() *Pool { return r.pool }

// Ticket is the reservation's ticket.
func (r *reservation) Ticket() Ticket { return Ticket{r.ticket} }

// Hold is one in-flight unit of a pool (TryHold, Hold, Waiter.Wait,
// PickWorker).  Only the Client that took it can release it; any
// goroutine may (a release on another OS thread than the hold's takes
// the library's slower foreign-release path, see the package doc).
type Hold struct {
	reservation
	worker string
}

// Worker names the worker a PickWorker hold is bound to ("" for a
// plain hold).
func (h *Hold) Worker() string { return h.worker }

// Launch is a launch reservation (Pool.Launch).  Any process holding
// its ticket may release it (Client.ReleaseTicket).
type Launch struct {
	reservation
}

// String is the ticket as text (Ticket().String()).
func (l *Launch) String() string { return l.Ticket().String() }

// Ticket identifies a reservation; its text (String, ParseTicket)
// passes a launch between processes, as capctl launch/release do.
type Ticket struct {
	t C.cb_ticket
}

// String formats the ticket (cb_ticket_format).
func (t Ticket) String() string {
	var buf [C.CB_TICKET_STRLEN]C.char
	if C.cb_ticket_format(&t.t, &buf[0], C.ulong(len(buf))) < 0 {
		return "invalid-ticket"
	}
	return C.GoString(&buf[0])
}

// ParseTicket reads a ticket's text (cb_ticket_parse): ErrInvalid if
// it is not one.
func ParseTicket(s string) (Ticket, error) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var t Ticket
	if r := C.cb_ticket_parse(cs, &t.t); r < 0 {
		return Ticket{}, newError("cb_ticket_parse", int(r),
			"not a ticket: "+s, 0)
	}
	return t, nil
}
