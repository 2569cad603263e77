/*
 * etcd.c - a one-member etcd for the global pool of section 2
 * (M_CB_GLOBAL): started by capbench on two free loopback ports with
 * its data in the run directory, named in the broker's configuration
 * (broker_start()), so that the pool is global for real: the broker's
 * cluster thread publishes its share and deadline, its sweeper ages its
 * holds (lib/age.h), and a pair runs exactly what a global pool's does.
 * Without etcd in $PATH the method is skipped with a note
 * (peers->etcd_why), as Redis is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capbench.h"
#include "clock.h"

/* A loopback TCP port free now (the kernel's pick; etcd binds it a
 * moment later, as the integration tests' cbports does). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int tcp_connects(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* etcd serving on 127.0.0.1 within 10 s; 0, or -errno with the reason
 * in b->peers.etcd_why.  The broker, started next, does the rest. */
int etcd_start(struct bench *b)
{
	struct bench_peers *p = &b->peers;
	char exe[PATH_MAX], dir[PATH_MAX + 8], logf[PATH_MAX + 16];
	char peer[64], cluster[80];
	int cport = free_port(), pport = free_port(), fd;
	uint64_t deadline;

	if (!in_path("etcd", exe, sizeof(exe))) {
		snprintf(p->etcd_why, sizeof(p->etcd_why), "etcd not "
		    "installed (Debian etcd-server: sh scripts/install-deps.sh)");
		return -ENOENT;
	}
	if (cport < 0 || pport < 0 || cport == pport) {
		snprintf(p->etcd_why, sizeof(p->etcd_why), "no free loopback "
		    "port for etcd");
		return -EADDRINUSE;
	}
	snprintf(p->etcd_url, sizeof(p->etcd_url), "http://127.0.0.1:%d",
	    cport);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "bench=%s", peer);
	snprintf(dir, sizeof(dir), "%s/etcd", p->rundir);
	snprintf(logf, sizeof(logf), "%s/etcd.log", p->rundir);
	if ((fd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) < 0) {
		bfmt(p->etcd_why, sizeof(p->etcd_why), "%s: %s", logf,
		    strerror(errno));
		return -errno;
	}
	p->etcd = fork_kid(&b->procs, SIGKILL);
	if (p->etcd == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl(exe, "etcd", "--name", "bench", "--data-dir", dir,
		    "--listen-client-urls", p->etcd_url,
		    "--advertise-client-urls", p->etcd_url,
		    "--listen-peer-urls", peer,
		    "--initial-advertise-peer-urls", peer,
		    "--initial-cluster", cluster,
		    "--initial-cluster-state", "new",
		    "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	close(fd);
	if (p->etcd < 0)
		return -errno;
	deadline = cb_monotonic_ns() + 10000000000ull;
	while (!tcp_connects(cport)) {
		if (cb_monotonic_ns() > deadline ||
		    waitpid(p->etcd, NULL, WNOHANG) == p->etcd) {
			bfmt(p->etcd_why, sizeof(p->etcd_why), "etcd did not "
			    "start (see %s)", logf);
			return -ETIMEDOUT;
		}
		sleep_us(10000);
	}
	p->etcd_ok = 1;
	return 0;
}
