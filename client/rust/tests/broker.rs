//! The binding against a real broker (tests/common: one per test).

mod common;

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use capbroker::{Client, Error, Generation, Placement, Source, Ticket, Wait};
use common::{wait_until, Broker};

// -- open, capacity, source, state, watch ---------------------------------

#[test]
fn open_a_missing_broker_is_not_found_with_a_message() {
    let e = Client::open("rs-nosuchbroker").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{:?}", e);
    assert_eq!(e.errno(), 2);
    assert!(e.to_string().contains("rs-nosuchbroker"), "{}", e);
    let e = Client::open("bad/name").unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{:?}", e);
    let e = Client::open("nul\0name").unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{:?}", e);
}

#[test]
fn current_source_and_state_follow_the_tiers() {
    let b = Broker::start();
    let c = Client::open(&b.name).unwrap();
    assert_eq!(c.name(), b.name);
    assert_eq!((c.current(), c.source()), (1024, Source::Fallback));
    b.ctl(&["worker", "set", "w1", "--state", "ready", "--max-running", "8"]);
    b.ctl(&["worker", "set", "w2", "--state", "ready", "--max-running", "4"]);
    assert_eq!((c.current(), c.source()), (12, Source::Reported));
    let before = c.state().generation();
    b.ctl(&["override", "30"]);
    assert_eq!((c.current(), c.source()), (30, Source::Override));
    assert_eq!(c.source().to_string(), "override");
    let s = c.state();
    assert_eq!((s.capacity(), s.source()), (30, Source::Override));
    assert!(s.generation() > before, "{:?} after {:?}", s, before);
    assert!(!s.stopping() && !s.retired() && s.flags() == 0);
}

#[test]
fn watch_returns_the_latest_then_times_out_then_wakes() {
    let b = Broker::start();
    let c = Client::open(&b.name).unwrap();
    let first = c.watch(Some(Duration::ZERO)).unwrap().expect("first watch");
    assert_eq!(first, c.state().generation());
    assert_eq!(c.watch(Some(Duration::from_millis(50))).unwrap(), None);
    assert_eq!(c.watch_since(Generation(0), Some(Duration::ZERO)).unwrap(), Some(first));
    thread::scope(|s| {
        // The change may land before or after the watch starts: the
        // watch compares generations, so it returns either way.
        s.spawn(|| b.ctl(&["override", "9"]));
        let g = c.watch(None).unwrap().expect("no limit: never None");
        assert!(g > first);
    });
    assert_eq!(c.current(), 9);
    assert_eq!(c.state().source(), Source::Override);
}

#[test]
fn broker_alive_until_killed_and_the_capacity_stays_readable() {
    let mut b = Broker::start();
    let c = Client::open(&b.name).unwrap();
    assert!(c.broker_alive());
    b.kill();
    assert!(!c.broker_alive());
    assert_eq!(c.current(), 1024);
    // Holds work without a broker (only death notices wait for one).
    let h = c.pool("default").unwrap().hold(Wait::No).unwrap();
    h.release().unwrap();
}

#[test]
fn readonly_handle_reads_but_cannot_reserve() {
    let b = Broker::start();
    let c = Client::open_readonly(&b.name).unwrap();
    assert_eq!(c.current(), 1024);
    let e = c.pool("default").unwrap().hold(Wait::No).unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{:?}", e);
    assert!(!e.message().is_empty());
}

// -- pools and holds -------------------------------------------------------

#[test]
fn pool_not_found_names_the_pool() {
    let b = Broker::start();
    let c = Client::open(&b.name).unwrap();
    let e = c.pool("nosuchpool").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{:?}", e);
    assert!(e.to_string().contains("nosuchpool"), "{}", e);
    let d = c.pool("default").unwrap();
    assert_eq!(d.index(), 0);
    assert_eq!(d.info().unwrap().name, "default");
    assert_eq!(d.info().unwrap().limit, 1024);
}

