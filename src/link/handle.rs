//! The cloneable front of a running link: subscribe, publish, triggers, pause/resume, stop,
//! diagnostics; state through `watch`, events through `broadcast`.

use super::protocol::Command;
pub use super::protocol::{PublishOutcome, Trigger};
use super::supervisor::Supervisor;
use crate::config::{validate_filter, validate_topic, LinkConfig, PeriodicRequest, Subscription};
use crate::credentials::CredentialSource;
use crate::delivery::{Consumer, Outlet, CONSUMER_BUDGET};
use crate::diagnostics::Diagnostics;
use crate::error::{ConfigError, PublishError, SubscribeError};
use crate::event::LinkEvent;
use crate::outbox::{Outbox, OutboxError};
use crate::state::LinkState;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Events a slow reader may fall behind by before it sees `Lagged`.
const EVENT_CAPACITY: usize = 8192;

/// Why a link could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Starts links.
pub struct Link;

impl Link {
    /// Validate `cfg`, open its outbox and start its supervisor on the current tokio runtime.
    pub fn start(cfg: LinkConfig, creds: Arc<dyn CredentialSource>) -> Result<LinkHandle, StartError> {
        Self::start_subscribed(cfg, creds).map(|(h, _)| h)
    }

    /// Like [`start`](Self::start), with an event receiver that sees every event from the first.
    pub fn start_subscribed(
        cfg: LinkConfig,
        creds: Arc<dyn CredentialSource>,
    ) -> Result<(LinkHandle, broadcast::Receiver<LinkEvent>), StartError> {
        let (h, rx, _) = Self::launch(cfg, creds, None)?;
        Ok((h, rx))
    }

    /// Start with a [`Consumer`] that gets every event in order and must acknowledge each
    /// delivery: an inbound QoS 1 message is acknowledged to the broker only then, and a slow
    /// consumer slows the link instead of losing messages (see [`crate::delivery`]).
    pub fn start_consumed(cfg: LinkConfig, creds: Arc<dyn CredentialSource>) -> Result<(LinkHandle, Consumer), StartError> {
        let (h, _, consumer) = Self::launch(cfg, creds, Some(CONSUMER_BUDGET))?;
        Ok((h, consumer.expect("a consumer was asked for")))
    }

    fn launch(
        cfg: LinkConfig,
        creds: Arc<dyn CredentialSource>,
        budget: Option<usize>,
    ) -> Result<(LinkHandle, broadcast::Receiver<LinkEvent>, Option<Consumer>), StartError> {
        cfg.validate()?;
        // Room for at least one message of the largest size the profile allows, whatever
        // `max_bytes` says (a profile file written before it existed must still load and work).
        let mut outbox_cfg = cfg.outbox.clone();
        outbox_cfg.max_bytes = outbox_cfg.max_bytes.max(cfg.max_packet_size);
        let (outbox, corrupt) = Outbox::open(cfg.outbox_path.as_deref(), outbox_cfg)?;
        for id in &corrupt {
            tracing::warn!(profile = %cfg.profile_id, id, "outbox: skipped an unreadable entry");
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(1024);
        let (state_tx, state_rx) = watch::channel(LinkState::Idle);
        let state_tx = Arc::new(state_tx);
        let (outbox_tx, outbox_rx) = watch::channel(outbox.len());
        let (events, first_rx) = broadcast::channel(EVENT_CAPACITY);
        let cancel = CancellationToken::new();
        let (outlet, consumer) = match budget {
            Some(b) => {
                let (o, c) = Outlet::with_consumer(b);
                (o, Some(c))
            }
            None => (Outlet::none(), None),
        };
        let profile = cfg.profile_id.clone();
        let sup =
            Supervisor::new(cfg, creds, outbox, state_tx.clone(), events.clone(), outbox_tx, outlet).reporting_unreadable(corrupt.len());
        let task = tokio::spawn(sup.run(cmd_rx, cancel.clone()));
        // A panic in the supervisor (a bug) must not leave the state frozen at, say, "connected":
        // the link says it gave up, and why.
        tokio::spawn(async move {
            if let Err(e) = task.await {
                if e.is_panic() {
                    tracing::error!(profile = %profile, "the link's supervisor panicked; the link is stopped");
                    state_tx.send_replace(LinkState::GaveUp {
                        reason: "internal error: the link stopped (see the log); Retry needs a restart of Tether".into(),
                    });
                }
            }
        });
        let handle = LinkHandle {
            cmd_tx,
            state: state_rx,
            events,
            outbox_len: outbox_rx,
            cancel,
        };
        Ok((handle, first_rx, consumer))
    }
}

/// A cheap, cloneable handle on a running link.
#[derive(Clone)]
pub struct LinkHandle {
    /// Commands to the supervisor, answered through `oneshot`s.
    cmd_tx: mpsc::Sender<Command>,
    /// The latest state.
    state: watch::Receiver<LinkState>,
    /// Kept to hand out new receivers.
    events: broadcast::Sender<LinkEvent>,
    /// How many publishes wait in the outbox.
    outbox_len: watch::Receiver<usize>,
    /// Stops the supervisor (gracefully: DISCONNECT, bounded wait).
    cancel: CancellationToken,
}

impl LinkHandle {
    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// A receiver of state changes.
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// A receiver of events from now on (handle `Lagged`: a slow reader skips, the link never waits).
    pub fn events(&self) -> broadcast::Receiver<LinkEvent> {
        self.events.subscribe()
    }

