//! The C interface of libcapbroker, declared by hand from
//! `include/capbroker.h` (CB_VERSION 0.1).  Private: the safe types of this
//! crate are the only users.  Keep every layout here equal to the
//! header's: `tests` below compares each size, offset and constant
//! with what the C compiler makes of the header (the ABI probe the
//! Python binding's tests use, tests/python/abiprobe.c).

#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint, c_ulong};

/// `cb_client`: opaque, only ever behind a pointer.
#[repr(C)]
pub struct cb_client {
    _opaque: [u8; 0],
}

/// `cb_ticket`.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct cb_ticket {
    pub opaque: [u64; 2],
}

/// `cb_waiter`: a plain value (the queue entry lives in shared memory;
/// the handle may be moved freely).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct cb_waiter {
    pub opaque: [u64; 4],
}

/// `struct cb_request`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct cb_request {
    pub pool: c_int,
    pub kind: c_int,
    pub observed: u32,
    pub timeout_ms: c_int,
    pub priority: c_int,
}

/// `struct cb_pool_info`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct cb_pool_info {
    pub name: [c_char; 32],
    pub limit: u32,
    pub observed: u32,
    pub held: u32,
    pub launching: u32,
    pub window_ms: u32,
}

pub const CB_HOLD: c_int = 1;
pub const CB_LAUNCH: c_int = 2;
pub const CB_OPEN_RDONLY: c_uint = 0x1;
pub const CB_TICKET_STRLEN: usize = 48;
pub const CB_WORKER_ID_STRLEN: usize = 64;

pub const CB_PLACE_CONSOLIDATE: c_int = 1;
pub const CB_PLACE_SPREAD: c_int = 2;
pub const CB_PLACE_LEAST_LOADED: c_int = 3;

// Linux errno values: the library is Linux-only (futex, pidfd,
// membarrier).  error.rs checks them against std::io's mapping.
pub const EINTR: c_int = 4;
pub const ENOENT: c_int = 2;
pub const EAGAIN: c_int = 11;
pub const EACCES: c_int = 13;
pub const EINVAL: c_int = 22;
pub const ENOSPC: c_int = 28;
pub const EPROTO: c_int = 71;
pub const ETIMEDOUT: c_int = 110;
pub const ESTALE: c_int = 116;
pub const ECANCELED: c_int = 125;

extern "C" {
    pub fn cb_open(out: *mut *mut cb_client, name: *const c_char, flags: c_uint) -> c_int;
    pub fn cb_open_errmsg() -> *const c_char;
    pub fn cb_close(c: *mut cb_client);
    pub fn cb_current(c: *const cb_client) -> c_uint;
    pub fn cb_state_word(c: *const cb_client) -> *const u64;
    pub fn cb_source(c: *const cb_client) -> c_int;
    pub fn cb_source_name(source: c_int) -> *const c_char;
    pub fn cb_watch(c: *mut cb_client, generation: *mut u32, timeout_ms: c_int) -> c_int;
    pub fn cb_broker_check(c: *mut cb_client) -> c_int;
    pub fn cb_name(c: *const cb_client) -> *const c_char;

    pub fn cb_pool(c: *mut cb_client, pool_name: *const c_char) -> c_int;
    pub fn cb_pool_info(c: *mut cb_client, pool: c_int, out: *mut cb_pool_info) -> c_int;
    pub fn cb_reserve(
        c: *mut cb_client,
        req: *const cb_request,
        ticket: *mut cb_ticket,
        retry_after_ms: *mut u32,
    ) -> c_int;
    pub fn cb_enqueue(c: *mut cb_client, req: *const cb_request, w: *mut cb_waiter) -> c_int;
    pub fn cb_queue_position(c: *mut cb_client, w: *const cb_waiter) -> c_int;
    pub fn cb_wait(
        c: *mut cb_client,
        w: *mut cb_waiter,
        timeout_ms: c_int,
        ticket: *mut cb_ticket,
        retry_after_ms: *mut u32,
    ) -> c_int;
    pub fn cb_wait_cancel(c: *mut cb_client, w: *const cb_waiter) -> c_int;
    pub fn cb_dequeue(c: *mut cb_client, w: *mut cb_waiter) -> c_int;
    pub fn cb_release(c: *mut cb_client, ticket: *const cb_ticket) -> c_int;
    pub fn cb_ticket_format(t: *const cb_ticket, buf: *mut c_char, len: c_ulong) -> c_int;
    pub fn cb_ticket_parse(s: *const c_char, t: *mut cb_ticket) -> c_int;

    pub fn cb_pick_worker(
        c: *mut cb_client,
        req: *const cb_request,
        policy: c_int,
        ticket: *mut cb_ticket,
        worker_id: *mut c_char,
        id_len: c_ulong,
        retry_after_ms: *mut u32,
    ) -> c_int;
    pub fn cb_worker_inflight(c: *mut cb_client, worker_id: *const c_char) -> c_int;
    pub fn cb_placement_name(policy: c_int) -> *const c_char;
    pub fn cb_placement_parse(name: *const c_char) -> c_int;

    pub fn cb_errmsg(c: *const cb_client) -> *const c_char;
    pub fn cb_strerror(err: c_int) -> *const c_char;
}

