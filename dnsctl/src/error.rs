//! One error type for every command: a message for the operator and the exit code.

use std::fmt;

/// Exit codes, documented in the README (dnsctl section). Scripts may rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// etcd unreachable, authentication or permission failure, value too large, I/O error.
    Error = 1,
    /// Bad command line (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// Missing or invalid config file, unreadable TLS files.
    Config = 3,
    /// Invalid hosts data (or an invalid name or address argument); nothing was written.
    Invalid = 4,
    /// Someone else changed the key first; nothing was written.
    Conflict = 5,
    /// The key, a revision of it, or the record to delete does not exist.
    NotFound = 6,
}

#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Shorthands: `fail(Code::Config, "...")?`.
pub fn fail<T>(code: Code, message: impl Into<String>) -> Result<T> {
    Err(Failure::new(code, message))
}

/// An I/O error on a named file, as one line.
pub fn io_failure(what: &str, path: &std::path::Path, e: std::io::Error) -> Failure {
    Failure::new(
        Code::Error,
        format!("cannot {what} {}: {e}", path.display()),
    )
}
