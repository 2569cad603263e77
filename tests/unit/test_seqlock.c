/*
 * test_seqlock.c - the single-writer sequence lock (lib/seqlock.h).
 *
 * The first tests walk the protocol step by step.  The two validators
 * (in the manner of Concurrency Kit's regressions/.../validate) hammer
 * its one invariant: a copy that cb_seqlock_read() accepts is never
 * torn.  The writer fills a payload of PAYLOAD_WORDS words with the same
 * value k, k = 1, 2, 3, ...; every accepted copy must hold one k in all
 * words, and a reader's successive copies must never go back in k.
 * Once with threads, once with processes sharing an anonymous
 * MAP_SHARED mapping (the real deployment: broker and clients are
 * separate processes).
 *
 * Run time is bounded: each validator writes for about RUN_NS, longer
 * only until every reader has MIN_COPIES accepted copies, and gives up
 * at HARD_LIMIT_NS.  Nothing asserts on timing; a reader that never gets
 * MIN_COPIES within the hard limit is reported as starved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "seqlock.h"

#define PAYLOAD_WORDS 32
#define READERS 3
#define RUN_NS 500000000ull          /* 0.5 s */
#define HARD_LIMIT_NS 20000000000ull /* give up: readers starved */
#define MIN_COPIES 100

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- protocol, step by step -------------------------------------- */

static void test_write_begin_makes_sequence_odd(void **state)
{
	_Atomic uint32_t seq = 0;
	uint32_t s;
	(void)state;

	s = cb_seqlock_read_begin(&seq);
	assert_int_equal(s, 0);
	assert_false(cb_seqlock_read_retry(&seq, s));

	cb_seqlock_write_begin(&seq);
	assert_int_equal(atomic_load(&seq) & 1, 1);
	/* A copy begun before the write is torn now ... */
	assert_true(cb_seqlock_read_retry(&seq, s));
	/* ... and one begun during it is torn from the start. */
	s = cb_seqlock_read_begin(&seq);
	assert_int_equal(s & 1, 1);
	assert_true(cb_seqlock_read_retry(&seq, s));

	cb_seqlock_write_end(&seq);
	assert_int_equal(atomic_load(&seq), 2);
	/* The odd value taken mid-write stays invalid after the write. */
	assert_true(cb_seqlock_read_retry(&seq, s));
	assert_true(cb_seqlock_read_retry(&seq, 0));
	s = cb_seqlock_read_begin(&seq);
	assert_int_equal(s, 2);
	assert_false(cb_seqlock_read_retry(&seq, s));
}

static void test_whole_write_between_begin_and_retry_is_torn(void **state)
{
	_Atomic uint32_t seq = 40;
	uint32_t s;
	(void)state;

	s = cb_seqlock_read_begin(&seq);
	cb_seqlock_write_begin(&seq);
	cb_seqlock_write_end(&seq);
	/* Even again, but not the same even value: the copy is torn. */
	assert_int_equal(atomic_load(&seq), 42);
	assert_true(cb_seqlock_read_retry(&seq, s));
}

static void test_completed_write_reads_back(void **state)
{
	_Atomic uint32_t seq = 0;
	uint64_t data[8] = { 0 }, src[8], dst[8];
	(void)state;

	for (int round = 1; round <= 3; round++) {
		for (size_t i = 0; i < N(src); i++)
			src[i] = 0x0101010101010101ull * (uint64_t)round + i;
		cb_seqlock_write(&seq, data, src, sizeof(src));
		assert_int_equal(atomic_load(&seq), 2 * round);
		memset(dst, 0, sizeof(dst));
		assert_int_equal(cb_seqlock_read(&seq, dst, data,
		    sizeof(dst)), 0);
		assert_memory_equal(dst, src, sizeof(src));
	}
}

static void test_copy_stays_within_len(void **state)
{
	uint64_t src[6] = { 1, 2, 3, 4, 5, 6 };
	uint64_t dst[6] = { 9, 9, 9, 9, 9, 9 };
	(void)state;

	cb_seq_copy_out(dst, src, 4 * 8);
	assert_true(dst[0] == 1 && dst[3] == 4);
	assert_true(dst[4] == 9 && dst[5] == 9);
	cb_seq_copy_in(dst, src + 2, 2 * 8);
	assert_true(dst[0] == 3 && dst[1] == 4 && dst[2] == 3);
	cb_seq_copy_out(dst, src, 0);
	assert_true(dst[0] == 3);
}

static void test_read_gives_up_on_stuck_odd_sequence(void **state)
{
	/* A writer died between write_begin and write_end. */
	_Atomic uint32_t seq = 7;
	uint64_t data[4] = { 1, 2, 3, 4 }, dst[4];
	(void)state;

	alarm(30); /* a hang kills the binary: the runner counts it */
	assert_int_equal(cb_seqlock_read(&seq, dst, data, sizeof(dst)),
	    -EAGAIN);
	/* The reader never writes the sequence. */
	assert_int_equal(atomic_load(&seq), 7);

	atomic_store(&seq, UINT32_MAX); /* odd, about to wrap */
	assert_int_equal(cb_seqlock_read(&seq, dst, data, sizeof(dst)),
	    -EAGAIN);
	alarm(0);
}