#[test]
fn hold_limit_over_limit_and_drop_releases() {
    let b = Broker::start();
    b.ctl(&["pool", "set", "gw", "--limit", "2"]);
    let c = Client::open(&b.name).unwrap();
    let gw = c.pool("gw").unwrap();
    assert_eq!(gw.info().unwrap().limit, 2);
    {
        let h1 = gw.hold(Wait::No).unwrap();
        let h2 = gw.hold(Wait::No).unwrap();
        assert_ne!(h1.ticket(), h2.ticket());
        assert_eq!(gw.info().unwrap().held, 2);
        match gw.hold(Wait::No) {
            Err(Error::OverLimit {
                retry_after,
                message,
            }) => {
                assert!(retry_after > Duration::ZERO);
                assert!(!message.is_empty());
            }
            other => panic!("expected OverLimit, got {:?}", other),
        }
        let e = gw.hold(Wait::No).unwrap_err();
        assert_eq!(e.errno(), 11);
        assert!(e.retry_after().is_some());
        drop(h1);
        assert_eq!(gw.info().unwrap().held, 1);
        h2.release().unwrap();
        assert_eq!(gw.info().unwrap().held, 0);
        let _h3 = gw.hold(Wait::No).unwrap();
        assert_eq!(gw.info().unwrap().held, 1);
    }
    assert_eq!(gw.info().unwrap().held, 0);
}

#[test]
fn release_of_a_released_hold_is_stale() {
    let b = Broker::start();
    let c = Client::open(&b.name).unwrap();
    let pool = c.pool("default").unwrap();
    let h = pool.hold(Wait::No).unwrap();
    let t = h.ticket();
    c.release_ticket(&t).unwrap();
    assert_eq!(pool.info().unwrap().held, 0);
    let e = h.release().unwrap_err();
    assert!(matches!(e, Error::Stale { .. }), "{:?}", e);
    assert_eq!(e.errno(), 116);
    assert!(!e.message().is_empty());
    let e = c.release_ticket(&t).unwrap_err();
    assert!(matches!(e, Error::Stale { .. }), "{:?}", e);
    assert_eq!(pool.info().unwrap().held, 0);
}

#[test]
fn blocking_hold_times_out_then_is_admitted_by_a_release() {
    let b = Broker::start();
    b.ctl(&["pool", "set", "one", "--limit", "1"]);
    let c = Client::open(&b.name).unwrap();
    let one = c.pool("one").unwrap();
    let first = one.hold(Wait::No).unwrap();
    let t0 = Instant::now();
    let e = one.hold(Wait::For(Duration::from_millis(50))).unwrap_err();
    assert!(matches!(e, Error::TimedOut { .. }), "{:?}", e);
    assert!(e.retry_after().is_some());
    assert!(t0.elapsed() >= Duration::from_millis(50));
    thread::scope(|s| {
        // Whether the release comes before or after the wait starts,
        // the wait is admitted.  (The bound only turns a broken
        // release into a failure instead of a hang.)
        let waiter = s.spawn(|| {
            let h = one.hold(Wait::For(Duration::from_secs(60))).unwrap();
            assert_eq!(one.info().unwrap().held, 1);
            drop(h);
        });
        drop(first);
        waiter.join().unwrap();
    });
    assert_eq!(one.info().unwrap().held, 0);
    let h = one.hold(Wait::For(Duration::from_secs(10))).unwrap();
    drop(h);
}

// -- fair waiting ----------------------------------------------------------

#[test]
fn queue_orders_by_priority_then_arrival() {
    let b = Broker::start();
    b.ctl(&["pool", "set", "q", "--limit", "1"]);
    let c = Client::open(&b.name).unwrap();
    let q = c.pool("q").unwrap();
    let first = q.hold(Wait::No).unwrap();
    let mut low_a = q.enqueue(0).unwrap();
    let mut low_b = q.enqueue(0).unwrap();
    let mut high = q.enqueue(5).unwrap();
    let pos = |w: &capbroker::Waiter| w.position().unwrap();
    assert_eq!((pos(&high), pos(&low_a), pos(&low_b)), (0, 1, 2));
    // Full: one look times out and keeps the place.
    let e = high.wait(Wait::No).unwrap_err();
    assert!(matches!(e, Error::TimedOut { .. }), "{:?}", e);
    assert!(high.is_queued());
    assert_eq!(pos(&high), 0);
    // No barging past queued waiters.
    assert!(matches!(q.hold(Wait::No), Err(Error::OverLimit { .. })));
    drop(first);
    let mut order = Vec::new();
    for (w, name) in [(&mut high, "high"), (&mut low_a, "a"), (&mut low_b, "b")] {
        assert_eq!(w.position().unwrap(), 0, "{} is not the head", name);
        let h = w.wait(Wait::For(Duration::from_secs(10))).unwrap();
        assert!(!w.is_queued());
        assert_eq!(q.info().unwrap().held, 1);
        order.push(name);
        drop(h);
    }
    assert_eq!(order, ["high", "a", "b"]);
    let e = low_b.position().unwrap_err();
    assert!(matches!(e, Error::Stale { .. }), "{:?}", e);
}

