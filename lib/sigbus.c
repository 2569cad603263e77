/*
 * sigbus.c - the SIGBUS guard of shared mappings (protocol: sigbus.h).
 */
#include "sigbus.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { ENTRY_FREE, ENTRY_BUSY, ENTRY_LIVE };

struct guard {
	_Atomic int state;             /* ENTRY_*: see sigbus.h */
	/* Written while BUSY by the registering thread, read by the
	 * handler only while LIVE (the state's release/acquire). */
	uintptr_t base;
	size_t length;
	int prot;
	int fd;
	int writable;                  /* fd is O_RDWR */
	_Atomic uintptr_t *damaged;
	uintptr_t damaged_value;
	/* Written by the handler. */
	_Atomic int hit;               /* a zero mapping was put over it */
	_Atomic uintptr_t last_retry;  /* see retry_once() */
	_Atomic uint64_t restores;
};

static struct guard guards[CB_SIGBUS_MAX];
/* Entries [0, used) may be LIVE: the handler scans no further.  Only
 * grows; release pairs with the handler's acquire, though each entry's
 * own state word is what the handler trusts. */
static _Atomic unsigned used;

static struct sigaction previous;
/* Set (release) once `previous` holds the disposition our handler
 * replaced; the handler's acquire load pairs with it.  Until then a
 * fault outside our mappings falls back to SIG_DFL. */
static _Atomic int previous_ready;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

static long page_size(void)
{
	static _Atomic long cached;
	long p = atomic_load_explicit(&cached, memory_order_relaxed);

	if (p == 0) {
		p = sysconf(_SC_PAGESIZE);   /* never from the handler */
		atomic_store_explicit(&cached, p, memory_order_relaxed);
	}
	return p;
}

/* Pass a SIGBUS that is not ours on, as if we had never been here. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;

	/* Pairs with the release store in install(). */
	if (atomic_load_explicit(&previous_ready, memory_order_acquire)) {
		if (previous.sa_flags & SA_SIGINFO) {
			previous.sa_sigaction(sig, si, uc);
			return;
		}
		if (previous.sa_handler != SIG_DFL &&
		    previous.sa_handler != SIG_IGN) {
			previous.sa_handler(sig);
			return;
		}
	}
	/* SIG_IGN cannot hold back a fault's SIGBUS (the kernel forces
	 * it): both die as SIG_DFL would.  sigaction and raise are
	 * async-signal-safe; SIGBUS is blocked here, so the raised one
	 * arrives when we return (and a fault's access would raise it
	 * again anyway). */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGBUS, &dfl, NULL);
	raise(SIGBUS);
}

/*
 * The size is right but the access faulted: retry once per address and
 * file version (a restore by another process raced our fstat), not
 * twice (a fault the size cannot explain).  The version is the file's
 * mtime, which every ftruncate that changes the size moves: the same
 * page faulting after a later shrink and restore is a new event and is
 * retried again.  Threads faulting at once may reset each other's key:
 * a few more retries at worst, each a fault.
 */
static int retry_once(struct guard *g, uintptr_t page,
    const struct timespec *mtime)
{
	uint64_t version = (uint64_t)mtime->tv_sec * 1000000000u +
	    (uint64_t)mtime->tv_nsec;
	uintptr_t key = page ^ (uintptr_t)(version * 0x9e3779b97f4a7c15ull);

	return atomic_exchange_explicit(&g->last_retry, key,
	    memory_order_relaxed) != key;
}