/// A C string of the library as an owned String ("" for NULL).
pub fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the library returns NUL-terminated strings that stay
    // valid at least until the calling thread's next call on the handle;
    // we copy at once.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// A static C string of the library (cb_source_name and
/// cb_placement_name return string literals; NOT cb_strerror, which
/// may return libc's strerror buffer).
pub fn static_text(p: *const c_char) -> &'static str {
    if p.is_null() {
        return "";
    }
    // SAFETY: these functions return pointers to string literals of
    // the library, which stays loaded for the life of the process.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_str()
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::mem::{align_of, size_of, MaybeUninit};
    use std::path::Path;
    use std::process::Command;

    macro_rules! offset_of {
        ($t:ty, $f:ident) => {{
            let u = MaybeUninit::<$t>::uninit();
            let base = u.as_ptr();
            // SAFETY: only the field's address is computed; nothing is
            // read from the uninitialised value.
            let field = unsafe { std::ptr::addr_of!((*base).$f) };
            field as usize - base as usize
        }};
    }

    /// What tests/python/abiprobe.c (the Python binding's ABI probe,
    /// compiled against include/capbroker.h) prints, as {key: value}.
    fn probe() -> HashMap<String, u64> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let src = root.join("tests/python/abiprobe.c");
        let exe = std::env::temp_dir()
            .join(format!("capbroker-rs-abiprobe.{}", std::process::id()));
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
        let st = Command::new(&cc)
            .args(["-std=gnu11", "-Wall", "-Werror", "-I"])
            .arg(root.join("include"))
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .status()
            .unwrap_or_else(|e| panic!("{}: {} (the ABI probe needs a C compiler)", cc, e));
        assert!(st.success(), "{} {} failed", cc, src.display());
        let out = Command::new(&exe).output().expect("run the ABI probe");
        let _ = std::fs::remove_file(&exe);
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_owned(), v.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn layouts_and_constants_match_the_header() {
        let p = probe();
        let want = |k: &str| -> usize { p[k] as usize };
        assert_eq!(size_of::<cb_ticket>(), want("sizeof cb_ticket"));
        assert_eq!(size_of::<cb_waiter>(), want("sizeof cb_waiter"));
        assert_eq!(size_of::<cb_request>(), want("sizeof struct cb_request"));
        assert_eq!(align_of::<cb_request>(), 4);
        let req = |f: &str| want(&format!("offsetof struct cb_request.{}", f));
        assert_eq!(offset_of!(cb_request, pool), req("pool"));
        assert_eq!(offset_of!(cb_request, kind), req("kind"));
        assert_eq!(offset_of!(cb_request, observed), req("observed"));
        assert_eq!(offset_of!(cb_request, timeout_ms), req("timeout_ms"));
        assert_eq!(offset_of!(cb_request, priority), req("priority"));
        assert_eq!(size_of::<cb_pool_info>(), want("sizeof struct cb_pool_info"));
        assert_eq!(32, want("fieldsize struct cb_pool_info.name"));
        let info = |f: &str| want(&format!("offsetof struct cb_pool_info.{}", f));
        assert_eq!(offset_of!(cb_pool_info, name), info("name"));
        assert_eq!(offset_of!(cb_pool_info, limit), info("limit"));
        assert_eq!(offset_of!(cb_pool_info, observed), info("observed"));
        assert_eq!(offset_of!(cb_pool_info, held), info("held"));
        assert_eq!(offset_of!(cb_pool_info, launching), info("launching"));
        assert_eq!(offset_of!(cb_pool_info, window_ms), info("window_ms"));
        let c = |k: &str| p[&format!("const {}", k)];
        assert_eq!(CB_HOLD as u64, c("CB_HOLD"));
        assert_eq!(CB_LAUNCH as u64, c("CB_LAUNCH"));
        assert_eq!(u64::from(CB_OPEN_RDONLY), c("CB_OPEN_RDONLY"));
        assert_eq!(CB_TICKET_STRLEN as u64, c("CB_TICKET_STRLEN"));
        assert_eq!(CB_WORKER_ID_STRLEN as u64, c("CB_WORKER_ID_STRLEN"));
        assert_eq!(CB_PLACE_CONSOLIDATE as u64, c("CB_PLACE_CONSOLIDATE"));
        assert_eq!(CB_PLACE_SPREAD as u64, c("CB_PLACE_SPREAD"));
        assert_eq!(CB_PLACE_LEAST_LOADED as u64, c("CB_PLACE_LEAST_LOADED"));
        // The state word, decoded as the header's macros do.
        let s = crate::State::from_raw(p["word"]);
        assert_eq!(u64::from(s.capacity()), c("CB_STATE_CAPACITY(word)"));
        assert_eq!(s.source().to_raw() as u64, c("CB_STATE_SOURCE(word)"));
        assert_eq!(u64::from(s.flags()), c("CB_STATE_FLAGS(word)"));
        assert_eq!(u64::from(s.generation().0), c("CB_STATE_GENERATION(word)"));
        assert_eq!(u64::from(crate::State::STOPPING), c("CB_STATE_F_STOPPING"));
        assert_eq!(u64::from(crate::State::RETIRED), c("CB_STATE_F_RETIRED"));
    }
}
