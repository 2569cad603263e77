"""Exceptions raised by the capbroker binding.

libcapbroker returns 0 or a negative errno and keeps a readable message
for the thread that failed (``cb_errmsg``).  The binding reads it right
after the failing call, on the same thread, and turns a negative return
into a :class:`CapbrokerError` (an :class:`OSError`) carrying the
positive errno and that message; the codes that mean something specific
get their own subclass, each also a subclass of the matching built-in
``OSError`` subclass where one exists, so ``except TimeoutError`` or
``except PermissionError`` catch them too.

===============  ==============  =========================================
errno            class           meaning
===============  ==============  =========================================
``EAGAIN``       OverLimit       over the limit, fail-fast; ``retry_after``
``ETIMEDOUT``    Timeout         waited ``timeout`` and was not admitted
``ESTALE``       Stale           ticket already released/reclaimed/expired
``ENOENT``       NotFound        no such broker, segment or pool
``EPROTO``       ProtocolError   incompatible or corrupt segment (ABI)
``EACCES``       PermissionDenied  not in the broker's group, read-only
``ECANCELED``    Cancelled       a wait ended by ``Waiter.interrupt()``
===============  ==============  =========================================
"""

from __future__ import annotations

import builtins
import errno as _errno
from typing import Dict, Optional, Type

__all__ = [
    "CapbrokerError",
    "OverLimit",
    "Timeout",
    "Stale",
    "NotFound",
    "ProtocolError",
    "PermissionDenied",
    "Cancelled",
    "error_for",
]


class CapbrokerError(OSError):
    """A libcapbroker call failed.

    ``errno`` is the positive errno value, ``strerror`` the library's
    message for this failure (``cb_errmsg``), ``code`` the negative
    value the C function returned.
    """

    def __init__(self, err: int, message: str) -> None:
        super().__init__(abs(err), message)

    @property
    def code(self) -> int:
        """The negative errno the C function returned."""
        return -int(self.errno or 0)


class _RetryHint:
    """Mixin: the broker's retry-after hint, in milliseconds."""

    retry_after_ms: int = 0

    @property
    def retry_after(self) -> float:
        """Seconds after which a retry may succeed (the broker's hint)."""
        return self.retry_after_ms / 1000.0


class OverLimit(_RetryHint, CapbrokerError, builtins.BlockingIOError):
    """``-EAGAIN``: the pool is at its limit (``timeout=0``).

    ``retry_after`` (seconds) and ``retry_after_ms`` carry the broker's
    hint: the earliest launch deadline in the pool, or its default.
    """


class Timeout(_RetryHint, CapbrokerError, builtins.TimeoutError):
    """``-ETIMEDOUT``: not admitted (or no change seen) before the timeout."""


class Stale(CapbrokerError):
    """``-ESTALE``: the ticket was already released, reclaimed or expired."""


class NotFound(CapbrokerError, builtins.FileNotFoundError):
    """``-ENOENT``: no such broker instance, segment or pool."""


class ProtocolError(CapbrokerError):
    """``-EPROTO``: an incompatible or corrupt segment (ABI mismatch)."""


class PermissionDenied(CapbrokerError, builtins.PermissionError):
    """``-EACCES``: not permitted (group, or a read-only handle)."""


class Cancelled(CapbrokerError):
    """``-ECANCELED``: another thread ended this wait
    (:meth:`Waiter.interrupt`, ``cb_wait_cancel``); the waiter keeps its
    place in the queue."""


_CLASSES: Dict[int, Type[CapbrokerError]] = {
    _errno.EAGAIN: OverLimit,
    _errno.ETIMEDOUT: Timeout,
    _errno.ESTALE: Stale,
    _errno.ENOENT: NotFound,
    _errno.EPROTO: ProtocolError,
    _errno.EACCES: PermissionDenied,
    _errno.ECANCELED: Cancelled,
}


def error_for(
    err: int, message: str, retry_after_ms: Optional[int] = None
) -> CapbrokerError:
    """The exception for a negative (or positive) errno ``err``."""
    cls = _CLASSES.get(abs(err), CapbrokerError)
    exc = cls(err, message)
    if retry_after_ms is not None and isinstance(exc, _RetryHint):
        exc.retry_after_ms = int(retry_after_ms)
    return exc
