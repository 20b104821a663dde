//! What the tray shows: one icon per kind of state, and a tooltip with the profile, the state and
//! the next retry.

use chrono::{DateTime, Utc};
use tether::state::LinkState;

/// The tray icons (drawn in `icons/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayIcon {
    Connected,
    /// Connecting, reconnecting or recovering: something is being done.
    Reconnecting,
    /// Gave up or credentials refused: the user is needed.
    Failed,
    /// Paused, stopped or not started.
    Paused,
}

pub fn icon_for(state: &LinkState) -> TrayIcon {
    match state {
        LinkState::Connected { .. } => TrayIcon::Connected,
        LinkState::Connecting | LinkState::Reconnecting { .. } | LinkState::Recovering { .. } => TrayIcon::Reconnecting,
        LinkState::GaveUp { .. } | LinkState::AuthRejected { .. } => TrayIcon::Failed,
        LinkState::Idle | LinkState::Paused | LinkState::Stopped => TrayIcon::Paused,
    }
}

/// "Tether · home: reconnecting (attempt 3 of 10), next try in 12 s".
pub fn tooltip(profile: &str, state: &LinkState, now: DateTime<Utc>) -> String {
    let next = |at: &Option<DateTime<Utc>>| match at {
        Some(at) if *at > now => format!(", next try in {}", super::notify::human((*at - now).to_std().unwrap_or_default())),
        _ => ", trying now".to_string(),
    };
    let what = match state {
        LinkState::Idle => "not started".to_string(),
        LinkState::Connecting => "connecting".to_string(),
        LinkState::Connected { since, .. } => format!(
            "connected for {}",
            super::notify::human((now - *since).to_std().unwrap_or_default())
        ),
        LinkState::Reconnecting {
            attempt,
            max_attempts,
            retry_at,
        } => format!("reconnecting (attempt {attempt} of {max_attempts}){}", next(retry_at)),
        LinkState::Recovering {
            cycle,
            max_cycles,
            retry_at,
            ..
        } => format!("recovering (cycle {cycle} of {max_cycles}){}", next(retry_at)),
        LinkState::GaveUp { .. } => "gave up: use Retry now".to_string(),
        LinkState::AuthRejected { .. } => "credentials refused: update them in Settings".to_string(),
        LinkState::Paused => "paused".to_string(),
        LinkState::Stopped => "stopped".to_string(),
    };
    format!("Tether · {profile}: {what}")
}

/// The tooltip as of now.
pub fn tooltip_now(profile: &str, state: &LinkState) -> String {
    tooltip(profile, state, Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_maps_to_an_icon() {
        let now = Utc::now();
        assert_eq!(
            icon_for(&LinkState::Connected {
                since: now,
                session_present: true
            }),
            TrayIcon::Connected
        );
        assert_eq!(icon_for(&LinkState::Connecting), TrayIcon::Reconnecting);
        assert_eq!(icon_for(&LinkState::GaveUp { reason: "x".into() }), TrayIcon::Failed);
        assert_eq!(icon_for(&LinkState::AuthRejected { reason: "x".into() }), TrayIcon::Failed);
        assert_eq!(icon_for(&LinkState::Paused), TrayIcon::Paused);
    }

    #[test]
    fn the_tooltip_says_the_state_and_the_next_retry() {
        let now = Utc::now();
        let s = LinkState::Reconnecting {
            attempt: 3,
            max_attempts: 10,
            retry_at: Some(now + chrono::Duration::seconds(12)),
        };
        assert_eq!(
            tooltip("home", &s, now),
            "Tether · home: reconnecting (attempt 3 of 10), next try in 12 s"
        );
        let c = LinkState::Connected {
            since: now - chrono::Duration::seconds(3600 * 2 + 300),
            session_present: false,
        };
        assert_eq!(tooltip("home", &c, now), "Tether · home: connected for 2 h 5 min");
    }
}
