"""Fixtures for the Python binding's tests: a real broker per test.

Run by ``make python-check``, which sets:

  CAPBROKER_BIN   the build directory (capbrokerd, capctl)
  CAPBROKER_LIB   that directory's libcapbroker.so.0
  PYTHONPATH      client/python

Every broker gets a unique instance name and a private
CAPBROKER_RUNDIR; whatever a test leaves running is killed and its
segments are removed from /dev/shm.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

BIN = Path(os.environ.get("CAPBROKER_BIN", "build")).resolve()
os.environ.setdefault("CAPBROKER_LIB", str(BIN / "libcapbroker.so.0"))
ROOT = Path(__file__).resolve().parents[2]


class Broker:
    """A capbrokerd of the build directory, with a unique name."""

    _count = 0

    def __init__(self, tmp: Path) -> None:
        Broker._count += 1
        self.name = f"py{os.getpid()}-{Broker._count}"
        self.rundir = Path(tempfile.mkdtemp(prefix="capbroker-py.", dir=tmp))
        self.env = dict(os.environ, CAPBROKER_RUNDIR=str(self.rundir))
        self.log = self.rundir / "broker.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.children: List[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """Start the broker; return once it answers ``capctl ping``."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "capbrokerd"), "-n", self.name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while self.ctl_rc("ping") != 0:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited at start:\n{self.logtext()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker did not come up:\n{self.logtext()}")
            time.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send sig to the broker and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def logtext(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def ctl_rc(self, *args: str) -> int:
        return subprocess.run(
            [str(BIN / "capctl"), "-n", self.name, *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode

    def ctl(self, *args: str) -> str:
        """capctl -n NAME ARGS; its stdout, raising if it fails."""
        r = subprocess.run(
            [str(BIN / "capctl"), "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise RuntimeError(f"capctl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def spawn_python(self, code: str) -> "subprocess.Popen[bytes]":
        """A child Python running code with the binding importable."""
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "client" / "python"), env.get("PYTHONPATH", "")]
        )
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.children.append(child)
        return child

    def cleanup(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
        self.kill()
        # The segments and the broker's spare links of them (dot names).
        for seg in ("state", "slots"):
            for prefix in ("", "."):
                try:
                    os.unlink(f"/dev/shm/{prefix}capbroker.{self.name}.{seg}")
                except FileNotFoundError:
                    pass
        shutil.rmtree(self.rundir, ignore_errors=True)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running broker, killed and cleaned up after the test."""
    b = Broker(tmp_path)
    try:
        b.start()
        yield b
    finally:
        b.cleanup()

