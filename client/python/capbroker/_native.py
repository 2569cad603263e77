"""ctypes declarations of libcapbroker (include/capbroker.h).

Loads the shared library and mirrors the public structs and prototypes.
The struct layouts here must match capbroker.h exactly; the test suite
compiles a probe against the header and compares ``sizeof`` and every
field offset with these classes (tests/python/test_abi.py).

The library is found, in order, at ``$CAPBROKER_LIB`` (a path, e.g. a
build directory's ``libcapbroker.so.0``), as ``libcapbroker.so.0``
through the dynamic loader (the installed soname), or through
``ctypes.util.find_library("capbroker")``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Optional

__all__ = [
    "CbTicket",
    "CbRequest",
    "CbPoolInfo",
    "lib",
    "load",
    "CB_HOLD",
    "CB_LAUNCH",
    "CB_OPEN_RDONLY",
    "CB_TICKET_STRLEN",
    "CB_POOL_NAME_LEN",
    "CB_WORKER_ID_STRLEN",
    "PLACEMENTS",
    "has",
]

SONAME = "libcapbroker.so.0"

# capbroker.h constants.
CB_HOLD = 1
CB_LAUNCH = 2
CB_OPEN_RDONLY = 0x1
CB_TICKET_STRLEN = 48
CB_POOL_NAME_LEN = 32  # struct cb_pool_info.name
CB_WORKER_ID_STRLEN = 64

# enum cb_placement, by the names capbroker.h gives the policies.
PLACEMENTS = {"consolidate": 1, "spread": 2, "least_loaded": 3}


class CbTicket(ctypes.Structure):
    """``cb_ticket``: ``{ uint64_t opaque[2]; }``."""

    _fields_ = [("opaque", ctypes.c_uint64 * 2)]


class CbRequest(ctypes.Structure):
    """``struct cb_request``."""

    _fields_ = [
        ("pool", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("observed", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_int),
        ("priority", ctypes.c_int),
    ]


class CbWaiter(ctypes.Structure):
    """``cb_waiter``: ``{ uint64_t opaque[4]; }``."""

    _fields_ = [("opaque", ctypes.c_uint64 * 4)]


class CbPoolInfo(ctypes.Structure):
    """``struct cb_pool_info``."""

    _fields_ = [
        ("name", ctypes.c_char * CB_POOL_NAME_LEN),
        ("limit", ctypes.c_uint32),
        ("observed", ctypes.c_uint32),
        ("held", ctypes.c_uint32),
        ("launching", ctypes.c_uint32),
        ("window_ms", ctypes.c_uint32),
    ]


_client_p = ctypes.c_void_p  # cb_client * (opaque)

# name: (restype, argtypes) for every function the binding calls.
_PROTOTYPES = {
    "cb_open": (
        ctypes.c_int,
        [ctypes.POINTER(_client_p), ctypes.c_char_p, ctypes.c_uint],
    ),
    "cb_open_errmsg": (ctypes.c_char_p, []),
    "cb_close": (None, [_client_p]),
    "cb_current": (ctypes.c_uint, [_client_p]),
    "cb_state_word": (ctypes.c_void_p, [_client_p]),
    "cb_source": (ctypes.c_int, [_client_p]),
    "cb_source_name": (ctypes.c_char_p, [ctypes.c_int]),
    "cb_watch": (
        ctypes.c_int,
        [_client_p, ctypes.POINTER(ctypes.c_uint32), ctypes.c_int],
    ),
    "cb_broker_check": (ctypes.c_int, [_client_p]),
    "cb_name": (ctypes.c_char_p, [_client_p]),
    "cb_pool": (ctypes.c_int, [_client_p, ctypes.c_char_p]),
    "cb_pool_info": (
        ctypes.c_int,
        [_client_p, ctypes.c_int, ctypes.POINTER(CbPoolInfo)],
    ),
    "cb_reserve": (
        ctypes.c_int,
        [
            _client_p,
            ctypes.POINTER(CbRequest),
            ctypes.POINTER(CbTicket),
            ctypes.POINTER(ctypes.c_uint32),
        ],
    ),
    "cb_release": (ctypes.c_int, [_client_p, ctypes.POINTER(CbTicket)]),
    "cb_ticket_format": (
        ctypes.c_int,
        [ctypes.POINTER(CbTicket), ctypes.c_char_p, ctypes.c_ulong],
    ),
    "cb_ticket_parse": (
        ctypes.c_int,
        [ctypes.c_char_p, ctypes.POINTER(CbTicket)],
    ),
    "cb_errmsg": (ctypes.c_char_p, [_client_p]),
    "cb_strerror": (ctypes.c_char_p, [ctypes.c_int]),
}

# Functions of newer library versions: declared when the loaded library
# has them (see has()).
_OPTIONAL_PROTOTYPES = {
    "cb_pick_worker": (
        ctypes.c_int,
        [
            _client_p,
            ctypes.POINTER(CbRequest),
            ctypes.c_int,
            ctypes.POINTER(CbTicket),
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.POINTER(ctypes.c_uint32),
        ],
    ),
    "cb_worker_inflight": (ctypes.c_int, [_client_p, ctypes.c_char_p]),
    "cb_enqueue": (
        ctypes.c_int,
        [_client_p, ctypes.POINTER(CbRequest), ctypes.POINTER(CbWaiter)],
    ),
    "cb_queue_position": (
        ctypes.c_int,
        [_client_p, ctypes.POINTER(CbWaiter)],
    ),
    "cb_wait": (
        ctypes.c_int,
        [
            _client_p,
            ctypes.POINTER(CbWaiter),
            ctypes.c_int,
            ctypes.POINTER(CbTicket),
            ctypes.POINTER(ctypes.c_uint32),
        ],
    ),
    "cb_wait_cancel": (ctypes.c_int, [_client_p, ctypes.POINTER(CbWaiter)]),
    "cb_dequeue": (ctypes.c_int, [_client_p, ctypes.POINTER(CbWaiter)]),
}


def _open_library() -> ctypes.CDLL:
    """The library, from $CAPBROKER_LIB, the soname, or find_library."""
    path = os.environ.get("CAPBROKER_LIB")
    if path:
        return ctypes.CDLL(path)
    try:
        return ctypes.CDLL(SONAME)
    except OSError as first:
        found: Optional[str] = ctypes.util.find_library("capbroker")
        if found is None:
            raise OSError(
                f"cannot load {SONAME} ({first}); install libcapbroker "
                "or point CAPBROKER_LIB at the library"
            ) from first
        return ctypes.CDLL(found)


def load() -> ctypes.CDLL:
    """Load libcapbroker and declare its prototypes.

    ctypes.CDLL releases the GIL around every call, so a blocking
    ``cb_reserve`` or ``cb_watch`` does not stop other Python threads.
    """
    dll = _open_library()
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(dll, name)
        fn.restype = restype
        fn.argtypes = argtypes
    for name, (restype, argtypes) in _OPTIONAL_PROTOTYPES.items():
        fn = getattr(dll, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes
    return dll


lib: ctypes.CDLL = load()


def has(function: str) -> bool:
    """Does the loaded library export function (a newer cb_ call)?"""
    return hasattr(lib, function)
