//! etcdhosts: serve a hosts file kept in etcd from CoreDNS.
//!
//! The crate does all the work behind a small C ABI (`ffi`, `include/etcdhosts.h`) that the
//! Go plugin in `go-shim/` calls: [`hosts`] parses hosts text, [`table`] is the immutable
//! lookup table, [`etcd`] keeps a table in step with an etcd key, [`status`] reports the
//! instance to the fleet (`status_key`), [`tls_probe`] finds out why etcd hung up on a TLS
//! connection, and [`engine`] ties one running instance together.

pub mod engine;
pub mod etcd;
pub mod ffi;
pub mod hosts;
mod log;
pub mod status;
pub mod table;
pub mod tls_probe;

pub use engine::{Config, Engine, Stats, TlsFiles};
pub use hosts::{Diagnostic, Zones};
pub use status::InstanceStatus;
pub use table::{Outcome, Table, TableOptions};
