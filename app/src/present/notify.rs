//! Which link events deserve a desktop notification, rate-limited.
//!
//! - `reconnection_failed` (tier 1 exhausted), `recovered` *after a failure*, `gave_up` and
//!   `auth_rejected` notify; a blip that recovers within tier 1 does not.
//! - Each kind can be switched off.
//! - At most `burst` notifications per profile per `window`; past that, the rest are counted and
//!   one summary goes out when the window ends ("flapping: 4 failures, 4 recoveries in 10 min").
//! - After a wake from sleep, `reconnection_failed` and `gave_up` wait [`WAKE_GRACE`]: the link
//!   reconnects at once, and if it is back by then nobody is bothered at all.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tether::event::{EventKind, LinkEvent};
use tokio::time::Instant;

/// After a wake from sleep, failure notifications wait this long: the link reconnects at once,
/// and a toast on every wake about an outage that heals itself in seconds is noise.
pub const WAKE_GRACE: Duration = Duration::from_secs(60);

/// Which notifications the user wants. An unknown name (a typo in settings.toml) is an error,
/// not a setting silently left at its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    pub reconnection_failed: bool,
    pub recovered: bool,
    pub gave_up: bool,
    pub auth_rejected: bool,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            reconnection_failed: true,
            recovered: true,
            gave_up: true,
            auth_rejected: true,
        }
    }
}

/// What to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: NoticeKind,
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    ReconnectionFailed,
    Recovered,
    GaveUp,
    AuthRejected,
    /// The rate limit held some back: one summary of them.
    Summary,
}

/// Per profile: the current window and what it held back.
#[derive(Debug, Default)]
struct Window {
    started: Option<Instant>,
    sent: u32,
    held: HashMap<NoticeKind, u32>,
}

/// The policy. Feed it every event; call [`NotifyPolicy::due_summaries`] now and then (the
/// shell's bridge tick) to release the summaries of ended windows.
#[derive(Debug)]
pub struct NotifyPolicy {
    pub settings: NotifySettings,
    window: Duration,
    burst: u32,
    windows: HashMap<String, Window>,
    /// Per profile: the wake grace period running, and the failure it holds back.
    wakes: HashMap<String, Wake>,
}

/// A wake's grace period: failures wait for its end, and are dropped if the link recovers first.
#[derive(Debug)]
struct Wake {
    until: Instant,
    held: Option<(NoticeKind, String, String)>,
}

impl NotifyPolicy {
    pub fn new(settings: NotifySettings) -> Self {
        Self::with_limits(settings, Duration::from_secs(600), 3)
    }

    pub fn with_limits(settings: NotifySettings, window: Duration, burst: u32) -> Self {
        Self {
            settings,
            window,
            burst,
            windows: HashMap::new(),
            wakes: HashMap::new(),
        }
    }

    /// The notification for `ev`, if any, now.
    pub fn on_event(&mut self, ev: &LinkEvent, now: Instant) -> Option<Notification> {
        let profile = ev.profile.to_string();
        if let EventKind::Triggered { trigger: "woke" } = ev.kind {
            self.wakes.insert(
                profile,
                Wake {
                    until: now + WAKE_GRACE,
                    held: None,
                },
            );
            return None;
        }
        let (kind, title, body) = match &ev.kind {
            EventKind::ReconnectionFailed { attempts } if self.settings.reconnection_failed => (
                NoticeKind::ReconnectionFailed,
                format!("{profile}: connection lost"),
                format!("{attempts} reconnection attempts failed. Tether keeps trying with its recovery strategy."),
            ),
            EventKind::Recovered {
                downtime,
                after_failure: true,
            } if self.settings.recovered => (
                NoticeKind::Recovered,
                format!("{profile}: connected again"),
                format!("Back after {}.", human(*downtime)),
            ),
            EventKind::GaveUp { reason } if self.settings.gave_up => (
                NoticeKind::GaveUp,
                format!("{profile}: Tether stopped retrying"),
                format!("{reason}. Use Retry now when the broker is back."),
            ),
            EventKind::AuthRejected { reason } if self.settings.auth_rejected => (
                NoticeKind::AuthRejected,
                format!("{profile}: credentials refused"),
                format!("{reason}. Update the password in Settings."),
            ),
            _ => return None,
        };
        if let Some(wake) = self.wakes.get_mut(&profile) {
            if now < wake.until {
                match kind {
                    // Told at the grace period's end, unless the link is back by then.
                    NoticeKind::ReconnectionFailed | NoticeKind::GaveUp => {
                        wake.held = Some((kind, title, body));
                        return None;
                    }
                    // Nothing was told, so there is no "connected again" to tell.
                    NoticeKind::Recovered if wake.held.take().is_some() => return None,
                    _ => {}
                }
            }
        }
        self.limited(profile, kind, title, body, now)
    }