#[test]
fn an_interrupter_ends_a_wait_in_another_thread() {
    let b = Broker::start();
    b.ctl(&["pool", "set", "q", "--limit", "1"]);
    let c = Client::open(&b.name).unwrap();
    let q = c.pool("q").unwrap();
    let first = q.hold(Wait::No).unwrap();
    let mut w = q.enqueue(0).unwrap();
    let stop = w.interrupter();
    let ended = std::thread::scope(|s| {
        let waiting = s.spawn(|| {
            let t0 = Instant::now();
            // Not Forever: a broken interrupt fails, it does not hang.
            (w.wait(Wait::For(Duration::from_secs(10))), t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(200)); // inside cb_wait
        let sent = Instant::now();
        stop.interrupt().unwrap();
        let (r, waited) = waiting.join().unwrap();
        assert!(waited >= Duration::from_millis(150), "ended early: {:?}", waited);
        (r.map(drop), sent.elapsed())
    });
    let e = ended.0.unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{:?}", e);
    assert_eq!(e.errno(), 125);
    assert!(ended.1 < Duration::from_secs(2), "took {:?}", ended.1);
    assert!(w.is_queued());
    assert_eq!(w.position().unwrap(), 0);
    // With no wait in progress: the next one ends at once; the one
    // after it waits and is admitted.
    stop.interrupt().unwrap();
    let e = w.wait(Wait::For(Duration::from_secs(5))).unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{:?}", e);
    drop(first);
    let h = w.wait(Wait::For(Duration::from_secs(5))).unwrap();
    assert!(!w.is_queued());
    stop.interrupt().unwrap(); // admitted: nothing to end
    drop(h);
}

#[test]
fn dropping_a_waiter_leaves_the_queue() {
    let b = Broker::start();
    b.ctl(&["pool", "set", "q", "--limit", "1"]);
    let c = Client::open(&b.name).unwrap();
    let q = c.pool("q").unwrap();
    let h = q.hold(Wait::No).unwrap();
    let gone = q.enqueue(0).unwrap();
    let later = q.enqueue(0).unwrap();
    assert_eq!(later.position().unwrap(), 1);
    drop(gone);
    assert_eq!(later.position().unwrap(), 0);
    let mut last = q.enqueue(0).unwrap();
    assert_eq!(last.position().unwrap(), 1);
    later.cancel().unwrap();
    assert_eq!(last.position().unwrap(), 0);
    drop(h);
    // The queue is empty but for `last`: it is admitted at once.
    let h = last.wait(Wait::No).unwrap();
    assert_eq!(q.info().unwrap().held, 1);
    drop(h);
    assert_eq!(q.info().unwrap().held, 0);
}

// -- launches and tickets --------------------------------------------------

#[test]
fn launch_admission_release_and_ticket_round_trip() {
    let b = Broker::start();
    b.ctl(&["pool", "set", "fleet", "--limit", "3", "--window", "60"]);
    let c = Client::open(&b.name).unwrap();
    let fleet = c.pool("fleet").unwrap();
    let l1 = fleet.launch(1).unwrap();
    let l2 = fleet.launch(1).unwrap();
    let info = fleet.info().unwrap();
    assert_eq!((info.launching, info.window), (2, Duration::from_secs(60)));
    match fleet.launch(1) {
        // The hint is the earliest launch deadline: about one window.
        Err(Error::OverLimit { retry_after, .. }) => assert!(
            retry_after >= Duration::from_secs(50) && retry_after <= Duration::from_secs(60),
            "{:?}",
            retry_after
        ),
        other => panic!("expected OverLimit, got {:?}", other),
    }
    l1.release().unwrap();
    assert_eq!(fleet.info().unwrap().launching, 1);
    // A dropped Launch stays reserved.
    drop(fleet.launch(0).unwrap());
    assert_eq!(fleet.info().unwrap().launching, 2);
    // Ticket text round trip; any handle may release a launch.
    let text = l2.ticket().to_string();
    let parsed = Ticket::from_str(&text).unwrap();
    assert_eq!(parsed, l2.ticket());
    assert_eq!(parsed.to_string(), text);
    let other = Client::open(&b.name).unwrap();
    other.release_ticket(&parsed).unwrap();
    assert_eq!(fleet.info().unwrap().launching, 1);
    let e = l2.release().unwrap_err();
    assert!(matches!(e, Error::Stale { .. }), "{:?}", e);
    let e = "not-a-ticket".parse::<Ticket>().unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{:?}", e);
    assert!(e.to_string().contains("not-a-ticket"));
}

#[test]
fn a_queued_launch_is_admitted_when_a_launch_is_released() {
    let b = Broker::start();
    b.ctl(&["pool", "set", "fleet", "--limit", "2", "--window", "60"]);
    let c = Client::open(&b.name).unwrap();
    let fleet = c.pool("fleet").unwrap();
    let first = fleet.launch(1).unwrap();
    let mut queued = fleet.enqueue_launch(1, 0).unwrap();
    assert_eq!(queued.position().unwrap(), 0);
    let e = queued.wait(Wait::No).unwrap_err();
    assert!(matches!(e, Error::TimedOut { .. }), "{:?}", e);
    assert!(queued.is_queued());
    let gone = fleet.enqueue_launch(1, 0).unwrap();
    assert_eq!(gone.position().unwrap(), 1);
    drop(gone);
    first.release().unwrap();
    let second = queued.wait(Wait::For(Duration::from_secs(60))).unwrap();
    assert!(!queued.is_queued());
    assert_eq!(fleet.info().unwrap().launching, 1);
    second.release().unwrap();
    assert_eq!(fleet.info().unwrap().launching, 0);
}

// -- worker placement ------------------------------------------------------

#[test]
fn pick_worker_places_and_honours_max_running() {
    let b = Broker::start();
    b.ctl(&["worker", "set", "a", "--state", "ready", "--max-running", "2"]);
    b.ctl(&["worker", "set", "b", "--state", "ready", "--max-running", "1"]);
    b.ctl(&["pool", "set", "gw", "--limit", "10"]);
    let c = Client::open(&b.name).unwrap();
    let gw = c.pool("gw").unwrap();
    let picks: Vec<_> = (0..3)
        .map(|_| gw.pick_worker(Placement::LeastLoaded, Wait::No).unwrap())
        .collect();
    // Ties go to the id that sorts first.
    let ids: Vec<&str> = picks.iter().map(|h| h.worker_id()).collect();
    assert_eq!(ids, ["a", "b", "a"]);
    assert_eq!((c.worker_inflight("a").unwrap(), c.worker_inflight("b").unwrap()), (2, 1));
    assert_eq!(gw.info().unwrap().held, 3);
    let e = gw.pick_worker(Placement::Spread, Wait::No).unwrap_err();
    assert!(matches!(e, Error::OverLimit { .. }), "{:?}", e);
    assert!(e.retry_after().unwrap() > Duration::ZERO);
    let mut picks = picks.into_iter();
    picks.next().unwrap().release().unwrap();
    drop(picks);
    assert_eq!((c.worker_inflight("a").unwrap(), c.worker_inflight("b").unwrap()), (0, 0));
    assert_eq!(gw.info().unwrap().held, 0);
    // Consolidate packs onto the busiest worker.
    let h1 = gw.pick_worker(Placement::Consolidate, Wait::No).unwrap();
    let h2 = gw.pick_worker(Placement::Consolidate, Wait::No).unwrap();
    assert_eq!((h1.worker_id(), h2.worker_id()), ("a", "a"));
    let e = c.worker_inflight("nosuchworker").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{:?}", e);
    assert_eq!("spread".parse::<Placement>().unwrap(), Placement::Spread);
    assert_eq!(Placement::LeastLoaded.to_string(), "least_loaded");
    assert!(matches!("random".parse::<Placement>(), Err(Error::Invalid { .. })));
}

#[test]
fn pick_worker_without_a_ready_worker_is_not_found() {
    let b = Broker::start();
    b.ctl(&["worker", "set", "a", "--state", "draining", "--max-running", "2"]);
    let c = Client::open(&b.name).unwrap();
    let e = c.pool("default").unwrap().pick_worker(Placement::Spread, Wait::No).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{:?}", e);
    assert!(!e.message().is_empty());
}

// -- threads ---------------------------------------------------------------

#[test]
fn a_hold_taken_in_one_thread_is_released_in_another() {
    let b = Broker::start();
    b.ctl(&["pool", "set", "one", "--limit", "1"]);
    let c = Client::open(&b.name).unwrap();
    let one = c.pool("one").unwrap();
    thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        let one_ = &one;
        s.spawn(move || tx.send(one_.hold(Wait::No).unwrap()).unwrap())
            .join()
            .unwrap();
        let h = rx.recv().unwrap();
        assert_eq!(one.info().unwrap().held, 1);
        assert!(matches!(one.hold(Wait::No), Err(Error::OverLimit { .. })));
        // Dropped in a third thread: the unit is free again.
        s.spawn(move || drop(h)).join().unwrap();
        assert_eq!(one.info().unwrap().held, 0);
        // And release() from another thread reports success.
        let h = s.spawn(|| one.hold(Wait::No).unwrap()).join().unwrap();
        h.release().unwrap();
        assert_eq!(one.info().unwrap().held, 0);
    });
}

