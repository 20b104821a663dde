//! OS signals that beat any backoff timer: a network address coming or going, and the machine
//! waking from sleep. [`os_triggers`] turns them into [`Trigger`]s on one channel per process;
//! whoever owns the links forwards them (the CLI to its one link, the desktop app to whichever
//! link is active, which changes with the profile).

use crate::handle::{LinkHandle, Trigger};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the wake detector compares the clocks.
const WAKE_POLL: Duration = Duration::from_secs(2);
/// A wall-clock jump this far beyond the monotonic clock means we were asleep.
const WAKE_THRESHOLD: Duration = Duration::from_secs(5);
/// Address changes this close together are one change: an interface coming up brings its IPv4
/// and IPv6 addresses, a DHCP renewal or a VPN reconnect several, within a few hundred ms.
pub const NETWORK_DEBOUNCE: Duration = Duration::from_millis(500);

/// Whether the wall clock advanced more than the monotonic one by `threshold` (pure, tested).
/// During suspend, `CLOCK_MONOTONIC` (what `Instant` reads on Linux) stops; the wall clock does not.
pub fn slept(mono_elapsed: Duration, wall_elapsed: Duration, threshold: Duration) -> bool {
    wall_elapsed > mono_elapsed + threshold
}

/// Whether an address coming or going can change how we reach a broker. Loopback cannot (a
/// broker on loopback never loses its route), and neither can link-local addresses: IPv6's
/// `fe80::` on every interface (Docker's veths bring and take them all day) and IPv4's
/// `169.254/16`, which no broker worth reaching is behind.
pub fn concerns_routes(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !a.is_loopback() && !a.is_link_local() && !a.is_unspecified(),
        IpAddr::V6(a) => !a.is_loopback() && !a.is_unspecified() && (a.segments()[0] & 0xffc0) != 0xfe80,
    }
}

/// Coalesces bursts of address changes into one trigger, `window` after the last of them.
#[derive(Debug, Clone)]
pub struct Debounce {
    window: Duration,
    due: Option<tokio::time::Instant>,
}

impl Debounce {
    pub fn new(window: Duration) -> Self {
        Self { window, due: None }
    }

    /// A change at `now`: the trigger moves to `now + window`.
    pub fn change(&mut self, now: tokio::time::Instant) {
        self.due = Some(now + self.window);
    }

    /// When the pending trigger is due, if one is.
    pub fn due(&self) -> Option<tokio::time::Instant> {
        self.due
    }

    /// Whether the pending trigger fires at `now` (and is then consumed).
    pub fn fire(&mut self, now: tokio::time::Instant) -> bool {
        match self.due {
            Some(d) if now >= d => {
                self.due = None;
                true
            }
            _ => false,
        }
    }
}

/// Watch for wake-ups and network changes until `cancel`. The channel is small: triggers are
/// idempotent, so one that finds it full is not worth keeping.
pub fn os_triggers(cancel: CancellationToken) -> mpsc::Receiver<Trigger> {
    let (tx, rx) = mpsc::channel(8);
    let wake_tx = tx.clone();
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
                let _ = wake_tx.try_send(Trigger::Woke);
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
        let mut debounce = Debounce::new(NETWORK_DEBOUNCE);
        loop {
            let due = debounce.due();
            let ev = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = async { match due { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                    if debounce.fire(tokio::time::Instant::now()) {
                        let _ = tx.try_send(Trigger::NetworkChanged);
                    }
                    continue;
                }
                ev = watcher.next() => ev,
            };
            let (net, up) = match ev {
                Some(Ok(if_watch::IfEvent::Up(net))) => (net, true),
                Some(Ok(if_watch::IfEvent::Down(net))) => (net, false),
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "interface watcher");
                    continue;
                }
                None => return,
            };
            let changed = if up { known.insert(net) } else { known.remove(&net) };
            let now = tokio::time::Instant::now();
            if changed && now > settle && concerns_routes(net.addr()) {
                tracing::info!(%net, up, "network address changed");
                debounce.change(now);
            }
        }
    });
    rx
}

/// Watch for wake-ups and network changes until `cancel`, triggering every handle (the CLI's).
pub fn spawn_os_triggers(handles: Vec<LinkHandle>, cancel: CancellationToken) {
    let mut rx = os_triggers(cancel);
    tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            for h in &handles {
                h.trigger(t).await;
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

    #[test]
    fn loopback_and_link_local_addresses_do_not_concern_a_brokers_route() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(concerns_routes(a("10.77.0.2")));
        assert!(concerns_routes(a("192.168.1.20")));
        assert!(concerns_routes(a("2001:db8::5")));
        assert!(!concerns_routes(a("127.0.0.1")));
        assert!(!concerns_routes(a("::1")));
        assert!(!concerns_routes(a("169.254.3.4")));
        assert!(!concerns_routes(a("fe80::1c2:3ff:fe4:5")));
        assert!(!concerns_routes(a("febf::1")));
        // fec0::/10 (old site-local) is not link-local.
        assert!(concerns_routes(a("fec0::1")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_address_changes_is_one_trigger_after_the_last_of_them() {
        let t0 = tokio::time::Instant::now();
        let ms = Duration::from_millis;
        let mut d = Debounce::new(ms(500));
        assert!(!d.fire(t0));
        d.change(t0);
        d.change(t0 + ms(200));
        d.change(t0 + ms(400));
        assert!(!d.fire(t0 + ms(600)), "500 ms after the first, not the last");
        assert_eq!(d.due(), Some(t0 + ms(900)));
        assert!(d.fire(t0 + ms(900)));
        assert!(!d.fire(t0 + ms(2000)), "fired once");
        assert_eq!(d.due(), None);
    }
}
