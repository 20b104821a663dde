//! OS signals that beat any backoff timer: a network address or interface coming up, and the
//! machine waking from sleep. Each becomes a [`Trigger`] on every link handle given.

use crate::handle::{LinkHandle, Trigger};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often the wake detector compares the clocks.
const WAKE_POLL: Duration = Duration::from_secs(2);
/// A wall-clock jump this far beyond the monotonic clock means we were asleep.
const WAKE_THRESHOLD: Duration = Duration::from_secs(5);

/// Whether the wall clock advanced more than the monotonic one by `threshold` (pure, tested).
/// During suspend, `CLOCK_MONOTONIC` (what `Instant` reads on Linux) stops; the wall clock does not.
pub fn slept(mono_elapsed: Duration, wall_elapsed: Duration, threshold: Duration) -> bool {
    wall_elapsed > mono_elapsed + threshold
}

/// Watch for wake-ups and network changes until `cancel`, triggering every handle.
pub fn spawn_os_triggers(handles: Vec<LinkHandle>, cancel: CancellationToken) {
    let h = handles.clone();
    let c = cancel.clone();
    tokio::spawn(async move {
        let (mut mono, mut wall) = (Instant::now(), SystemTime::now());
        loop {
            tokio::select! {
                _ = c.cancelled() => return,
                _ = tokio::time::sleep(WAKE_POLL) => {}
            }
            let (m, w) = (Instant::now(), SystemTime::now());
            let wall_elapsed = w.duration_since(wall).unwrap_or_default();
            if slept(m - mono, wall_elapsed, WAKE_THRESHOLD) {
                tracing::info!(asleep_for = ?wall_elapsed.saturating_sub(m - mono), "woke from sleep");
                for handle in &h {
                    handle.trigger(Trigger::Woke).await;
                }
            }
            (mono, wall) = (m, w);
        }
    });
    tokio::spawn(async move {
        let mut watcher = match if_watch::tokio::IfWatcher::new() {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch network interfaces; recovery relies on timers");
                return;
            }
        };
        // The watcher first reports every address that exists: those are not changes.
        let mut known: HashSet<if_watch::IpNet> = HashSet::new();
        let settle = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => return,
                ev = watcher.next() => ev,
            };
            match ev {
                Some(Ok(if_watch::IfEvent::Up(net))) => {
                    let new = known.insert(net);
                    if new && tokio::time::Instant::now() > settle && !net.addr().is_loopback() {
                        tracing::info!(%net, "network address up");
                        for handle in &handles {
                            handle.trigger(Trigger::NetworkChanged).await;
                        }
                    }
                }
                Some(Ok(if_watch::IfEvent::Down(net))) => {
                    known.remove(&net);
                }
                Some(Err(e)) => tracing::debug!(error = %e, "interface watcher"),
                None => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_jump_beyond_the_monotonic_clock_is_a_wake() {
        let s = Duration::from_secs;
        assert!(slept(s(2), s(60), s(5)));
        assert!(!slept(s(2), s(2), s(5)));
        assert!(!slept(s(2), s(6), s(5)));
        // The wall clock set backwards is not a wake.
        assert!(!slept(s(2), s(0), s(5)));
    }
}
