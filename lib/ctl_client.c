/*
 * ctl_client.c - a client of the broker's control socket (see
 * ctl_client.h for the contract).
 *
 * Bytes come in through one buffer of CB_CTL_LINE_MAX: a line that does
 * not fit it is malformed, so no reply can make us buffer more.  Each
 * recv() is bounded by SO_RCVTIMEO and the whole reply by a deadline
 * taken before the request is sent; each send() by SO_SNDTIMEO, which
 * on AF_UNIX also bounds connect() on a full listen queue.
 */
#include "ctl_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "proto.h"
#include "rundir.h"

/* The end of the stream, from conn_fill() and conn_read_line(). */
#define CONN_EOF 1

static int __attribute__((format(printf, 4, 5)))
conn_fail(struct cb_ctl_conn *conn, int code, int sys_errno,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(conn->errmsg, sizeof(conn->errmsg), fmt, ap);
	va_end(ap);
	conn->sys_errno = sys_errno;
	return code;
}

/* "10 s", or "250 ms" for a timeout that is not whole seconds. */
static const char *conn_timeout_text(const struct cb_ctl_conn *conn,
    char *buf, size_t len)
{
	if (conn->timeout_ms % 1000 == 0)
		snprintf(buf, len, "%d s", conn->timeout_ms / 1000);
	else
		snprintf(buf, len, "%d ms", conn->timeout_ms);
	return buf;
}

/* A timeout passed: "no reply within 10 s". */
static int conn_timed_out(struct cb_ctl_conn *conn, int sys_errno,
    const char *what)
{
	char t[24];

	return conn_fail(conn, CB_CTL_EUNREACHABLE, sys_errno, "%s within %s",
	    what, conn_timeout_text(conn, t, sizeof(t)));
}

void cb_ctl_init(struct cb_ctl_conn *conn, int timeout_ms)
{
	memset(conn, 0, offsetof(struct cb_ctl_conn, buf));
	conn->fd = -1;
	conn->timeout_ms = timeout_ms > 0 ? timeout_ms : CB_CTL_TIMEOUT_MS;
}

void cb_ctl_close(struct cb_ctl_conn *conn)
{
	if (conn->fd != -1)
		close(conn->fd);
	conn->fd = -1;
	conn->off = conn->len = 0;
}

/* A socket with both timeouts set, into conn->fd. */
static int conn_socket(struct cb_ctl_conn *conn)
{
	struct timeval tv = {
		.tv_sec = conn->timeout_ms / 1000,
		.tv_usec = (conn->timeout_ms % 1000) * 1000,
	};
	int e;

	conn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn->fd == -1)
		return conn_fail(conn, CB_CTL_ESYSTEM, errno, "socket: %s",
		    strerror(errno));
	if (setsockopt(conn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) == -1 || setsockopt(conn->fd, SOL_SOCKET,
	    SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
		e = errno;
		cb_ctl_close(conn);
		return conn_fail(conn, CB_CTL_ESYSTEM, e, "setsockopt: %s",
		    strerror(e));
	}
	return 0;
}

