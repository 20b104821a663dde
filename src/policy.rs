//! The numbers of the two-tier recovery model, their defaults, and the backoff formula.
//!
//! Everything here is pure: the caller supplies the random number for jitter, so schedules are
//! deterministic under test.
//!
//! # Jitter bounds
//!
//! Tier 1: attempt `n` starts up to `min(20 % of its delay, 1 s)` *earlier* than the plain
//! schedule (`d₁ + … + dₙ` after the drop, plus the time the failed connects took), never later,
//! and the offsets do not accumulate: each attempt is offset from the plain schedule, not from
//! the previous attempt. So Tether never tries later, nor more often, than a client with the same
//! plain backoff (paho's 1 → 120 s, say), while a fleet dropped at the same instant spreads its
//! attempts over up to a second instead of arriving in lockstep. (An earlier draft took up to
//! 20 % off every delay; the savings added up, and an attempt due at 63 s landed as early as
//! 50 s, missing a broker that was back at 60 s by a whole two-minute delay.)
//!
//! Tier 2: each recovery delay `d` becomes a value in `[d × (1 − 20 %), d]`: cycles are minutes
//! apart, so there is no schedule to keep in step with and a wider spread helps more.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The fraction of a delay that jitter may take away (see the module docs).
pub const JITTER_FRACTION: f64 = 0.2;
/// Tier 1 attempts start at most this much before the plain schedule (see the module docs).
pub const JITTER_CAP: Duration = Duration::from_secs(1);

/// Tier 1: built-in reconnection with exponential backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconnectPolicy {
    /// Off: the first failure goes straight to tier 2.
    pub auto_reconnect: bool,
    /// Attempts before `reconnection_failed` and tier 2.
    pub max_reconnect_attempts: u32,
    /// Delay before the first attempt after a drop.
    #[serde(with = "secs_f64")]
    pub initial_reconnect_delay: Duration,
    /// Cap of the delay.
    #[serde(with = "secs_f64")]
    pub max_reconnect_delay: Duration,
    /// Growth of the delay per attempt.
    pub reconnect_backoff_multiplier: f64,
    /// Spread attempts within the documented bounds (see the module docs).
    pub jitter: bool,
    /// How long a connection must hold before the backoff resets and the outage counts as
    /// recovered (the AWS IoT SDKs' `minConnectedTimeToResetReconnectDelay`). A link that dies
    /// sooner (a poison message, a client-id takeover, an ACL refusal that disconnects) keeps
    /// climbing the schedule and escalates like any other failure, instead of reconnecting about
    /// once a second for ever.
    #[serde(with = "secs_f64")]
    pub stable_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            auto_reconnect: true,
            max_reconnect_attempts: 10,
            initial_reconnect_delay: Duration::from_secs(1),
            max_reconnect_delay: Duration::from_secs(120),
            reconnect_backoff_multiplier: 2.0,
            jitter: true,
            stable_after: Duration::from_secs(20),
        }
    }
}

impl ReconnectPolicy {
    /// The plain (un-jittered) delay before tier 1 attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        backoff(
            self.initial_reconnect_delay,
            self.max_reconnect_delay,
            self.reconnect_backoff_multiplier,
            attempt,
            None,
        )
    }

    /// How far before the plain schedule attempt `attempt` starts, given a uniform random `unit`
    /// in [0, 1): up to `min(20 % of its delay, 1 s)`, zero without jitter.
    pub fn jitter_offset(&self, attempt: u32, unit: f64) -> Duration {
        if !self.jitter {
            return Duration::ZERO;
        }
        let bound = self.delay(attempt).mul_f64(JITTER_FRACTION).min(JITTER_CAP);
        bound.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// What tier 2 does once tier 1 is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum RecoveryStrategy {
    /// Reset the attempt counter and run tier 1 again after a delay, on the same client.
    SimpleRetry,
    /// Close the old client, build a new one, restore subscriptions and periodic requests.
    Recreate,
    /// Refresh the credentials (token) first, then recreate.
    RefreshAndRecreate,
    /// Recreate with exponential backoff between cycles, refreshing every few cycles.
    #[default]
    Backoff,
}

impl RecoveryStrategy {
    pub const ALL: [RecoveryStrategy; 4] = [
        RecoveryStrategy::SimpleRetry,
        RecoveryStrategy::Recreate,
        RecoveryStrategy::RefreshAndRecreate,
        RecoveryStrategy::Backoff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryStrategy::SimpleRetry => "simple_retry",
            RecoveryStrategy::Recreate => "recreate",
            RecoveryStrategy::RefreshAndRecreate => "refresh_and_recreate",
            RecoveryStrategy::Backoff => "backoff",
        }
    }
}

impl std::str::FromStr for RecoveryStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s.replace('-', "_"))
            .ok_or_else(|| format!("unknown recovery strategy {s:?}: use simple_retry, recreate, refresh_and_recreate or backoff"))
    }
}

/// Tier 2: recovery cycles after `reconnection_failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryPolicy {
    pub strategy: RecoveryStrategy,
    /// Delay before the first cycle; the other strategies wait this long before every cycle.
    #[serde(with = "secs_f64")]
    pub initial_recovery_delay: Duration,
    /// Cap of the delay between cycles (the `backoff` strategy).
    #[serde(with = "secs_f64")]
    pub max_recovery_delay: Duration,
    /// Growth of the delay per cycle (the `backoff` strategy).
    pub recovery_backoff_multiplier: f64,
    /// Cycles before `gave_up`.
    pub max_recovery_attempts: u32,
    /// The `backoff` strategy refreshes the token on every n-th cycle.
    pub refresh_every: u32,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            strategy: RecoveryStrategy::Backoff,
            initial_recovery_delay: Duration::from_secs(60),
            max_recovery_delay: Duration::from_secs(300),
            recovery_backoff_multiplier: 2.0,
            max_recovery_attempts: 10,
            refresh_every: 3,
        }
    }
}

