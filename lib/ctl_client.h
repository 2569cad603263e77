/*
 * ctl_client.h - a client of the broker's control socket.
 *
 * One connection to RUNDIR/NAME.sock, speaking the line protocol of
 * docs/PROTOCOL.md: send one request line, read one reply, a status
 * line
 *
 *	OK N [TEXT]            N data lines follow
 *	ERR ERRNAME MESSAGE
 *
 * then the N data lines.  The broker is another process and may be old,
 * new, wedged or not a broker at all, so every reply is input from
 * outside: a line is at most CB_CTL_LINE_MAX bytes with its '\n' and
 * printable ASCII (tabs allowed: it may end up on a terminal), the data
 * line count is 0..CB_CTL_DATA_MAX (strtonum), every send() and recv()
 * has a timeout (SO_SNDTIMEO, SO_RCVTIMEO) and so does the whole reply
 * (a broker that trickles one byte at a time cannot hold the caller
 * either).  A request is one line of at most CB_PROTO_LINE_MAX bytes
 * with its '\n', with no control bytes, so one request can never be
 * read as two.
 *
 * Errors: functions return 0 or a negative CB_CTL_E* code, keep a
 * readable message in conn->errmsg (the reason only: "Connection
 * refused", "no reply within 10 s"; the caller says which broker) and,
 * where a system call failed, its errno in conn->sys_errno (EACCES or
 * EPERM on connect means the socket's mode shuts the caller out, not
 * that the broker is down).  Nothing here exits.  A refusal (ERR) is
 * not an error of the connection: it is a reply, with reply->err set.
 *
 * After CB_CTL_EUNREACHABLE or CB_CTL_EMALFORMED from a call the
 * connection is closed: the rest of the reply can no longer be told
 * from the next one.  A connection is used by one thread at a time.
 *
 * Uses libbsd (strtonum, strlcpy): linked into the broker's tests and
 * the command-line tools (TOOLCORE), never into libcapbroker.
 */
#ifndef CB_CTL_CLIENT_H
#define CB_CTL_CLIENT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "abi.h"

/*
 * A reply line may be longer than a request line (a STATUS value, a
 * message quoting the request), but not without bound.  With its '\n'.
 */
#define CB_CTL_LINE_MAX 4096
/*
 * Data lines in one reply: WORKER LIST is the longest (one line per
 * worker, at most CB_MAX_WORKERS); the slack leaves room for a newer
 * broker without letting a broken one make the caller allocate without
 * end.
 */
#define CB_CTL_DATA_MAX (4 * CB_MAX_WORKERS)
/* What capctl waits; the broker answers in milliseconds. */
#define CB_CTL_TIMEOUT_MS 10000

/* What went wrong; conn->errmsg says it in words. */
enum cb_ctl_error {
	/* No broker to talk to: no socket, connect(), send() or recv()
	 * failed (conn->sys_errno), a timeout passed (EAGAIN or
	 * ETIMEDOUT), or the broker closed the connection before its
	 * status line (0). */
	CB_CTL_EUNREACHABLE = -1,
	/* The reply broke the protocol: a line too long or not printable,
	 * a status line neither OK nor ERR, a data count out of range,
	 * data lines missing, a key=VALUE absent or out of range. */
	CB_CTL_EMALFORMED = -2,
	/* No socket address for the name: RUNDIR/NAME.sock does not fit
	 * sun_path (sys_errno ENAMETOOLONG), or NAME is not an instance
	 * name (EINVAL). */
	CB_CTL_EADDRESS = -3,
	/* The request is not one protocol line: too long, or a control
	 * byte in it.  Nothing was sent; the connection stays usable. */
	CB_CTL_EREQUEST = -4,
	/* This process ran out of something: socket(), setsockopt() or
	 * memory (conn->sys_errno). */
	CB_CTL_ESYSTEM = -5,
};

/*
 * One connection.  Callers allocate it (on the stack, say) and read
 * fd, path, sys_errno and errmsg; the rest is the reader's.
 */
