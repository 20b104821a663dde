//! The recovery state machine: given a failure or a trigger, what happens next.
//!
//! Pure and deterministic: no clock, no network, no randomness of its own (the caller passes a
//! uniform random number for jitter). The supervisor turns each [`Decision`] into a timer,
//! events and a state.

pub use crate::error::FailureKind;
use crate::policy::{ReconnectPolicy, RecoveryPolicy};
use std::time::Duration;

/// What the supervisor should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Tier 1: attempt `attempt` after `delay` on the same client.
    Reconnect { attempt: u32, delay: Duration },
    /// Tier 2: recovery cycle `cycle` after `delay`. `reconnection_failed` carries the number of
    /// tier 1 attempts when this decision ends an exhausted tier 1 (it fires once per exhaustion).
    Recover {
        cycle: u32,
        delay: Duration,
        recreate: bool,
        refresh: bool,
        reconnection_failed: Option<u32>,
    },
    /// Recovery cycles exhausted: wait for a trigger.
    GiveUp { reconnection_failed: Option<u32> },
    /// Credentials refused once: refresh them and try again at once.
    RefreshAndRetry,
    /// Credentials refused (again, or the source cannot refresh): wait for the user.
    AuthRejected,
    /// The configuration cannot work: wait for the user.
    Fatal,
}

/// Where in the two tiers we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Tier 1 attempts (also the tier 1 rerun of a `simple_retry` cycle).
    Tier1,
    /// A tier 2 cycle's own attempt is in flight.
    Tier2,
}

/// Counters of the two tiers. Reset by a connection that proved stable and by every trigger.
#[derive(Debug, Clone)]
pub struct Machine {
    reconnect: ReconnectPolicy,
    recovery: RecoveryPolicy,
    phase: Phase,
    /// Tier 1 attempts made since the last reset.
    attempt: u32,
    /// Tier 2 cycles started since the last success or trigger.
    cycle: u32,
    /// The one credential refresh allowed after an auth refusal has been used.
    auth_refreshed: bool,
    /// How far the last tier 1 attempt was moved before the plain schedule: the next delay gives
    /// it back, so offsets never accumulate (see `policy`'s jitter bounds).
    last_offset: Duration,
}

impl Machine {
    pub fn new(reconnect: ReconnectPolicy, recovery: RecoveryPolicy) -> Self {
        Self {
            reconnect,
            recovery,
            phase: Phase::Tier1,
            attempt: 0,
            cycle: 0,
            auth_refreshed: false,
            last_offset: Duration::ZERO,
        }
    }

    pub fn reconnect_policy(&self) -> &ReconnectPolicy {
        &self.reconnect
    }

    pub fn recovery_policy(&self) -> &RecoveryPolicy {
        &self.recovery
    }

    /// Tier 1 attempts so far in this outage.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Tier 2 cycles so far in this outage.
    pub fn cycle(&self) -> u32 {
        self.cycle
    }

    /// Whether this outage reached tier 2 (for "recovered after a failure").
    pub fn in_recovery(&self) -> bool {
        self.cycle > 0
    }

    /// The connection held for `stable_after`: everything resets. Not at CONNACK: a link that
    /// dies right after it must keep climbing the schedule.
    pub fn on_stable(&mut self) {
        *self = Self::new(self.reconnect.clone(), self.recovery.clone());
    }

    /// CONNACK: the credentials worked, so a later refusal may be answered with one more
    /// renewal (each renewal needs a successful connect in between, and the reconnects between
    /// still climb the backoff). Nothing else resets before the connection holds.
    pub fn on_connected(&mut self) {
        self.auth_refreshed = false;
    }

    /// Retry now, network back, wake: an attempt at once, and the backoff starts over.
    pub fn on_trigger(&mut self) {
        self.phase = Phase::Tier1;
        self.attempt = 0;
        self.cycle = 0;
        self.auth_refreshed = false;
        self.last_offset = Duration::ZERO;
    }

    /// A connection attempt failed or an established link dropped.
    /// `can_refresh`: the credential source can fetch new credentials (a token source).
    /// `unit`: a uniform random number in [0, 1) for jitter.
    pub fn on_failure(&mut self, kind: FailureKind, can_refresh: bool, unit: f64) -> Decision {
        match kind {
            FailureKind::Fatal => return Decision::Fatal,
            FailureKind::Auth if can_refresh && !self.auth_refreshed => {
                self.auth_refreshed = true;
                return Decision::RefreshAndRetry;
            }
            FailureKind::Auth => return Decision::AuthRejected,
            FailureKind::Retryable | FailureKind::RetryLong => {}
        }
        if self.phase == Phase::Tier1 && self.reconnect.auto_reconnect && self.attempt < self.reconnect.max_reconnect_attempts {
            if self.attempt == 0 {
                self.last_offset = Duration::ZERO;
            }
            self.attempt += 1;
            let offset = self.reconnect.jitter_offset(self.attempt, unit);
            let base = match kind {
                // At the top of the schedule from the first failure: the same answer comes back
                // for a while (a captive portal, a clock not yet set), and hammering it helps nobody.
                FailureKind::RetryLong => self.reconnect.max_reconnect_delay,
                _ => self.reconnect.delay(self.attempt),
            };
            let delay = (base + self.last_offset).saturating_sub(offset);
            self.last_offset = offset;
            return Decision::Reconnect {
                attempt: self.attempt,
                delay,
            };
        }
        // Tier 1 just ran out (it fires reconnection_failed once), or a tier 2 attempt failed.
        let reconnection_failed = (self.phase == Phase::Tier1).then_some(self.attempt);
        self.next_cycle(unit, reconnection_failed)
    }

    fn next_cycle(&mut self, unit: f64, reconnection_failed: Option<u32>) -> Decision {
        if self.cycle >= self.recovery.max_recovery_attempts {
            return Decision::GiveUp { reconnection_failed };
        }
        self.cycle += 1;
        self.attempt = 0;
        // simple_retry's cycle is a fresh tier 1 run; the others make one attempt per cycle.
        self.phase = if self.recovery.recreates() { Phase::Tier2 } else { Phase::Tier1 };
        Decision::Recover {
            cycle: self.cycle,
            delay: self.recovery.delay(self.cycle, unit, self.reconnect.jitter),
            recreate: self.recovery.recreates(),
            refresh: self.recovery.refreshes(self.cycle),
            reconnection_failed,
        }
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