    /// Through the per-profile rate limit.
    fn limited(&mut self, profile: String, kind: NoticeKind, title: String, body: String, now: Instant) -> Option<Notification> {
        let w = self.windows.entry(profile).or_default();
        if w.started.is_none_or(|s| now.duration_since(s) >= self.window) {
            *w = Window {
                started: Some(now),
                ..Default::default()
            };
        }
        if w.sent < self.burst {
            w.sent += 1;
            Some(Notification { kind, title, body })
        } else {
            *w.held.entry(kind).or_default() += 1;
            None
        }
    }

    /// Summaries of windows that ended with notifications held back, and the failure a wake's
    /// grace period held back when it ends with the link still down.
    pub fn due_summaries(&mut self, now: Instant) -> Vec<Notification> {
        let mut out = Vec::new();
        // Wake grace periods that ended with a failure held back: it is news now.
        let ended: Vec<String> = self.wakes.iter().filter(|(_, w)| now >= w.until).map(|(p, _)| p.clone()).collect();
        for profile in ended {
            if let Some(Wake {
                held: Some((kind, title, body)),
                ..
            }) = self.wakes.remove(&profile)
            {
                out.extend(self.limited(profile, kind, title, body, now));
            }
        }
        for (profile, w) in self.windows.iter_mut() {
            let Some(started) = w.started else { continue };
            if now.duration_since(started) < self.window || w.held.is_empty() {
                continue;
            }
            let count = |k| w.held.get(&k).copied().unwrap_or(0);
            let mut parts = Vec::new();
            for (k, one, many) in [
                (NoticeKind::ReconnectionFailed, "failure", "failures"),
                (NoticeKind::Recovered, "recovery", "recoveries"),
                (NoticeKind::GaveUp, "give-up", "give-ups"),
                (NoticeKind::AuthRejected, "credential refusal", "credential refusals"),
            ] {
                match count(k) {
                    0 => {}
                    1 => parts.push(format!("1 {one}")),
                    n => parts.push(format!("{n} {many}")),
                }
            }
            out.push(Notification {
                kind: NoticeKind::Summary,
                title: format!("{profile}: the link is flapping"),
                body: format!(
                    "Also {} in the last {}, not shown one by one.",
                    parts.join(", "),
                    human(self.window)
                ),
            });
            *w = Window::default();
        }
        out
    }
}