#[test]
fn threads_sharing_a_client_never_exceed_the_limit() {
    const LIMIT: usize = 3;
    const THREADS: usize = 8;
    let b = Broker::start();
    b.ctl(&["pool", "set", "gw", "--limit", &LIMIT.to_string()]);
    let c = Client::open(&b.name).unwrap();
    let gw = c.pool("gw").unwrap();
    // First, deterministically: LIMIT holders in LIMIT threads, then
    // one more thread is refused.
    let full = Barrier::new(LIMIT + 1);
    let done = Barrier::new(LIMIT + 1);
    thread::scope(|s| {
        for _ in 0..LIMIT {
            s.spawn(|| {
                let h = gw.hold(Wait::No).unwrap();
                full.wait();
                done.wait();
                drop(h);
            });
        }
        full.wait();
        let e = s.spawn(|| gw.hold(Wait::No).unwrap_err()).join().unwrap();
        assert!(matches!(e, Error::OverLimit { .. }), "{:?}", e);
        done.wait();
    });
    assert_eq!(gw.info().unwrap().held, 0);
    // Then many threads hold and release, blocking and not.
    let inside = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (gw, inside, peak, start) = (&gw, &inside, &peak, &start);
            s.spawn(move || {
                start.wait();
                for i in 0..100 {
                    let wait = if (t + i) % 2 == 0 {
                        Wait::For(Duration::from_secs(60)) // a bound, not a timing
                    } else {
                        Wait::No
                    };
                    let h = match gw.hold(wait) {
                        Ok(h) => h,
                        Err(Error::OverLimit { .. }) => continue,
                        Err(e) => panic!("{:?}", e),
                    };
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(h);
                }
            });
        }
    });
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=LIMIT).contains(&peak), "peak {}", peak);
    assert_eq!(gw.info().unwrap().held, 0);
}

// -- a killed process's holds ---------------------------------------------

#[test]
fn holds_of_a_killed_holder_are_reclaimed() {
    let mut b = Broker::start();
    b.ctl(&["pool", "set", "gw", "--limit", "4"]);
    let name = b.name.clone();
    let child = b.spawn(&common::example("holder"), &[&name, "gw", "0"]);
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead;
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "queued 0\n");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "held\n");
    let c = Client::open(&name).unwrap();
    let gw = c.pool("gw").unwrap();
    assert_eq!(gw.info().unwrap().held, 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(wait_until(|| gw.info().unwrap().held == 0), "{:?}", gw.info());
}
