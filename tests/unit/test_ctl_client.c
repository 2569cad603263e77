/*
 * test_ctl_client.c - the control-socket client (lib/ctl_client.c).
 *
 * Each test binds a fake broker's socket under a private
 * CAPBROKER_RUNDIR, forks it (it answers a script of replies: all at
 * once, a byte at a time, never, or by hanging up) and drives the
 * client against it: with a 5 s timeout where a reply is due, 300 ms
 * where the test waits the timeout out.  Each check of the client has
 * a test that gets a different answer without it: a line one byte too
 * long, a control byte, a data count one past the cap, a reply cut
 * short, a silent broker (which hangs up after 3 s, so without
 * SO_RCVTIMEO the test sees "closed", not "no reply"), a trickling one
 * (which would finish its line without the whole-reply deadline), a
 * peer that hung up (SIGPIPE kills this process without MSG_NOSIGNAL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl_client.h"

#define NAME "fake"
/* The client's timeout: generous where a reply is expected (a loaded
 * machine must not fail the test), short where the test waits it out. */
#define TIMEOUT_MS 5000
#define SHORT_MS 300
#define HOLD_MS 3000            /* a silent server hangs up after it */

/* How the fake broker answers. */
enum fake_mode {
	FAKE_REPLY,                 /* each reply at once, then wait */
	FAKE_REPLY_CLOSE,           /* the replies, then hang up */
	FAKE_TRICKLE,               /* the reply a byte per 20 ms */
	FAKE_SLOW,                  /* each reply after 200 ms */
	FAKE_SILENT,                /* read the request, say nothing */
	FAKE_HANGUP,                /* accept and close at once */
};

struct fake_step {
	const char *request;        /* expected, with its '\n'; NULL any */
	const char *reply;
	size_t len;                 /* 0: strlen(reply) */
};

static char rundir[64];
static char sockpath[108];
static pid_t server = -1;
static struct cb_ctl_conn conn;
static struct cb_ctl_reply reply;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A request line from fd, with its '\n', into buf; -1 at EOF. */
static int fake_read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		if (read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return 0;
}

/* Wait until the client closes (EOF), or ms pass. */
static void fake_wait_close(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	while (poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1)
		;
}

static int fake_send(int fd, const char *buf, size_t len, int trickle)
{
	for (size_t i = 0; i < len; i += trickle ? 1 : len) {
		if (send(fd, buf + i, trickle ? 1 : len, MSG_NOSIGNAL) < 0)
			return -1;
		if (trickle)
			sleep_ms(20);
	}
	return 0;
}

/* The child: serve one connection; exit 3 on an unexpected request. */
static void __attribute__((noreturn))
fake_child(int lfd, enum fake_mode mode, const struct fake_step *steps,
    size_t nsteps)
{
	char req[1024];
	int fd, bad = 0;

	alarm(10);                  /* never outlive a broken test */
	if ((fd = accept(lfd, NULL, NULL)) < 0)
		_exit(2);
	if (mode == FAKE_HANGUP)
		_exit(0);
	for (size_t i = 0; i < nsteps; i++) {
		if (fake_read_line(fd, req, sizeof(req)) < 0)
			_exit(bad ? 3 : 0);
		if (steps[i].request != NULL &&
		    strcmp(req, steps[i].request) != 0)
			bad = 1;
		if (mode == FAKE_SILENT)
			break;
		if (mode == FAKE_SLOW)
			sleep_ms(200);
		fake_send(fd, steps[i].reply, steps[i].len != 0 ?
		    steps[i].len : strlen(steps[i].reply),
		    mode == FAKE_TRICKLE);
	}
	if (mode != FAKE_REPLY_CLOSE)
		fake_wait_close(fd, mode == FAKE_SILENT ? HOLD_MS : 5000);
	_exit(bad ? 3 : 0);
}

/* A listening socket at RUNDIR/NAME.sock, so connect() never races. */
static int fake_listen(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(lfd >= 0);
	strcpy(sun.sun_path, sockpath);
	unlink(sockpath);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	return lfd;
}

