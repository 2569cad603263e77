//! The examples, run against a real broker: the holder's line protocol
//! (the cross-language test drives it) and the gateway's loop.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdout, Command};

use capbroker::{Client, Wait};
use common::{example, Broker};

fn next_line(r: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

#[test]
fn holders_queue_by_priority_then_release_on_command_and_eof() {
    let mut b = Broker::start();
    b.ctl(&["pool", "set", "q", "--limit", "1"]);
    let c = Client::open(&b.name).unwrap();
    let q = c.pool("q").unwrap();
    let first = q.hold(Wait::No).unwrap();
    let name = b.name.clone();
    let holder = example("holder");

    let low = b.spawn(&holder, &[&name, "q", "0"]);
    let mut low_out = BufReader::new(low.stdout.take().unwrap());
    let mut low_in = low.stdin.take().unwrap();
    assert_eq!(next_line(&mut low_out), "queued 0\n");
    let high = b.spawn(&holder, &[&name, "q", "5"]);
    let mut high_out = BufReader::new(high.stdout.take().unwrap());
    let mut high_in = high.stdin.take().unwrap();
    // Higher priority goes ahead of the earlier arrival.
    assert_eq!(next_line(&mut high_out), "queued 0\n");

    drop(first);
    assert_eq!(next_line(&mut high_out), "held\n");
    assert_eq!(q.info().unwrap().held, 1);
    writeln!(high_in, "release").unwrap();
    assert_eq!(next_line(&mut high_out), "released\n");
    assert_eq!(next_line(&mut low_out), "held\n");
    // EOF releases too.
    drop(low_in.flush());
    drop(low_in);
    assert_eq!(next_line(&mut low_out), "released\n");
    assert_eq!(q.info().unwrap().held, 0);
    drop(high_in);
    assert_eq!(next_line(&mut high_out), "", "exits after released");
}

#[test]
fn holder_failure_is_an_error_line_and_exit_1() {
    let b = Broker::start();
    let out = Command::new(example("holder"))
        .args([&b.name, "nosuchpool", "0"])
        .env("CAPBROKER_RUNDIR", &b.rundir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error ") && err.contains("nosuchpool"), "{}", err);
    assert!(out.stdout.is_empty());
}

#[test]
fn gateway_admits_up_to_the_limit_and_answers_429() {
    let mut b = Broker::start();
    b.ctl(&["pool", "set", "gw", "--limit", "2"]);
    let name = b.name.clone();
    let gw = b.spawn(&example("gateway"), &[&name, "gw", "20"]);
    drop(gw.stdin.take());
    let mut text = String::new();
    gw.stdout.take().unwrap().read_to_string(&mut text).unwrap();
    assert!(gw.wait().unwrap().success(), "{}", text);
    assert!(text.starts_with("capacity 1024 (fallback), generation "), "{}", text);
    let summary = text.lines().last().unwrap();
    assert!(summary.starts_with("gateway: 20 requests, "), "{}", text);
    assert!(summary.ends_with(", 0 held now"), "{}", text);
    let c = Client::open(&b.name).unwrap();
    assert_eq!(c.pool("gw").unwrap().info().unwrap().held, 0);
}
