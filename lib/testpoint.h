/*
 * testpoint.h - pause points for tests that force an interleaving.
 *
 * A race is tested by holding one thread still at a chosen line while
 * the rest runs, not by hoping a storm hits it.  CB_TESTPOINT("name")
 * marks such a line.  In the normal build it is nothing at all; the
 * test build (objects under BUILD/tp/, compiled with -DCB_TESTPOINTS:
 * BUILD/tp/libcapbroker.a, BUILD/tests/capbrokerd-tp, the unit tests
 * tests/unit/test_tp_*.c and the programs tests/integration/tp_*.c)
 * calls cb_testpoint(), which pauses in one of two ways:
 *
 *   in-process  a unit test sets cb_testpoint_hook; the hook runs in the
 *               thread that reached the point (it may block on a
 *               condition the test controls), for every point;
 *   by files    a process started with CB_TESTPOINT=NAME and
 *               CB_TESTPOINT_DIR=DIR stops the first thread that reaches
 *               NAME: it creates DIR/NAME.reached, waits (polling every
 *               millisecond) until DIR/NAME.go exists, removes it and
 *               goes on.  The point then disarms: later passes run
 *               through.  Only the thread at the point waits; every
 *               other thread of the process runs on.
 *
 * Names are "file:what", e.g. "sweeper:before-reclaim".
 */
#ifndef CB_TESTPOINT_H
#define CB_TESTPOINT_H

#ifdef CB_TESTPOINTS
/* In-process hook (unit tests); NULL: the file protocol above. */
extern void (*volatile cb_testpoint_hook)(const char *name);
void cb_testpoint(const char *name);
#define CB_TESTPOINT(name) cb_testpoint(name)
#else
#define CB_TESTPOINT(name) ((void)0)
#endif

#endif /* CB_TESTPOINT_H */
