"""One pool, four languages: C, Python, Rust and Go holders at once.

Run by ``make crosslang-check`` (part of make check), which builds the
four holder programs and sets, besides what tests/python/conftest.py
reads:

  CAPBROKER_RUST_HOLDER   client/rust/examples/holder.rs, built
  CAPBROKER_GO_HOLDER     client/go/cmd/cbholder, built

The C holder is $CAPBROKER_BIN/tests/cbholder (tests/integration/
cbholder.c) and the Python one holder.py beside this file.  All four are
the same program (see cbholder.c): enqueue at a priority and print
"queued N", wait and print "held", release on "release" or EOF and print
"released".  The broker is the judge: capdump --json counts the units.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import BIN, ROOT, Broker

HERE = Path(__file__).resolve().parent
LANGS = ("c", "python", "rust", "go")
LINE_TIMEOUT_S = 10.0


def holder_argv(lang: str) -> List[str]:
    """The command line of lang's holder; a missing one fails the test
    (make crosslang-check builds all four: a skip would hide a step)."""
    if lang == "c":
        return [str(BIN / "tests" / "cbholder")]
    if lang == "python":
        return [sys.executable, str(HERE / "holder.py")]
    var = {"rust": "CAPBROKER_RUST_HOLDER", "go": "CAPBROKER_GO_HOLDER"}[lang]
    path = os.environ.get(var)
    assert path, f"{var} is not set: run this through make crosslang-check"
    assert os.access(path, os.X_OK), f"{var}={path} is not an executable"
    return [path]


class Holder:
    """One holder process; its stdout read line by line with a timeout."""

    def __init__(self, broker: Broker, lang: str, pool: str, prio: int) -> None:
        env = dict(broker.env)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "client" / "python"), env.get("PYTHONPATH", "")]
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.lang = lang
        self.prio = prio
        self.proc = subprocess.Popen(
            holder_argv(lang) + [broker.name, pool, str(prio)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        broker.children.append(self.proc)
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""

    def __repr__(self) -> str:
        return f"<{self.lang} holder prio={self.prio} pid={self.proc.pid}>"

    def _fill(self, timeout: float) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = None
            if chunk:
                self.buf += chunk
                continue
            if chunk == b"" or time.monotonic() >= deadline:
                return
            time.sleep(0.005)

    def line(self, timeout: float = LINE_TIMEOUT_S) -> Optional[str]:
        """The next line of output, or None if none came in timeout."""
        self._fill(timeout)
        if b"\n" not in self.buf:
            return None
        text, self.buf = self.buf.split(b"\n", 1)
        return text.decode()

    def expect(self, want: str) -> str:
        got = self.line()
        if got is None or not got.startswith(want):
            err = b""
            if self.proc.poll() is not None and self.proc.stderr is not None:
                err = self.proc.stderr.read()
            pytest.fail(f"{self!r}: wanted {want!r}, got {got!r} "
                        f"(exit {self.proc.poll()}): {err.decode()}")
        return got

    def silent(self) -> bool:
        """True if it has printed nothing more (a 0-timeout look)."""
        return self.line(timeout=0) is None

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"release\n")
        self.proc.stdin.flush()
        self.expect("released")
        assert self.proc.wait(timeout=LINE_TIMEOUT_S) == 0


def dump(broker: Broker) -> dict:
    out = subprocess.run(
        [str(BIN / "capdump"), "-n", broker.name, "--json"],
        env=broker.env, capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)


def pool_held(broker: Broker, pool: str) -> int:
    for p in dump(broker)["pools"]:
        if p["name"] == pool:
            return int(p["held"])
    raise AssertionError(f"no pool {pool} in capdump")


def client_holds(broker: Broker) -> Dict[int, int]:
    """pid -> units held, for every client entry that holds any."""
    return {c["pid"]: c["held"] for c in dump(broker)["clients"] if c["held"]}


def wait_for(what: str, cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_one_pool_counts_every_language_once(broker: Broker) -> None:
    """Three units, four holders: the fourth waits whatever its language,
    and each admitted one is counted once, under its own pid."""
    broker.ctl("pool", "set", "xl", "--limit", "3")
    holders = []
    for lang in LANGS:
        h = Holder(broker, lang, "xl", 0)
        h.expect("queued")
        holders.append(h)
    first3, last = holders[:3], holders[3]
    for h in first3:
        h.expect("held")
    assert last.line(timeout=0.5) is None, "a fourth unit was admitted"
    assert pool_held(broker, "xl") == 3
    assert client_holds(broker) == {h.proc.pid: 1 for h in first3}

    first3[0].release()
    last.expect("held")
    assert pool_held(broker, "xl") == 3
    assert client_holds(broker) == {h.proc.pid: 1 for h in holders[1:]}
    for h in holders[1:]:
        h.release()
    assert pool_held(broker, "xl") == 0
    assert client_holds(broker) == {}


def test_killed_holder_of_each_language_is_reclaimed(broker: Broker) -> None:
    """A one-unit pool passed down a chain: each language's holder is
    killed with SIGKILL while it holds, and only the broker's reclaim of
    its hold can admit the next language's waiter."""
    broker.ctl("pool", "set", "xk", "--limit", "1")
    holders = [Holder(broker, lang, "xk", 0) for lang in LANGS[:1]]
    holders[0].expect("queued 0")
    holders[0].expect("held")
    for lang in LANGS[1:] + LANGS[:1]:
        nxt = Holder(broker, lang, "xk", 0)
        nxt.expect("queued 0")
        assert nxt.line(timeout=0.3) is None, f"{nxt!r} admitted early"
        victim = holders[-1]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=LINE_TIMEOUT_S)
        nxt.expect("held")
        assert client_holds(broker) == {nxt.proc.pid: 1}
        holders.append(nxt)
    holders[-1].proc.send_signal(signal.SIGKILL)
    holders[-1].proc.wait(timeout=LINE_TIMEOUT_S)
    wait_for("the last holder's reclaim", lambda: pool_held(broker, "xk") == 0)
    assert client_holds(broker) == {}


def test_fair_queue_orders_languages_by_priority_then_arrival(
    broker: Broker,
) -> None:
    """Eight waiters, two per language, arrive one by one at mixed
    priorities behind a held unit; each reports its place as it queues,
    and units freed one at a time go to them by priority, then arrival,
    whatever language each is written in."""
    broker.ctl("pool", "set", "xq", "--limit", "1")
    blocker = Holder(broker, "c", "xq", 0)
    blocker.expect("queued 0")
    blocker.expect("held")

    arrivals = [("go", 0), ("rust", 5), ("c", 0), ("python", 5),
                ("python", 0), ("go", 9), ("rust", 0), ("c", 5)]
    queued: List[Holder] = []
    for lang, prio in arrivals:
        h = Holder(broker, lang, "xq", prio)
        ahead = sum(1 for q in queued if q.prio >= prio)
        h.expect(f"queued {ahead}")
        queued.append(h)
    order = sorted(queued, key=lambda q: -q.prio)  # stable: arrival order
    assert [(h.lang, h.prio) for h in order] == [
        ("go", 9), ("rust", 5), ("python", 5), ("c", 5),
        ("go", 0), ("c", 0), ("python", 0), ("rust", 0)]

    blocker.release()
    for i, h in enumerate(order):
        h.expect("held")
        for other in order[i + 1:]:
            assert other.silent(), f"{other!r} admitted before {h!r}"
        assert pool_held(broker, "xq") == 1
        h.release()
    assert pool_held(broker, "xq") == 0
