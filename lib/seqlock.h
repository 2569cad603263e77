/*
 * seqlock.h - single-writer sequence lock over shared memory.
 *
 * Protocol (Linux include/linux/seqlock.h, ck_sequence.h):
 *
 *   - The sequence is even while the data is stable and odd while the
 *     writer is inside write_begin()/write_end().
 *   - There is exactly one writer per sequence; capbroker serialises
 *     writers by ownership (the publisher thread owns the info and
 *     worker blocks, the main thread the header identity), never by a
 *     lock in shared memory.
 *   - The payload holds no pointers, only values and indexes, and is
 *     made of 8-byte words.  Both sides access it with relaxed atomic
 *     word loads/stores (cb_seq_copy_*), so a racing read is not a data
 *     race in the C11 model; the sequence check discards torn copies.
 *   - Reader loop: s = read_begin(); copy; if read_retry(s) try again.
 *     Readers never write, so they work on a PROT_READ mapping.
 *   - A writer that dies between begin and end leaves the sequence odd
 *     forever.  Readers therefore give up after a bounded number of
 *     tries (cb_seqlock_read returns -EAGAIN) instead of spinning, and a
 *     broker adopting the segment repairs it (cb_seqlock_repair) before
 *     it rewrites the data.
 */
#ifndef CB_SEQLOCK_H
#define CB_SEQLOCK_H

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CB_SEQLOCK_TRIES 10000

/* Copy len bytes (a multiple of 8, 8-aligned) with relaxed loads. */
static inline void cb_seq_copy_out(void *dst, const void *src, size_t len)
{
	uint64_t *d = dst;
	const uint64_t *s = src;

	for (size_t i = 0; i < len / 8; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

/* Copy len bytes (a multiple of 8, 8-aligned) with relaxed stores. */
static inline void cb_seq_copy_in(void *dst, const void *src, size_t len)
{
	uint64_t *d = dst;
	const uint64_t *s = src;

	for (size_t i = 0; i < len / 8; i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

static inline void cb_seqlock_write_begin(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);

	atomic_store_explicit(seq, s + 1, memory_order_relaxed);
	/*
	 * Orders the odd sequence before the payload stores that follow.
	 * Paired with the acquire fence in cb_seqlock_read_retry(): a reader
	 * that saw any of the new payload sees the odd (or a later)
	 * sequence on its second read.
	 */
	atomic_thread_fence(memory_order_release);
}

static inline void cb_seqlock_write_end(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);

	/*
	 * Publishes the payload.  Paired with the acquire load in
	 * cb_seqlock_read_begin(): a reader that sees this even value sees
	 * every payload store before it.
	 */
	atomic_store_explicit(seq, s + 1, memory_order_release);
}

/* Returns the sequence to validate against; odd means "busy, retry". */
static inline uint32_t cb_seqlock_read_begin(const _Atomic uint32_t *seq)
{
	/* Paired with the release store in cb_seqlock_write_end(). */
	return atomic_load_explicit(seq, memory_order_acquire);
}

/* Non-zero when the copy taken since read_begin() returned s is torn. */
static inline int cb_seqlock_read_retry(const _Atomic uint32_t *seq,
    uint32_t s)
{
	/* Paired with the release fence in cb_seqlock_write_begin(). */
	atomic_thread_fence(memory_order_acquire);
	return (s & 1) || atomic_load_explicit(seq, memory_order_relaxed) != s;
}

/*
 * The whole reader loop: copy len bytes of payload at src into dst.
 * Returns 0, or -EAGAIN when no stable copy was seen in
 * CB_SEQLOCK_TRIES tries (a writer died mid-write, or is livelocking
 * us); dst then holds a possibly torn copy the caller must not trust.
 */
static inline int cb_seqlock_read(const _Atomic uint32_t *seq, void *dst,
    const void *src, size_t len)
{
	for (int i = 0; i < CB_SEQLOCK_TRIES; i++) {
		uint32_t s = cb_seqlock_read_begin(seq);

		if (!(s & 1)) {
			cb_seq_copy_out(dst, src, len);
			if (!cb_seqlock_read_retry(seq, s))
				return 0;
		}
		if (i > 16)
			sched_yield();
	}
	return -EAGAIN;
}

/* Copy len bytes of payload from src into the protected dst. */
static inline void cb_seqlock_write(_Atomic uint32_t *seq, void *dst,
    const void *src, size_t len)
{
	cb_seqlock_write_begin(seq);
	cb_seq_copy_in(dst, src, len);
	cb_seqlock_write_end(seq);
}

/*
 * For a writer taking over from a dead one: make the sequence even
 * again.  Returns 1 if it was odd (the caller must rewrite the payload
 * before readers can trust it: do so inside write_begin/write_end).
 */
static inline int cb_seqlock_repair(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);

	if (!(s & 1))
		return 0;
	atomic_store_explicit(seq, s + 1, memory_order_release);
	return 1;
}

#endif /* CB_SEQLOCK_H */
