"""The Python binding against a real broker (see conftest.py)."""

from __future__ import annotations

import errno
import signal
import threading
import time
from typing import Callable, List

import pytest

import capbroker
from capbroker import Client

from conftest import Broker


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll pred() every 20 ms until it is true or timeout passes."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return pred()
        time.sleep(0.02)
    return True


# -- attaching -----------------------------------------------------------


def test_public_names() -> None:
    """Every exported name exists, the waiter and errors included."""
    for name in capbroker.__all__:
        assert hasattr(capbroker, name), name
    for name in ("Client", "Pool", "Waiter", "WorkerHold", "OverLimit",
                 "source_name", "strerror"):
        assert name in capbroker.__all__, name
    assert "error_for" not in capbroker.__all__


def test_open_missing_broker_raises_not_found() -> None:
    with pytest.raises(capbroker.NotFound) as info:
        Client("py-no-such-broker")
    assert info.value.errno == errno.ENOENT
    assert info.value.code == -errno.ENOENT
    assert "py-no-such-broker" in info.value.strerror
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, capbroker.CapbrokerError)


def test_bad_name_is_a_capbroker_error() -> None:
    with pytest.raises(capbroker.CapbrokerError) as info:
        Client("bad/name")
    assert info.value.errno == errno.EINVAL
    assert info.value.strerror


def test_context_manager_closes(broker: Broker) -> None:
    with Client(broker.name) as c:
        assert c.name == broker.name
        assert not c.closed
    assert c.closed
    with pytest.raises(ValueError):
        _ = c.current
    c.close()  # a second close is a no-op


# -- capacity, source, watch ---------------------------------------------


def test_current_and_source_follow_the_tiers(broker: Broker) -> None:
    with Client(broker.name) as c:
        assert (c.current, c.source) == (1024, "fallback")
        broker.ctl("worker", "set", "w1", "--state", "ready", "--max-running", "8")
        broker.ctl("worker", "set", "w2", "--state", "ready", "--max-running", "4")
        assert (c.current, c.source) == (12, "reported")
        broker.ctl("worker", "set", "w3", "--state", "ready")
        assert (c.current, c.source) == (12 + 64, "mixed")
        broker.ctl("override", "30")
        assert (c.current, c.source) == (30, "override")
        s = c.state
        assert (s.capacity, s.source) == (30, "override")
        assert s.generation >= 5 and not s.stopping and not s.retired


def test_watch_returns_latest_then_times_out(broker: Broker) -> None:
    with Client(broker.name) as c:
        first = c.watch(0)
        assert first is not None and first == c.state.generation
        t0 = time.monotonic()
        assert c.watch(0.2) is None
        assert time.monotonic() - t0 >= 0.19
        assert c.generation == first


def test_watch_wakes_on_a_change(broker: Broker) -> None:
    with Client(broker.name) as c:
        first = c.watch(0)
        timer = threading.Timer(
            0.2, broker.ctl, ("worker", "set", "g", "--state", "ready",
                              "--max-running", "7")
        )
        timer.start()
        try:
            gen = c.watch(10)
        finally:
            timer.join()
        assert gen is not None and first is not None and gen > first
        assert c.current == 7


def test_watch_without_timeout_wakes_too(broker: Broker) -> None:
    with Client(broker.name) as c:
        c.watch(0)
        timer = threading.Timer(0.3, broker.ctl, ("override", "9"))
        timer.start()
        try:
            assert c.watch(None) is not None
        finally:
            timer.join()
        assert c.current == 9


def test_broker_alive(broker: Broker) -> None:
    with Client(broker.name) as c:
        assert c.broker_alive()
        broker.kill()
        assert not c.broker_alive()
        # The last capacity stays readable while the broker is down.
        assert c.current == 1024


# -- pools and holds -----------------------------------------------------


def test_pool_not_found(broker: Broker) -> None:
    with Client(broker.name) as c:
        with pytest.raises(capbroker.NotFound) as info:
            c.pool("nosuchpool")
        assert "nosuchpool" in str(info.value)
        assert c.pool().index == 0
        assert c.pool("default").info().name == "default"


def test_hold_over_limit_and_release(broker: Broker) -> None:
    broker.ctl("pool", "set", "gw", "--limit", "2")
    with Client(broker.name) as c:
        gw = c.pool("gw")
        assert gw.info().limit == 2
        with gw.hold() as a, gw.hold() as b:
            assert gw.info().held == 2
            with pytest.raises(capbroker.OverLimit) as info:
                gw.hold(timeout=0)
            e = info.value
            assert e.errno == errno.EAGAIN
            assert isinstance(e, BlockingIOError)
            assert e.retry_after_ms > 0
            assert e.retry_after == e.retry_after_ms / 1000.0
            assert e.strerror
            assert a.ticket != b.ticket
        assert a.released and b.released
        assert gw.info().held == 0


