package capbroker

import (
	"runtime"
	"testing"

	"capbroker/internal/testbroker"
)

// The cost of a release on the OS thread that took the hold (the
// lane's fast path) and on another one (a foreign release: the owner
// lane's bias is revoked, docs/ARCHITECTURE.md "lanes").  Holds are
// taken in batches on one locked thread with the timer stopped; only
// the releases are timed.  Not run by make go-check:
//
//	go test -run NONE -bench Release
func BenchmarkReleaseSameThread(b *testing.B)  { benchRelease(b, false) }
func BenchmarkReleaseOtherThread(b *testing.B) { benchRelease(b, true) }

func benchRelease(b *testing.B, foreign bool) {
	const batch = 64
	br := testbroker.Start(b)
	br.Ctl("pool", "set", "bench", "--limit", "1000")
	c, err := Open(br.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p, err := c.Pool("bench")
	if err != nil {
		b.Fatal(err)
	}
	take, give := make(chan []*Hold), make(chan struct{})
	// The releasing goroutine, on its own locked thread.  It runs the
	// timer itself, around its releases only: the hand-off of a batch
	// between the two threads (two channel operations, each a futex
	// wake and a context switch) is not the release's cost.  The
	// channels order these timer calls with the benchmark goroutine's.
	go func() {
		runtime.LockOSThread()
		for hs := range take {
			b.StartTimer()
			for _, h := range hs {
				if err := h.Release(); err != nil {
					b.Error(err)
				}
			}
			b.StopTimer()
			give <- struct{}{}
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hs := make([]*Hold, 0, batch)
	b.ResetTimer()
	for done := 0; done < b.N; done += len(hs) {
		b.StopTimer()
		hs = hs[:0]
		for i := 0; i < batch && done+i < b.N; i++ {
			h, err := p.TryHold()
			if err != nil {
				b.Fatal(err)
			}
			hs = append(hs, h)
		}
		if foreign {
			take <- hs
			<-give
			continue
		}
		b.StartTimer()
		for _, h := range hs {
			if err := h.Release(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	close(take)
}

// A TryHold and its Release on one locked thread: the binding's cgo
// overhead on top of the library's fast path.
func BenchmarkTryHoldRelease(b *testing.B) {
	br := testbroker.Start(b)
	c, err := Open(br.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p, err := c.Pool("")
	if err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := p.TryHold()
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Release(); err != nil {
			b.Fatal(err)
		}
	}
}
