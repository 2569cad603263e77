//! A real broker per test: `capbrokerd` of `$CAPBROKER_BIN` (the C
//! build directory; `make rust-check` sets it) under a unique instance
//! name and a private `CAPBROKER_RUNDIR`.  Dropping the [`Broker`] kills
//! it and every child a test spawned through it, and removes its run
//! directory and its segments from /dev/shm.

#![allow(dead_code)] // each test binary uses a part

use std::env;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

static COUNT: AtomicUsize = AtomicUsize::new(0);

/// The build directory holding capbrokerd and capctl.
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env::var_os("CAPBROKER_BIN").expect(
        "CAPBROKER_BIN is not set: run the tests with make rust-check, or \
         set it to the C build directory (capbrokerd, capctl)",
    ))
}

/// The built example `name` (cargo test builds the examples next to
/// the test binaries' deps/ directory).
pub fn example(name: &str) -> PathBuf {
    let exe = env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join("examples").join(name)
}

/// A running capbrokerd, cleaned up on drop.
pub struct Broker {
    /// The unique instance name.
    pub name: String,
    /// Its private run directory.
    pub rundir: PathBuf,
    proc: Option<Child>,
    children: Vec<Child>,
}

impl Broker {
    /// Start a broker and return once `capctl ping` answers.
    pub fn start() -> Broker {
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = format!("rs{}-{}", std::process::id(), n);
        let rundir = env::temp_dir().join(format!("capbroker-rs.{}", name));
        let _ = fs::remove_dir_all(&rundir);
        fs::create_dir_all(&rundir).expect("create rundir");
        let log = fs::File::create(rundir.join("broker.log")).expect("broker.log");
        let mut b = Broker {
            name,
            rundir,
            proc: None,
            children: Vec::new(),
        };
        let child = Command::new(bin_dir().join("capbrokerd"))
            .args(["-n", &b.name])
            .env("CAPBROKER_RUNDIR", &b.rundir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn capbrokerd");
        b.proc = Some(child);
        // Readiness, not a timed assertion: poll until it answers.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !b.ctl_ok(&["ping"]) {
            if let Ok(Some(st)) = b.proc.as_mut().unwrap().try_wait() {
                panic!("broker exited at start ({}):\n{}", st, b.log());
            }
            if Instant::now() > deadline {
                panic!("broker did not come up:\n{}", b.log());
            }
            thread::sleep(Duration::from_millis(20));
        }
        b
    }

    fn capctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin_dir().join("capctl"));
        cmd.arg("-n")
            .arg(&self.name)
            .args(args)
            .env("CAPBROKER_RUNDIR", &self.rundir);
        cmd
    }

    fn ctl_ok(&self, args: &[&str]) -> bool {
        self.capctl(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// `capctl -n NAME ARGS`; its stdout.  Panics if it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = self.capctl(args).output().expect("run capctl");
        if !out.status.success() {
            panic!(
                "capctl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGKILL the broker and reap it (its segments stay until drop).
    pub fn kill(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(self.rundir.join("broker.log")) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Spawn `program args` with this broker's run directory and piped
    /// stdin/stdout/stderr; killed on drop.  Returns its index.
    pub fn spawn(&mut self, program: &Path, args: &[&str]) -> &mut Child {
        let child = Command::new(program)
            .args(args)
            .env("CAPBROKER_RUNDIR", &self.rundir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {}", program.display(), e));
        self.children.push(child);
        self.children.last_mut().unwrap()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut p) = self.proc.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
        // The segments and the broker's spare links of them (dot names),
        // as tests/integration/lib.sh removes them.
        for seg in ["state", "slots"] {
            for f in [
                format!("/dev/shm/capbroker.{}.{}", self.name, seg),
                format!("/dev/shm/.capbroker.{}.{}", self.name, seg),
                format!("/dev/shm/.capbroker.{}.{}.new", self.name, seg),
            ] {
                let _ = fs::remove_file(f);
            }
        }
        let _ = fs::remove_dir_all(&self.rundir);
    }
}

/// Poll `cond` until it holds, for at most 20 s: for effects of another
/// process (a reclaim) that have no event to wait on.  Not a timing
/// assertion: the bound only keeps a broken build from hanging.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}
