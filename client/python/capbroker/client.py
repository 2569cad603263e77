"""Client, Pool, Hold and Launch: the Python face of libcapbroker.

Every method maps to one C call of capbroker.h; a negative return
becomes an exception from :mod:`capbroker.errors` with the library's
message.  Timeouts are in seconds (floats): ``0`` fails fast (or
polls), ``None`` waits without a limit.
"""

from __future__ import annotations

import ctypes
import errno
import math
import time
from types import TracebackType
from typing import NamedTuple, Optional, Type

from . import _native
from ._native import CB_HOLD, CB_LAUNCH, CB_OPEN_RDONLY, lib
from .errors import CapbrokerError, error_for

__all__ = [
    "Client",
    "Pool",
    "PoolInfo",
    "Hold",
    "WorkerHold",
    "Launch",
    "State",
    "Waiter",
    "source_name",
    "strerror",
]

_INT_MAX = 2**31 - 1
# A wait without a limit sleeps in slices this long, so the interpreter
# gets a chance to run signal handlers (KeyboardInterrupt) in between:
# cb_watch() itself retries EINTR.
_WATCH_SLICE_S = 0.25

_STATE_FLAGS_STOPPING = 0x01
_STATE_FLAGS_RETIRED = 0x02


def _timeout_ms(timeout: Optional[float]) -> int:
    """Seconds (None: no limit) as the C timeout_ms (-1: no limit).

    A positive timeout never rounds down to 0, which would mean
    "fail fast" instead of "wait a little".
    """
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return min(_INT_MAX, max(1, math.ceil(timeout * 1000.0)))


def _require(function: str) -> None:
    """Raise NotImplementedError if the library lacks function."""
    if not _native.has(function):
        raise NotImplementedError(
            f"the loaded libcapbroker has no {function}() (too old)"
        )