impl RecoveryPolicy {
    /// The delay before recovery cycle `cycle` (1-based).
    pub fn delay(&self, cycle: u32, unit: f64, jitter: bool) -> Duration {
        match self.strategy {
            RecoveryStrategy::Backoff => backoff(
                self.initial_recovery_delay,
                self.max_recovery_delay,
                self.recovery_backoff_multiplier,
                cycle,
                jitter.then_some(unit),
            ),
            _ => backoff(
                self.initial_recovery_delay,
                self.initial_recovery_delay,
                1.0,
                1,
                jitter.then_some(unit),
            ),
        }
    }

    /// Whether cycle `cycle` (1-based) refreshes the credentials before reconnecting.
    pub fn refreshes(&self, cycle: u32) -> bool {
        match self.strategy {
            RecoveryStrategy::RefreshAndRecreate => true,
            RecoveryStrategy::Backoff => self.refresh_every > 0 && cycle.is_multiple_of(self.refresh_every),
            _ => false,
        }
    }

    /// Whether a cycle builds a new client (all but `simple_retry`).
    pub fn recreates(&self) -> bool {
        self.strategy != RecoveryStrategy::SimpleRetry
    }
}

/// `min(initial × multiplier^(n−1), max)`, then jitter downwards by up to [`JITTER_FRACTION`].
pub fn backoff(initial: Duration, max: Duration, multiplier: f64, n: u32, jitter_unit: Option<f64>) -> Duration {
    let exp = n.saturating_sub(1).min(64) as i32;
    let raw = initial.as_secs_f64() * multiplier.max(1.0).powi(exp);
    let capped = raw.min(max.as_secs_f64()).max(0.0);
    let jittered = match jitter_unit {
        Some(u) => capped * (1.0 - JITTER_FRACTION * u.clamp(0.0, 1.0)),
        None => capped,
    };
    Duration::from_secs_f64(jittered)
}

/// Durations in the profile file are seconds, fractions allowed (`0.5`), as users write them.
pub mod secs_f64 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(|_| serde::de::Error::custom(format!("{v} is not a duration in seconds (use a number ≥ 0)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn default_tier1_schedule_doubles_from_one_second_and_caps_at_two_minutes() {
        let p = ReconnectPolicy::default();
        let got: Vec<_> = (1..=10).map(|n| p.delay(n)).collect();
        assert_eq!(got, secs(&[1, 2, 4, 8, 16, 32, 64, 120, 120, 120]));
    }

    #[test]
    fn jitter_offsets_stay_within_the_documented_bounds() {
        let p = ReconnectPolicy::default();
        for n in 1..=12 {
            let bound = p.delay(n).mul_f64(JITTER_FRACTION).min(JITTER_CAP);
            for u in [0.0, 0.25, 0.5, 0.999, 1.0] {
                assert!(p.jitter_offset(n, u) <= bound, "attempt {n}");
            }
        }
        assert_eq!(p.jitter_offset(1, 1.0), Duration::from_millis(200), "20 % of the first second");
        assert_eq!(p.jitter_offset(7, 1.0), JITTER_CAP, "capped at a second");
        assert!(p.jitter_offset(3, 0.9) > p.jitter_offset(3, 0.1), "jitter must vary");
        let off = ReconnectPolicy { jitter: false, ..p };
        assert_eq!(off.jitter_offset(5, 0.7), Duration::ZERO);
    }

    #[test]
    fn backoff_strategy_grows_from_one_minute_to_five() {
        let p = RecoveryPolicy::default();
        let got: Vec<_> = (1..=5).map(|c| p.delay(c, 0.0, false)).collect();
        assert_eq!(got, secs(&[60, 120, 240, 300, 300]));
    }

    #[test]
    fn other_strategies_wait_the_initial_delay_every_cycle() {
        for strategy in [
            RecoveryStrategy::SimpleRetry,
            RecoveryStrategy::Recreate,
            RecoveryStrategy::RefreshAndRecreate,
        ] {
            let p = RecoveryPolicy {
                strategy,
                ..Default::default()
            };
            assert_eq!(p.delay(1, 0.0, false), Duration::from_secs(60));
            assert_eq!(p.delay(7, 0.0, false), Duration::from_secs(60));
        }
    }

    #[test]
    fn backoff_strategy_refreshes_every_third_cycle() {
        let p = RecoveryPolicy::default();
        let refreshing: Vec<u32> = (1..=9).filter(|c| p.refreshes(*c)).collect();
        assert_eq!(refreshing, vec![3, 6, 9]);
        let r = RecoveryPolicy {
            strategy: RecoveryStrategy::RefreshAndRecreate,
            ..Default::default()
        };
        assert!((1..=4).all(|c| r.refreshes(c)));
        let s = RecoveryPolicy {
            strategy: RecoveryStrategy::SimpleRetry,
            ..Default::default()
        };
        assert!(!s.recreates() && !s.refreshes(3));
    }

    #[test]
    fn strategy_names_parse_both_spellings() {
        assert_eq!(
            "refresh-and-recreate".parse::<RecoveryStrategy>(),
            Ok(RecoveryStrategy::RefreshAndRecreate)
        );
        assert_eq!("simple_retry".parse::<RecoveryStrategy>(), Ok(RecoveryStrategy::SimpleRetry));
        assert!("sometimes".parse::<RecoveryStrategy>().is_err());
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let p = ReconnectPolicy {
            jitter: false,
            ..Default::default()
        };
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(120));
    }
}
