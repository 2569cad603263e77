package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"capbroker"
	"capbroker/internal/testbroker"
)

func setup(t *testing.T, queue time.Duration) (*testbroker.Broker, *capbroker.Client,
	*httptest.Server, chan struct{}, chan struct{}) {
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "llama", "--limit", "1", "--window", "60")
	c, err := capbroker.Open(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	entered, finish := make(chan struct{}), make(chan struct{})
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("block") != "" {
			entered <- struct{}{}
			<-finish
		}
		io.WriteString(w, "ok "+Model(r))
	})
	a := &Admission{Client: c, Queue: queue}
	srv := httptest.NewServer(a.Wrap(backend))
	t.Cleanup(srv.Close)
	return b, c, srv, entered, finish
}

func get(t *testing.T, url, model string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if model != "" {
		req.Header.Set("X-Model", model)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func held(t *testing.T, c *capbroker.Client) uint32 {
	t.Helper()
	p, err := c.Pool("llama")
	if err != nil {
		t.Fatal(err)
	}
	i, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	return i.Held + i.Launching
}

func TestOverTheLimitIs429WithRetryAfter(t *testing.T) {
	for _, queue := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run("queue="+queue.String(), func(t *testing.T) {
			_, c, srv, entered, finish := setup(t, queue)
			first := make(chan *http.Response)
			go func() {
				resp, err := http.Get(srv.URL + "/llama/v1?block=1")
				if err != nil {
					t.Error(err)
				}
				first <- resp
			}()
			<-entered // its handler runs, holding the only unit
			if held(t, c) != 1 {
				t.Fatal("the running request holds nothing")
			}
			resp := get(t, srv.URL+"/v1/completions", "llama")
			ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if resp.StatusCode != http.StatusTooManyRequests ||
				err != nil || ra != 1 {
				// The broker's default hint, 100 ms, rounds up to 1 s.
				t.Fatalf("over the limit: %d, Retry-After %q",
					resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			close(finish)
			if r := <-first; r == nil || r.StatusCode != http.StatusOK {
				t.Fatalf("the first request: %v", r)
			}
			// Released when its handler returned.
			if held(t, c) != 0 {
				t.Fatal("the hold outlived its request")
			}
			if resp := get(t, srv.URL+"/llama", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("after the release: %d", resp.StatusCode)
			}
			if held(t, c) != 0 {
				t.Fatal("the hold outlived its request")
			}
		})
	}
}

func TestRetryAfterIsTheBrokersHintRoundedUp(t *testing.T) {
	_, c, srv, _, _ := setup(t, 0)
	p, _ := c.Pool("llama")
	// A launch fills the pool: the hint is its deadline, about the
	// 60 s window away.
	l, err := p.Launch(0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	resp := get(t, srv.URL+"/llama", "")
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || err != nil ||
		ra < 50 || ra > 60 {
		t.Fatalf("over the limit with a launch: %d, Retry-After %q",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for d, s := range map[time.Duration]int{0: 1, time.Millisecond: 1,
		time.Second: 1, 1001 * time.Millisecond: 2, 59500 * time.Millisecond: 60} {
		if RetryAfterSeconds(d) != s {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, RetryAfterSeconds(d), s)
		}
	}
}

func TestUnknownModelIs404(t *testing.T) {
	_, _, srv, _, _ := setup(t, 0)
	if resp := get(t, srv.URL+"/x", "nosuchmodel"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown model: %d", resp.StatusCode)
	}
}