/// "45 s", "3 min 20 s", "2 h 5 min".
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> LinkEvent {
        LinkEvent::new("home".into(), kind)
    }

    fn recovered(after_failure: bool) -> LinkEvent {
        ev(EventKind::Recovered {
            downtime: Duration::from_secs(75),
            after_failure,
        })
    }

    #[test]
    fn a_blip_within_tier1_does_not_notify_but_recovery_after_a_failure_does() {
        let mut p = NotifyPolicy::new(NotifySettings::default());
        let t = Instant::now();
        assert_eq!(p.on_event(&recovered(false), t), None);
        assert_eq!(
            p.on_event(
                &ev(EventKind::Reconnecting {
                    attempt: 1,
                    max_attempts: 10,
                    delay: Duration::ZERO
                }),
                t
            ),
            None
        );
        let n = p.on_event(&ev(EventKind::ReconnectionFailed { attempts: 10 }), t).unwrap();
        assert_eq!(n.kind, NoticeKind::ReconnectionFailed);
        assert!(n.title.contains("home") && n.body.contains("10 reconnection attempts"), "{n:?}");
        let n = p.on_event(&recovered(true), t).unwrap();
        assert_eq!(n.body, "Back after 1 min 15 s.");
    }

    #[test]
    fn each_kind_can_be_switched_off() {
        let settings = NotifySettings {
            recovered: false,
            ..Default::default()
        };
        let mut p = NotifyPolicy::new(settings);
        let t = Instant::now();
        assert_eq!(p.on_event(&recovered(true), t), None);
        assert!(p.on_event(&ev(EventKind::GaveUp { reason: "x".into() }), t).is_some());
    }

    #[test]
    fn a_flapping_link_gets_one_summary_not_a_storm() {
        let mut p = NotifyPolicy::with_limits(NotifySettings::default(), Duration::from_secs(600), 2);
        let t0 = Instant::now();
        let mut shown = 0;
        for i in 0..6 {
            let t = t0 + Duration::from_secs(i * 30);
            shown += p.on_event(&ev(EventKind::ReconnectionFailed { attempts: 10 }), t).is_some() as u32;
            shown += p.on_event(&recovered(true), t).is_some() as u32;
        }
        assert_eq!(shown, 2, "only the burst");
        assert!(
            p.due_summaries(t0 + Duration::from_secs(300)).is_empty(),
            "not before the window ends"
        );
        let s = p.due_summaries(t0 + Duration::from_secs(600));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].kind, NoticeKind::Summary);
        assert!(
            s[0].body.contains("5 failures") && s[0].body.contains("5 recoveries"),
            "{}",
            s[0].body
        );
        assert!(p.due_summaries(t0 + Duration::from_secs(1200)).is_empty(), "one summary per window");
    }

    #[test]
    fn profiles_are_rate_limited_separately() {
        let mut p = NotifyPolicy::with_limits(NotifySettings::default(), Duration::from_secs(600), 1);
        let t = Instant::now();
        assert!(p.on_event(&ev(EventKind::GaveUp { reason: "x".into() }), t).is_some());
        let other = LinkEvent::new("lab".into(), EventKind::GaveUp { reason: "x".into() });
        assert!(p.on_event(&other, t).is_some());
    }

    fn woke() -> LinkEvent {
        ev(EventKind::Triggered { trigger: "woke" })
    }

    #[test]
    fn after_a_wake_a_failure_that_recovers_within_the_grace_period_is_not_notified() {
        let mut p = NotifyPolicy::new(NotifySettings::default());
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(p.on_event(&woke(), t0), None);
        assert_eq!(p.on_event(&ev(EventKind::ReconnectionFailed { attempts: 10 }), t0 + s(5)), None);
        assert_eq!(
            p.on_event(&recovered(true), t0 + s(20)),
            None,
            "nothing was told, so no 'connected again'"
        );
        assert!(p.due_summaries(t0 + WAKE_GRACE + s(1)).is_empty(), "and nothing later either");
        // Past the grace period, failures notify again.
        let later = t0 + WAKE_GRACE + s(10);
        assert!(p.on_event(&ev(EventKind::ReconnectionFailed { attempts: 10 }), later).is_some());
    }

    #[test]
    fn after_a_wake_a_failure_still_there_when_the_grace_period_ends_is_notified_then() {
        let mut p = NotifyPolicy::new(NotifySettings::default());
        let t0 = Instant::now();
        let s = Duration::from_secs;
        p.on_event(&woke(), t0);
        assert_eq!(p.on_event(&ev(EventKind::ReconnectionFailed { attempts: 10 }), t0 + s(5)), None);
        assert!(p.due_summaries(t0 + s(30)).is_empty(), "held during the grace period");
        let due = p.due_summaries(t0 + WAKE_GRACE);
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].kind, NoticeKind::ReconnectionFailed);
        // The recovery after it is news again.
        assert!(p.on_event(&recovered(true), t0 + WAKE_GRACE + s(5)).is_some());
        // Credentials refused are worth telling at once, wake or not.
        p.on_event(&woke(), t0 + s(200));
        assert!(p
            .on_event(&ev(EventKind::AuthRejected { reason: "x".into() }), t0 + s(201))
            .is_some());
    }

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_secs(600)), "10 min");
        assert_eq!(human(Duration::from_secs(7500)), "2 h 5 min");
    }
}
