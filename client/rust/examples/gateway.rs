//! gateway NAME [POOL] [REQUESTS]: a model gateway's admission loop.
//!
//! For each incoming request the gateway reads the fleet's capacity
//! from `state()` (one atomic load: no call, no syscall), logs it when
//! the broker published a new one, and takes one hold of POOL without
//! waiting.  Admitted requests are served on worker threads, which
//! drop the hold when done (a hold may be released in another thread
//! than took it: legal, though it moves the admitting thread's lane to
//! the library's locked path, see `Hold`); a request over the limit is
//! answered 429 with the
//! broker's Retry-After.  Runs REQUESTS (default 32) requests and
//! prints a summary, so it can run under a test.

use std::env;
use std::process;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use capbroker::{Client, Error, Generation, Hold, Wait};

/// Serve one request while holding its unit; the hold is dropped
/// (released) when the request is done.
fn serve(request: usize, hold: Hold<'_>) {
    thread::sleep(Duration::from_millis(2)); // the model's work
    drop(hold);
    let _ = request;
}

fn run(name: &str, pool: &str, requests: usize) -> capbroker::Result<()> {
    let client = Client::open(name)?;
    let pool = client.pool(pool)?;
    let mut seen = Generation(0);
    let (mut admitted, mut rejected) = (0usize, 0usize);
    thread::scope(|s| -> capbroker::Result<()> {
        let (done_tx, done_rx) = mpsc::channel::<usize>();
        for request in 0..requests {
            let state = client.state();
            if state.generation() != seen {
                seen = state.generation();
                println!(
                    "capacity {} ({}), generation {}",
                    state.capacity(),
                    state.source(),
                    seen
                );
            }
            if state.retired() {
                println!("broker replaced: a real gateway reopens here");
            }
            match pool.hold(Wait::No) {
                Ok(hold) => {
                    admitted += 1;
                    let done = done_tx.clone();
                    s.spawn(move || {
                        serve(request, hold);
                        let _ = done.send(request);
                    });
                }
                Err(Error::OverLimit { retry_after, .. }) => {
                    rejected += 1;
                    let secs = (retry_after.as_millis() + 999) / 1000;
                    println!("request {}: 429 Too Many Requests, Retry-After: {}", request, secs);
                    // Requests arrive faster than they finish here:
                    // give one in flight a moment to end.
                    let _ = done_rx.recv_timeout(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })?;
    println!(
        "gateway: {} requests, {} admitted, {} rejected (429), {} held now",
        requests,
        admitted,
        rejected,
        pool.info()?.held
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = env::args().collect();
    if args.len() < 2 || args.len() > 4 {
        eprintln!("usage: gateway NAME [POOL] [REQUESTS]");
        process::exit(64);
    }
    let pool = args.get(2).map(String::as_str).unwrap_or("default");
    let requests = match args.get(3).map(|n| n.parse::<usize>()) {
        None => 32,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("gateway: REQUESTS is a count, not {:?}", args[3]);
            process::exit(64);
        }
    };
    if let Err(e) = run(&args[1], pool, requests) {
        eprintln!("gateway: {} (errno {})", e, e.errno());
        process::exit(1);
    }
}
