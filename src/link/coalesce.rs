//! Events that can come once per publish (queued while offline, dropped at the outbox's bound),
//! told at most once a period each: the first at once, what follows within the period summed into
//! one event at its end. A script publishing 100 msg/s through an outage then writes a log line or
//! two a second, not 100, and the counts stay exact. Pure: the caller passes `now`.

use crate::event::EventKind;
use std::time::Duration;
use tokio::time::Instant;

/// How often each kind of outbox event is told at most.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

/// One kind of event: when it was last told, and what waits to be.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    pending: Option<usize>,
}

impl Throttle {
    /// `merge`: how a waiting count and a new one combine (the latest, or the sum).
    fn offer(&mut self, n: usize, now: Instant, merge: fn(usize, usize) -> usize) -> Option<usize> {
        let n = self.pending.take().map_or(n, |p| merge(p, n));
        if self.last.is_none_or(|t| now.duration_since(t) >= PERIOD) {
            self.last = Some(now);
            return Some(n);
        }
        self.pending = Some(n);
        None
    }

    fn due(&mut self, now: Instant, force: bool) -> Option<usize> {
        if force || self.last.is_none_or(|t| now.duration_since(t) >= PERIOD) {
            let n = self.pending.take()?;
            self.last = Some(now);
            return Some(n);
        }
        None
    }
}

#[derive(Debug, Default)]
pub(crate) struct Coalesce {
    queued: Throttle,
    dropped: Vec<(&'static str, Throttle)>,
}

impl Coalesce {
    /// The outbox holds `count` after a publish queued offline.
    pub(crate) fn queued(&mut self, count: usize, now: Instant) -> Option<EventKind> {
        self.queued
            .offer(count, now, |_, latest| latest)
            .map(|count| EventKind::OutboxQueued { count })
    }

    /// `n` entries dropped for `reason`.
    pub(crate) fn dropped(&mut self, n: usize, reason: &'static str, now: Instant) -> Option<EventKind> {
        let i = match self.dropped.iter().position(|(r, _)| *r == reason) {
            Some(i) => i,
            None => {
                self.dropped.push((reason, Throttle::default()));
                self.dropped.len() - 1
            }
        };
        self.dropped[i]
            .1
            .offer(n, now, |a, b| a + b)
            .map(|count| EventKind::OutboxDropped { count, reason })
    }

    /// What is due at `now`; with `force`, everything waiting (before a connect or a stop, so the
    /// story stays in order).
    pub(crate) fn due(&mut self, now: Instant, force: bool) -> Vec<EventKind> {
        let mut out = Vec::new();
        for (reason, t) in &mut self.dropped {
            if let Some(count) = t.due(now, force) {
                out.push(EventKind::OutboxDropped { count, reason });
            }
        }
        if let Some(count) = self.queued.due(now, force) {
            out.push(EventKind::OutboxQueued { count });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_told_at_once_and_the_rest_of_the_period_in_one_event_with_the_latest_count() {
        let t0 = Instant::now();
        let mut c = Coalesce::default();
        assert!(matches!(c.queued(1, t0), Some(EventKind::OutboxQueued { count: 1 })));
        for n in 2..=50 {
            assert!(c.queued(n, t0 + Duration::from_millis(n as u64)).is_none());
        }
        assert!(
            c.due(t0 + Duration::from_millis(500), false).is_empty(),
            "not before the period ends"
        );
        assert!(matches!(
            c.due(t0 + PERIOD, false).as_slice(),
            [EventKind::OutboxQueued { count: 50 }]
        ));
        assert!(c.due(t0 + PERIOD * 3, false).is_empty(), "told once");
    }

    #[test]
    fn drops_are_summed_per_reason_and_none_is_lost() {
        let t0 = Instant::now();
        let mut c = Coalesce::default();
        let mut told = 0;
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(i * 3);
            if let Some(EventKind::OutboxDropped { count, .. }) = c.dropped(1, "overflow_dropped_oldest", now) {
                told += count;
            }
            for e in c.due(now, false) {
                if let EventKind::OutboxDropped { count, .. } = e {
                    told += count;
                }
            }
        }
        assert!(matches!(
            c.dropped(2, "refused_outbox_full", t0),
            Some(EventKind::OutboxDropped {
                count: 2,
                reason: "refused_outbox_full"
            })
        ));
        for e in c.due(t0, true) {
            if let EventKind::OutboxDropped {
                count,
                reason: "overflow_dropped_oldest",
            } = e
            {
                told += count;
            }
        }
        assert_eq!(told, 1000);
    }
}
