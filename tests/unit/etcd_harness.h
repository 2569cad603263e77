/*
 * etcd_harness.h - a real, private etcd for the tests (issue 15): one
 * member on loopback, its data in a directory of its own, killed and
 * removed when the test ends.  (tests/integration/lib.sh has the shell
 * twin, etcd_start_cluster, for three members.)
 *
 * Ports: two free loopback ports, found by binding port 0 (both held at
 * once, so they differ) and closing them just before etcd starts.  Two
 * runs racing for a port in that window lose nothing: the loser's etcd
 * exits at once (address in use), which the start sees, and it tries
 * again with fresh ports.
 *
 * The member dies with the test: it gets SIGKILL when the test process
 * ends, however it ends (PR_SET_PDEATHSIG), and etcd_harness_stop() also
 * kills it, waits for it and removes the directory.
 *
 * Uses libcurl (easy interface) to ask /health, and nothing of the code
 * under test.
 */
#ifndef CB_TEST_ETCD_HARNESS_H
#define CB_TEST_ETCD_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../integration/ports.h"

/* -DETCD_HARNESS_BIN=... tries another one (or none: the skip). */
#ifndef ETCD_HARNESS_BIN
#define ETCD_HARNESS_BIN	"/usr/bin/etcd"
#endif

struct etcd_harness {
	pid_t pid;
	char dir[160];
	int client_port;
	int peer_port;
	char endpoint[64];	/* http://127.0.0.1:PORT */
};

/* n distinct free loopback ports (TCP): ports.h. */
static inline int etcd_harness_free_ports(int *ports, int n)
{
	return n > 8 ? -1 : cb_free_ports(ports, n);
}

static size_t etcd_harness_sink(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One GET of /health: 0 when etcd answers 200 (it has a leader). */
static inline int etcd_harness_healthy(const struct etcd_harness *h)
{
	char url[96];
	long status = 0;
	CURL *c = curl_easy_init();
	CURLcode rc;

	if (c == NULL)
		return -1;
	snprintf(url, sizeof(url), "%s/health", h->endpoint);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 500L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, etcd_harness_sink);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return rc == CURLE_OK && status == 200 ? 0 : -1;
}

static inline void etcd_harness_exec(const struct etcd_harness *h)
{
	char data[200], log[200], curl[64], purl[64], cluster[96];
	int fd;

	/* Dies with the test, however the test ends. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(127);
	snprintf(data, sizeof(data), "%s/data", h->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", h->dir);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", h->client_port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", h->peer_port);
	snprintf(cluster, sizeof(cluster), "t=%s", purl);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	execl(ETCD_HARNESS_BIN, "etcd", "--name", "t", "--data-dir", data,
	    "--listen-client-urls", curl, "--advertise-client-urls", curl,
	    "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
	    "--initial-cluster", cluster, "--log-level", "warn",
	    (char *)NULL);
	_exit(127);
}

static inline void etcd_harness_kill(struct etcd_harness *h)
{
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
}

/* Wait up to about 15 s for h's member to answer; 0, or -1 when it
 * exited (a port taken) or never answered. */
static inline int etcd_harness_wait(struct etcd_harness *h)
{
	const struct timespec tick = { 0, 50 * 1000 * 1000 };
	int i;

	for (i = 0; i < 300; i++) {
		if (waitpid(h->pid, NULL, WNOHANG) == h->pid) {
			h->pid = 0;
			return -1;
		}
		if (etcd_harness_healthy(h) == 0)
			return 0;
		nanosleep(&tick, NULL);
	}
	return -1;
}

static int etcd_harness_rm(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The end of the member's log, on stderr: why it would not start. */
static inline void etcd_harness_print_log(const struct etcd_harness *h)
{
	char path[200], buf[2048];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/etcd.log", h->dir);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fseek(f, -(long)sizeof(buf), SEEK_END) != 0)
		rewind(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	fprintf(stderr, "--- %s:\n%.*s\n", path, (int)n, buf);
}

/* Kill the member, wait for it, remove its directory. */
static inline void etcd_harness_stop(struct etcd_harness *h)
{
	etcd_harness_kill(h);
	if (h->dir[0] != '\0')
		nftw(h->dir, etcd_harness_rm, 16, FTW_DEPTH | FTW_PHYS);
	h->dir[0] = '\0';
}

/*
 * Start a member and wait until it answers.  Returns 0; 1 when there
 * is no etcd to run (why says so: the caller skips); -1 when it would
 * not start (why says so, the log's end is on stderr, the directory is
 * removed).
 */
static inline int etcd_harness_start(struct etcd_harness *h, char *why,
    size_t whylen)
{
	const char *tmp = getenv("TMPDIR");
	int ports[2], attempt;
	char data[200];

	memset(h, 0, sizeof(*h));
	if (access(ETCD_HARNESS_BIN, X_OK) != 0) {
		snprintf(why, whylen, "%s: %s (Debian etcd-server; "
		    "scripts/install-deps.sh installs it)", ETCD_HARNESS_BIN,
		    strerror(errno));
		return 1;
	}
	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 100)
		tmp = "/tmp";
	snprintf(h->dir, sizeof(h->dir), "%s/cb-etcd-test.XXXXXX", tmp);
	if (mkdtemp(h->dir) == NULL) {
		snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
		h->dir[0] = '\0';
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (attempt = 0; attempt < 5; attempt++) {
		if (etcd_harness_free_ports(ports, 2) != 0)
			continue;
		h->client_port = ports[0];
		h->peer_port = ports[1];
		snprintf(h->endpoint, sizeof(h->endpoint),
		    "http://127.0.0.1:%d", h->client_port);
		h->pid = fork();
		if (h->pid < 0)
			break;
		if (h->pid == 0)
			etcd_harness_exec(h);
		if (etcd_harness_wait(h) == 0)
			return 0;
		etcd_harness_kill(h);
		/* A fresh member next time, not one half made here. */
		snprintf(data, sizeof(data), "%s/data", h->dir);
		nftw(data, etcd_harness_rm, 16, FTW_DEPTH | FTW_PHYS);
	}
	snprintf(why, whylen, "etcd did not start (%d tries)", attempt);
	etcd_harness_print_log(h);
	etcd_harness_stop(h);
	return -1;
}

#endif /* CB_TEST_ETCD_HARNESS_H */