def _text(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def source_name(source: int) -> str:
    """``"override"``, ``"reported"``, ``"mixed"``, ``"fallback"``."""
    return _text(lib.cb_source_name(source))


def strerror(err: int) -> str:
    """The library's short description of an errno (either sign)."""
    return _text(lib.cb_strerror(err))


class State(NamedTuple):
    """One load of the state word: never torn."""

    capacity: int
    source: str
    flags: int
    generation: int

    @property
    def stopping(self) -> bool:
        """The broker shut down cleanly (capacity is the last one)."""
        return bool(self.flags & _STATE_FLAGS_STOPPING)

    @property
    def retired(self) -> bool:
        """The segment was replaced: open a new Client."""
        return bool(self.flags & _STATE_FLAGS_RETIRED)


def decode_state(word: int) -> State:
    """Split a state word as capbroker.h's CB_STATE_*() macros do."""
    return State(
        capacity=word & 0xFFFF,
        source=source_name((word >> 16) & 0xFF),
        flags=(word >> 24) & 0xFF,
        generation=word >> 32,
    )


class PoolInfo(NamedTuple):
    """``struct cb_pool_info``: a pool's limit and usage."""

    name: str
    limit: int
    observed: int
    held: int
    launching: int
    window_ms: int


class Client:
    """A handle on the broker instance ``name`` (``cb_open``).

    Unless ``readonly``, the handle claims an entry in the broker's
    client table, so its holds are undone if the process dies.  Use it
    as a context manager or call :meth:`close`.  Methods may be called
    from several threads at once, except :meth:`close`.  A Client must
    not be used in a child of ``fork()``: open a new one there.
    """

    def __init__(self, name: str = "default", readonly: bool = False) -> None:
        handle = ctypes.c_void_p()
        flags = CB_OPEN_RDONLY if readonly else 0
        r = lib.cb_open(ctypes.byref(handle), name.encode(), flags)
        if r < 0:
            raise error_for(r, _text(lib.cb_open_errmsg()))
        self._handle: Optional[int] = handle.value
        self._generation = 0
        word = lib.cb_state_word(self._handle)
        # The state word lives in the read-only mapping for the life of
        # the handle; see `state`.
        self._word = ctypes.c_uint64.from_address(word)

    # -- lifetime -----------------------------------------------------
    def close(self) -> None:
        """Detach (``cb_close``); holds still open are released by it."""
        handle, self._handle = self._handle, None
        if handle is not None:
            lib.cb_close(handle)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._handle is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten handle would keep its client-table entry until the
        # process exits.
        try:
            self.close()
        except Exception:  # interpreter shutdown: lib may be gone
            pass

    def __repr__(self) -> str:
        if self._handle is None:
            return "<capbroker.Client closed>"
        return f"<capbroker.Client {self.name!r} capacity={self.current}>"

    @property
    def _h(self) -> int:
        if self._handle is None:
            raise ValueError("capbroker.Client is closed")
        return self._handle

    def _check(self, r: int, retry_after_ms: Optional[int] = None) -> int:
        """r if >= 0, else raise the exception for it."""
        if r < 0:
            raise error_for(r, self.errmsg or strerror(r), retry_after_ms)
        return r

    # -- capacity -----------------------------------------------------
    @property
    def name(self) -> str:
        """The instance name."""
        return _text(lib.cb_name(self._h))

    @property
    def errmsg(self) -> str:
        """This thread's last failure on this handle (``cb_errmsg``).

        Messages are kept per thread, so read it in the thread whose call
        failed; the exceptions raised here carry it already.
        """
        return _text(lib.cb_errmsg(self._h))

    @property
    def current(self) -> int:
        """The current capacity: one acquire load (``cb_current``)."""
        return int(lib.cb_current(self._h))

    @property
    def source(self) -> str:
        """The tier that produced the capacity, by name."""
        return source_name(lib.cb_source(self._h))

    @property
    def state(self) -> State:
        """Capacity, source, flags and generation from one load.

        ``current`` and ``source`` are two loads, so a publication may
        fall between them; this reads the state word once (an aligned
        8-byte load, which the x86-64 and arm64 ABIs make single-copy
        atomic), so the fields always belong together.
        """
        _ = self._h  # raises if closed: the mapping is gone then
        return decode_state(int(self._word.value))

    @property
    def generation(self) -> int:
        """The generation this handle last returned from :meth:`watch`."""
        return self._generation

    def watch(self, timeout: Optional[float] = None) -> Optional[int]:
        """Wait for a published change (``cb_watch``).

        Returns the new generation, or None if ``timeout`` seconds
        passed first (``None``: no limit; ``0``: poll).  The first call
        on a handle returns at once with the current generation, so a
        late subscriber always starts from the latest state.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        gen = ctypes.c_uint32(self._generation)
        while True:
            if deadline is None:
                slice_s: Optional[float] = _WATCH_SLICE_S
            else:
                slice_s = min(_WATCH_SLICE_S, deadline - time.monotonic())
            r = lib.cb_watch(self._h, ctypes.byref(gen), _timeout_ms(slice_s))
            if r == 0:
                self._generation = int(gen.value)
                return self._generation
            if r != -errno.ETIMEDOUT:
                self._check(r)
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def broker_alive(self) -> bool:
        """Is the broker running (``cb_broker_check`` == 0)?

        False when it stopped, its process is gone, its heartbeat is
        stale, or the segment was retired.  Reservations keep working
        while it is down; only death notices wait for its return.
        """
        return int(lib.cb_broker_check(self._h)) == 0

    # -- pools --------------------------------------------------------
    def pool(self, name: str = "default") -> "Pool":
        """The pool ``name`` (``cb_pool``); raises NotFound."""
        index = self._check(lib.cb_pool(self._h, name.encode()))
        return Pool(self, index, name)

    def worker_inflight(self, worker_id: str) -> int:
        """Holds in flight bound to worker_id (``cb_worker_inflight``)."""
        _require("cb_worker_inflight")
        return self._check(lib.cb_worker_inflight(self._h, worker_id.encode()))

    def release_ticket(self, ticket: str) -> None:
        """Release a launch by its text ticket (``cb_ticket_parse`` +
        ``cb_release``), e.g. one taken by another process."""
        t = _native.CbTicket()
        self._check(lib.cb_ticket_parse(ticket.encode(), ctypes.byref(t)))
        self._check(lib.cb_release(self._h, ctypes.byref(t)))


class Pool:
    """A named limit of a broker (``cb_pool``); from :meth:`Client.pool`."""

    def __init__(self, client: Client, index: int, name: str) -> None:
        self.client = client
        self.index = index
        self.name = name

    def __repr__(self) -> str:
        return f"<capbroker.Pool {self.name!r} index={self.index}>"

    def info(self) -> PoolInfo:
        """Limit, observation, holds, launches and window (``cb_pool_info``)."""
        out = _native.CbPoolInfo()
        c = self.client
        c._check(lib.cb_pool_info(c._h, self.index, ctypes.byref(out)))
        return PoolInfo(
            name=_text(out.name),
            limit=int(out.limit),
            observed=int(out.observed),
            held=int(out.held),
            launching=int(out.launching),
            window_ms=int(out.window_ms),
        )

    def _reserve(
        self, kind: int, observed: int, timeout: Optional[float], priority: int
    ) -> _native.CbTicket:
        req = _native.CbRequest(
            pool=self.index,
            kind=kind,
            observed=observed,
            timeout_ms=_timeout_ms(timeout),
            priority=priority,
        )
        ticket = _native.CbTicket()
        retry = ctypes.c_uint32(0)
        c = self.client
        r = lib.cb_reserve(
            c._h, ctypes.byref(req), ctypes.byref(ticket), ctypes.byref(retry)
        )
        c._check(r, int(retry.value))
        return ticket

    def hold(self, timeout: Optional[float] = 0, priority: int = 0) -> "Hold":
        """Reserve one in-flight unit (``CB_HOLD``).

        ``timeout`` 0 fails fast with :class:`OverLimit` (its
        ``retry_after`` is the broker's hint); a positive timeout (or
        None) sleeps until admitted or raises :class:`Timeout`.  The
        wait is one C call (the GIL is released): it is not cut into
        slices, which would give up the waiter's place in the queue, so
        signal handlers (KeyboardInterrupt) run only when it returns.
        Use the Hold as a context manager, or call its ``release()``.
        A hold ends with its process: the broker undoes it if we die.
        """
        return Hold(self, self._reserve(CB_HOLD, 0, timeout, priority))

    def enqueue(
        self, priority: int = 0, kind: str = "hold", observed: int = 0
    ) -> Waiter:
        """Take a place in the pool's fair queue (``cb_enqueue``); see
        :class:`Waiter`.  ``kind`` is "hold" or "launch"."""
        _require("cb_enqueue")
        if kind not in ("hold", "launch"):
            raise ValueError(f"kind is 'hold' or 'launch', not {kind!r}")
        k = CB_HOLD if kind == "hold" else CB_LAUNCH
        req = _native.CbRequest(
            pool=self.index, kind=k, observed=observed, timeout_ms=-1,
            priority=priority,
        )
        w = _native.CbWaiter()
        c = self.client
        c._check(lib.cb_enqueue(c._h, ctypes.byref(req), ctypes.byref(w)))
        return Waiter(self, k, w)

    def pick_worker(
        self,
        policy: str = "least_loaded",
        timeout: Optional[float] = 0,
        priority: int = 0,
    ) -> "WorkerHold":
        """Hold one unit of the pool AND one slot on a ready worker.

        ``cb_pick_worker``: policy is ``"consolidate"``, ``"spread"`` or
        ``"least_loaded"``; the worker's own ``max_running`` bounds its
        slots.  Raises :class:`OverLimit` (pool or every worker full),
        :class:`NotFound` (no ready worker) or :class:`Timeout`.  The
        returned hold's ``worker_id`` names the chosen worker; releasing
        it frees both halves.
        """
        _require("cb_pick_worker")
        if policy not in _native.PLACEMENTS:
            raise ValueError(f"unknown placement policy: {policy!r}")
        req = _native.CbRequest(
            pool=self.index,
            kind=CB_HOLD,
            observed=0,
            timeout_ms=_timeout_ms(timeout),
            priority=priority,
        )
        ticket = _native.CbTicket()
        worker = ctypes.create_string_buffer(_native.CB_WORKER_ID_STRLEN)
        retry = ctypes.c_uint32(0)
        c = self.client
        r = lib.cb_pick_worker(
            c._h,
            ctypes.byref(req),
            _native.PLACEMENTS[policy],
            ctypes.byref(ticket),
            worker,
            len(worker),
            ctypes.byref(retry),
        )
        c._check(r, int(retry.value))
        return WorkerHold(self, ticket, _text(worker.value))

    def launch(
        self, observed: int = 0, timeout: Optional[float] = 0, priority: int = 0
    ) -> "Launch":
        """Reserve one fleet launch (``CB_LAUNCH``).

        Admitted while ``observed + launching + held + 1 <= limit``.
        The reservation outlives this process and ends when released
        (the launch failed) or when the pool's visibility window
        passes.
        """
        if observed < 0 or observed > 0xFFFFFFFF:
            raise ValueError(f"observed out of range: {observed}")
        return Launch(self, self._reserve(CB_LAUNCH, observed, timeout, priority))


class Waiter:
    """A place in a pool's fair queue (``cb_enqueue``).

    Waiters are served by priority (higher first), first come first
    served within a priority, across processes.  ``position`` is the
    number of live waiters ahead (0: next); ``wait(timeout)`` returns
    the reservation once admitted, or raises :class:`Timeout` and keeps
    the place, so a caller can wait in slices and report its position.
    As a context manager it leaves the queue on exit unless admitted.
    """

    def __init__(self, pool: Pool, kind: int, waiter: _native.CbWaiter) -> None:
        self.pool = pool
        self._kind = kind
        self._w = waiter
        self._done = False

    @property
    def position(self) -> int:
        """Live waiters ahead of this one (``cb_queue_position``)."""
        c = self.pool.client
        return c._check(lib.cb_queue_position(c._h, ctypes.byref(self._w)))

    @property
    def queued(self) -> bool:
        """True until admitted or dequeued."""
        return not self._done

    def wait(self, timeout: Optional[float] = None) -> "_Reservation":
        """Wait until admitted (``cb_wait``): a :class:`Hold` or a
        :class:`Launch`.  Raises :class:`Timeout` (still queued) when
        ``timeout`` seconds pass first; None waits without a limit.
        Raises :class:`Cancelled` (still queued) when another thread
        calls :meth:`interrupt`.  The GIL is released while it waits."""
        c = self.pool.client
        ticket = _native.CbTicket()
        retry = ctypes.c_uint32(0)
        r = lib.cb_wait(
            c._h,
            ctypes.byref(self._w),
            _timeout_ms(timeout),
            ctypes.byref(ticket),
            ctypes.byref(retry),
        )
        if r not in (-errno.ETIMEDOUT, -errno.EINTR, -errno.ECANCELED):
            self._done = True
        c._check(r, int(retry.value))
        if self._kind == CB_LAUNCH:
            return Launch(self.pool, ticket)
        return Hold(self.pool, ticket)

    def interrupt(self) -> None:
        """End the :meth:`wait` another thread of this process is in, or
        is about to enter, at once (``cb_wait_cancel``): it raises
        :class:`Cancelled` and the waiter keeps its place, so it can
        wait again or :meth:`cancel`.  Each call ends one wait.  Safe
        from any thread; a no-op once admitted or dequeued."""
        if self._done:
            return
        c = self.pool.client
        r = lib.cb_wait_cancel(c._h, ctypes.byref(self._w))
        if r != -errno.ESTALE:     # admitted or left meanwhile: nothing to end
            c._check(r)

    def cancel(self) -> None:
        """Leave the queue (``cb_dequeue``); a no-op once admitted."""
        if self._done:
            return
        self._done = True
        c = self.pool.client
        c._check(lib.cb_dequeue(c._h, ctypes.byref(self._w)))

    def __enter__(self) -> "Waiter":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._done and not self.pool.client.closed:
            self.cancel()

    def __repr__(self) -> str:
        state = "queued" if not self._done else "done"
        return f"<capbroker.Waiter {self.pool.name!r} {state}>"


class _Reservation:
    """A ticket of a pool, released at most once by this object."""

    def __init__(self, pool: Pool, ticket: _native.CbTicket) -> None:
        self.pool = pool
        self._ticket = ticket
        self._released = False

    @property
    def ticket(self) -> str:
        """The ticket as text (``cb_ticket_format``), as capctl prints it."""
        buf = ctypes.create_string_buffer(_native.CB_TICKET_STRLEN)
        r = lib.cb_ticket_format(ctypes.byref(self._ticket), buf, len(buf))
        if r < 0:
            raise error_for(r, strerror(r))
        return _text(buf.value)

    @property
    def released(self) -> bool:
        """True once :meth:`release` succeeded (or raised Stale)."""
        return self._released

    def release(self) -> None:
        """Free the unit (``cb_release``).

        Raises :class:`Stale` if the broker already reclaimed or expired
        it, or if it was released before.
        """
        c = self.pool.client
        r = lib.cb_release(c._h, ctypes.byref(self._ticket))
        self._released = self._released or r == 0 or r == -errno.ESTALE
        c._check(r)

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"<capbroker.{type(self).__name__} {self.pool.name!r} {state}>"


class Hold(_Reservation):
    """One in-flight unit; a context manager that releases on exit."""

    def __enter__(self) -> "Hold":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._released:
            self.release()


class WorkerHold(Hold):
    """A hold bound to a worker (:meth:`Pool.pick_worker`)."""

    def __init__(
        self, pool: Pool, ticket: _native.CbTicket, worker_id: str
    ) -> None:
        super().__init__(pool, ticket)
        self.worker_id = worker_id

    def __enter__(self) -> "WorkerHold":
        return self

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return (
            f"<capbroker.WorkerHold {self.pool.name!r} on "
            f"{self.worker_id!r} {state}>"
        )


class Launch(_Reservation):
    """A launch reservation.

    As a context manager it releases only if the block raises (the
    launch failed: free the unit at once); otherwise the reservation
    stays until the launched member becomes visible and the window
    passes.
    """

    def __enter__(self) -> "Launch":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None and not self._released:
            try:
                self.release()
            except CapbrokerError:
                pass  # expired meanwhile: the block's error matters more