def test_hold_blocks_until_a_release(broker: Broker) -> None:
    broker.ctl("pool", "set", "one", "--limit", "1")
    with Client(broker.name) as c:
        one = c.pool("one")
        first = one.hold()
        t0 = time.monotonic()
        with pytest.raises(capbroker.Timeout) as info:
            one.hold(timeout=0.2)
        assert time.monotonic() - t0 >= 0.19
        assert isinstance(info.value, TimeoutError)
        timer = threading.Timer(0.2, first.release)
        timer.start()
        try:
            with one.hold(timeout=10):
                assert one.info().held == 1
        finally:
            timer.join()
        assert first.released
        assert one.info().held == 0


def test_fair_queue_priority_then_arrival(broker: Broker) -> None:
    broker.ctl("pool", "set", "q", "--limit", "1")
    with Client(broker.name) as c:
        q = c.pool("q")
        first = q.hold()
        low_a = q.enqueue(priority=0)
        low_b = q.enqueue(priority=0)
        high = q.enqueue(priority=5)
        assert [high.position, low_a.position, low_b.position] == [0, 1, 2]
        with pytest.raises(capbroker.Timeout):
            high.wait(timeout=0.05)          # full: keeps its place
        assert high.queued and high.position == 0
        with pytest.raises(capbroker.OverLimit):
            q.hold(timeout=0)                # no barging past waiters
        first.release()
        order = []
        for w, name in ((high, "high"), (low_a, "a"), (low_b, "b")):
            assert w.position == 0
            h = w.wait(timeout=5)
            assert isinstance(h, capbroker.Hold) and not w.queued
            order.append(name)
            assert q.info().held == 1
            h.release()
        assert order == ["high", "a", "b"]
        with pytest.raises(capbroker.Stale):
            low_b.position                   # admitted: no longer queued


def test_fair_queue_cancel_moves_the_others_up(broker: Broker) -> None:
    broker.ctl("pool", "set", "q", "--limit", "1")
    with Client(broker.name) as c:
        q = c.pool("q")
        with q.hold():
            with q.enqueue() as gone:
                later = q.enqueue()
                assert later.position == 1
            assert not gone.queued
            assert later.position == 0
            later.cancel()
            assert not later.queued
        assert q.info().held == 0


def test_interrupt_ends_a_wait_in_another_thread(broker: Broker) -> None:
    """Waiter.interrupt (cb_wait_cancel): the wait another thread is in
    raises Cancelled at once and the waiter keeps its place; with no wait
    in progress the next wait raises it; the one after waits normally."""
    broker.ctl("pool", "set", "q", "--limit", "1")
    with Client(broker.name) as c:
        q = c.pool("q")
        first = q.hold()
        w = q.enqueue()
        got: List[BaseException] = []

        def waiter() -> None:
            try:
                w.wait()                     # no timeout: only interrupt
            except BaseException as e:       # noqa: B036 - handed back
                got.append(e)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)                      # inside cb_wait by now
        t0 = time.monotonic()
        w.interrupt()
        t.join(timeout=5)
        assert not t.is_alive(), "interrupt did not end the wait"
        assert time.monotonic() - t0 < 2
        assert len(got) == 1 and isinstance(got[0], capbroker.Cancelled)
        assert got[0].errno == errno.ECANCELED
        assert w.queued and w.position == 0
        w.interrupt()                        # no wait in progress
        with pytest.raises(capbroker.Cancelled):
            w.wait(timeout=5)
        timer = threading.Timer(0.2, first.release)
        timer.start()
        try:
            h = w.wait(timeout=5)            # the cancel was used up
        finally:
            timer.join()
        assert not w.queued and q.info().held == 1
        w.interrupt()                        # admitted: a no-op
        h.release()


def test_double_release_is_stale(broker: Broker) -> None:
    with Client(broker.name) as c:
        h = c.pool().hold()
        h.release()
        with pytest.raises(capbroker.Stale) as info:
            h.release()
        assert info.value.errno == errno.ESTALE
        assert c.pool().info().held == 0


def test_readonly_client_cannot_reserve(broker: Broker) -> None:
    with Client(broker.name, readonly=True) as c:
        assert c.current == 1024
        with pytest.raises(capbroker.PermissionDenied) as info:
            c.pool().hold()
        assert isinstance(info.value, PermissionError)