static void fake_start(enum fake_mode mode, const struct fake_step *steps,
    size_t nsteps)
{
	int lfd = fake_listen();

	server = fork();
	assert_true(server >= 0);
	if (server == 0)
		fake_child(lfd, mode, steps, nsteps);
	close(lfd);
}

/* Reap the server; its exit status (3: it got a request it did not
 * expect). */
static int fake_reap(void)
{
	int status;

	if (server <= 0)
		return 0;
	assert_int_equal(waitpid(server, &status, 0), server);
	server = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Close the client's end, which lets the server go, and reap it. */
static int fake_finish(void)
{
	cb_ctl_close(&conn);
	return fake_reap();
}

/* Connect to a server answering one request with answer. */
static void fake_one(enum fake_mode mode, const char *request,
    const char *answer, size_t len)
{
	static struct fake_step step;

	step = (struct fake_step){ request, answer, len };
	fake_start(mode, &step, 1);
	assert_int_equal(cb_ctl_connect(&conn, NAME), 0);
}

static void expect_error(int rc, int code, const char *kw)
{
	if (rc != code || strstr(conn.errmsg, kw) == NULL)
		print_error("got %d '%s', want %d naming '%s'\n", rc,
		    conn.errmsg, code, kw);
	assert_int_equal(rc, code);
	assert_non_null(strstr(conn.errmsg, kw));
	assert_null(reply.data);
}

static int setup(void **state)
{
	(void)state;
	snprintf(rundir, sizeof(rundir), "/tmp/cbunit-ctl.XXXXXX");
	if (mkdtemp(rundir) == NULL)
		return -1;
	setenv("CAPBROKER_RUNDIR", rundir, 1);
	snprintf(sockpath, sizeof(sockpath), "%s/%s.sock", rundir, NAME);
	cb_ctl_init(&conn, TIMEOUT_MS);
	memset(&reply, 0, sizeof(reply));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		server = -1;
	}
	cb_ctl_close(&conn);
	cb_ctl_reply_free(&reply);
	unlink(sockpath);
	rmdir(rundir);
	return 0;
}

/* ---- replies that parse ------------------------------------------ */

static void test_ok_with_data(void **state)
{
	static const char r[] = "OK 2 capacity=5 source=override "
	    "generation=7\nw1 ready 3\nw2\tnot_ready 0\n";
	char source[16];
	long long v;

	(void)state;
	fake_one(FAKE_REPLY, "WORKER LIST\n", r, 0);
	assert_int_equal(cb_ctl_call(&conn, &reply, "WORKER %s", "LIST"), 0);
	assert_int_equal(reply.err, 0);
	assert_string_equal(reply.text,
	    "capacity=5 source=override generation=7");
	assert_int_equal(reply.ndata, 2);
	assert_string_equal(reply.data[0], "w1 ready 3");
	assert_string_equal(reply.data[1], "w2\tnot_ready 0");
	assert_int_equal(cb_ctl_reply_value(&reply, "source", source,
	    sizeof(source)), 0);
	assert_string_equal(source, "override");
	assert_int_equal(cb_ctl_reply_number(&conn, &reply, "generation",
	    UINT32_MAX, &v), 0);
	assert_int_equal(v, 7);
	cb_ctl_reply_free(&reply);
	assert_null(reply.data);
	assert_int_equal(fake_finish(), 0);
}

/* Two replies in one segment: the second is kept for the next call. */
static void test_two_requests(void **state)
{
	static const struct fake_step steps[] = {
		{ "PING\n", "OK 0 pong\nOK 1 two\nd\n", 0 },
		{ "STATUS\n", "", 0 },
	};

	(void)state;
	fake_start(FAKE_REPLY, steps, 2);
	assert_int_equal(cb_ctl_connect(&conn, NAME), 0);
	assert_int_equal(cb_ctl_call(&conn, &reply, "PING"), 0);
	assert_string_equal(reply.text, "pong");
	assert_int_equal(reply.ndata, 0);
	assert_int_equal(cb_ctl_call(&conn, &reply, "STATUS"), 0);
	assert_string_equal(reply.text, "two");
	assert_int_equal(reply.ndata, 1);
	assert_string_equal(reply.data[0], "d");
	cb_ctl_reply_free(&reply);
	assert_int_equal(fake_finish(), 0);
}