/* Private zero pages over [from, end) of g's mapping; sets damaged. */
static int zero_map(struct guard *g, uintptr_t from)
{
	uintptr_t end = g->base + g->length;

	if (from >= end)
		return 0;
	/* mmap is a system call with no lock in glibc; MAP_FIXED replaces
	 * the cut pages of this mapping and nothing else. */
	if (mmap((void *)from, end - from, g->prot, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		return 0;
	atomic_store_explicit(&g->hit, 1, memory_order_relaxed);
	/* Pairs with the owner's acquire load of *damaged: it sees the
	 * zero pages in place (and so never faults on them). */
	if (g->damaged != NULL)
		atomic_store_explicit(g->damaged, g->damaged_value,
		    memory_order_release);
	return 1;
}

/* A fault at addr inside g: make the access succeed.  1 if it will. */
static int repair(struct guard *g, uintptr_t addr, uintptr_t pg)
{
	uintptr_t fault_page = addr & ~(pg - 1);
	struct stat st;

	if (g->fd < 0 || fstat(g->fd, &st) < 0)
		return zero_map(g, fault_page);
	if ((uint64_t)st.st_size >= g->length) {
		if (retry_once(g, fault_page, &st.st_mtim))
			return 1;
		return zero_map(g, fault_page);
	}
	if (g->writable && ftruncate(g->fd, (off_t)g->length) == 0) {
		atomic_fetch_add_explicit(&g->restores, 1,
		    memory_order_relaxed);
		return 1;
	}
	return zero_map(g, g->base + (((uintptr_t)st.st_size + pg - 1) &
	    ~(pg - 1)));
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	uintptr_t addr = (uintptr_t)si->si_addr;
	/* The page size was cached at registration (page_size()). */
	uintptr_t pg = (uintptr_t)page_size();
	/* Pairs with the release increment in cb_sigbus_guard(). */
	unsigned n = atomic_load_explicit(&used, memory_order_acquire);

	if (si->si_code > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct guard *g = &guards[i];

			/* Pairs with the release store of LIVE in
			 * cb_sigbus_guard(): the fields are written. */
			if (atomic_load_explicit(&g->state,
			    memory_order_acquire) != ENTRY_LIVE ||
			    addr < g->base || addr - g->base >= g->length)
				continue;
			if (repair(g, addr, pg)) {
				errno = saved;
				return;
			}
			break;
		}
	}
	chain(sig, si, uc);
	errno = saved;
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous) < 0) {
		install_error = -errno;
		return;
	}
	/* Pairs with the acquire load in chain(). */
	atomic_store_explicit(&previous_ready, 1, memory_order_release);
}

int cb_sigbus_guard(void *base, size_t length, int prot, int fd,
    _Atomic uintptr_t *damaged, uintptr_t damaged_value)
{
	int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

	if (base == NULL || length == 0)
		return -EINVAL;
	(void)page_size();
	pthread_once(&install_once, install);
	if (install_error < 0)
		return install_error;
	for (unsigned i = 0; i < CB_SIGBUS_MAX; i++) {
		struct guard *g = &guards[i];
		int expect = ENTRY_FREE;

		if (!atomic_compare_exchange_strong_explicit(&g->state,
		    &expect, ENTRY_BUSY, memory_order_acquire,
		    memory_order_relaxed))
			continue;
		g->base = (uintptr_t)base;
		g->length = length;
		g->prot = prot;
		g->fd = fd;
		g->writable = fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
		g->damaged = damaged;
		g->damaged_value = damaged_value;
		atomic_store_explicit(&g->hit, 0, memory_order_relaxed);
		atomic_store_explicit(&g->last_retry, 0, memory_order_relaxed);
		atomic_store_explicit(&g->restores, 0, memory_order_relaxed);
		unsigned n = atomic_load_explicit(&used, memory_order_relaxed);
		/* Pairs with the handler's acquire load of used. */
		while (n < i + 1 && !atomic_compare_exchange_weak_explicit(
		    &used, &n, i + 1, memory_order_release,
		    memory_order_relaxed))
			;
		/* Pairs with the handler's acquire load of state. */
		atomic_store_explicit(&g->state, ENTRY_LIVE,
		    memory_order_release);
		return 0;
	}
	return -ENOSPC;
}

static struct guard *find(uintptr_t addr, int exact)
{
	unsigned n = atomic_load_explicit(&used, memory_order_acquire);

	for (unsigned i = 0; i < n; i++) {
		struct guard *g = &guards[i];

		/* Pairs with the release store of LIVE. */
		if (atomic_load_explicit(&g->state, memory_order_acquire) !=
		    ENTRY_LIVE)
			continue;
		if (exact ? addr == g->base :
		    addr >= g->base && addr - g->base < g->length)
			return g;
	}
	return NULL;
}

void cb_sigbus_unguard(void *base)
{
	struct guard *g;
	int expect = ENTRY_LIVE;

	if (base == NULL || (g = find((uintptr_t)base, 1)) == NULL)
		return;
	/* The handler skips the entry from here on; FREE (release) lets
	 * the next registration reuse it. */
	if (atomic_compare_exchange_strong_explicit(&g->state, &expect,
	    ENTRY_BUSY, memory_order_acq_rel, memory_order_relaxed))
		atomic_store_explicit(&g->state, ENTRY_FREE,
		    memory_order_release);
}

int cb_sigbus_damaged(const void *addr)
{
	struct guard *g = find((uintptr_t)addr, 0);

	return g != NULL && atomic_load_explicit(&g->hit,
	    memory_order_relaxed);
}

uint64_t cb_sigbus_restores(const void *addr)
{
	struct guard *g = find((uintptr_t)addr, 0);

	return g == NULL ? 0 : atomic_load_explicit(&g->restores,
	    memory_order_relaxed);
}
