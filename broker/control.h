/*
 * control.h - the control socket: an AF_UNIX stream socket speaking the
 * line protocol of proto.h / docs/PROTOCOL.md.
 *
 * Runs on the main thread inside its epoll loop; every socket is
 * non-blocking and every connection has a bounded input line and a
 * bounded output buffer, so no client can block or exhaust the broker
 * (the limits are listed at the top of control.c).  SO_PEERCRED decides
 * who may change state.
 */
#ifndef CB_CONTROL_H
#define CB_CONTROL_H

#include <stdint.h>

struct cb_broker;

/* epoll data.ptr points at one of these; kind says which. */
struct cb_pollable {
	int kind;
};

enum cb_poll_kind {
	CB_POLL_LISTEN = 1,
	CB_POLL_CONN,            /* a connection, or the control tick's timer:
	                            cb_control_io() tells them apart */
	CB_POLL_SIGNAL,
	CB_POLL_TIMER,
};

/* Bind and listen at b->socket_path (mode 0660), add it to epfd. */
int cb_control_open(struct cb_broker *b, int epfd);
void cb_control_accept(struct cb_broker *b, int epfd);
void cb_control_io(struct cb_broker *b, struct cb_pollable *p,
    uint32_t events);
/* Close every connection and the listening socket (unlinks it). */
void cb_control_close(struct cb_broker *b);

#endif /* CB_CONTROL_H */