static void test_err_reply(void **state)
{
	(void)state;
	fake_one(FAKE_REPLY, "WORKER DEL ghost\n",
	    "ERR ENOENT no such worker 'ghost'\n", 0);
	assert_int_equal(cb_ctl_call(&conn, &reply, "WORKER DEL ghost"), 0);
	assert_int_equal(reply.err, ENOENT);
	assert_string_equal(reply.errname, "ENOENT");
	assert_string_equal(reply.text, "no such worker 'ghost'");
	assert_int_equal(reply.ndata, 0);
	/* A refusal is a reply: the connection stays. */
	assert_true(conn.fd >= 0);
	assert_int_equal(fake_finish(), 0);
}

/* An errno name we do not know is still a refusal. */
static void test_err_unknown_name(void **state)
{
	(void)state;
	fake_one(FAKE_REPLY, NULL, "ERR EFROBNICATED what\n", 0);
	assert_int_equal(cb_ctl_call(&conn, &reply, "PING"), 0);
	assert_int_equal(reply.err, EIO);
	assert_string_equal(reply.errname, "EFROBNICATED");
	assert_int_equal(fake_finish(), 0);
}

/* The longest line that fits: CB_CTL_LINE_MAX - 1 bytes and '\n'. */
static void test_line_longest(void **state)
{
	static char r[CB_CTL_LINE_MAX + 1];

	(void)state;
	memset(r, 'a', sizeof(r) - 1);
	memcpy(r, "OK 0 ", 5);
	r[CB_CTL_LINE_MAX - 1] = '\n';
	r[CB_CTL_LINE_MAX] = '\0';
	fake_one(FAKE_REPLY, NULL, r, 0);
	assert_int_equal(cb_ctl_call(&conn, &reply, "PING"), 0);
	assert_int_equal(strlen(reply.text), CB_CTL_LINE_MAX - 1 - 5);
	assert_int_equal(fake_finish(), 0);
}

/* ---- replies that do not ----------------------------------------- */

static void test_line_too_long(void **state)
{
	static char r[CB_CTL_LINE_MAX + 2];

	(void)state;
	memset(r, 'a', sizeof(r) - 1);
	memcpy(r, "OK 0 ", 5);
	r[CB_CTL_LINE_MAX] = '\n';  /* one byte more than fits */
	r[CB_CTL_LINE_MAX + 1] = '\0';
	fake_one(FAKE_REPLY, NULL, r, 0);
	expect_error(cb_ctl_call(&conn, &reply, "PING"), CB_CTL_EMALFORMED,
	    "line longer than 4095 bytes");
	/* The rest of that reply must never be read as the next one. */
	assert_int_equal(conn.fd, -1);
	assert_int_equal(fake_finish(), 0);
}

static void test_not_printable(void **state)
{
	static const char *const bad[] = {
		"OK 0 a\001b\n", "OK 0 a\177b\n", "OK 0 caf\303\251\n",
		"OK 1\nd\033[2J\n",
	};
	static const char *const kw[] = { "0x1 ", "0x7f", "0xc3", "0x1b" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_one(FAKE_REPLY, NULL, bad[i], 0);
		expect_error(cb_ctl_call(&conn, &reply, "PING"),
		    CB_CTL_EMALFORMED, kw[i]);
		assert_non_null(strstr(conn.errmsg, "not printable ASCII"));
		assert_int_equal(fake_finish(), 0);
	}
}

static void test_status_line_bad(void **state)
{
	static const char *const bad[] = { "HELLO there\n", "OK\n", "ERR\n",
	    "\n", "ok 0\n" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_one(FAKE_REPLY, NULL, bad[i], 0);
		expect_error(cb_ctl_call(&conn, &reply, "PING"),
		    CB_CTL_EMALFORMED, "neither OK N nor ERR ERRNAME");
		assert_int_equal(fake_finish(), 0);
	}
}

