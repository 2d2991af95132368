//! Retrying etcd, the same way for the watch and for the status writer.
//!
//! Endpoints are used one at a time and rotated on every failure: the etcd client's
//! balancer keeps handing requests to a dead member, while rotating is predictable and moves
//! past it at once. After every endpoint failed in a row, the next try waits, from 50 ms
//! doubling to 2 s, jittered by +-25% so that a fleet of CoreDNS servers does not retry in
//! step. A repeated failure is logged once a minute, not once a retry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// How long a logged failure keeps its repeats quiet.
const QUIET_FOR: Duration = Duration::from_secs(60);

/// A pause that doubles from 50 ms to 2 s, jittered.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            next: BACKOFF_START,
        }
    }

    /// How long to wait now; the next pause is twice as long, up to the cap.
    pub(crate) fn pause(&mut self) -> Duration {
        let pause = jitter(self.next);
        self.next = (self.next * 2).min(BACKOFF_CAP);
        pause
    }

    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_START;
    }
}

/// The endpoints of one task and where it stands in retrying them.
pub(crate) struct Retry {
    endpoints: Vec<String>,
    current: usize,
    failures_in_a_row: usize,
    backoff: Backoff,
}

impl Retry {
    pub(crate) fn new(endpoints: &[String]) -> Retry {
        assert!(
            !endpoints.is_empty(),
            "config validation requires an endpoint"
        );
        Retry {
            endpoints: endpoints.to_vec(),
            current: 0,
            failures_in_a_row: 0,
            backoff: Backoff::new(),
        }
    }

    /// The endpoint to use now.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoints[self.current]
    }

    /// The current endpoint failed: moves on to the next one and returns how long to wait
    /// before using it, zero while this round has endpoints left to try.
    pub(crate) fn failed(&mut self) -> Duration {
        self.current = (self.current + 1) % self.endpoints.len();
        self.failures_in_a_row += 1;
        if self.failures_in_a_row % self.endpoints.len() != 0 {
            return Duration::ZERO;
        }
        self.backoff.pause()
    }

    /// The current endpoint works: the next failure starts afresh.
    pub(crate) fn succeeded(&mut self) {
        self.failures_in_a_row = 0;
        self.backoff.reset();
    }
}

/// `d` stretched or shrunk by up to 25%.
pub(crate) fn jitter(d: Duration) -> Duration {
    use std::hash::BuildHasher;
    let r = foldhash::fast::RandomState::default().hash_one(Instant::now()) % 500;
    d.mul_f64(0.75 + r as f64 / 1000.0)
}

/// While etcd stays down, retries happen every few seconds: each distinct failure is logged
/// once a minute at most (the repeats at debug level), and the recovery once.
#[derive(Default)]
pub(crate) struct QuietLog {
    logged: HashMap<String, Instant>,
    suppressed: usize,
}

impl QuietLog {
    pub(crate) fn warn(&mut self, message: &str) {
        let now = Instant::now();
        let recent = |at: &Instant| now.duration_since(*at) < QUIET_FOR;
        if self.logged.get(message).is_some_and(recent) {
            self.suppressed += 1;
            tracing::debug!("{message}");
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                "{message} ({} repeated failures not shown)",
                self.suppressed
            );
        } else {
            tracing::warn!("{message}");
        }
        self.logged.retain(|_, at| recent(at));
        self.logged.insert(message.to_string(), now);
        self.suppressed = 0;
    }

    /// Logs `message` if failures were logged since the last success.
    pub(crate) fn recovered(&mut self, message: &str) {
        if !self.logged.is_empty() {
            tracing::info!("{message}");
        }
        self.logged.clear();
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("http://10.0.0.{i}:2379")).collect()
    }

    #[test]
    fn rotates_on_every_failure_and_waits_after_a_full_round() {
        let mut retry = Retry::new(&endpoints(3));
        assert_eq!(retry.endpoint(), "http://10.0.0.0:2379");
        assert_eq!(retry.failed(), Duration::ZERO);
        assert_eq!(retry.endpoint(), "http://10.0.0.1:2379");
        assert_eq!(retry.failed(), Duration::ZERO);
        let first = retry.failed();
        assert_eq!(retry.endpoint(), "http://10.0.0.0:2379");
        assert!((37..=63).contains(&first.as_millis()), "{first:?}");
        retry.failed();
        retry.failed();
        let second = retry.failed();
        assert!((75..=125).contains(&second.as_millis()), "{second:?}");
    }

    #[test]
    fn backoff_is_capped_and_reset_by_a_success() {
        let mut retry = Retry::new(&endpoints(1));
        let waits: Vec<Duration> = (0..12).map(|_| retry.failed()).collect();
        assert!(waits.iter().all(|w| *w <= BACKOFF_CAP.mul_f64(1.25)));
        assert!(waits[11] >= BACKOFF_CAP.mul_f64(0.75), "{waits:?}");
        retry.succeeded();
        assert!(retry.failed() <= BACKOFF_START.mul_f64(1.25));
    }
}
