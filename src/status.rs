//! The fleet status record (`status_key PREFIX`): each instance keeps one etcd key,
//! PREFIX + `<hostname>/<listen>`, whose JSON value is an [`InstanceStatus`], so that a
//! console (`dnsctl serve`) can list the fleet and spot an instance that lags behind. The
//! writer is `status_writer`; readers decode the value with this same type.

use serde::{Deserialize, Serialize};

/// How long a status key outlives a dead or frozen process: it hangs on a lease of this TTL.
pub const LEASE_TTL_SECONDS: i64 = 10;

/// The JSON value of a status key: the contract with its readers (`dnsctl serve`).
/// Field order is the order written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// `<hostname>/<listen>`; the key is the status prefix followed by this.
    pub instance: String,
    pub hostname: String,
    /// `IP:PORT` for a server block with `bind`, `:PORT` otherwise.
    pub listen: String,
    pub pid: u32,
    /// The hosts key (or prefix) this instance serves.
    pub key: String,
    /// The revision served: the SOA serial and `Stats::revision`; 0 before the first load.
    pub revision: i64,
    /// Records served (`Stats::records`).
    pub entries: u64,
    pub invalid_lines: u64,
    /// RFC 3339 UTC of the last table publish; the Unix epoch before the first one.
    pub last_reload: String,
    pub last_reload_unix_ms: i64,
    /// RFC 3339 UTC of when this instance started.
    pub started: String,
    pub version: String,
    /// The etcd watch is up.
    pub etcd_connected: bool,
}

/// An instance's name in the fleet: its host name and the address its server block listens
/// on, `<hostname>/<listen>`.
pub fn instance_name(hostname: &str, listen: &str) -> String {
    format!("{hostname}/{listen}")
}

/// `2026-11-28T03:00:00Z` for a Unix time in milliseconds (UTC, whole seconds).
pub fn rfc3339(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_utc() {
        // Checked with `date -u -d @SECONDS +%FT%TZ`.
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_834_800_999), "2026-11-28T03:00:00Z");
        assert_eq!(rfc3339(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(-1000), "1969-12-31T23:59:59Z");
    }
}
