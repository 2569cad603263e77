package capbroker

import (
	"capbroker/internal/testbroker"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// openClient is Open(b.Name), closed at the end of the test.
func openClient(t *testing.T, b *testbroker.Broker) *Client {
	t.Helper()
	c, err := Open(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func pool(t *testing.T, c *Client, name string) *Pool {
	t.Helper()
	p, err := c.Pool(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func info(t *testing.T, p *Pool) PoolInfo {
	t.Helper()
	i, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func position(t *testing.T, w *Waiter) int {
	t.Helper()
	n, err := w.Position()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPoolNotFoundKeepsTheMessage(t *testing.T) {
	b := testbroker.Start(t)
	c := openClient(t, b)
	_, err := c.Pool("nosuchpool")
	var e *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &e) ||
		e.Op != "cb_pool" || !strings.Contains(e.Msg, "nosuchpool") ||
		!strings.Contains(err.Error(), "nosuchpool") {
		t.Fatalf("Pool(nosuchpool): %v", err)
	}
	if p := pool(t, c, ""); p.Index() != 0 || info(t, p).Name != "default" {
		t.Fatalf("default pool: %d %+v", p.Index(), info(t, p))
	}
}

func TestOverLimitCarriesRetryAfter(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "gw", "--limit", "2")
	c := openClient(t, b)
	gw := pool(t, c, "gw")
	if i := info(t, gw); i.Limit != 2 || i.Held != 0 {
		t.Fatalf("new pool: %+v", i)
	}
	h1, err := gw.TryHold()
	if err != nil {
		t.Fatal(err)
	}
	h2, err := gw.Hold(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info(t, gw).Held != 2 {
		t.Fatalf("two holds: %+v", info(t, gw))
	}
	_, err = gw.TryHold()
	var ole *OverLimitError
	if !errors.Is(err, ErrOverLimit) || !errors.Is(err, syscall.EAGAIN) ||
		!errors.As(err, &ole) {
		t.Fatalf("third TryHold: %v, want an *OverLimitError", err)
	}
	if ole.RetryAfter <= 0 || ole.Err.Msg == "" || ole.Err.Op != "cb_reserve" ||
		!strings.Contains(err.Error(), ole.Err.Msg) {
		t.Fatalf("over limit: %+v %+v", ole, ole.Err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Fatalf("%v is not a timeout", err)
	}
	if h1.Ticket() == h2.Ticket() || h1.Worker() != "" {
		t.Fatalf("tickets %v %v, worker %q", h1.Ticket(), h2.Ticket(), h1.Worker())
	}
	if err := h1.Release(); err != nil {
		t.Fatal(err)
	}
	if err := h2.Release(); err != nil {
		t.Fatal(err)
	}
	if info(t, gw).Held != 0 {
		t.Fatalf("released: %+v", info(t, gw))
	}
}

func TestDoubleReleaseIsStale(t *testing.T) {
	b := testbroker.Start(t)
	c := openClient(t, b)
	h, err := pool(t, c, "").TryHold()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	if err := h.Release(); !errors.Is(err, ErrStale) ||
		!errors.Is(err, syscall.ESTALE) {
		t.Fatalf("second Release: %v, want ErrStale", err)
	}
	// The library says so too, for a ticket released elsewhere.
	if err := c.ReleaseTicket(h.Ticket()); !errors.Is(err, ErrStale) {
		t.Fatalf("cb_release of a released ticket: %v, want ErrStale", err)
	}
	if info(t, pool(t, c, "")).Held != 0 {
		t.Fatal("held after release")
	}
}

// expiringCtx is a context whose deadline passes when the test says
// so: context.WithDeadline's behaviour at the instant its timer fires,
// with the instant chosen by the test rather than the clock.
type expiringCtx struct {
	context.Context
	done chan struct{}
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{context.Background(), make(chan struct{})}
}

func (c *expiringCtx) Deadline() (time.Time, bool) {
	return time.Now().Add(time.Hour), true
}
func (c *expiringCtx) Done() <-chan struct{} { return c.done }
func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
func (c *expiringCtx) expire() { close(c.done) }

// A Hold whose context ends leaves the queue: the waiter behind it
// moves up, and the broker shows no waiter of its left.
func TestHoldLeavesTheQueueWhenItsContextEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, func())
		want error
	}{
		{"cancel", func() (context.Context, func()) {
			return context.WithCancel(context.Background())
		}, context.Canceled},
		{"deadline", func() (context.Context, func()) {
			ctx := newExpiringCtx()
			return ctx, ctx.expire
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testbroker.Start(t)
			b.Ctl("pool", "set", "q", "--limit", "1")
			c := openClient(t, b)
			q := pool(t, c, "q")
			first, err := q.TryHold()
			if err != nil {
				t.Fatal(err)
			}
			// next queues first, at priority 0; the Hold at
			// priority 5 goes ahead of it, and we see it there.
			next, err := q.Enqueue(0)
			if err != nil {
				t.Fatal(err)
			}
			ctx, end := tc.ctx()
			done := make(chan error, 1)
			go func() {
				h, err := q.WithPriority(5).Hold(ctx)
				if h != nil {
					t.Error("admitted with the pool full")
				}
				done <- err
			}()
			testbroker.Eventually(t, "the Hold queued ahead",
				func() bool { return position(t, next) == 1 })
			if n := b.Waiting("q"); n != 2 {
				t.Fatalf("capdump: %d waiting, want 2", n)
			}
			end()
			err = <-done
			var we *WaitError
			if !errors.Is(err, tc.want) || !errors.As(err, &we) ||
				we.Op != "hold" || we.Pool != "q" {
				t.Fatalf("Hold: %v, want %v", err, tc.want)
			}
			if errors.Is(err, ErrTimeout) != (tc.want == context.DeadlineExceeded) {
				t.Fatalf("Hold: %v: ErrTimeout iff the deadline passed", err)
			}
			if n := position(t, next); n != 0 {
				t.Fatalf("the waiter behind is at %d, want 0", n)
			}
			if n := b.Waiting("q"); n != 1 {
				t.Fatalf("capdump: %d waiting, want only the one behind", n)
			}
			if err := next.Dequeue(); err != nil {
				t.Fatal(err)
			}
			if n := b.Waiting("q"); n != 0 || info(t, q).Held != 1 {
				t.Fatalf("capdump: %d waiting, %+v", n, info(t, q))
			}
			first.Release()
		})
	}
}

// A Waiter's Wait whose context is cancelled ends in one cb_wait,
// long before its deadline (an hour), through cb_wait_cancel: the
// waiter keeps its place (same position), no refusal is counted (a
// wait in 50 ms slices counted one per slice: the 200 ms the wait is
// left running make that at least three), and the next Wait admits.
// Run a few times, so the cancel lands before cb_wait as well as in it.
func TestWaiterWaitCancelledKeepsItsPlace(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "q", "--limit", "1")
	c := openClient(t, b)
	q := pool(t, c, "q")
	first, err := q.TryHold()
	if err != nil {
		t.Fatal(err)
	}
	head, err := q.Enqueue(0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := q.Enqueue(0)
	if err != nil {
		t.Fatal(err)
	}
	rejected := b.Rejected("q")
	for i, pause := range []time.Duration{0, time.Millisecond, 200 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		done := make(chan error, 1)
		go func() {
			h, err := w.Wait(ctx)
			if h != nil {
				t.Error("admitted with the pool full")
			}
			done <- err
		}()
		time.Sleep(pause)
		cancel()
		err := <-done
		var we *WaitError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &we) ||
			we.Op != "wait" || errors.Is(err, ErrTimeout) {
			t.Fatalf("round %d: Wait: %v, want a *WaitError of context.Canceled", i, err)
		}
		if n := position(t, w); n != 1 {
			t.Fatalf("round %d: position %d after the cancel, want 1", i, n)
		}
	}
	if n := b.Rejected("q"); n != rejected {
		t.Fatalf("rejected went from %d to %d: the wait was sliced", rejected, n)
	}
	if n := b.Waiting("q"); n != 2 {
		t.Fatalf("capdump: %d waiting, want 2", n)
	}
	if err := head.Dequeue(); err != nil {
		t.Fatal(err)
	}
	first.Release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := w.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait after the cancels: %v", err)
	}
	h.Release()
}

// A real deadline, from context.WithTimeout, on a full pool.
func TestHoldDeadlineTimesOut(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "one", "--limit", "1")
	c := openClient(t, b)
	one := pool(t, c, "one")
	first, err := one.TryHold()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = one.Hold(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) ||
		!errors.Is(err, ctx.Err()) {
		t.Fatalf("Hold past its deadline: %v", err)
	}
	if n := b.Waiting("one"); n != 0 {
		t.Fatalf("capdump: %d waiting after the deadline", n)
	}
	if _, err := one.Hold(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hold with an expired context: %v", err)
	}
}

// A Hold blocked in the queue is admitted by a release made in another
// goroutine.
func TestHoldWaitsForARelease(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "one", "--limit", "1")
	c := openClient(t, b)
	one := pool(t, c, "one")
	taken := make(chan *Hold)
	go func() {
		h, err := one.TryHold()
		if err != nil {
			t.Error(err)
		}
		taken <- h
	}()
	first := <-taken
	done := make(chan *Hold, 1)
	go func() {
		h, err := one.Hold(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- h
	}()
	testbroker.Eventually(t, "the Hold queued", func() bool { return b.Waiting("one") == 1 })
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	h := <-done
	if h == nil || info(t, one).Held != 1 || b.Waiting("one") != 0 {
		t.Fatalf("after the release: %v %+v", h, info(t, one))
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestEnqueueServesPriorityThenArrival(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "q", "--limit", "1")
	c := openClient(t, b)
	q := pool(t, c, "q")
	first, err := q.TryHold()
	if err != nil {
		t.Fatal(err)
	}
	var ws [3]*Waiter
	for i, prio := range []int{0, 0, 5} { // lowA, lowB, high
		if ws[i], err = q.Enqueue(prio); err != nil {
			t.Fatal(err)
		}
	}
	lowA, lowB, high := ws[0], ws[1], ws[2]
	if p := [3]int{position(t, high), position(t, lowA), position(t, lowB)}; p != [3]int{0, 1, 2} {
		t.Fatalf("positions high, lowA, lowB = %v, want 0 1 2", p)
	}
	// Full: the wait ends with its context and keeps the place.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = high.Wait(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || position(t, high) != 0 {
		t.Fatalf("Wait on a full pool: %v", err)
	}
	if _, err := q.TryHold(); !errors.Is(err, ErrOverLimit) {
		t.Fatalf("TryHold past the queue: %v, want ErrOverLimit", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*Waiter{high, lowA, lowB} {
		if position(t, w) != 0 {
			t.Fatalf("next waiter at %d", position(t, w))
		}
		h, err := w.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info(t, q).Held != 1 {
			t.Fatalf("admitted: %+v", info(t, q))
		}
		if err := h.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lowB.Position(); !errors.Is(err, ErrStale) {
		t.Fatalf("Position once admitted: %v, want ErrStale", err)
	}
	if _, err := lowB.Wait(context.Background()); !errors.Is(err, ErrStale) {
		t.Fatalf("Wait once admitted: %v, want ErrStale", err)
	}
	if err := lowB.Dequeue(); err != nil {
		t.Fatalf("Dequeue once admitted: %v", err)
	}
}

func TestLaunchAndTicketText(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "fleet", "--limit", "3", "--window", "60")
	c := openClient(t, b)
	fleet := pool(t, c, "fleet")
	l1, err := fleet.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := fleet.Launch(1)
	if err != nil {
		t.Fatal(err)
	}
	if i := info(t, fleet); i.Launching != 2 || i.WindowMs != 60000 || i.Held != 0 {
		t.Fatalf("two launches: %+v", i)
	}
	// observed 1 + 2 launching + 1 > 3.
	_, err = fleet.Launch(1)
	var ole *OverLimitError
	if !errors.As(err, &ole) || ole.RetryAfter < 50*time.Second ||
		ole.RetryAfter > 60*time.Second {
		t.Fatalf("third launch: %v, want a hint of about one window", err)
	}
	if err := l1.Release(); err != nil || info(t, fleet).Launching != 1 {
		t.Fatalf("release: %v %+v", err, info(t, fleet))
	}
	// Another handle releases by the ticket's text.
	text := l2.String()
	tk, err := ParseTicket(text)
	if err != nil || tk.String() != text || tk != l2.Ticket() {
		t.Fatalf("ParseTicket(%q) = %v, %v", text, tk, err)
	}
	other := openClient(t, b)
	if err := other.ReleaseTicket(tk); err != nil || info(t, fleet).Launching != 0 {
		t.Fatalf("ReleaseTicket: %v %+v", err, info(t, fleet))
	}
	if err := c.ReleaseTicket(tk); !errors.Is(err, ErrStale) {
		t.Fatalf("second ReleaseTicket: %v, want ErrStale", err)
	}
	if _, err := ParseTicket("not-a-ticket"); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "not-a-ticket") {
		t.Fatalf("ParseTicket(garbage): %v, want ErrInvalid", err)
	}
	// A ticket capctl printed, released here.
	out := strings.Fields(b.Ctl("launch", "--pool", "fleet"))
	if len(out) == 0 {
		t.Fatal("capctl launch printed nothing")
	}
	tk, err = ParseTicket(out[len(out)-1])
	if err != nil || info(t, fleet).Launching != 1 {
		t.Fatalf("capctl's ticket %q: %v", out, err)
	}
	if err := c.ReleaseTicket(tk); err != nil || info(t, fleet).Launching != 0 {
		t.Fatalf("release of capctl's ticket: %v", err)
	}
}

func TestPickWorker(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("worker", "set", "a", "--state", "ready", "--max-running", "2")
	b.Ctl("worker", "set", "b", "--state", "ready", "--max-running", "1")
	b.Ctl("pool", "set", "gw", "--limit", "10")
	c := openClient(t, b)
	gw := pool(t, c, "gw")
	for _, tc := range []struct {
		pl   Placement
		name string
		want string
	}{
		// Ties go to the id that sorts first.
		{LeastLoaded, "least_loaded", "aba"},
		{Consolidate, "consolidate", "aab"},
		{Spread, "spread", "aba"},
	} {
		if tc.pl.String() != tc.name {
			t.Fatalf("Placement %d is %q, want %q", tc.pl, tc.pl, tc.name)
		}
		var holds []*Hold
		got := ""
		for i := 0; i < 3; i++ {
			h, err := gw.PickWorker(context.Background(), tc.pl)
			if err != nil {
				t.Fatalf("%v: %v", tc.pl, err)
			}
			holds = append(holds, h)
			got += h.Worker()
		}
		if got != tc.want {
			t.Fatalf("%v picked %s, want %s", tc.pl, got, tc.want)
		}
		na, _ := c.WorkerInflight("a")
		nb, _ := c.WorkerInflight("b")
		if na != 2 || nb != 1 || info(t, gw).Held != 3 {
			t.Fatalf("in flight a %d b %d, %+v", na, nb, info(t, gw))
		}
		// Every worker is full.
		_, err := gw.TryPickWorker(tc.pl)
		var ole *OverLimitError
		if !errors.As(err, &ole) || ole.RetryAfter <= 0 {
			t.Fatalf("TryPickWorker, workers full: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err = gw.PickWorker(ctx, tc.pl)
		cancel()
		var we *WaitError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &we) ||
			we.Op != "pick worker" {
			t.Fatalf("PickWorker, workers full: %v", err)
		}
		for _, h := range holds {
			if err := h.Release(); err != nil {
				t.Fatal(err)
			}
		}
		na, _ = c.WorkerInflight("a")
		nb, _ = c.WorkerInflight("b")
		if na != 0 || nb != 0 || info(t, gw).Held != 0 {
			t.Fatalf("released: a %d b %d %+v", na, nb, info(t, gw))
		}
	}
	if _, err := c.WorkerInflight("nosuchworker"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("WorkerInflight(nosuchworker): %v", err)
	}
	b.Ctl("worker", "set", "a", "--state", "draining")
	b.Ctl("worker", "set", "b", "--state", "not_ready")
	if _, err := gw.TryPickWorker(Spread); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no ready worker: %v, want ErrNotFound", err)
	}
}

// Many goroutines on one pool never hold more than its limit, by their
// own count and by the broker's; half the holds are released by
// another goroutine than the one that took them.
func TestConcurrentHoldsNeverExceedTheLimit(t *testing.T) {
	const limit, workers, rounds = 3, 16, 25
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "gw", "--limit", "3")
	c := openClient(t, b)
	gw := pool(t, c, "gw")
	var inflight, peak int32
	releases := make(chan *Hold)
	var releaser sync.WaitGroup
	releaser.Add(1)
	go func() {
		defer releaser.Done()
		for h := range releases {
			if err := h.Release(); err != nil {
				t.Error(err)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				h, err := gw.WithPriority(i % 2).Hold(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				// Counted after admission, uncounted before
				// the release: never above the true number.
				n := atomic.AddInt32(&inflight, 1)
				for p := atomic.LoadInt32(&peak); n > p &&
					!atomic.CompareAndSwapInt32(&peak, p, n); p = atomic.LoadInt32(&peak) {
				}
				if n > limit {
					t.Errorf("%d holds in flight, limit %d", n, limit)
				}
				if i, err := gw.Info(); err != nil || i.Held > limit {
					t.Errorf("broker counts %+v, %v", i, err)
				}
				// Hold a while, so that the others queue.
				time.Sleep(time.Millisecond)
				atomic.AddInt32(&inflight, -1)
				if (g+i)%2 == 0 {
					releases <- h
				} else if err := h.Release(); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	close(releases)
	releaser.Wait()
	if i := info(t, gw); i.Held != 0 || b.Waiting("gw") != 0 {
		t.Fatalf("at the end: %+v, %d waiting", i, b.Waiting("gw"))
	}
	if peak != limit {
		t.Logf("peak %d of %d in flight", peak, limit)
	}
}
