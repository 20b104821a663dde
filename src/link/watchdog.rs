//! The link's clocks, pure (the caller passes `now`): the dead-link deadline and the periodic
//! request schedule. Stale data is in [`super::session`], beside the subscriptions it watches.

use crate::config::PeriodicRequest;
use std::time::Duration;
use tokio::time::Instant;

/// The dead-link watchdog: a round trip that must be answered by a deadline.
///
/// rumqttc alone notices an unanswered PINGREQ only when the next one is due (2 × keepalive);
/// we give it half a keepalive. A network change while connected asks for a quicker answer.
#[derive(Debug, Default)]
pub(crate) struct PingWatch {
    deadline: Option<Instant>,
    /// What a missed deadline reports as the silence: the keepalive after a PINGREQ, the probe's
    /// wait after a network-change probe.
    silence: Duration,
}

impl PingWatch {
    /// A PINGREQ went out. A deadline already running is kept.
    pub(crate) fn on_pingreq(&mut self, now: Instant, keepalive: Duration) {
        if self.deadline.is_none() {
            self.deadline = Some(now + (keepalive / 2).max(Duration::from_secs(1)));
            self.silence = keepalive;
        }
    }

    /// A probe round trip went out: it must be answered within `wait` (or the earlier deadline).
    pub(crate) fn on_probe(&mut self, now: Instant, wait: Duration) {
        let at = now + wait;
        if self.deadline.is_none_or(|d| at < d) {
            self.deadline = Some(at);
            self.silence = wait;
        }
    }

    /// The broker sent something: the link is alive.
    pub(crate) fn on_heard(&mut self) {
        self.deadline = None;
    }

    /// The reading was held up (a slow consumer): the answer may be among what was not read, so
    /// the deadline is at least `grace` away.
    pub(crate) fn after_hold(&mut self, now: Instant, grace: Duration) {
        self.deadline = self.deadline.map(|d| d.max(now + grace));
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The silence to report if the deadline has passed. Never while the reading is held up.
    pub(crate) fn missed(&self, now: Instant, held_up: bool) -> Option<Duration> {
        (!held_up && self.deadline.is_some_and(|d| now >= d)).then_some(self.silence)
    }

    pub(crate) fn reset(&mut self) {
        self.deadline = None;
    }
}

/// Periodic requests: each sent right after every (re)connect, then every `interval`, up to
/// 10 % early (jitter, so many links do not fire together).
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    items: Vec<(PeriodicRequest, Option<Instant>)>,
}

impl Schedule {
    pub(crate) fn new(reqs: &[PeriodicRequest]) -> Self {
        Self {
            items: reqs.iter().map(|r| (r.clone(), None)).collect(),
        }
    }

    /// Add one; its index.
    pub(crate) fn add(&mut self, req: PeriodicRequest) -> usize {
        self.items.push((req, None));
        self.items.len() - 1
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Request `i` is sent now: what to send, and its next time is set. `unit` in [0, 1) picks
    /// the jitter.
    pub(crate) fn sent(&mut self, i: usize, now: Instant, unit: f64) -> Option<&PeriodicRequest> {
        let (req, due) = self.items.get_mut(i)?;
        *due = Some(now + req.interval.mul_f64(1.0 - 0.1 * unit.clamp(0.0, 1.0)));
        Some(req)
    }

    /// The requests due at `now`.
    pub(crate) fn due(&self, now: Instant) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| self.items[i].1.is_some_and(|d| now >= d))
            .collect()
    }

    /// The earliest next time, if any is scheduled.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.items.iter().filter_map(|(_, d)| *d).min()
    }

    /// The connection ended: nothing is due until the next connect sends them all.
    pub(crate) fn reset(&mut self) {
        for (_, d) in &mut self.items {
            *d = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEPALIVE: Duration = Duration::from_secs(30);

    #[test]
    fn an_unanswered_pingreq_is_missed_after_half_a_keepalive() {
        let t0 = Instant::now();
        let mut w = PingWatch::default();
        w.on_pingreq(t0, KEEPALIVE);
        assert_eq!(w.missed(t0 + Duration::from_secs(14), false), None);
        assert_eq!(w.missed(t0 + Duration::from_secs(15), false), Some(KEEPALIVE));
    }

    #[test]
    fn anything_heard_from_the_broker_clears_the_deadline() {
        let t0 = Instant::now();
        let mut w = PingWatch::default();
        w.on_pingreq(t0, KEEPALIVE);
        w.on_heard();
        assert_eq!(w.missed(t0 + Duration::from_secs(60), false), None);
        assert_eq!(w.deadline(), None);
    }

    #[test]
    fn a_second_pingreq_does_not_push_a_running_deadline_back() {
        let t0 = Instant::now();
        let mut w = PingWatch::default();
        w.on_pingreq(t0, KEEPALIVE);
        w.on_pingreq(t0 + Duration::from_secs(10), KEEPALIVE);
        assert_eq!(w.deadline(), Some(t0 + Duration::from_secs(15)));
    }

    #[test]
    fn a_probe_brings_the_deadline_forward_and_reports_its_own_wait() {
        let t0 = Instant::now();
        let mut w = PingWatch::default();
        w.on_pingreq(t0, KEEPALIVE);
        w.on_probe(t0 + Duration::from_secs(1), Duration::from_secs(3));
        assert_eq!(w.missed(t0 + Duration::from_secs(4), false), Some(Duration::from_secs(3)));
        // A probe never pushes an earlier deadline back.
        w.on_probe(t0 + Duration::from_secs(2), Duration::from_secs(3));
        assert_eq!(w.deadline(), Some(t0 + Duration::from_secs(4)));
    }

    #[test]
    fn a_deadline_is_never_missed_while_the_reading_is_held_up_and_gets_a_grace_after() {
        let t0 = Instant::now();
        let mut w = PingWatch::default();
        w.on_pingreq(t0, KEEPALIVE);
        let late = t0 + Duration::from_secs(40);
        assert_eq!(w.missed(late, true), None);
        w.after_hold(late, Duration::from_secs(2));
        assert_eq!(w.missed(late + Duration::from_secs(1), false), None);
        assert_eq!(w.missed(late + Duration::from_secs(2), false), Some(KEEPALIVE));
    }

    fn req(secs: u64) -> PeriodicRequest {
        PeriodicRequest {
            topic: "t".into(),
            payload: "p".into(),
            qos: 0,
            interval: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_periodic_request_is_due_at_its_interval_at_most_ten_percent_early() {
        let t0 = Instant::now();
        let mut s = Schedule::new(&[req(100), req(10)]);
        assert_eq!(s.next(), None, "nothing until the connect sends them");
        s.sent(0, t0, 0.999);
        s.sent(1, t0, 0.0);
        assert!(s.next().is_some_and(|d| d == t0 + Duration::from_secs(10)));
        assert_eq!(s.due(t0 + Duration::from_secs(10)), vec![1]);
        let early = s.items[0].1.expect("scheduled");
        assert!(early >= t0 + Duration::from_secs(90) && early < t0 + Duration::from_secs(100));
        s.reset();
        assert!(s.due(t0 + Duration::from_secs(1000)).is_empty());
    }
}
