//! [`Error`]: one enum over the errno values libcapbroker returns.

use std::fmt;
use std::io;
use std::os::raw::c_int;
use std::time::Duration;

use crate::ffi;

/// A failed libcapbroker call: the negative errno it returned, as a
/// variant, with the library's message for this failure.
///
/// The message is `cb_errmsg()` of the handle, read in the failing
/// thread right after the call (the library keeps messages per thread,
/// so threads sharing a [`Client`](crate::Client) never see each
/// other's), or `cb_strerror()` where the library kept none.
///
/// | errno       | variant                        |
/// |-------------|--------------------------------|
/// | `EAGAIN`    | [`OverLimit`](Error::OverLimit) |
/// | `ETIMEDOUT` | [`TimedOut`](Error::TimedOut)   |
/// | `ESTALE`    | [`Stale`](Error::Stale)         |
/// | `ENOENT`    | [`NotFound`](Error::NotFound)   |
/// | `EPROTO`    | [`Protocol`](Error::Protocol)   |
/// | `EACCES`    | [`PermissionDenied`](Error::PermissionDenied) |
/// | `ENOSPC`    | [`NoSpace`](Error::NoSpace)     |
/// | `EINVAL`    | [`Invalid`](Error::Invalid)     |
/// | `EINTR`     | [`Interrupted`](Error::Interrupted) |
/// | any other   | [`Other`](Error::Other)         |
///
/// Over the limit is two variants because the C library says two
/// things: [`OverLimit`](Error::OverLimit) is a fail-fast refusal
/// ([`Wait::No`](crate::Wait::No)) and [`TimedOut`](Error::TimedOut) a
/// wait that ran out ([`Wait::For`](crate::Wait::For)).  Both carry the
/// broker's `retry_after` hint; a gateway that answers 429 for either
/// matches on [`Error::retry_after`], which is `Some` for both.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// `-EAGAIN`: the pool is at its limit and the request did not wait
    /// (or, fail-fast, a waiter of its priority is queued).
    OverLimit {
        /// The broker's hint: the earliest launch deadline in the pool,
        /// or its default retry-after.
        retry_after: Duration,
        /// The library's message.
        message: String,
    },
    /// `-ETIMEDOUT`: not admitted before the wait's deadline.
    TimedOut {
        /// The broker's hint, as for [`OverLimit`](Error::OverLimit)
        /// (zero where the call gives none).
        retry_after: Duration,
        /// The library's message.
        message: String,
    },
    /// `-ESTALE`: the ticket was already released, reclaimed or expired,
    /// or the waiter is no longer queued.
    Stale {
        /// The library's message.
        message: String,
    },
    /// `-ENOENT`: no such broker instance, pool or worker, or no ready
    /// worker to pick.
    NotFound {
        /// The library's message.
        message: String,
    },
    /// `-EPROTO`: an incompatible or corrupt segment (ABI mismatch), or
    /// a segment retired by a replacing broker: open a new
    /// [`Client`](crate::Client).
    Protocol {
        /// The library's message.
        message: String,
    },
    /// `-EACCES`: not in the broker's group, or a reservation on a
    /// read-only handle.
    PermissionDenied {
        /// The library's message.
        message: String,
    },
    /// `-ENOSPC`: a table is full (clients, reservations, waiters, or
    /// holds of this process).
    NoSpace {
        /// The library's message.
        message: String,
    },
    /// `-EINVAL`: a bad argument (name, ticket text, policy), or a
    /// handle used in a child of `fork()`.
    Invalid {
        /// The library's message.
        message: String,
    },
    /// `-EINTR`: a signal handler ran during a wait.
    Interrupted {
        /// The library's message.
        message: String,
    },
    /// `-ECANCELED`: another thread ended the wait through an
    /// [`Interrupter`](crate::Interrupter); the waiter keeps its place.
    Cancelled {
        /// The library's message.
        message: String,
    },
    /// Any other errno (`ESRCH`, `EXDEV`, `ENOMEM`, ...).
    Other {
        /// The positive errno value.
        errno: i32,
        /// The library's message.
        message: String,
    },
}

