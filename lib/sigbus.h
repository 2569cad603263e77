/*
 * sigbus.h - surviving a shared file that shrinks under its mapping.
 *
 * The slots segment is a name in /dev/shm that every member of the
 * slots group opens read-write, and a name cannot be sealed: any of
 * them can truncate it.  Every page of a mapping past the new end of
 * the file then raises SIGBUS on access, which kills the broker, every
 * attached client and capdump.  This module keeps them running.
 *
 * A process registers each mapping it wants guarded: {base, length, fd
 * or -1, damaged word}.  The first registration installs one
 * process-wide SA_SIGINFO handler for SIGBUS, chained to the previous
 * disposition.  On a SIGBUS:
 *
 *   - not raised by the kernel for a fault (si_code <= 0: kill(2),
 *     raise), or si_addr outside every guarded mapping: passed on.  A
 *     previous SA_SIGINFO or plain handler is called; SIG_DFL or
 *     SIG_IGN is restored as SIG_DFL and the signal raised again, so
 *     the process dies of SIGBUS as it would have without us (SIGBUS is
 *     blocked while we run, so it arrives when we return).
 *   - inside a guarded mapping whose fd is open read-write and whose
 *     file is shorter than the mapping: ftruncate(fd, length) puts the
 *     size back -- for every process that maps the file -- and we
 *     return, so the access is retried.  The cut pages come back as
 *     zero pages, shared by everyone: what they held is lost, and the
 *     owner of the contents repairs it (the broker: segments.h).
 *   - inside a guarded mapping whose file is already back to its size
 *     (another process restored it between our fault and our fstat):
 *     returned, to retry, once per fault address and file mtime; the
 *     same address faulting again with the size right and the mtime
 *     unmoved (no ftruncate since) is not a shrink (a tmpfs out of
 *     pages for a hole, say) and is treated as the next case.
 *   - otherwise (no fd, a read-only fd, ftruncate failed): the cut part
 *     of this process's mapping -- from the end of the file, or from
 *     the faulting page when the size is unknown, to the end of the
 *     mapping -- is replaced by private anonymous zero pages (MAP_FIXED,
 *     the mapping's protection), and the damaged word is set.  The
 *     process keeps running on zeros that nobody else sees; its owner
 *     must stop trusting that mapping (libcapbroker: the handle admits
 *     nothing; capdump: reports the segment damaged).
 *
 * The handler calls only fstat(2), ftruncate(2), mmap(2) (system calls,
 * async-signal-safe in POSIX's list: fstat, ftruncate; mmap is a bare
 * system call in glibc that touches no lock or heap), sigaction(2) and
 * raise(3) (both in the list), and reads the registry with lock-free
 * atomics; it saves and restores errno.  No lock, no malloc.
 *
 * The registry: a fixed array of entries, each with a state word
 * FREE -> BUSY -> LIVE -> BUSY -> FREE.  Registration claims a FREE
 * entry by CAS (to BUSY), fills the fields, then stores LIVE with
 * release; the handler loads the state with acquire (pairs with that
 * release) and reads the fields only of a LIVE entry.  Unregistration
 * CASes LIVE -> BUSY (the handler skips it from then on), then FREE.
 * Register and unregister may run on any threads at once, never inside
 * the handler.  A mapping must be unregistered before it is unmapped,
 * and nothing may touch it meanwhile: a handler that matched the entry
 * just before the unregistration could otherwise map zeros over an
 * address range that is no longer the mapping.  (libcapbroker: the
 * handle's mapping is touched by no thread once cb_close starts.)
 *
 * An application with a SIGBUS handler of its own installs it before
 * the first registration (we chain to it), or chains to ours.  One
 * installed after ours without chaining turns the guard off.
 *
 * Checked by tests/unit/test_sigbus.c and tests/integration/
 * t_slotsshrink.sh.  libc only.
 */
#ifndef CB_SIGBUS_H
#define CB_SIGBUS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Guarded mappings at once, per process. */
#define CB_SIGBUS_MAX 1024

/*
 * Guard the mapping [base, base + length), mapped with protection prot
 * from fd (or -1: the size of the file is then unknown and it is never
 * restored).  The fd must stay open until cb_sigbus_unguard(); it is
 * used for ftruncate only if it was opened O_RDWR.  On damage (a private
 * zero mapping put over a cut part) the handler stores damaged_value
 * into *damaged, if damaged is not NULL, with release ordering: the
 * owner's acquire load of *damaged sees the zero mapping in place.
 * Returns 0, -EINVAL (base NULL, length 0) or -ENOSPC (CB_SIGBUS_MAX
 * mappings guarded), or -errno from installing the handler.
 */
int cb_sigbus_guard(void *base, size_t length, int prot, int fd,
    _Atomic uintptr_t *damaged, uintptr_t damaged_value);
/* Stop guarding the mapping at base (before munmap).  No-op if it was
 * not guarded. */
void cb_sigbus_unguard(void *base);
/* Was the guarded mapping holding addr damaged (a private zero mapping
 * put over part of it)?  0 if not, or if addr is not guarded. */
int cb_sigbus_damaged(const void *addr);
/* Times a guarded mapping holding addr had its file's size restored by
 * this process's handler (any mapping: 0 if addr is not guarded). */
uint64_t cb_sigbus_restores(const void *addr);

#endif /* CB_SIGBUS_H */
