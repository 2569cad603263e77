// Command cbholder holds one unit of a pool through the Go binding,
// for the cross-language tests:
//
//		cbholder NAME POOL PRIORITY
//
//	 1. opens broker instance NAME, resolves POOL, enqueues one hold at
//	    PRIORITY (cb_enqueue) and prints "queued N", N its position in
//	    the queue (cb_queue_position);
//	 2. waits without a limit until admitted (cb_wait) and prints "held";
//	 3. reads stdin line by line; on the line "release" or at EOF it
//	    releases the hold, prints "released" and exits 0.
//
// Any failure prints "error <the library's message>" to stderr and
// exits 1.  Every line goes out as it is printed (os.Stdout is not
// buffered), so a test reading through a pipe sees it at once.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"capbroker"
)

func fail(err error) {
	msg := err.Error()
	var e *capbroker.Error
	if errors.As(err, &e) {
		msg = e.Msg
	}
	fmt.Fprintf(os.Stderr, "error %s\n", msg)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fail(errors.New("usage: cbholder NAME POOL PRIORITY"))
	}
	priority, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fail(fmt.Errorf("bad priority %q", os.Args[3]))
	}
	c, err := capbroker.Open(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer c.Close()
	p, err := c.Pool(os.Args[2])
	if err != nil {
		fail(err)
	}
	w, err := p.Enqueue(priority)
	if err != nil {
		fail(err)
	}
	n, err := w.Position()
	if err != nil {
		fail(err)
	}
	fmt.Printf("queued %d\n", n)
	// context.Background() never ends: one cb_wait without a limit.
	h, err := w.Wait(context.Background())
	if err != nil {
		fail(err)
	}
	fmt.Println("held")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && in.Text() != "release" {
	}
	if err := h.Release(); err != nil {
		fail(err)
	}
	fmt.Println("released")
}
