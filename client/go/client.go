package capbroker

/*
#include <stdlib.h>
#include "gocb.h"
*/
import "C"

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// waitSlice bounds every blocking C call made for a cancellable
// context by a wait the C library cannot end from another thread
// (Watch: cb_watch; PickWorker: cb_pick_worker): the binding checks
// ctx.Done() between slices, so a cancelled or expired wait returns
// within waitSlice (plus a scheduler wake-up) of the context ending.
// A context that can never end (Done() == nil, context.Background())
// waits in one C call without a limit instead.  Queue waits (Hold,
// Waiter.Wait) wait in one cb_wait, ended by cb_wait_cancel.
const waitSlice = 50 * time.Millisecond

// Source is the tier that produced the capacity (enum cb_source).
type Source int

// The tiers, as capbrokerd(8) describes them.
const (
	SourceOverride Source = C.CB_SOURCE_OVERRIDE // operator-pinned value
	SourceReported Source = C.CB_SOURCE_REPORTED // every ready worker reports
	SourceMixed    Source = C.CB_SOURCE_MIXED    // some or no ready workers report
	SourceFallback Source = C.CB_SOURCE_FALLBACK // no ready worker: legacy maximum
)

// String is "override", "reported", "mixed", "fallback" or "unknown".
func (s Source) String() string { return sourceName(int(s)) }

// The state word's flags (State.Flags).
const (
	StateStopping = C.CB_STATE_F_STOPPING // the broker shut down cleanly
	StateRetired  = C.CB_STATE_F_RETIRED  // segment replaced: reopen
)

// State is one load of the state word: its fields always belong
// together (capacity and source are never seen torn).
type State struct {
	Capacity   uint32
	Source     Source
	Flags      uint8
	Generation uint32
}

// Stopping: the broker shut down cleanly (Capacity is its last one).
func (s State) Stopping() bool { return s.Flags&StateStopping != 0 }

// Retired: the segment was replaced; open a new Client.
func (s State) Retired() bool { return s.Flags&StateRetired != 0 }

// decodeState splits a word as capbroker.h's CB_STATE_*() macros do.
func decodeState(w uint64) State {
	return State{
		Capacity:   uint32(w & 0xffff),
		Source:     Source((w >> 16) & 0xff),
		Flags:      uint8((w >> 24) & 0xff),
		Generation: uint32(w >> 32),
	}
}

// Client is a handle on a broker instance (cb_open).  Its methods may
// be called from many goroutines at once, except Close, which must not
// race with any other call on the Client or on what it made (Pools,
// Holds, Launches, Waiters).
type Client struct {
	h    *C.cb_client
	word *uint64 // the state word, in the read-only mapping
	gen  uint32  // atomic: the generation Watch last returned
}

// Open attaches to broker instance name ("" = "default") and registers
// with it, so the holds of this process are undone if it dies.
func Open(name string) (*Client, error) { return open(name, 0) }

// OpenReadOnly maps the segments read-only: Current, State, Watch and
// pool info work (also outside the broker's group or PID namespace),
// reservations fail with ErrPermission.
func OpenReadOnly(name string) (*Client, error) {
	return open(name, C.CB_OPEN_RDONLY)
}

func open(name string, flags C.uint) (*Client, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	o := getOut()
	defer putOut(o)
	var h *C.cb_client
	if r := C.gocb_open(&h, cname, flags, o); r < 0 {
		return nil, o.fail("cb_open", r)
	}
	return &Client{
		h:    h,
		word: (*uint64)(unsafe.Pointer(C.cb_state_word(h))),
	}, nil
}

// Close detaches (cb_close): the holds still open are released and the
// waiters leave their queues.  Later calls return ErrClosed; Close
// must not race with any other call on c.  A second Close is a no-op.
func (c *Client) Close() error {
	if c.h != nil {
		C.cb_close(c.h)
		c.h = nil
		c.word = nil
	}
	return nil
}

func (c *Client) handle() (*C.cb_client, error) {
	if c.h == nil {
		return nil, ErrClosed
	}
	return c.h, nil
}

// Name is the instance name (cb_name), "" after Close.
func (c *Client) Name() string {
	if c.h == nil {
		return ""
	}
	return C.GoString(C.cb_name(c.h))
}

// Current is the current capacity: one acquire load (cb_current); 0
// after Close.
func (c *Client) Current() uint32 {
	if c.h == nil {
		return 0
	}
	return uint32(C.cb_current(c.h))
}

// Source is the tier that produced the current capacity (cb_source).
// Current and Source are two loads: use State for a pair that belongs
// together.
func (c *Client) Source() Source {
	if c.h == nil {
		return Source(-1)
	}
	return Source(C.cb_source(c.h))
}

