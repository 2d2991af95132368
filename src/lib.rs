//! etcdhosts: serve a hosts file kept in etcd from CoreDNS.
//!
//! The crate does all the work behind a small C ABI ([`ffi`], `include/etcdhosts.h`) that
//! the Go plugin in `go-shim/` calls, and owns every rule: the options, zones, names, the
//! answers, the instance's identity, etcd. Each module uses only modules listed before it:
//!
//! - [`identity`] (the host name), [`zones`] (the zones answered for and their SOA),
//!   [`status`] (the fleet status record), `snapshot` (the snapshot file), `retry` (endpoint
//!   rotation and backoff), `runtime` (the shared runtime, supervision), `log` (log lines to
//!   the host);
//! - [`hosts`]: hosts text -> records; [`table`]: the immutable lookup table, changed by
//!   copy-on-write shards; [`dataset`]: the hosts data as chunks of lines, so that a change
//!   costs what it changes; [`chunked`]: the chunked layout of a plain key in etcd;
//! - [`config`]: a Corefile block -> one instance's settings, their defaults and checks;
//! - [`client`]: how etcd connections are made; [`tls_probe`]: why etcd hung up on a TLS
//!   connection; [`etcd_error`]: etcd errors explained; `state`: what an instance serves and
//!   reports; `chunk_reader`: the watch's reader of the chunked layout;
//! - [`etcd`]: the watch that keeps the table in step with etcd; `status_writer`: the
//!   status key; [`engine`]: one instance's lifecycle; [`ffi`]: the C ABI.

mod chunk_reader;
pub mod chunked;
pub mod client;
pub mod config;
pub mod dataset;
pub mod engine;
pub mod etcd;
pub mod etcd_error;
pub mod ffi;
pub mod hosts;
pub mod identity;
mod log;
mod retry;
mod runtime;
mod snapshot;
mod state;
pub mod status;
mod status_writer;
pub mod table;
pub mod tls_probe;
pub mod zones;

/// The real-etcd harness of the integration tests, for unit tests that need etcd.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_etcd;

pub use config::{Config, TlsFiles};
pub use engine::Engine;
pub use hosts::Diagnostic;
pub use state::Stats;
pub use status::InstanceStatus;
pub use table::{Outcome, Table, TableOptions};
pub use zones::Zones;
