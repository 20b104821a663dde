//! What the link is doing now. Published through a `watch` channel: the UI, the tray and the CLI
//! read the latest value and never miss the current one.

use crate::policy::RecoveryStrategy;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The state of one link (see the design's state table).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// Not started.
    Idle,
    /// First connect in progress.
    Connecting,
    /// CONNACK accepted.
    Connected { since: DateTime<Utc>, session_present: bool },
    /// Tier 1: reconnection with backoff. `retry_at` is when the next attempt starts (`None`: now).
    Reconnecting {
        attempt: u32,
        max_attempts: u32,
        retry_at: Option<DateTime<Utc>>,
    },
    /// Tier 2: the recovery strategy runs.
    Recovering {
        cycle: u32,
        max_cycles: u32,
        strategy: RecoveryStrategy,
        retry_at: Option<DateTime<Utc>>,
    },
    /// Recovery cycles exhausted; waits for Retry now, a network change or a wake.
    GaveUp { reason: String },
    /// Credentials refused; waits for new credentials or Retry now.
    AuthRejected { reason: String },
    /// Paused by the user.
    Paused,
    /// Stopped by the user.
    Stopped,
}

impl LinkState {
    pub fn is_connected(&self) -> bool {
        matches!(self, LinkState::Connected { .. })
    }

    /// A short name for logs, tooltips and the CLI.
    pub fn name(&self) -> &'static str {
        match self {
            LinkState::Idle => "idle",
            LinkState::Connecting => "connecting",
            LinkState::Connected { .. } => "connected",
            LinkState::Reconnecting { .. } => "reconnecting",
            LinkState::Recovering { .. } => "recovering",
            LinkState::GaveUp { .. } => "gave_up",
            LinkState::AuthRejected { .. } => "auth_rejected",
            LinkState::Paused => "paused",
            LinkState::Stopped => "stopped",
        }
    }
}
