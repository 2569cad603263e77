"""capbroker: a ctypes binding of libcapbroker (stdlib only).

capbroker shares one capacity limit between every process on a host: a
broker daemon (capbrokerd) publishes the fleet's capacity in POSIX
shared memory and every client reserves against the same table, so a
cap holds across processes and a crashed process cannot leak its slots.

    import capbroker

    with capbroker.Client("default") as c:
        print(c.current, c.source)          # one atomic load each
        gw = c.pool("backend")
        try:
            with gw.hold(timeout=0):        # fail fast over the limit
                call_backend()
        except capbroker.OverLimit as e:
            reply_429(retry_after=e.retry_after)

The binding loads the installed ``libcapbroker.so.0``; set
``CAPBROKER_LIB`` to a path to use another copy (e.g. a build tree).
Failures raise :class:`CapbrokerError` subclasses (an ``OSError``)
carrying the errno and the library's message.
"""

from . import client as _client
from . import errors as _errors
from .client import (
    Client,
    Hold,
    Launch,
    Pool,
    PoolInfo,
    State,
    Waiter,
    WorkerHold,
    source_name,
    strerror,
)
from .errors import (
    Cancelled,
    CapbrokerError,
    NotFound,
    OverLimit,
    PermissionDenied,
    ProtocolError,
    Stale,
    Timeout,
)

__version__ = "0.1.0"

# The public names are the modules' own; error_for is the binding's.
__all__ = _client.__all__ + [n for n in _errors.__all__ if n != "error_for"]