int cb_ctl_connect_path(struct cb_ctl_conn *conn, const char *path)
{
	struct sockaddr_un sun;
	int r, e;

	cb_ctl_close(conn);
	conn->path[0] = '\0';
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		return conn_fail(conn, CB_CTL_EADDRESS, ENAMETOOLONG,
		    "socket path is longer than %zu bytes",
		    sizeof(sun.sun_path) - 1);
	strlcpy(conn->path, path, sizeof(conn->path));
	if ((r = conn_socket(conn)) < 0)
		return r;
	/* An interrupted AF_UNIX connect() left nothing behind: retry. */
	while (connect(conn->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		if (e == EISCONN)
			break;
		if (e == EINTR)
			continue;
		cb_ctl_close(conn);
		if (e == EAGAIN)
			return conn_timed_out(conn, e, "no connection");
		return conn_fail(conn, CB_CTL_EUNREACHABLE, e, "%s",
		    strerror(e));
	}
	conn->errmsg[0] = '\0';
	conn->sys_errno = 0;
	return 0;
}

int cb_ctl_connect(struct cb_ctl_conn *conn, const char *name)
{
	char path[sizeof(conn->path)];
	int r;

	cb_ctl_close(conn);
	conn->path[0] = '\0';
	r = cb_rundir_path(path, sizeof(path), name, "sock");
	if (r == -EINVAL)
		return conn_fail(conn, CB_CTL_EADDRESS, EINVAL, "bad broker "
		    "name '%.40s'", name);
	if (r < 0)
		return conn_fail(conn, CB_CTL_EADDRESS, ENAMETOOLONG, "socket "
		    "path %s/%s.sock is longer than %zu bytes", cb_rundir(),
		    name, sizeof(path) - 1);
	return cb_ctl_connect_path(conn, path);
}

static int conn_send(struct cb_ctl_conn *conn, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		/* MSG_NOSIGNAL: a closed socket is EPIPE, not SIGPIPE. */
		n = send(conn->fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return conn_timed_out(conn, errno,
			    "request not accepted");
		if (n == -1)
			return conn_fail(conn, CB_CTL_EUNREACHABLE, errno,
			    "%s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read more reply bytes.  Returns 0, CONN_EOF at the end of the stream,
 * or CB_CTL_EUNREACHABLE.  SO_RCVTIMEO bounds each recv(); the deadline
 * bounds the whole reply, so a broker that trickles bytes cannot hold
 * us either.
 */
static int conn_fill(struct cb_ctl_conn *conn)
{
	ssize_t n;

	memmove(conn->buf, conn->buf + conn->off, conn->len - conn->off);
	conn->len -= conn->off;
	conn->off = 0;
	for (;;) {
		if (cb_monotonic_ns() > conn->deadline_ns)
			return conn_timed_out(conn, ETIMEDOUT,
			    "no complete reply");
		n = recv(conn->fd, conn->buf + conn->len,
		    sizeof(conn->buf) - conn->len, 0);
		if (n > 0) {
			conn->len += (size_t)n;
			return 0;
		}
		if (n == 0)
			return CONN_EOF;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return conn_timed_out(conn, errno, "no reply");
		if (errno != EINTR)
			return conn_fail(conn, CB_CTL_EUNREACHABLE, errno,
			    "%s", strerror(errno));
	}
}

/*
 * The next reply line, without its '\n', into line (CB_CTL_LINE_MAX
 * bytes).  Returns 0, CONN_EOF, or a CB_CTL_E* code.  A line must fit
 * the buffer and be printable ASCII: it may be printed to a terminal.
 */
static int conn_read_line(struct cb_ctl_conn *conn, char *line)
{
	const unsigned char *start;
	const char *nl;
	size_t n;
	int r;

	for (;;) {
		nl = memchr(conn->buf + conn->off, '\n', conn->len - conn->off);
		if (nl != NULL)
			break;
		if (conn->len - conn->off >= sizeof(conn->buf))
			return conn_fail(conn, CB_CTL_EMALFORMED, 0, "line "
			    "longer than %d bytes", CB_CTL_LINE_MAX - 1);
		if ((r = conn_fill(conn)) != 0)
			return r;
	}
	start = (const unsigned char *)conn->buf + conn->off;
	n = (size_t)(nl - (const char *)start);
	for (size_t i = 0; i < n; i++)
		if ((start[i] < 0x20 && start[i] != '\t') || start[i] > 0x7e)
			return conn_fail(conn, CB_CTL_EMALFORMED, 0, "byte %#x "
			    "is not printable ASCII", start[i]);
	memcpy(line, start, n);
	line[n] = '\0';
	conn->off += n + 1;
	return 0;
}

char *cb_ctl_word_next(char **p)
{
	char *w = *p + strspn(*p, " \t"), *end;

	if (*w == '\0') {
		*p = w;
		return NULL;
	}
	end = w + strcspn(w, " \t");
	if (*end != '\0')
		*end++ = '\0';
	*p = end;
	return w;
}

/* "OK N [TEXT]" or "ERR ERRNAME MESSAGE" into r. */
static int reply_parse_status(struct cb_ctl_conn *conn, char *line,
    struct cb_ctl_reply *r)
{
	char shown[48], *p = line, *kind, *arg;
	const char *errstr;

	strlcpy(shown, line, sizeof(shown));
	kind = cb_ctl_word_next(&p);
	arg = cb_ctl_word_next(&p);
	p += strspn(p, " \t");
	if (kind != NULL && arg != NULL && strcmp(kind, "OK") == 0) {
		r->ndata = (size_t)strtonum(arg, 0, CB_CTL_DATA_MAX, &errstr);
		if (errstr != NULL)
			return conn_fail(conn, CB_CTL_EMALFORMED, 0, "data "
			    "line count '%.16s' is %s (0..%d)", arg, errstr,
			    CB_CTL_DATA_MAX);
	} else if (kind != NULL && arg != NULL && strcmp(kind, "ERR") == 0) {
		/* An errno name we do not know is still a refusal (EIO). */
		r->err = cb_errno_parse(arg);
		strlcpy(r->errname, arg, sizeof(r->errname));
	} else
		return conn_fail(conn, CB_CTL_EMALFORMED, 0, "status line "
		    "'%s' is neither OK N nor ERR ERRNAME", shown);
	strlcpy(r->text, p, sizeof(r->text));
	return 0;
}

/* r->ndata data lines into r->data. */
static int reply_read_data(struct cb_ctl_conn *conn, struct cb_ctl_reply *r,
    char *line)
{
	int rc;

	if ((r->data = calloc(r->ndata, sizeof(*r->data))) == NULL)
		return conn_fail(conn, CB_CTL_ESYSTEM, ENOMEM, "%s",
		    strerror(ENOMEM));
	for (size_t i = 0; i < r->ndata; i++) {
		if ((rc = conn_read_line(conn, line)) == CONN_EOF)
			return conn_fail(conn, CB_CTL_EMALFORMED, 0, "reply "
			    "ended after %zu of %zu data lines", i, r->ndata);
		if (rc < 0)
			return rc;
		if ((r->data[i] = strdup(line)) == NULL)
			return conn_fail(conn, CB_CTL_ESYSTEM, ENOMEM, "%s",
			    strerror(ENOMEM));
	}
	return 0;
}

static int conn_read_reply(struct cb_ctl_conn *conn, struct cb_ctl_reply *r)
{
	char line[CB_CTL_LINE_MAX];
	int rc;

	if ((rc = conn_read_line(conn, line)) == CONN_EOF)
		return conn_fail(conn, CB_CTL_EUNREACHABLE, 0, "connection "
		    "closed without a reply");
	if (rc < 0)
		return rc;
	if ((rc = reply_parse_status(conn, line, r)) < 0)
		return rc;
	return r->ndata > 0 ? reply_read_data(conn, r, line) : 0;
}

/* The request into req with its '\n'; its length, or CB_CTL_EREQUEST. */
static int request_format(struct cb_ctl_conn *conn, char *req, size_t len,
    const char *fmt, va_list ap)
{
	int n;

	n = vsnprintf(req, len, fmt, ap);
	if (n < 0 || (size_t)n >= len)
		return conn_fail(conn, CB_CTL_EREQUEST, E2BIG, "request "
		    "longer than %zu bytes", len - 1);
	/* A '\n' inside would make two requests of one. */
	for (int i = 0; i < n; i++)
		if (((unsigned char)req[i] < 0x20 && req[i] != '\t') ||
		    (unsigned char)req[i] > 0x7e)
			return conn_fail(conn, CB_CTL_EREQUEST, EINVAL,
			    "request byte %#x is not printable ASCII",
			    (unsigned char)req[i]);
	req[n++] = '\n';        /* replaces the NUL: it fits */
	return n;
}

int cb_ctl_vcall(struct cb_ctl_conn *conn, struct cb_ctl_reply *r,
    const char *fmt, va_list ap)
{
	char req[CB_PROTO_LINE_MAX];
	int n, rc;

	memset(r, 0, sizeof(*r));
	if ((n = request_format(conn, req, sizeof(req), fmt, ap)) < 0)
		return n;
	if (conn->fd == -1)
		return conn_fail(conn, CB_CTL_EUNREACHABLE, ENOTCONN,
		    "not connected");
	conn->deadline_ns = cb_monotonic_ns() +
	    (uint64_t)conn->timeout_ms * CB_NS_PER_MS;
	rc = conn_send(conn, req, (size_t)n);
	if (rc == 0)
		rc = conn_read_reply(conn, r);
	if (rc < 0) {
		/* The rest of this reply would be read as the next one. */
		cb_ctl_reply_free(r);
		cb_ctl_close(conn);
		return rc;
	}
	return 0;
}

int cb_ctl_call(struct cb_ctl_conn *conn, struct cb_ctl_reply *r,
    const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cb_ctl_vcall(conn, r, fmt, ap);
	va_end(ap);
	return rc;
}

void cb_ctl_reply_free(struct cb_ctl_reply *r)
{
	for (size_t i = 0; r->data != NULL && i < r->ndata; i++)
		free(r->data[i]);
	free(r->data);
	r->data = NULL;
	r->ndata = 0;
}

int cb_ctl_reply_value(const struct cb_ctl_reply *r, const char *key,
    char *out, size_t outlen)
{
	char text[sizeof(r->text)], *p = text, *w;
	size_t klen = strlen(key);

	strlcpy(text, r->text, sizeof(text));
	while ((w = cb_ctl_word_next(&p)) != NULL)
		if (strncmp(w, key, klen) == 0 && w[klen] == '=')
			return strlcpy(out, w + klen + 1, outlen) < outlen ?
			    0 : -1;
	return -1;
}

int cb_ctl_reply_number(struct cb_ctl_conn *conn,
    const struct cb_ctl_reply *r, const char *key, long long max,
    long long *out)
{
	char value[24];
	const char *errstr;

	if (cb_ctl_reply_value(r, key, value, sizeof(value)) < 0)
		return conn_fail(conn, CB_CTL_EMALFORMED, 0, "no %s= in "
		    "'%.64s'", key, r->text);
	*out = strtonum(value, 0, max, &errstr);
	if (errstr != NULL)
		return conn_fail(conn, CB_CTL_EMALFORMED, 0, "%s '%s' is %s "
		    "(0..%lld)", key, value, errstr, max);
	return 0;
}