static void test_data_count_range(void **state)
{
	static const char *const bad[] = { "OK 4097\n", "OK -1\n",
	    "OK 99999999999999999999\n", "OK 2x\n" };
	static const char *const kw[] = { "too large", "too small",
	    "too large", "invalid" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_one(FAKE_REPLY, NULL, bad[i], 0);
		expect_error(cb_ctl_call(&conn, &reply, "PING"),
		    CB_CTL_EMALFORMED, kw[i]);
		assert_non_null(strstr(conn.errmsg, "data line count"));
		assert_int_equal(fake_finish(), 0);
	}
}

/* CB_CTL_DATA_MAX data lines are still a reply. */
static void test_data_count_max(void **state)
{
	static char r[16 + 2 * CB_CTL_DATA_MAX];
	int n;

	(void)state;
	n = snprintf(r, sizeof(r), "OK %d\n", CB_CTL_DATA_MAX);
	for (int i = 0; i < CB_CTL_DATA_MAX; i++, n += 2)
		memcpy(r + n, "d\n", 3);
	fake_one(FAKE_REPLY, NULL, r, 0);
	assert_int_equal(cb_ctl_call(&conn, &reply, "PING"), 0);
	assert_int_equal(reply.ndata, CB_CTL_DATA_MAX);
	assert_string_equal(reply.data[CB_CTL_DATA_MAX - 1], "d");
	cb_ctl_reply_free(&reply);
	assert_int_equal(fake_finish(), 0);
}

static void test_truncated_data(void **state)
{
	(void)state;
	fake_one(FAKE_REPLY_CLOSE, NULL, "OK 3 t\na\nb\n", 0);
	expect_error(cb_ctl_call(&conn, &reply, "PING"), CB_CTL_EMALFORMED,
	    "reply ended after 2 of 3 data lines");
	assert_int_equal(conn.fd, -1);
	assert_int_equal(fake_finish(), 0);
}

/* Closed before a whole status line: there is no broker to ask. */
static void test_truncated_status(void **state)
{
	static const char *const cut[] = { "", "OK 0 no newline" };

	(void)state;
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		fake_one(FAKE_REPLY_CLOSE, NULL, cut[i], 0);
		expect_error(cb_ctl_call(&conn, &reply, "PING"),
		    CB_CTL_EUNREACHABLE, "connection closed without a reply");
		assert_int_equal(fake_finish(), 0);
	}
}

/* ---- timeouts ----------------------------------------------------- */

/* SO_RCVTIMEO: a broker that says nothing. */
static void test_no_reply(void **state)
{
	uint64_t t0;

	(void)state;
	cb_ctl_init(&conn, SHORT_MS);
	fake_one(FAKE_SILENT, "PING\n", "", 0);
	t0 = cb_monotonic_ns();
	expect_error(cb_ctl_call(&conn, &reply, "PING"), CB_CTL_EUNREACHABLE,
	    "no reply within 300 ms");
	assert_true(conn.sys_errno == EAGAIN ||
	    conn.sys_errno == EWOULDBLOCK);
	assert_true(cb_monotonic_ns() - t0 < (HOLD_MS - 1000) * CB_NS_PER_MS);
	assert_int_equal(fake_finish(), 0);
}

/* The whole-reply deadline: a broker that trickles a byte per 20 ms
 * never lets one recv() time out. */
static void test_trickle(void **state)
{
	static char r[256];

	(void)state;
	memset(r, 'a', sizeof(r) - 2);
	memcpy(r, "OK 0 ", 5);
	r[sizeof(r) - 2] = '\n';
	cb_ctl_init(&conn, SHORT_MS);
	fake_one(FAKE_TRICKLE, NULL, r, 0);
	expect_error(cb_ctl_call(&conn, &reply, "PING"), CB_CTL_EUNREACHABLE,
	    "no complete reply within 300 ms");
	assert_int_equal(conn.sys_errno, ETIMEDOUT);
	fake_finish();
}

/* The whole seconds of a timeout are said in seconds. */
static void test_timeout_text_seconds(void **state)
{
	(void)state;
	cb_ctl_init(&conn, 1000);
	fake_one(FAKE_SILENT, NULL, "", 0);
	expect_error(cb_ctl_call(&conn, &reply, "PING"), CB_CTL_EUNREACHABLE,
	    "no reply within 1 s");
	assert_int_equal(fake_finish(), 0);
}

