//! The supervisor: one task per link that owns the rumqttc event loop (through a poller task) and
//! everything rumqttc leaves to us: backoff, the two recovery tiers, triggers, restoring
//! subscriptions, the outbox, periodic requests, the dead-link and stale-data watchdogs.
//!
//! This file holds the loop, the struct and the timers. Beside it, each an `impl Supervisor` on
//! one concern: [`connect`] (credentials fetched beside the loop, the client built), [`inbound`]
//! (what the broker sends: poll results, CONNACK, the link proving stable), [`outbound`] (outbox,
//! subscriptions, periodic requests), [`consumer`] (events and acknowledgements), [`recovery`]
//! (failures, decisions, triggers), [`commands`], [`stop`].
//! The client and its poller are in [`super::connection`]; the pure bookkeeping in
//! [`super::session`] and [`super::watchdog`].

mod commands;
mod connect;
mod consumer;
mod inbound;
mod outbound;
mod recovery;
mod stop;

use super::coalesce::Coalesce;
use super::connection::Driver;
use super::protocol::{Command, PublishOutcome, Trigger};
use super::session::{Session, Written};
use super::watchdog::{PingWatch, Schedule};
use crate::config::LinkConfig;
use crate::credentials::{CredentialError, CredentialSource, Credentials};
use crate::delivery::{room, AckToken, Offer, Outlet};
use crate::diagnostics::Recorder;
use crate::error::{classify, LinkError, PublishError};
use crate::event::{EventKind, LinkEvent};
use crate::machine::{Decision, Machine};
use crate::outbox::Outbox;
use crate::pinned::Pinned;
use crate::state::LinkState;
use crate::transport::{mqtt_options, publish_size, REQUEST_CHANNEL};
use bytes::Bytes;
use chrono::Utc;
use rumqttc::{AsyncClient, ConnectionError, Event, Incoming, Outgoing, Publish, QoS, SubscribeReasonCode};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// How long a graceful stop waits for DISCONNECT to be written.
const DISCONNECT_WAIT: Duration = Duration::from_secs(2);
/// Housekeeping: outbox expiry and disk sync, the stale-data watchdog.
const TICK: Duration = Duration::from_secs(1);
/// After a network change while connected, how long one round trip may take before the link
/// counts as dead (instead of waiting up to 1.5 × keepalive to find out).
const PROBE_WAIT: Duration = Duration::from_secs(3);

/// After the consumer held the link up, how long a PINGREQ still has for its answer: the answer
/// may be among the poll results not read meanwhile.
const AFTER_BACKPRESSURE: Duration = Duration::from_secs(2);

/// What a credential fetch brings back: how the refresh went (if one was asked), the credentials.
type Fetched = (Option<Result<(), String>>, Result<Credentials, LinkError>);

