"""The ctypes mirror of capbroker.h matches the C compiler's layout.

Compiles tests/python/abiprobe.c against include/capbroker.h and compares
every struct size, field offset and constant it prints with
capbroker._native.  A field added to, removed from or retyped in a
public struct without updating the binding fails here.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Type

import pytest

from capbroker import _native

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

MIRRORS: Dict[str, Type[ctypes.Structure]] = {
    "cb_ticket": _native.CbTicket,
    "cb_waiter": _native.CbWaiter,
    "struct cb_request": _native.CbRequest,
    "struct cb_pool_info": _native.CbPoolInfo,
}


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, int]:
    """What abiprobe.c prints, as {key: value}."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        pytest.fail(f"no C compiler ({cc}) to build the ABI probe")
    exe = tmp_path_factory.mktemp("abi") / "abiprobe"
    subprocess.run(
        [cc, "-std=gnu11", "-Wall", "-Werror", "-I", str(ROOT / "include"),
         "-o", str(exe), str(HERE / "abiprobe.c")],
        check=True,
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True)
    facts: Dict[str, int] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.rpartition(" ")
        facts[key] = int(value)
    return facts


@pytest.mark.parametrize("cname", sorted(MIRRORS))
def test_struct_sizes_and_offsets(probe: Dict[str, int], cname: str) -> None:
    mirror = MIRRORS[cname]
    assert ctypes.sizeof(mirror) == probe[f"sizeof {cname}"], cname
    fields = [name for name, *_ in mirror._fields_]
    probed = {
        k.split(".", 1)[1]
        for k in probe
        if k.startswith(f"offsetof {cname}.")
    }
    assert set(fields) == probed, f"{cname}: fields differ from the probe"
    for name in fields:
        assert getattr(mirror, name).offset == probe[
            f"offsetof {cname}.{name}"
        ], f"{cname}.{name}"


def test_pool_name_buffer(probe: Dict[str, int]) -> None:
    assert _native.CB_POOL_NAME_LEN == probe["fieldsize struct cb_pool_info.name"]


@pytest.mark.parametrize(
    "const",
    [
        "CB_HOLD",
        "CB_LAUNCH",
        "CB_OPEN_RDONLY",
        "CB_TICKET_STRLEN",
        "CB_WORKER_ID_STRLEN",
    ],
)
def test_constants(probe: Dict[str, int], const: str) -> None:
    assert getattr(_native, const) == probe[f"const {const}"]


@pytest.mark.parametrize("policy", sorted(_native.PLACEMENTS))
def test_placement_policies(probe: Dict[str, int], policy: str) -> None:
    """enum cb_placement, by the names Pool.pick_worker() takes."""
    assert _native.PLACEMENTS[policy] == probe[
        f"const CB_PLACE_{policy.upper()}"
    ]


def test_state_word_decoding(probe: Dict[str, int]) -> None:
    """Client.state decodes the word the way the header's macros do."""
    from capbroker import client

    state = client.decode_state(probe["word"])
    assert state.capacity == probe["const CB_STATE_CAPACITY(word)"]
    assert state.source == client.source_name(
        probe["const CB_STATE_SOURCE(word)"]
    )
    assert state.flags == probe["const CB_STATE_FLAGS(word)"]
    assert state.generation == probe["const CB_STATE_GENERATION(word)"]
    assert client._STATE_FLAGS_STOPPING == probe["const CB_STATE_F_STOPPING"]
    assert client._STATE_FLAGS_RETIRED == probe["const CB_STATE_F_RETIRED"]
