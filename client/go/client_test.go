package capbroker

import (
	"capbroker/internal/testbroker"
	"context"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpenMissingBrokerIsNotFound(t *testing.T) {
	_, err := Open("go-no-such-broker-here")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) ||
		!errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Open of a missing broker: %v, want ErrNotFound", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Op != "cb_open" || e.Msg == "" ||
		!strings.Contains(err.Error(), e.Msg) {
		t.Fatalf("error %#v: want cb_open and the library's message", err)
	}
	if errors.Is(err, ErrOverLimit) || errors.Is(err, ErrStale) {
		t.Fatalf("%v matches another sentinel", err)
	}
}

func TestCurrentSourceStateFollowTheTiers(t *testing.T) {
	b := testbroker.Start(t)
	c := openClient(t, b)
	if c.Name() != b.Name {
		t.Fatalf("Name() = %q, want %q", c.Name(), b.Name)
	}
	b.Ctl("worker", "set", "w1", "--state", "ready", "--max-running", "8")
	b.Ctl("worker", "set", "w2", "--state", "ready", "--max-running", "4")
	if s := c.State(); c.Current() != 12 || c.Source() != SourceReported ||
		s.Capacity != 12 || s.Source != SourceReported {
		t.Fatalf("two reporting workers: %d %v %+v, want 12 reported",
			c.Current(), c.Source(), s)
	}
	b.Ctl("override", "30")
	s := c.State()
	if c.Current() != 30 || c.Source() != SourceOverride ||
		s.Capacity != 30 || s.Source != SourceOverride ||
		s.Source.String() != "override" || s.Stopping() || s.Retired() {
		t.Fatalf("override 30: Current %d Source %v State %+v",
			c.Current(), c.Source(), s)
	}
	if s.Generation == 0 {
		t.Fatalf("State %+v: no generation", s)
	}
	b.Ctl("override", "0")
	if got := c.State(); got.Capacity != 12 || got.Generation <= s.Generation {
		t.Fatalf("override cleared: State %+v after %+v", got, s)
	}
	for src, name := range map[Source]string{SourceOverride: "override",
		SourceReported: "reported", SourceMixed: "mixed",
		SourceFallback: "fallback", Source(99): "unknown"} {
		if src.String() != name {
			t.Errorf("Source(%d).String() = %q, want %q", int(src),
				src.String(), name)
		}
	}
}

func TestWatchReturnsTheLatestThenWaitsForAChange(t *testing.T) {
	b := testbroker.Start(t)
	c := openClient(t, b)
	g0, err := c.Watch(context.Background())
	if err != nil || g0 != c.State().Generation {
		t.Fatalf("first Watch = %d, %v; want at once the current %d",
			g0, err, c.State().Generation)
	}
	// Nothing changes: the deadline ends the wait, with ctx.Err().
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if g, err := c.Watch(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Watch without a change = %d, %v; want DeadlineExceeded", g, err)
	}
	type result struct {
		gen uint32
		err error
	}
	done := make(chan result, 1)
	go func() {
		g, err := c.Watch(context.Background())
		done <- result{g, err}
	}()
	b.Ctl("override", "7")
	r := <-done
	if r.err != nil || r.gen <= g0 {
		t.Fatalf("Watch across override 7 = %d, %v; want > %d", r.gen, r.err, g0)
	}
	if s := c.State(); s.Capacity != 7 || s.Generation < r.gen {
		t.Fatalf("after the change: %+v, watched %d", s, r.gen)
	}
	// WatchFrom an old generation returns at once.
	if g, err := c.WatchFrom(context.Background(), g0); err != nil || g <= g0 {
		t.Fatalf("WatchFrom(%d) = %d, %v", g0, g, err)
	}
}

func TestWatchCancel(t *testing.T) {
	b := testbroker.Start(t)
	c := openClient(t, b)
	if _, err := c.Watch(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Watch(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled Watch: %v, want context.Canceled", err)
	}
}

func TestReadOnlyObservesButCannotReserve(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("override", "5")
	c, err := OpenReadOnly(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.State().Capacity != 5 {
		t.Fatalf("read-only State %+v, want capacity 5", c.State())
	}
	p, err := c.Pool("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.TryHold(); !errors.Is(err, ErrPermission) {
		t.Fatalf("TryHold on a read-only client: %v, want ErrPermission", err)
	}
}

func TestClosedClient(t *testing.T) {
	b := testbroker.Start(t)
	c, err := Open(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Pool("default")
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.TryHold()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if _, err := c.Pool("default"); err != ErrClosed {
		t.Fatalf("Pool after Close: %v", err)
	}
	if err := h.Release(); err != ErrClosed {
		t.Fatalf("Release after Close: %v", err)
	}
	if c.Current() != 0 || c.State() != (State{}) {
		t.Fatalf("closed client reads %d %+v", c.Current(), c.State())
	}
	// cb_close released the hold.
	o, err := OpenReadOnly(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	dp, _ := o.Pool("default")
	if info, err := dp.Info(); err != nil || info.Held != 0 {
		t.Fatalf("after Close: %+v, %v; want nothing held", info, err)
	}
}