/// Wait for the running credential fetch (never, when none runs).
async fn join_fetch(f: &mut Option<JoinHandle<Fetched>>) -> Result<Fetched, tokio::task::JoinError> {
    match f.as_mut() {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

/// Whether the source renewed again (`false`: it never will, its timer is gone).
async fn renewed(rx: &mut Option<watch::Receiver<u64>>) -> bool {
    match rx.as_mut() {
        Some(r) => r.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// How long a credential source may take (a keychain waiting on an unlock prompt, a token
/// request) before the attempt counts as failed; the supervisor must stay responsive meanwhile.
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the link is parked: it decides which triggers move it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Park {
    /// Recovery gave up, or the configuration is invalid.
    GaveUp,
    /// The broker refused the credentials: only new ones (or Retry now) help.
    AuthRejected,
}

/// What the supervisor is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// The poller is connecting.
    Attempting,
    Connected,
    /// Waiting for a backoff timer (or a trigger) before the next attempt.
    Waiting {
        at: Instant,
        recreate: bool,
        refresh: bool,
    },
    /// Gave up, credentials refused or configuration invalid: only a trigger moves on.
    Parked(Park),
    Paused,
}

pub(crate) struct Supervisor {
    cfg: LinkConfig,
    profile: Arc<str>,
    creds: Arc<dyn CredentialSource>,
    /// The credential source's own renewals (a token timer), told as `token_refreshed`.
    renewals: Option<tokio::sync::watch::Receiver<u64>>,
    machine: Machine,
    state_tx: Arc<watch::Sender<LinkState>>,
    events: broadcast::Sender<LinkEvent>,
    /// Payload bytes the broadcast holds for its slowest observer.
    pinned: Pinned,
    outbox_len: watch::Sender<usize>,
    outbox: Outbox,
    /// Subscriptions, packet ids, outbox ids in flight, refusals.
    session: Session,
    /// Broker closes counted for a client id used by another client too.
    takeover: crate::link::takeover::Takeover,
    /// Periodic requests and when each is next due.
    periodic: Schedule,
    rec: Recorder,
    mode: Mode,
    /// The client, its poller and the connection epochs.
    driver: Driver,
    /// The credential fetch for the next client, while it runs.
    fetching: Option<JoinHandle<Fetched>>,
    /// When the current outage began (for `recovered {downtime}`); `None` when connected.
    down_since: Option<Instant>,
    /// A connection of this link has been interrupted: the next one that holds is a recovery (the
    /// first connect is not, even when it took a few attempts).
    was_interrupted: bool,
    /// This outage went past tier 1 (`reconnection_failed`, `gave_up`, `auth_rejected`): its
    /// recovery is worth telling the user about, even after a trigger reset the counters.
    outage_failed: bool,
    /// The last failure, for `gave_up`'s reason.
    last_error: Option<LinkError>,
    /// The outbox has entries the client could not take yet (channel full, or just queued).
    flush_needed: bool,
    /// Outbox entries acknowledged since the backlog started draining (for `outbox_flushed`).
    flushed: usize,
    /// The outbox holds messages queued while offline: `outbox_flushed` reports when they are out.
    backlog: bool,
    /// New credentials were stored: the next attempt builds a new client with them, whatever the
    /// link was doing when they came (tier 1 would otherwise reuse the old client's options).
    creds_changed: bool,
    /// Unreadable outbox entries found at start, reported once as `outbox_dropped`.
    corrupt_at_start: usize,
    /// The dead-link deadline (a PINGREQ or a network-change probe unanswered).
    ping: PingWatch,
    /// CONNACK time of a connection that has not held for `stable_after` yet: the backoff resets,
    /// and the outage counts as recovered, only once it has.
    unproven_since: Option<Instant>,
    /// Where events go to the link's consumer, if it has one (at least once to the consumer).
    outlet: Outlet,
    /// Outbox events that can come once per publish, told at most once a second each.
    coalesce: Coalesce,
    /// Consumer acknowledgements rumqttc's request channel had no room for yet, in order.
    unsent_acks: VecDeque<AckToken>,
    next_tick: Instant,
}

impl Supervisor {
    pub(crate) fn new(
        cfg: LinkConfig,
        creds: Arc<dyn CredentialSource>,
        outbox: Outbox,
        state_tx: Arc<watch::Sender<LinkState>>,
        events: broadcast::Sender<LinkEvent>,
        outbox_len: watch::Sender<usize>,
        outlet: Outlet,
    ) -> Self {
        Self {
            session: Session::new(&cfg.subscriptions),
            takeover: Default::default(),
            periodic: Schedule::new(&cfg.periodic),
            profile: cfg.profile_id.as_str().into(),
            machine: Machine::new(cfg.reconnect.clone(), cfg.recovery.clone()),
            cfg,
            renewals: creds.renewals(),
            creds,
            state_tx,
            events,
            pinned: Pinned::default(),
            outbox_len,
            flush_needed: !outbox.is_empty(),
            outbox,
            rec: Recorder::new(),
            mode: Mode::Attempting,
            driver: Driver::new(),
            fetching: None,
            down_since: None,
            was_interrupted: false,
            outage_failed: false,
            last_error: None,
            flushed: 0,
            backlog: false,
            creds_changed: false,
            corrupt_at_start: 0,
            ping: PingWatch::default(),
            unproven_since: None,
            outlet,
            coalesce: Coalesce::default(),
            unsent_acks: VecDeque::new(),
            next_tick: Instant::now() + TICK,
        }
    }

    /// Unreadable outbox entries found when opening it: reported as `outbox_dropped` at start.
    pub(crate) fn reporting_unreadable(mut self, n: usize) -> Self {
        self.corrupt_at_start = n;
        self
    }

    pub(crate) async fn run(mut self, mut cmd_rx: mpsc::Receiver<Command>, cancel: CancellationToken) {
        self.set_state(LinkState::Connecting);
        if self.corrupt_at_start > 0 {
            self.rec.dropped += self.corrupt_at_start as u64;
            self.emit(EventKind::OutboxDropped {
                count: self.corrupt_at_start,
                reason: "unreadable_in_store",
            });
        }
        if let Some((path, reason)) = self.outbox.take_set_aside() {
            self.emit(EventKind::OutboxSetAside {
                path: path.display().to_string(),
                reason,
            });
        }
        self.backlog = !self.outbox.is_empty();
        self.attempt(true, false).await;
        loop {
            let deadline = self.next_deadline();
            let backed_up = self.outlet.backed_up();
            let want = self.outlet.wanted();
            tokio::select! {
                biased;
                // Stop: DISCONNECT, flush, done.
                _ = cancel.cancelled() => break,
                // A command from a handle.
                cmd = cmd_rx.recv() => match cmd {
                    Some(c) => self.on_command(c).await,
                    None => break,
                },
                // Backoff timers, keepalive and stale watchdogs, periodic requests, housekeeping:
                // before the poll results, so a flood of messages cannot starve them.
                _ = sleep_until(deadline) => self.on_timer().await,
                // The consumer has taken messages: now the broker may forget them.
                Some(t) = self.outlet.next_ack() => self.on_acks(t),
                // The consumer made room: hand over what waited, then read the connection again.
                permit = room(want), if backed_up => {
                    self.outlet.resume(permit);
                    if !self.outlet.backed_up() {
                        self.ping.after_hold(Instant::now(), AFTER_BACKPRESSURE);
                    }
                }
                // What the event loop produced, for the current attempt only. Not read while the
                // consumer holds events back: the poller waits, the TCP window closes, the broker
                // keeps the rest.
                r = self.driver.recv(), if !backed_up => self.on_polled(r).await,
                // Credentials for the next client.
                r = join_fetch(&mut self.fetching), if self.fetching.is_some() => self.on_fetched(r).await,
                // The credential source renewed its tokens on its own timer.
                more = renewed(&mut self.renewals), if self.renewals.is_some() => {
                    if more {
                        self.emit(EventKind::TokenRefreshed);
                    } else {
                        self.renewals = None;
                    }
                }
            }
        }
        self.shutdown().await;
    }

    // ---- events and state -------------------------------------------------------------------

    fn emit(&mut self, kind: EventKind) {
        if !matches!(kind, EventKind::Message { .. }) {
            tracing::info!(profile = %self.profile, event = kind.name(), "{kind:?}");
        }
        self.deliver(kind, None);
    }

    fn set_state(&self, s: LinkState) {
        self.state_tx.send_replace(s);
    }

    fn publish_outbox_len(&self) {
        self.outbox_len.send_if_modified(|v| {
            let changed = *v != self.outbox.len();
            *v = self.outbox.len();
            changed
        });
    }

    fn next_deadline(&self) -> Instant {
        let mut d = self.next_tick;
        if let Mode::Waiting { at, .. } = self.mode {
            d = d.min(at);
        }
        if self.mode == Mode::Connected {
            let stable_at = self.unproven_since.map(|t| t + self.cfg.reconnect.stable_after);
            for at in [self.ping.deadline(), stable_at, self.periodic.next()].into_iter().flatten() {
                d = d.min(at);
            }
        }
        d
    }

    // ---- poll results -----------------------------------------------------------------------

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if let Mode::Waiting { at, recreate, refresh } = self.mode {
            if now >= at {
                self.attempt(recreate, refresh).await;
            }
        }
        if self.mode == Mode::Connected {
            if self.unproven_since.is_some_and(|t| now >= t + self.cfg.reconnect.stable_after) {
                self.on_stable();
            }
            // While the consumer holds the link up, the answer may be among the unread results.
            if let Some(silence) = self.ping.missed(now, self.outlet.backed_up()) {
                self.drop_connection();
                self.on_failure(LinkError::DeadLink(silence)).await;
                return;
            }
            for i in self.periodic.due(now) {
                self.send_periodic(i, now);
            }
        }
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            self.housekeeping(now).await;
        }
    }

    async fn housekeeping(&mut self, now: Instant) {
        self.tell_coalesced(now, false);
        let expired = self.outbox.expire();
        if expired > 0 {
            self.rec.expired += expired as u64;
            self.emit(EventKind::OutboxExpired { count: expired });
            self.publish_outbox_len();
        }
        self.outbox.sync();
        if self.mode != Mode::Connected {
            return;
        }
        if self.outlet.backed_up() {
            // Data is waiting to be read: no subscription is silent.
            self.session.touch_all(now);
            return;
        }
        let stale = self.session.stale(now);
        if let Some((topic, silent_for)) = stale {
            self.emit(EventKind::Stale {
                topic: topic.clone(),
                silent_for,
            });
            self.drop_connection();
            self.on_failure(LinkError::Stale { topic, silent_for }).await;
        }
    }
}

fn qos_of(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}
