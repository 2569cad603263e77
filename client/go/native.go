package capbroker

// The cgo layer: every call into libcapbroker that can fail goes
// through a small wrapper in gocb.c that makes the call and, when it fails, copies
// the library's message into the caller's struct gocb_out in the same
// cgo call.
//
// Why not cb_errmsg() from Go after the failing call: the message is
// kept per OS thread, and a goroutine may move to another thread
// between two cgo calls, where it would read another thread's message
// (or none).  runtime.LockOSThread around the pair would also work but
// costs two extra calls on every operation and pins the goroutine
// while it runs Go code in between; the copy costs nothing on success
// and one snprintf on failure.

/*
#cgo LDFLAGS: -lcapbroker
#include <stdlib.h>
#include "gocb.h"
*/
import "C"

import (
	"sync"
	"time"
)

// out is the Go side of struct gocb_out, recycled: it escapes to the
// heap when its address goes to C, and the hot path (TryHold, Release)
// should not allocate 400 bytes per call.
type out = C.struct_gocb_out

var outPool = sync.Pool{New: func() any { return new(out) }}

func getOut() *out {
	o := outPool.Get().(*out)
	o.msg[0] = 0
	o.retry_after_ms = 0
	return o
}

func putOut(o *out) { outPool.Put(o) }

func (o *out) message() string { return C.GoString(&o.msg[0]) }

func (o *out) retryAfter() time.Duration {
	return time.Duration(o.retry_after_ms) * time.Millisecond
}

// fail turns the negative return r of the C function op into an error
// carrying the message the wrapper copied.
func (o *out) fail(op string, r C.int) error {
	return newError(op, int(r), o.message(), o.retryAfter())
}

func strerror(r int) string { return C.GoString(C.cb_strerror(C.int(r))) }

func sourceName(s int) string { return C.GoString(C.cb_source_name(C.int(s))) }

func placementName(p int) string {
	return C.GoString(C.cb_placement_name(C.int(p)))
}
