//! Two clients on one client id: a broker like AWS IoT closes the older connection whenever the
//! same id connects again (protocol doc §3.5), so two installs (or the app and `tether watch` on
//! one profile) would close each other's connection forever. Pure: the supervisor reports each
//! connection the broker closed, this says when the pattern is a takeover rather than bad luck.

use std::collections::VecDeque;
use std::time::Duration;
// The supervisor's clock (tokio's, so a paused test clock drives it too).
use tokio::time::Instant;

/// Broker closes of short connections, within [`WINDOW`], that make a takeover.
pub(crate) const CLOSES: usize = 4;
/// How far back closes count.
pub(crate) const WINDOW: Duration = Duration::from_secs(120);
/// A connection that lasted this long was not kicked by a client reconnecting in a loop.
pub(crate) const SHORT: Duration = Duration::from_secs(60);

/// The recent broker closes of one link.
#[derive(Debug, Default)]
pub(crate) struct Takeover {
    /// When each counted close happened, oldest first.
    closes: VecDeque<Instant>,
}

impl Takeover {
    /// The broker closed a connection that had been up for `connected_for`. True: this is the
    /// [`CLOSES`]th close of a short connection within [`WINDOW`]; stop instead of reconnecting.
    pub(crate) fn on_broker_close(&mut self, now: Instant, connected_for: Duration) -> bool {
        if connected_for >= SHORT {
            self.closes.clear();
            return false;
        }
        while self.closes.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
            self.closes.pop_front();
        }
        self.closes.push_back(now);
        self.closes.len() >= CLOSES
    }

    /// The user retried (or the network came back): start counting afresh.
    pub(crate) fn reset(&mut self) {
        self.closes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_quick_closes_within_two_minutes_are_a_takeover() {
        let mut t = Takeover::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(!t.on_broker_close(t0, s(2)));
        assert!(!t.on_broker_close(t0 + s(3), s(1)));
        assert!(!t.on_broker_close(t0 + s(6), s(2)));
        assert!(t.on_broker_close(t0 + s(9), s(2)));
    }

    #[test]
    fn closes_spread_over_more_than_the_window_are_not() {
        let mut t = Takeover::default();
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(
                !t.on_broker_close(t0 + Duration::from_secs(50 * i), Duration::from_secs(5)),
                "close {i}"
            );
        }
    }

    #[test]
    fn a_long_connection_in_between_starts_the_count_again() {
        let mut t = Takeover::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        for i in 0..3 {
            assert!(!t.on_broker_close(t0 + s(i), s(1)));
        }
        // The daily disconnect of a connection that held for an hour is not a kick.
        assert!(!t.on_broker_close(t0 + s(10), s(3600)));
        for i in 0..3 {
            assert!(!t.on_broker_close(t0 + s(20 + i), s(1)), "close {i} after the long one");
        }
        t.reset();
        assert!(!t.on_broker_close(t0 + s(30), s(1)));
    }
}