static void test_repair_makes_sequence_even(void **state)
{
	_Atomic uint32_t seq = 7;
	uint64_t data[4] = { 5, 6, 7, 8 }, src[4] = { 1, 1, 1, 1 }, dst[4];
	(void)state;

	assert_int_equal(cb_seqlock_repair(&seq), 1);
	assert_int_equal(atomic_load(&seq), 8);
	/* Already even: nothing to repair, nothing changed. */
	assert_int_equal(cb_seqlock_repair(&seq), 0);
	assert_int_equal(atomic_load(&seq), 8);

	assert_int_equal(cb_seqlock_read(&seq, dst, data, sizeof(dst)), 0);
	assert_memory_equal(dst, data, sizeof(dst));
	cb_seqlock_write(&seq, data, src, sizeof(src));
	assert_int_equal(atomic_load(&seq), 10);
	assert_int_equal(cb_seqlock_read(&seq, dst, data, sizeof(dst)), 0);
	assert_memory_equal(dst, src, sizeof(dst));

	atomic_store(&seq, UINT32_MAX);
	assert_int_equal(cb_seqlock_repair(&seq), 1);
	assert_int_equal(atomic_load(&seq), 0);
	assert_int_equal(cb_seqlock_read(&seq, dst, data, sizeof(dst)), 0);
}

static void test_sequence_wraps(void **state)
{
	_Atomic uint32_t seq = UINT32_MAX - 1;
	uint64_t data[2] = { 0 }, src[2] = { 3, 4 }, dst[2];
	(void)state;

	cb_seqlock_write_begin(&seq);
	assert_int_equal(atomic_load(&seq), UINT32_MAX);
	cb_seqlock_write_end(&seq);
	assert_int_equal(atomic_load(&seq), 0);
	cb_seqlock_write(&seq, data, src, sizeof(src));
	assert_int_equal(atomic_load(&seq), 2);
	assert_int_equal(cb_seqlock_read(&seq, dst, data, sizeof(dst)), 0);
	assert_memory_equal(dst, src, sizeof(src));
}

/* ---- the shared block and its two sides ---------------------------- */

struct block {
	_Atomic uint32_t seq;
	_Atomic uint32_t stop;
	uint64_t pad[7];
	uint64_t data[PAYLOAD_WORDS];
	/* Reader progress, published for the writer's stop decision. */
	_Atomic uint64_t copies[READERS];
	_Atomic uint64_t values[READERS];
};

struct reader_result {
	uint64_t copies;      /* accepted copies */
	uint64_t gave_up;     /* -EAGAIN returns */
	uint64_t torn;        /* accepted copies that were torn */
	uint64_t backwards;   /* accepted copies older than the previous */
	uint64_t values;      /* distinct k seen */
};

/* Busy-wait a little, so readers overlap both writes and gaps. */
static void spin(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		;
}

static void writer_run(struct block *b)
{
	uint64_t src[PAYLOAD_WORDS], start = cb_monotonic_ns(), k = 0;
	unsigned rnd = 12345;

	for (;;) {
		uint64_t t;
		int done = 1;

		k++;
		for (size_t i = 0; i < PAYLOAD_WORDS; i++)
			src[i] = k;
		cb_seqlock_write(&b->seq, b->data, src, sizeof(src));
		rnd = rnd * 1103515245u + 12345u;
		spin((rnd >> 16) % 512);
		if (k % 64 != 0)
			continue;
		t = cb_monotonic_ns() - start;
		for (int r = 0; r < READERS; r++)
			if (atomic_load_explicit(&b->copies[r],
			    memory_order_relaxed) < MIN_COPIES)
				done = 0;
		if ((t >= RUN_NS && done) || t >= HARD_LIMIT_NS)
			break;
	}
	atomic_store_explicit(&b->stop, 1, memory_order_release);
}

static void reader_run(struct block *b, int idx, struct reader_result *res)
{
	uint64_t copy[PAYLOAD_WORDS], last = 0;
	uint64_t give_up_at = cb_monotonic_ns() + HARD_LIMIT_NS + 5000000000ull;

	memset(res, 0, sizeof(*res));
	while (!atomic_load_explicit(&b->stop, memory_order_acquire)) {
		int torn = 0;

		if (cb_seqlock_read(&b->seq, copy, b->data,
		    sizeof(copy)) != 0) {
			res->gave_up++;
			if (cb_monotonic_ns() > give_up_at)
				break; /* the writer is gone */
			continue;
		}
		for (size_t i = 1; i < PAYLOAD_WORDS; i++)
			if (copy[i] != copy[0])
				torn = 1;
		if (torn)
			res->torn++;
		else if (copy[0] < last)
			res->backwards++;
		else if (copy[0] != last)
			res->values++;
		if (!torn && copy[0] > last)
			last = copy[0];
		res->copies++;
		atomic_store_explicit(&b->copies[idx], res->copies,
		    memory_order_relaxed);
		atomic_store_explicit(&b->values[idx], res->values,
		    memory_order_relaxed);
		if ((res->copies & 1023) == 0 && cb_monotonic_ns() > give_up_at)
			break;
	}
}