def test_holds_of_a_killed_process_are_reclaimed(broker: Broker) -> None:
    broker.ctl("pool", "set", "gw", "--limit", "4")
    child = broker.spawn_python(
        "import sys, time, capbroker\n"
        f"c = capbroker.Client({broker.name!r})\n"
        "h = [c.pool('gw').hold() for _ in range(3)]\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"held"
    with Client(broker.name) as c:
        gw = c.pool("gw")
        assert gw.info().held == 3
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert wait_until(lambda: gw.info().held == 0), gw.info()
    assert "reclaim" in broker.logtext()


def test_cap_holds_across_threads(broker: Broker) -> None:
    """Many threads hammer one pool: held never exceeds the limit."""
    broker.ctl("pool", "set", "gw", "--limit", "3")
    peak: List[int] = [0]
    inside = [0]
    lock = threading.Lock()
    refused = [0]

    def worker(c: Client) -> None:
        gw = c.pool("gw")
        for _ in range(200):
            try:
                with gw.hold():
                    with lock:
                        inside[0] += 1
                        peak[0] = max(peak[0], inside[0])
                    time.sleep(0.0005)
                    with lock:
                        inside[0] -= 1
            except capbroker.OverLimit:
                with lock:
                    refused[0] += 1

    with Client(broker.name) as c:
        threads = [threading.Thread(target=worker, args=(c,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 1 <= peak[0] <= 3
        assert refused[0] > 0
        assert c.pool("gw").info().held == 0


# -- launches ------------------------------------------------------------


def test_launch_admission_and_release(broker: Broker) -> None:
    broker.ctl("pool", "set", "fleet", "--limit", "3", "--window", "60")
    with Client(broker.name) as c:
        fleet = c.pool("fleet")
        l1 = fleet.launch(observed=1)
        l2 = fleet.launch(observed=1)
        info = fleet.info()
        assert (info.launching, info.window_ms) == (2, 60000)
        with pytest.raises(capbroker.OverLimit) as over:
            fleet.launch(observed=1)
        # The hint is the earliest launch deadline: about one window.
        assert 50_000 <= over.value.retry_after_ms <= 60_000
        l1.release()
        assert fleet.info().launching == 1
        # Any process may release a launch by its text ticket.
        ticket = l2.ticket
        with Client(broker.name) as other:
            other.release_ticket(ticket)
        assert fleet.info().launching == 0
        with pytest.raises(capbroker.Stale):
            c.release_ticket(ticket)
        with pytest.raises(capbroker.CapbrokerError) as bad:
            c.release_ticket("not-a-ticket")
        assert bad.value.errno == errno.EINVAL


def test_launch_context_releases_only_on_failure(broker: Broker) -> None:
    broker.ctl("pool", "set", "fleet", "--limit", "5")
    with Client(broker.name) as c:
        fleet = c.pool("fleet")
        with fleet.launch() as ok:
            pass
        assert not ok.released and fleet.info().launching == 1
        with pytest.raises(RuntimeError):
            with fleet.launch() as failed:
                raise RuntimeError("launch failed")
        assert failed.released and fleet.info().launching == 1


def test_launch_outlives_its_process(broker: Broker) -> None:
    broker.ctl("pool", "set", "fleet", "--limit", "5")
    child = broker.spawn_python(
        "import capbroker\n"
        f"c = capbroker.Client({broker.name!r})\n"
        "l = c.pool('fleet').launch(observed=0)\n"
        "print(l.ticket, flush=True)\n"
    )
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0
    ticket = out.decode().strip()
    with Client(broker.name) as c:
        assert c.pool("fleet").info().launching == 1
        c.release_ticket(ticket)
        assert c.pool("fleet").info().launching == 0


# -- worker placement ----------------------------------------------------

needs_placement = pytest.mark.skipif(
    not capbroker._native.has("cb_pick_worker"),
    reason="libcapbroker without cb_pick_worker",
)


@needs_placement
def test_pick_worker_least_loaded_honours_max_running(broker: Broker) -> None:
    broker.ctl("worker", "set", "a", "--state", "ready", "--max-running", "2")
    broker.ctl("worker", "set", "b", "--state", "ready", "--max-running", "1")
    broker.ctl("pool", "set", "gw", "--limit", "10")
    with Client(broker.name) as c:
        gw = c.pool("gw")
        picks = [gw.pick_worker("least_loaded") for _ in range(3)]
        # Ties go to the id that sorts first.
        assert [h.worker_id for h in picks] == ["a", "b", "a"]
        assert (c.worker_inflight("a"), c.worker_inflight("b")) == (2, 1)
        assert gw.info().held == 3
        with pytest.raises(capbroker.OverLimit) as info:
            gw.pick_worker("spread")
        assert info.value.retry_after_ms > 0
        for h in picks:
            with h:
                pass
        assert (c.worker_inflight("a"), c.worker_inflight("b")) == (0, 0)
        assert gw.info().held == 0
        with pytest.raises(capbroker.NotFound):
            c.worker_inflight("nosuchworker")
        with pytest.raises(ValueError):
            gw.pick_worker("random")


@needs_placement
def test_pick_worker_without_ready_worker(broker: Broker) -> None:
    broker.ctl("worker", "set", "a", "--state", "draining", "--max-running", "2")
    with Client(broker.name) as c:
        with pytest.raises(capbroker.NotFound):
            c.pool().pick_worker()


@needs_placement
def test_worker_slots_of_a_killed_process_are_reclaimed(broker: Broker) -> None:
    broker.ctl("worker", "set", "a", "--state", "ready", "--max-running", "4")
    child = broker.spawn_python(
        "import time, capbroker\n"
        f"c = capbroker.Client({broker.name!r})\n"
        "h = [c.pool().pick_worker('consolidate') for _ in range(3)]\n"
        "print(','.join(x.worker_id for x in h), flush=True)\n"
        "time.sleep(60)\n"
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"a,a,a"
    with Client(broker.name) as c:
        assert c.worker_inflight("a") == 3
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert wait_until(lambda: c.worker_inflight("a") == 0)
        assert c.pool().info().held == 0
