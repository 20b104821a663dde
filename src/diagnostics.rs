//! Counters and timings of one link, exportable as JSON (`tether diag`, the UI's diagnostics).

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How many recovery times are kept for the percentiles.
const RECOVERY_SAMPLES: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    started: Instant,
    connected_since: Option<Instant>,
    connected_total: Duration,
    pub connects: u64,
    pub attempts: u64,
    pub drops: BTreeMap<&'static str, u64>,
    recoveries: Vec<Duration>,
    pub messages_in: u64,
    pub messages_out: u64,
    pub dropped: u64,
    pub expired: u64,
    /// Incoming messages over the profile's packet limit, skipped.
    pub too_large: u64,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            connected_since: None,
            connected_total: Duration::ZERO,
            connects: 0,
            attempts: 0,
            drops: BTreeMap::new(),
            recoveries: Vec::new(),
            messages_in: 0,
            messages_out: 0,
            dropped: 0,
            expired: 0,
            too_large: 0,
        }
    }

    pub fn on_connected(&mut self, now: Instant, recovered_after: Option<Duration>) {
        self.connects += 1;
        self.connected_since = Some(now);
        if let Some(d) = recovered_after {
            if self.recoveries.len() == RECOVERY_SAMPLES {
                self.recoveries.remove(0);
            }
            self.recoveries.push(d);
        }
    }

    /// How long the current connection has been up, if there is one.
    pub fn connected_for(&self, now: Instant) -> Option<Duration> {
        self.connected_since.map(|s| now.saturating_duration_since(s))
    }

    pub fn on_dropped(&mut self, now: Instant, cause: &'static str) {
        if let Some(since) = self.connected_since.take() {
            self.connected_total += now - since;
        }
        *self.drops.entry(cause).or_default() += 1;
    }

    /// `subscriptions`: (registered, acknowledged on the current connection), which only the
    /// supervisor knows, like `queued` and `state`.
    pub fn snapshot(&self, now: Instant, queued: usize, state: &str, subscriptions: (usize, usize)) -> Diagnostics {
        let mut sorted = self.recoveries.clone();
        sorted.sort();
        let ms = |d: Option<&Duration>| d.map(|d| d.as_millis() as u64);
        let current = self.connected_since.map(|s| now - s).unwrap_or_default();
        Diagnostics {
            state: state.to_string(),
            running_for_ms: (now - self.started).as_millis() as u64,
            uptime_ms: (self.connected_total + current).as_millis() as u64,
            connected_for_ms: self.connected_since.map(|s| (now - s).as_millis() as u64),
            connects: self.connects,
            connect_attempts: self.attempts,
            drops_by_cause: self.drops.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            recoveries: self.recoveries.len(),
            time_to_recover_last_ms: ms(self.recoveries.last()),
            time_to_recover_p50_ms: ms(percentile(&sorted, 0.50)),
            time_to_recover_p95_ms: ms(percentile(&sorted, 0.95)),
            messages_in: self.messages_in,
            messages_out: self.messages_out,
            messages_queued: queued,
            messages_dropped: self.dropped,
            messages_expired: self.expired,
            messages_too_large: self.too_large,
            subscriptions: subscriptions.0,
            subscriptions_active: subscriptions.1,
        }
    }
}

/// Nearest-rank percentile of a sorted slice.
fn percentile(sorted: &[Duration], p: f64) -> Option<&Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1)
}

/// A snapshot of a link's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Diagnostics {
    pub state: String,
    pub running_for_ms: u64,
    /// Time connected since the link started.
    pub uptime_ms: u64,
    pub connected_for_ms: Option<u64>,
    pub connects: u64,
    pub connect_attempts: u64,
    pub drops_by_cause: BTreeMap<String, u64>,
    pub recoveries: usize,
    pub time_to_recover_last_ms: Option<u64>,
    pub time_to_recover_p50_ms: Option<u64>,
    pub time_to_recover_p95_ms: Option<u64>,
    pub messages_in: u64,
    pub messages_out: u64,
    pub messages_queued: usize,
    pub messages_dropped: u64,
    pub messages_expired: u64,
    /// Incoming messages over the profile's packet limit, reported and skipped.
    pub messages_too_large: u64,
    /// Subscriptions registered on the link.
    pub subscriptions: usize,
    /// Of those, the ones the broker has acknowledged on the current connection.
    pub subscriptions_active: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=20).map(Duration::from_secs).collect();
        assert_eq!(percentile(&v, 0.5), Some(&Duration::from_secs(10)));
        assert_eq!(percentile(&v, 0.95), Some(&Duration::from_secs(19)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn uptime_counts_only_connected_time() {
        let mut r = Recorder::new();
        let t0 = r.started;
        r.on_connected(t0, None);
        r.on_dropped(t0 + Duration::from_secs(10), "network");
        r.on_connected(t0 + Duration::from_secs(15), Some(Duration::from_secs(5)));
        let d = r.snapshot(t0 + Duration::from_secs(20), 3, "connected", (2, 1));
        assert_eq!(d.uptime_ms, 15_000);
        assert_eq!(d.drops_by_cause.get("network"), Some(&1));
        assert_eq!(d.time_to_recover_last_ms, Some(5_000));
        assert_eq!(d.messages_queued, 3);
    }
}