static void check_results(const struct reader_result *res, int n,
    const char *what)
{
	for (int r = 0; r < n; r++) {
		print_message("%s reader %d: %llu copies, %llu distinct, "
		    "%llu gave up\n", what, r,
		    (unsigned long long)res[r].copies,
		    (unsigned long long)res[r].values,
		    (unsigned long long)res[r].gave_up);
		assert_int_equal(res[r].torn, 0);
		assert_int_equal(res[r].backwards, 0);
		assert_true(res[r].copies >= MIN_COPIES);
	}
}

static struct block *block_new(int shared)
{
	struct block *b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
	    (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);

	assert_true(b != MAP_FAILED);
	/* Initial payload: all zero, consistent, sequence even. */
	return b;
}

/* ---- validator (a): threads -------------------------------------- */

struct thread_arg {
	struct block *b;
	int idx;
	struct reader_result res;
};

static void *reader_thread(void *p)
{
	struct thread_arg *a = p;

	reader_run(a->b, a->idx, &a->res);
	return NULL;
}

static void test_validate_threads(void **state)
{
	struct block *b = block_new(0);
	struct thread_arg arg[READERS];
	pthread_t tid[READERS];
	struct reader_result res[READERS];
	(void)state;

	for (int r = 0; r < READERS; r++) {
		arg[r].b = b;
		arg[r].idx = r;
		assert_int_equal(pthread_create(&tid[r], NULL, reader_thread,
		    &arg[r]), 0);
	}
	writer_run(b);
	for (int r = 0; r < READERS; r++) {
		assert_int_equal(pthread_join(tid[r], NULL), 0);
		res[r] = arg[r].res;
	}
	assert_int_equal(atomic_load(&b->seq) & 1, 0);
	munmap(b, sizeof(*b));
	check_results(res, READERS, "thread");
}

/* ---- validator (b): processes ------------------------------------ */

enum { EXIT_OK = 0, EXIT_TORN = 10, EXIT_BACKWARDS = 11,
    EXIT_STARVED = 12 };

static void test_validate_processes(void **state)
{
	struct block *b = block_new(1);
	pid_t pid[READERS];
	struct reader_result res[READERS];
	(void)state;

	for (int r = 0; r < READERS; r++) {
		pid[r] = fork();
		assert_true(pid[r] >= 0);
		if (pid[r] == 0) {
			struct reader_result mine;

			reader_run(b, r, &mine);
			if (mine.torn)
				_exit(EXIT_TORN);
			if (mine.backwards)
				_exit(EXIT_BACKWARDS);
			if (mine.copies < MIN_COPIES)
				_exit(EXIT_STARVED);
			_exit(EXIT_OK);
		}
	}
	writer_run(b);
	for (int r = 0; r < READERS; r++) {
		int status = 0;

		assert_int_equal(waitpid(pid[r], &status, 0), pid[r]);
		if (!WIFEXITED(status))
			print_error("reader process %d: killed by signal %d\n",
			    r, WTERMSIG(status));
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != EXIT_OK)
			print_error("reader process %d: exit %d (%s)\n", r,
			    WEXITSTATUS(status),
			    WEXITSTATUS(status) == EXIT_TORN ? "torn copy" :
			    WEXITSTATUS(status) == EXIT_BACKWARDS ?
			    "copy went backwards" : "starved");
		assert_int_equal(WEXITSTATUS(status), EXIT_OK);
		memset(&res[r], 0, sizeof(res[r]));
		res[r].copies = atomic_load(&b->copies[r]);
		res[r].values = atomic_load(&b->values[r]);
	}
	munmap(b, sizeof(*b));
	check_results(res, READERS, "process");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_begin_makes_sequence_odd),
		cmocka_unit_test(test_whole_write_between_begin_and_retry_is_torn),
		cmocka_unit_test(test_completed_write_reads_back),
		cmocka_unit_test(test_copy_stays_within_len),
		cmocka_unit_test(test_read_gives_up_on_stuck_odd_sequence),
		cmocka_unit_test(test_repair_makes_sequence_even),
		cmocka_unit_test(test_sequence_wraps),
		cmocka_unit_test(test_validate_threads),
		cmocka_unit_test(test_validate_processes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