    pub fn outbox_len(&self) -> watch::Receiver<usize> {
        self.outbox_len.clone()
    }

    /// Register a subscription, kept across reconnects; SUBACK failures come as `subscribe_failed`.
    pub async fn subscribe(&self, topic: &str, qos: u8) -> Result<(), SubscribeError> {
        self.subscribe_with(Subscription {
            topic: topic.to_string(),
            qos,
            stale_after: None,
        })
        .await
    }

    pub async fn subscribe_with(&self, sub: Subscription) -> Result<(), SubscribeError> {
        validate_filter(&sub.topic).map_err(|_| SubscribeError::InvalidFilter(sub.topic.clone()))?;
        if sub.qos > 1 {
            return Err(SubscribeError::InvalidQos(sub.qos));
        }
        let (tx, rx) = oneshot::channel();
        self.send(Command::Subscribe(sub, tx)).await.map_err(|_| SubscribeError::Stopped)?;
        rx.await.map_err(|_| SubscribeError::Stopped)
    }

    /// Forget a subscription. Returns whether it was registered.
    pub async fn unsubscribe(&self, topic: &str) -> Result<bool, SubscribeError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Unsubscribe(topic.to_string(), tx))
            .await
            .map_err(|_| SubscribeError::Stopped)?;
        rx.await.map_err(|_| SubscribeError::Stopped)
    }

    /// Publish; offline it goes to the persisted outbox and is sent, in order, after reconnect.
    pub async fn publish(&self, topic: &str, payload: impl Into<Bytes>, qos: u8, retain: bool) -> Result<PublishOutcome, PublishError> {
        validate_topic(topic).map_err(|_| PublishError::InvalidTopic(topic.to_string()))?;
        if qos > 1 {
            return Err(PublishError::InvalidQos(qos));
        }
        let (tx, rx) = oneshot::channel();
        self.send(Command::Publish {
            topic: topic.to_string(),
            payload: payload.into(),
            qos,
            retain,
            reply: tx,
        })
        .await
        .map_err(|_| PublishError::Stopped)?;
        rx.await.map_err(|_| PublishError::Stopped)?
    }

    /// Add a periodic request: sent right after every (re)connect, then every `interval`.
    pub async fn add_periodic(&self, req: PeriodicRequest) -> Result<(), ConfigError> {
        validate_topic(&req.topic).map_err(|m| ConfigError::new("periodic.topic", m))?;
        if req.interval < Duration::from_secs(1) || req.interval > crate::config::MAX_SETTING {
            return Err(ConfigError::new("periodic.interval", "must be between 1 second and 30 days"));
        }
        if req.qos > 1 {
            return Err(ConfigError::new("periodic.qos", "must be 0 or 1"));
        }
        self.send(Command::AddPeriodic(req))
            .await
            .map_err(|_| ConfigError::new("link", "stopped"))
    }

    /// Retry now, network back, wake, new credentials.
    pub async fn trigger(&self, t: Trigger) {
        let _ = self.send(Command::Trigger(t)).await;
    }

    pub async fn retry_now(&self) {
        self.trigger(Trigger::RetryNow).await
    }

    pub async fn pause(&self) {
        let _ = self.send(Command::Pause).await;
    }

    pub async fn resume(&self) {
        let _ = self.send(Command::Resume).await;
    }

    /// The link's figures, or `None` once stopped.
    pub async fn diagnostics(&self) -> Option<Diagnostics> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Diagnostics(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Stop gracefully: DISCONNECT is sent and flushed (bounded), the outbox synced. Waits for it.
    pub async fn stop(&self) {
        self.cancel.cancel();
        let mut st = self.state.clone();
        let _ = st.wait_for(|s| matches!(s, LinkState::Stopped)).await;
    }

    /// The cancellation token the supervisor watches (for tying other tasks to the link's life).
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    async fn send(&self, c: Command) -> Result<(), ()> {
        self.cmd_tx.send(c).await.map_err(|_| ())
    }
}