/*
 * Run fn in a child (it may block for ever when a check is missing);
 * its exit status, or -1 if it had not finished within ms.
 */
static int in_child(int (*fn)(void), int ms)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	for (int waited = 0; waited < ms; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Fill the listen queue of a server that never accepts, then connect:
 * 0 when the connect timed out as it should. */
static int connect_full_queue(void)
{
	int lfd = fake_listen(), fd, rc;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	listen(lfd, 0);
	strcpy(sun.sun_path, sockpath);
	for (int n = 0;; n++) {
		if (n == 16)
			return 2;           /* the queue never filled */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			break;
	}
	if (errno != EAGAIN)
		return 3;
	cb_ctl_init(&conn, SHORT_MS);
	rc = cb_ctl_connect(&conn, NAME);
	if (rc != CB_CTL_EUNREACHABLE || conn.fd != -1 || strcmp(conn.errmsg,
	    "no connection within 300 ms") != 0) {
		fprintf(stderr, "connect: %d '%s'\n", rc, conn.errmsg);
		return 1;
	}
	return 0;
}

/* SO_SNDTIMEO bounds connect() on a full listen queue. */
static void test_connect_timeout(void **state)
{
	(void)state;
	assert_int_equal(in_child(connect_full_queue, 3000), 0);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Signals arriving while the client waits are not failures. */
static void test_eintr(void **state)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval every = { { 0, 20000 }, { 0, 20000 } }, off = { 0 };
	int rc;

	(void)state;
	fake_one(FAKE_SLOW, "PING\n", "OK 0 pong\n", 0);
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &every, NULL);
	rc = cb_ctl_call(&conn, &reply, "PING");
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	if (rc != 0)
		print_error("call: %d '%s'\n", rc, conn.errmsg);
	assert_int_equal(rc, 0);
	assert_string_equal(reply.text, "pong");
	assert_int_equal(fake_finish(), 0);
}

/* ---- no broker ---------------------------------------------------- */

static void test_refused(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	(void)state;
	/* Bound, never listening: a broker that died. */
	strcpy(sun.sun_path, sockpath);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	expect_error(cb_ctl_connect(&conn, NAME), CB_CTL_EUNREACHABLE,
	    strerror(ECONNREFUSED));
	assert_int_equal(conn.sys_errno, ECONNREFUSED);
	assert_string_equal(conn.path, sockpath);
	assert_int_equal(conn.fd, -1);
}

static void test_no_socket(void **state)
{
	(void)state;
	expect_error(cb_ctl_connect(&conn, NAME), CB_CTL_EUNREACHABLE,
	    strerror(ENOENT));
	assert_int_equal(conn.sys_errno, ENOENT);
}

/* As nobody when run as root, who is let in whatever the mode. */
static int connect_shut_out(void)
{
	if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
		return 2;
	if (cb_ctl_connect(&conn, NAME) != CB_CTL_EUNREACHABLE)
		return 1;
	return conn.sys_errno == EACCES && strcmp(conn.errmsg,
	    strerror(EACCES)) == 0 ? 0 : 1;
}

/* The errno that tells a permission problem from a broker that is
 * down. */
static void test_permission(void **state)
{
	int lfd;

	(void)state;
	lfd = fake_listen();
	/* The socket's mode shuts nobody out, not the directory's. */
	chmod(rundir, 0755);
	chmod(sockpath, 0);
	assert_int_equal(in_child(connect_shut_out, 3000), 0);
	close(lfd);
}

/* The peer hung up: send() says EPIPE, no SIGPIPE kills us. */
static void test_hangup(void **state)
{
	int rc;

	(void)state;
	/* Whatever this process inherited: a SIGPIPE must kill it. */
	signal(SIGPIPE, SIG_DFL);
	fake_one(FAKE_HANGUP, NULL, "", 0);
	assert_int_equal(fake_reap(), 0);
	rc = cb_ctl_call(&conn, &reply, "PING");
	expect_error(rc, CB_CTL_EUNREACHABLE, strerror(EPIPE));
	assert_int_equal(conn.sys_errno, EPIPE);
}

