//! holder NAME POOL PRIORITY: hold one unit of a pool through the fair
//! queue, for the cross-language test (one pool, holders in C, Python,
//! Rust and Go).
//!
//! 1. Open the broker instance NAME, resolve POOL, enqueue one hold at
//!    PRIORITY and print `queued N` (N: the queue position).
//! 2. Wait without a limit until admitted; print `held`.
//! 3. Read stdin line by line; on the line `release` or at EOF release
//!    the hold, print `released` and exit 0.
//!
//! Any failure: `error <the library's message>` on stderr, exit 1.
//! Every line is flushed at once: the test reads them through a pipe
//! while the program runs.

use std::env;
use std::io::{self, BufRead, Write};
use std::process;

use capbroker::{Client, Wait};

fn say(line: &str) -> Result<(), String> {
    let mut out = io::stdout().lock();
    writeln!(out, "{}", line)
        .and_then(|_| out.flush())
        .map_err(|e| format!("stdout: {}", e))
}

fn run(name: &str, pool: &str, priority: i32) -> Result<(), String> {
    let client = Client::open(name).map_err(|e| e.to_string())?;
    let pool = client.pool(pool).map_err(|e| e.to_string())?;
    let mut waiter = pool.enqueue(priority).map_err(|e| e.to_string())?;
    let position = waiter.position().map_err(|e| e.to_string())?;
    say(&format!("queued {}", position))?;
    let hold = waiter.wait(Wait::Forever).map_err(|e| e.to_string())?;
    say("held")?;
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {}", e))?;
        if line == "release" {
            break;
        }
    }
    hold.release().map_err(|e| e.to_string())?;
    say("released")
}

fn main() {
    let args: Vec<String> = env::args().collect();
    let result = match args.as_slice() {
        [_, name, pool, priority] => match priority.parse::<i32>() {
            Ok(p) => run(name, pool, p),
            Err(_) => Err(format!("PRIORITY is an integer, not {:?}", priority)),
        },
        _ => Err("usage: holder NAME POOL PRIORITY".to_owned()),
    };
    if let Err(msg) = result {
        eprintln!("error {}", msg);
        process::exit(1);
    }
}