// State reads the state word once, with no cgo call: an atomic load of
// the word at cb_state_word(), whose address is stable for the life of
// the handle.  atomic.LoadUint64 is at least an acquire load, so it
// pairs with the broker's release store of the word as cb_state_load()
// does.  The zero State after Close.
func (c *Client) State() State {
	if c.word == nil {
		return State{}
	}
	return decodeState(atomic.LoadUint64(c.word))
}

// Watch waits for a published change and returns its generation
// (cb_watch).  It waits for a generation other than the one Watch last
// returned on this Client, so the first call returns at once with the
// current one and a late subscriber never misses the latest state.
// Goroutines that watch independently should use WatchFrom with their
// own generation.  Returns ctx.Err() once ctx ends, within waitSlice
// (50 ms).
func (c *Client) Watch(ctx context.Context) (uint32, error) {
	gen, err := c.WatchFrom(ctx, atomic.LoadUint32(&c.gen))
	if err == nil {
		atomic.StoreUint32(&c.gen, gen)
	}
	return gen, err
}

// WatchFrom waits until the published generation differs from gen and
// returns it; gen 0 returns at once with the latest.  Returns ctx.Err()
// once ctx ends, within waitSlice (50 ms).
func (c *Client) WatchFrom(ctx context.Context, gen uint32) (uint32, error) {
	h, err := c.handle()
	if err != nil {
		return 0, err
	}
	o := getOut()
	defer putOut(o)
	g := C.uint32_t(gen)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		r := C.gocb_watch(h, &g, sliceMs(ctx), o)
		if r == 0 {
			return uint32(g), nil
		}
		if r != -C.int(syscall.ETIMEDOUT) {
			return 0, o.fail("cb_watch", r)
		}
	}
}

// sliceMs is the timeout of the next blocking C call made for ctx: -1
// (no limit) if ctx can never end, else waitSlice or the time left to
// its deadline if shorter, in whole milliseconds rounded up (never 0,
// which would mean "do not wait").
func sliceMs(ctx context.Context) C.int {
	if ctx.Done() == nil {
		return -1
	}
	d := waitSlice
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms < 1 {
		ms = 1
	}
	return C.int(ms)
}

// deadlineMs is the timeout of a cb_wait made for ctx, which
// cb_wait_cancel ends when ctx is cancelled: -1 (no limit) if ctx has
// no deadline, else the time left to it in whole milliseconds rounded
// up (never 0, which would mean "do not wait"), at most maxWaitMs
// (the caller waits again after a -ETIMEDOUT before the deadline).
func deadlineMs(ctx context.Context) C.int {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	ms := (time.Until(dl) + time.Millisecond - 1) / time.Millisecond
	if ms < 1 {
		ms = 1
	}
	if ms > maxWaitMs {
		ms = maxWaitMs
	}
	return C.int(ms)
}

// maxWaitMs bounds one cb_wait's timeout well inside a C int.
const maxWaitMs = 1 << 30

// CheckBroker says whether the broker is alive (cb_broker_check): nil;
// ErrBrokerGone (stopped, or its process is gone); ErrTimeout (stale
// heartbeat: hung or stopped); ErrProtocol (segment retired).
// Reservations keep working while the broker is down.
func (c *Client) CheckBroker() error {
	h, err := c.handle()
	if err != nil {
		return err
	}
	o := getOut()
	defer putOut(o)
	if r := C.gocb_broker_check(h, o); r < 0 {
		return o.fail("cb_broker_check", r)
	}
	return nil
}

// Pool resolves the pool name ("" or "default" is pool 0) (cb_pool):
// ErrNotFound if the broker has no such pool.
func (c *Client) Pool(name string) (*Pool, error) {
	h, err := c.handle()
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = "default"
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	o := getOut()
	defer putOut(o)
	r := C.gocb_pool(h, cname, o)
	if r < 0 {
		return nil, o.fail("cb_pool", r)
	}
	return &Pool{client: c, index: int(r), name: name}, nil
}

// WorkerInflight is the number of holds in flight bound to worker id
// (cb_worker_inflight): ErrNotFound if there is no such worker.
func (c *Client) WorkerInflight(id string) (int, error) {
	h, err := c.handle()
	if err != nil {
		return 0, err
	}
	cid := C.CString(id)
	defer C.free(unsafe.Pointer(cid))
	o := getOut()
	defer putOut(o)
	r := C.gocb_worker_inflight(h, cid, o)
	if r < 0 {
		return 0, o.fail("cb_worker_inflight", r)
	}
	return int(r), nil
}

// ReleaseTicket releases a launch by its ticket, which any process may
// do (cb_release): e.g. one parsed from another process's text.
// ErrStale if it was released or expired already.
func (c *Client) ReleaseTicket(t Ticket) error {
	h, err := c.handle()
	if err != nil {
		return err
	}
	o := getOut()
	defer putOut(o)
	if r := C.gocb_release(h, &t.t, o); r < 0 {
		return o.fail("cb_release", r)
	}
	return nil
}