static void test_address(void **state)
{
	char longdir[200];

	(void)state;
	expect_error(cb_ctl_connect(&conn, "no/slash"), CB_CTL_EADDRESS,
	    "bad broker name");
	assert_int_equal(conn.sys_errno, EINVAL);
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	setenv("CAPBROKER_RUNDIR", longdir, 1);
	expect_error(cb_ctl_connect(&conn, NAME), CB_CTL_EADDRESS,
	    "is longer than 107 bytes");
	assert_int_equal(conn.sys_errno, ENAMETOOLONG);
	assert_string_equal(conn.path, "");
	setenv("CAPBROKER_RUNDIR", rundir, 1);
}

/* ---- requests ----------------------------------------------------- */

static void test_request_checked(void **state)
{
	char big[600];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* Checked before anything is sent, connected or not. */
	expect_error(cb_ctl_call(&conn, &reply, "PING %s", big),
	    CB_CTL_EREQUEST, "request longer than 511 bytes");
	expect_error(cb_ctl_call(&conn, &reply, "WORKER DEL a\nOVERRIDE 1"),
	    CB_CTL_EREQUEST, "request byte 0xa");
	expect_error(cb_ctl_call(&conn, &reply, "PING"),
	    CB_CTL_EUNREACHABLE, "not connected");
	/* A checked request leaves a connection as it was. */
	fake_one(FAKE_REPLY, "PING\n", "OK 0 pong\n", 0);
	expect_error(cb_ctl_call(&conn, &reply, "PI\001NG"), CB_CTL_EREQUEST,
	    "not printable");
	assert_true(conn.fd >= 0);
	assert_int_equal(cb_ctl_call(&conn, &reply, "PING"), 0);
	assert_string_equal(reply.text, "pong");
	assert_int_equal(fake_finish(), 0);
}

/* ---- reply contents ----------------------------------------------- */

static void test_reply_values(void **state)
{
	char out[8];
	long long v = -1;

	(void)state;
	strcpy(reply.text, "pool=gpu index=70 limit=8 toolong=123456789 "
	    "limitless x=");
	assert_int_equal(cb_ctl_reply_value(&reply, "pool", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "gpu");
	assert_int_equal(cb_ctl_reply_value(&reply, "x", out, sizeof(out)),
	    0);
	assert_string_equal(out, "");
	/* A key is a whole word up to '=': "limit" is not "limitless". */
	assert_int_equal(cb_ctl_reply_value(&reply, "limitless", out,
	    sizeof(out)), -1);
	assert_int_equal(cb_ctl_reply_value(&reply, "toolong", out,
	    sizeof(out)), -1);
	assert_int_equal(cb_ctl_reply_number(&conn, &reply, "limit", 65535,
	    &v), 0);
	assert_int_equal(v, 8);
	expect_error(cb_ctl_reply_number(&conn, &reply, "index", 63, &v),
	    CB_CTL_EMALFORMED, "index '70' is too large (0..63)");
	expect_error(cb_ctl_reply_number(&conn, &reply, "generation", 9, &v),
	    CB_CTL_EMALFORMED, "no generation= in");
}

static void test_word_next(void **state)
{
	char line[] = " \tWORKER  SET\tw1 ", *p = line;

	(void)state;
	assert_string_equal(cb_ctl_word_next(&p), "WORKER");
	assert_string_equal(cb_ctl_word_next(&p), "SET");
	assert_string_equal(cb_ctl_word_next(&p), "w1");
	assert_null(cb_ctl_word_next(&p));
	assert_null(cb_ctl_word_next(&p));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ok_with_data),
		T(test_two_requests),
		T(test_err_reply),
		T(test_err_unknown_name),
		T(test_line_longest),
		T(test_line_too_long),
		T(test_not_printable),
		T(test_status_line_bad),
		T(test_data_count_range),
		T(test_data_count_max),
		T(test_truncated_data),
		T(test_truncated_status),
		T(test_no_reply),
		T(test_trickle),
		T(test_timeout_text_seconds),
		T(test_connect_timeout),
		T(test_eintr),
		T(test_refused),
		T(test_no_socket),
		T(test_permission),
		T(test_hangup),
		T(test_address),
		T(test_request_checked),
		T(test_reply_values),
		T(test_word_next),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
