// Command middleware is an HTTP front that admits each request through
// the capbroker pool of its model, as a model-swapping proxy limits
// concurrency per model: a request for model M holds one unit of pool
// M while the backend handler runs, and the hold is released when the
// handler returns (or panics).  Over the limit it answers 429 Too Many
// Requests with Retry-After, the broker's hint in whole seconds,
// rounded up.
//
//	middleware -n default -listen :8080 -queue 2s
//	curl -H 'X-Model: llama' localhost:8080/v1/completions
//
// The model is the X-Model header, else the first element of the path
// (/llama/v1/completions).  Create the pools with capctl pool set.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"capbroker"
)

// Admission is the middleware: one Client, the pools resolved once
// each and kept.
type Admission struct {
	Client *capbroker.Client
	// Queue is how long a request may wait in its pool's fair queue
	// before the 429; 0 fails fast (TryHold).
	Queue time.Duration
	pools sync.Map // model name -> *capbroker.Pool
}

// Model names the model of r: the X-Model header, else the first path
// element.
func Model(r *http.Request) string {
	if m := r.Header.Get("X-Model"); m != "" {
		return m
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	return path
}

func (a *Admission) pool(model string) (*capbroker.Pool, error) {
	if p, ok := a.pools.Load(model); ok {
		return p.(*capbroker.Pool), nil
	}
	p, err := a.Client.Pool(model)
	if err != nil {
		return nil, err
	}
	a.pools.Store(model, p)
	return p, nil
}

// hold admits r through p: at once, or within a.Queue.
func (a *Admission) hold(r *http.Request, p *capbroker.Pool) (*capbroker.Hold, error) {
	if a.Queue <= 0 {
		return p.TryHold()
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.Queue)
	defer cancel()
	return p.Hold(ctx)
}

// retryAfter is the hint of a refusal, if err is one: over the limit
// (TryHold) or the queue wait's deadline passed (Hold).
func retryAfter(err error) (time.Duration, bool) {
	var over *capbroker.OverLimitError
	if errors.As(err, &over) {
		return over.RetryAfter, true
	}
	var we *capbroker.WaitError
	if errors.As(err, &we) && errors.Is(err, capbroker.ErrTimeout) {
		return we.RetryAfter, true
	}
	return 0, false
}

// RetryAfterSeconds is d in whole seconds, rounded up, at least 1: the
// Retry-After header's unit.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// Wrap admits every request to next through its model's pool.
func (a *Admission) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		model := Model(r)
		p, err := a.pool(model)
		if errors.Is(err, capbroker.ErrNotFound) {
			http.Error(w, fmt.Sprintf("no such model: %q", model),
				http.StatusNotFound)
			return
		}
		var h *capbroker.Hold
		if err == nil {
			h, err = a.hold(r, p)
		}
		if d, over := retryAfter(err); over {
			w.Header().Set("Retry-After",
				fmt.Sprint(RetryAfterSeconds(d)))
			http.Error(w, fmt.Sprintf("model %s is at its limit", model),
				http.StatusTooManyRequests)
			return
		}
		if err != nil {
			if r.Context().Err() == nil { // else the client left
				http.Error(w, err.Error(),
					http.StatusServiceUnavailable)
			}
			return
		}
		defer h.Release()
		next.ServeHTTP(w, r)
	})
}

func main() {
	name := flag.String("n", "default", "broker instance")
	listen := flag.String("listen", ":8080", "address to serve")
	queue := flag.Duration("queue", 0, "longest wait in a model's queue (0: fail fast)")
	backend := flag.String("backend", "", "URL to proxy admitted requests to (default: answer 200)")
	flag.Parse()
	c, err := capbroker.Open(*name)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var next http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "admitted for %s\n", Model(r))
	})
	if *backend != "" {
		next = proxyTo(*backend)
	}
	a := &Admission{Client: c, Queue: *queue}
	log.Fatal(http.ListenAndServe(*listen, a.Wrap(next)))
}