/// `Result<T, capbroker::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error for the negative (or positive) errno `code` with the
    /// library's `message` and `retry_after_ms` hint.
    pub(crate) fn from_code(code: c_int, message: String, retry_after_ms: u32) -> Error {
        let errno = code.wrapping_abs();
        let message = if message.is_empty() {
            strerror(errno)
        } else {
            message
        };
        let retry_after = Duration::from_millis(u64::from(retry_after_ms));
        match errno {
            ffi::EAGAIN => Error::OverLimit {
                retry_after,
                message,
            },
            ffi::ETIMEDOUT => Error::TimedOut {
                retry_after,
                message,
            },
            ffi::ESTALE => Error::Stale { message },
            ffi::ENOENT => Error::NotFound { message },
            ffi::EPROTO => Error::Protocol { message },
            ffi::EACCES => Error::PermissionDenied { message },
            ffi::ENOSPC => Error::NoSpace { message },
            ffi::EINVAL => Error::Invalid { message },
            ffi::EINTR => Error::Interrupted { message },
            ffi::ECANCELED => Error::Cancelled { message },
            _ => Error::Other { errno, message },
        }
    }

    /// An `EINVAL` raised by the binding itself (a string with a NUL).
    pub(crate) fn invalid(message: String) -> Error {
        Error::Invalid { message }
    }

    /// The positive errno value (`EAGAIN`, `ETIMEDOUT`, ...).
    pub fn errno(&self) -> i32 {
        match self {
            Error::OverLimit { .. } => ffi::EAGAIN,
            Error::TimedOut { .. } => ffi::ETIMEDOUT,
            Error::Stale { .. } => ffi::ESTALE,
            Error::NotFound { .. } => ffi::ENOENT,
            Error::Protocol { .. } => ffi::EPROTO,
            Error::PermissionDenied { .. } => ffi::EACCES,
            Error::NoSpace { .. } => ffi::ENOSPC,
            Error::Invalid { .. } => ffi::EINVAL,
            Error::Interrupted { .. } => ffi::EINTR,
            Error::Cancelled { .. } => ffi::ECANCELED,
            Error::Other { errno, .. } => *errno,
        }
    }

    /// The library's message for this failure.
    pub fn message(&self) -> &str {
        match self {
            Error::OverLimit { message, .. }
            | Error::TimedOut { message, .. }
            | Error::Stale { message }
            | Error::NotFound { message }
            | Error::Protocol { message }
            | Error::PermissionDenied { message }
            | Error::NoSpace { message }
            | Error::Invalid { message }
            | Error::Interrupted { message }
            | Error::Cancelled { message }
            | Error::Other { message, .. } => message,
        }
    }

    /// The broker's retry-after hint of [`OverLimit`](Error::OverLimit)
    /// and [`TimedOut`](Error::TimedOut); `None` for the others.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::OverLimit { retry_after, .. } | Error::TimedOut { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    /// The library's message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// An `io::Error` of the same errno's kind, wrapping this error.
    fn from(e: Error) -> io::Error {
        let kind = io::Error::from_raw_os_error(e.errno()).kind();
        io::Error::new(kind, e)
    }
}

/// The library's short description of an errno, either sign
/// (`cb_strerror`).
pub fn strerror(errno: i32) -> String {
    // SAFETY: cb_strerror accepts any int and returns a NUL-terminated
    // string (a literal, or libc's strerror text), copied at once.
    ffi::text(unsafe { ffi::cb_strerror(errno) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_match_the_platform() {
        use io::ErrorKind as K;
        let kind = |e| io::Error::from_raw_os_error(e).kind();
        assert_eq!(kind(ffi::EAGAIN), K::WouldBlock);
        assert_eq!(kind(ffi::ETIMEDOUT), K::TimedOut);
        assert_eq!(kind(ffi::ENOENT), K::NotFound);
        assert_eq!(kind(ffi::EACCES), K::PermissionDenied);
        assert_eq!(kind(ffi::EINVAL), K::InvalidInput);
        assert_eq!(kind(ffi::EINTR), K::Interrupted);
        // No stable ErrorKind for these: compare the C library's text.
        assert_eq!(strerror(ffi::ESTALE), "ticket already released, reclaimed or expired");
        assert_eq!(strerror(ffi::EPROTO), "incompatible or corrupt segment");
        assert_eq!(
            io::Error::from_raw_os_error(ffi::ENOSPC).to_string(),
            format!("{} (os error {})", strerror(ffi::ENOSPC), ffi::ENOSPC)
        );
    }

    #[test]
    fn every_variant_round_trips_its_errno() {
        for e in [4, 2, 11, 13, 22, 28, 71, 110, 116, 125, 3, 18] {
            let err = Error::from_code(-e, String::new(), 7);
            assert_eq!(err.errno(), e);
            assert_eq!(err.message(), strerror(e));
            assert_eq!(err.to_string(), err.message());
            let hint = err.retry_after();
            assert_eq!(hint.is_some(), e == 11 || e == 110);
        }
        let e = Error::from_code(-11, "pool gw: over".into(), 250);
        assert_eq!(e.retry_after(), Some(Duration::from_millis(250)));
        assert_eq!(e.to_string(), "pool gw: over");
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::WouldBlock);
    }
}
