//! What travels between a link's handles and its supervisor: commands (answered through
//! `oneshot`s), triggers and publish outcomes. Both sides import this; neither imports the other.

use crate::config::{PeriodicRequest, Subscription};
use crate::diagnostics::Diagnostics;
use crate::error::PublishError;
use bytes::Bytes;
use tokio::sync::oneshot;

/// Something that beats any backoff timer: an attempt at once, and the backoff starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The user pressed Retry now.
    RetryNow,
    /// The OS reports a network address or interface came up.
    NetworkChanged,
    /// The machine woke from sleep.
    Woke,
    /// New credentials were stored: the next attempt uses them.
    CredentialsChanged,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::RetryNow => "retry_now",
            Trigger::NetworkChanged => "network_changed",
            Trigger::Woke => "woke",
            Trigger::CredentialsChanged => "credentials_changed",
        }
    }
}

/// What became of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Handed to the connection (QoS ≥ 1 stays in the outbox until acknowledged).
    Sent,
    /// Offline: persisted in the outbox; `queued` messages wait in all.
    Queued { queued: usize },
}

pub(crate) enum Command {
    Subscribe(Subscription, oneshot::Sender<()>),
    Unsubscribe(String, oneshot::Sender<bool>),
    Publish {
        topic: String,
        payload: Bytes,
        qos: u8,
        retain: bool,
        reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
    },
    AddPeriodic(PeriodicRequest),
    Trigger(Trigger),
    Pause,
    Resume,
    Diagnostics(oneshot::Sender<Diagnostics>),
}