struct cb_ctl_conn {
	int fd;                        /* -1 while not connected */
	int timeout_ms;                /* each socket call, and each reply */
	int sys_errno;                 /* of the last failure; 0 if none */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char errmsg[256];              /* the last failure; "" if none */
	uint64_t deadline_ns;          /* CLOCK_MONOTONIC, current reply */
	size_t off, len;               /* unread reply bytes: buf[off, len) */
	char buf[CB_CTL_LINE_MAX];
};

/* A parsed reply: OK with data lines, or ERR with a message. */
struct cb_ctl_reply {
	int err;                       /* 0 for OK, else ERRNAME's errno
	                                  (EIO for a name we do not know) */
	char errname[16];              /* ERR: the name as sent */
	char text[CB_CTL_LINE_MAX];    /* OK: summary; ERR: the message */
	size_t ndata;                  /* OK: 0..CB_CTL_DATA_MAX */
	char **data;                   /* ndata NUL-terminated lines */
};

/*
 * Make conn a closed connection whose calls wait at most timeout_ms
 * (> 0; capctl: CB_CTL_TIMEOUT_MS).  Call before any other function;
 * cb_ctl_close() is then always safe.
 */
void cb_ctl_init(struct cb_ctl_conn *conn, int timeout_ms);

/*
 * Connect to instance name's socket, RUNDIR/NAME.sock (lib/rundir.h),
 * or to the socket at path.  A connect() on a full listen queue waits
 * at most the timeout.
 *
 * Returns: 0; CB_CTL_EADDRESS (the path does not fit, a bad name);
 * CB_CTL_EUNREACHABLE (connect() failed or timed out; sys_errno says
 * why: ENOENT, ECONNREFUSED, EACCES, EAGAIN); CB_CTL_ESYSTEM.
 * conn->path is the socket's path whenever it fitted.
 */
int cb_ctl_connect(struct cb_ctl_conn *conn, const char *name);
int cb_ctl_connect_path(struct cb_ctl_conn *conn, const char *path);

/*
 * Send one request, printf-style and without its '\n', and read its
 * reply into r.  The connection stays open for further requests.
 *
 * Returns: 0 when a whole reply was read, OK (r->err 0) or ERR
 * (r->err the errno, r->text the broker's message): free r with
 * cb_ctl_reply_free().  CB_CTL_EREQUEST (nothing sent);
 * CB_CTL_EUNREACHABLE (not connected, send() or recv() failed, a
 * timeout, the connection closed before the status line);
 * CB_CTL_EMALFORMED; CB_CTL_ESYSTEM (no memory for the data lines).
 * On any error r holds nothing to free.
 */
int cb_ctl_call(struct cb_ctl_conn *conn, struct cb_ctl_reply *r,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cb_ctl_vcall(struct cb_ctl_conn *conn, struct cb_ctl_reply *r,
    const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* Free r's data lines; r may then be reused. */
void cb_ctl_reply_free(struct cb_ctl_reply *r);

/* Close the connection if open; conn may connect again. */
void cb_ctl_close(struct cb_ctl_conn *conn);

/*
 * The value of key=VALUE among the words of r->text, into out.
 * Returns: 0; -1 when the key is absent or its value does not fit out.
 */
int cb_ctl_reply_value(const struct cb_ctl_reply *r, const char *key,
    char *out, size_t outlen);

/*
 * A key=NUMBER among the words of r->text, in 0..max, into *out.
 * Returns: 0; CB_CTL_EMALFORMED when it is absent or not a number in
 * range (conn->errmsg: "no capacity= in '...'", "index '70' is too
 * large (0..63)").
 */
int cb_ctl_reply_number(struct cb_ctl_conn *conn,
    const struct cb_ctl_reply *r, const char *key, long long max,
    long long *out);

/*
 * The next word of *p, NUL-terminated in place (spaces and tabs
 * separate words); *p moves past it.  NULL when no word is left.
 */
char *cb_ctl_word_next(char **p);

#endif /* CB_CTL_CLIENT_H */
