//! The C interface of libcapbroker, declared by hand from
//! `include/capbroker.h` (ABI 0.1).  Private: the safe types of this
//! crate are the only users.  Keep every layout here equal to the
//! header's; `tests` below pins the sizes.

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
    use std::mem::{align_of, size_of};

    #[test]
    fn layouts_match_the_header() {
        assert_eq!(size_of::<cb_ticket>(), 16);
        assert_eq!(size_of::<cb_waiter>(), 32);
        assert_eq!(size_of::<cb_request>(), 20);
        assert_eq!(align_of::<cb_request>(), 4);
        assert_eq!(size_of::<cb_pool_info>(), 52);
    }
}
