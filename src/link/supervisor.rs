//! The supervisor: one task per link that owns the rumqttc event loop (through a poller task) and
//! everything rumqttc leaves to us: backoff, the two recovery tiers, triggers, restoring
//! subscriptions, the outbox, periodic requests, the dead-link and stale-data watchdogs.
//!
//! The client and its poller are in [`super::connection`]; this file decides when to connect,
//! what a failure means, and keeps the bookkeeping in step with what rumqttc reports.

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
    machine: Machine,
    state_tx: watch::Sender<LinkState>,
    events: broadcast::Sender<LinkEvent>,
    outbox_len: watch::Sender<usize>,
    outbox: Outbox,
    /// Subscriptions, packet ids, outbox ids in flight, refusals.
    session: Session,
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
    /// Consumer acknowledgements rumqttc's request channel had no room for yet, in order.
    unsent_acks: VecDeque<AckToken>,
    next_tick: Instant,
}

impl Supervisor {
    pub(crate) fn new(
        cfg: LinkConfig,
        creds: Arc<dyn CredentialSource>,
        outbox: Outbox,
        state_tx: watch::Sender<LinkState>,
        events: broadcast::Sender<LinkEvent>,
        outbox_len: watch::Sender<usize>,
        outlet: Outlet,
    ) -> Self {
        Self {
            session: Session::new(&cfg.subscriptions),
            periodic: Schedule::new(&cfg.periodic),
            profile: cfg.profile_id.as_str().into(),
            machine: Machine::new(cfg.reconnect.clone(), cfg.recovery.clone()),
            cfg,
            creds,
            state_tx,
            events,
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

    /// To the observers (who may skip) and to the consumer (who acknowledges `token`).
    fn deliver(&mut self, kind: EventKind, token: Option<AckToken>) {
        let ev = LinkEvent::new(self.profile.clone(), kind);
        if !self.outlet.has_consumer() {
            // No receiver is fine: nobody is listening right now.
            let _ = self.events.send(ev);
            if let Some(t) = token {
                self.send_ack(t);
            }
            return;
        }
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(ev.clone());
        }
        match self.outlet.offer(ev, token) {
            Offer::AckNow(t) => self.send_ack(t),
            Offer::Taken | Offer::Dropped => {}
        }
    }

    /// Acknowledgements from the consumer: this one and whatever else is ready.
    fn on_acks(&mut self, first: AckToken) {
        self.unsent_acks.push_back(first);
        while self.unsent_acks.len() < 4096 {
            match self.outlet.ready_ack() {
                Some(t) => self.unsent_acks.push_back(t),
                None => break,
            }
        }
        self.flush_acks();
    }

    fn send_ack(&mut self, t: AckToken) {
        self.unsent_acks.push_back(t);
        self.flush_acks();
    }

    /// Hand acknowledgements to rumqttc, in order, as far as its channel takes them. One for an
    /// earlier connection is void: the broker sends that message again when the session resumes.
    fn flush_acks(&mut self) {
        while let Some(t) = self.unsent_acks.front().copied() {
            if t.epoch != self.driver.epoch() || self.mode != Mode::Connected {
                self.unsent_acks.pop_front();
                continue;
            }
            let Some(c) = self.driver.client() else {
                self.unsent_acks.clear();
                return;
            };
            let mut p = Publish::new("", qos_of(t.qos), Vec::new());
            p.pkid = t.pkid;
            if c.try_ack(&p).is_err() {
                // Full: retried after the next poll result, when the event loop has moved on.
                return;
            }
            self.unsent_acks.pop_front();
        }
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

    // ---- connecting -------------------------------------------------------------------------

    /// Start an attempt: refresh and/or build a new client if asked (or if there is none), then
    /// tell the poller to connect.
    async fn attempt(&mut self, recreate: bool, refresh: bool) {
        self.mode = Mode::Attempting;
        if recreate || refresh || !self.driver.has_client() || std::mem::take(&mut self.creds_changed) {
            // Drop the old client before building the new one, with credentials fetched beside
            // the loop: a keychain prompt or a token request must not hold up stop or pause.
            self.driver.close();
            self.start_fetch(refresh);
            return;
        }
        self.connect_now();
    }

    fn connect_now(&mut self) {
        self.rec.attempts += 1;
        self.mode = Mode::Attempting;
        self.driver.go();
    }

    /// Refresh (if asked and possible), then fetch the credentials, in a task of its own.
    fn start_fetch(&mut self, refresh: bool) {
        self.cancel_fetch();
        let creds = self.creds.clone();
        self.fetching = Some(tokio::spawn(async move {
            let refreshed = if refresh && creds.can_refresh() {
                Some(match tokio::time::timeout(CREDENTIALS_TIMEOUT, creds.refresh()).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err("timed out".to_string()),
                })
            } else {
                None
            };
            let got = tokio::time::timeout(CREDENTIALS_TIMEOUT, creds.credentials())
                .await
                .map_err(|_| {
                    LinkError::Credentials(format!(
                        "no answer from the credential store within {}s",
                        CREDENTIALS_TIMEOUT.as_secs()
                    ))
                })
                .and_then(|r| {
                    r.map_err(|e| match e {
                        CredentialError::NoKeychain(_) | CredentialError::CannotRefresh => LinkError::InvalidConfig(e.to_string()),
                        other => LinkError::Credentials(other.to_string()),
                    })
                });
            (refreshed, got)
        }));
    }

    fn cancel_fetch(&mut self) {
        if let Some(f) = self.fetching.take() {
            f.abort();
        }
    }

    /// The credentials are in: build the client and connect, or count the failure.
    async fn on_fetched(&mut self, r: Result<Fetched, tokio::task::JoinError>) {
        self.fetching = None;
        if self.mode != Mode::Attempting {
            return;
        }
        let (refreshed, got) = r.unwrap_or_else(|e| (None, Err(LinkError::Credentials(format!("the credential fetch failed: {e}")))));
        match refreshed {
            Some(Ok(())) => self.emit(EventKind::TokenRefreshed),
            Some(Err(e)) => tracing::warn!(profile = %self.profile, error = %e, "credential refresh failed; trying with the old ones"),
            None => {}
        }
        match got.and_then(|c| self.build_conn(&c)) {
            Ok(()) => self.connect_now(),
            Err(e) => self.on_failure(e).await,
        }
    }

    fn build_conn(&mut self, creds: &Credentials) -> Result<(), LinkError> {
        let opts = mqtt_options(&self.cfg, creds).map_err(|e| LinkError::InvalidConfig(e.to_string()))?;
        let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_CHANNEL);
        let mut net = rumqttc::NetworkOptions::new();
        // rumqttc's own default is 5 s whatever we configure, for the connect and every flush.
        net.set_connection_timeout(self.cfg.connect_timeout.as_secs().max(1));
        eventloop.set_network_options(net);
        self.driver.replace(client, eventloop);
        Ok(())
    }

    /// Drop the current connection without DISCONNECT (the link is dead or we want it gone).
    /// Whatever the dropped attempt still has queued for us is ignored from here on.
    fn drop_connection(&mut self) {
        self.driver.drop_link();
    }

    /// Forget everything tied to the connection that just ended: in-flight publishes go back to
    /// the outbox's unsent list, pending SUBSCRIBEs are sent again after the next CONNACK.
    fn reset_link_tracking(&mut self) {
        self.outbox.reset_in_flight();
        self.session.reset();
        self.unsent_acks.clear();
        self.ping.reset();
        self.unproven_since = None;
        self.periodic.reset();
        self.flush_needed = !self.outbox.is_empty();
    }

    // ---- poll results -----------------------------------------------------------------------

    async fn on_polled(&mut self, r: Result<Event, ConnectionError>) {
        match r {
            Ok(Event::Incoming(p)) => {
                self.ping.on_heard();
                self.on_incoming(p);
            }
            Ok(Event::Outgoing(o)) => self.on_outgoing(o),
            Err(e) => {
                if matches!(self.mode, Mode::Attempting | Mode::Connected) {
                    self.on_failure(classify(&e, self.cfg.keepalive)).await;
                }
            }
        }
        if self.flush_needed && self.mode == Mode::Connected {
            self.flush_outbox();
        }
        if !self.unsent_acks.is_empty() {
            self.flush_acks();
        }
    }

    fn on_incoming(&mut self, p: Incoming) {
        match p {
            Incoming::ConnAck(ack) => self.on_connected(ack.session_present),
            Incoming::Publish(p) => {
                self.rec.messages_in += 1;
                // Acknowledged once the consumer has it (at once when the link has none).
                let token = (p.qos != QoS::AtMostOnce).then_some(AckToken {
                    epoch: self.driver.epoch(),
                    pkid: p.pkid,
                    qos: p.qos as u8,
                });
                // Read under the hard wire limit, refused here: rumqttc cannot skip a packet, and
                // failing the connection would bring the same message back on every reconnect
                // (a persistent session, a retained topic). Its report carries the
                // acknowledgement: the broker forgets it once the consumer has been told.
                let size = p.size();
                if size > self.cfg.max_packet_size {
                    self.rec.too_large += 1;
                    let kind = EventKind::MessageTooLarge {
                        topic: p.topic,
                        size,
                        limit: self.cfg.max_packet_size,
                    };
                    tracing::info!(profile = %self.profile, event = kind.name(), "{kind:?}");
                    self.deliver(kind, token);
                    return;
                }
                self.session.touch(&p.topic, Instant::now());
                self.deliver(
                    EventKind::Message {
                        topic: p.topic,
                        payload: p.payload,
                        qos: p.qos as u8,
                        retain: p.retain,
                    },
                    token,
                );
            }
            Incoming::PubAck(ack) => self.on_acked(ack.pkid),
            // QoS 2: once the broker has it (PUBREC), rumqttc completes the exchange.
            Incoming::PubRec(rec) => self.on_acked(rec.pkid),
            Incoming::SubAck(ack) => {
                let failed = ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure));
                let Some(topic) = self.session.on_suback(ack.pkid, failed) else {
                    return;
                };
                if failed {
                    // Kept registered: retried on the next connect.
                    self.emit(EventKind::SubscribeFailed {
                        topic,
                        reason: "the broker refused the subscription (SUBACK failure); it will be retried on the next connect".into(),
                    });
                }
            }
            _ => {}
        }
    }

    fn on_outgoing(&mut self, o: Outgoing) {
        match o {
            Outgoing::Publish(pkid) => {
                self.rec.messages_out += 1;
                if let Written::Done(id) = self.session.on_publish_written(pkid) {
                    self.outbox.remove(id);
                    self.after_outbox_removal();
                }
            }
            Outgoing::Subscribe(pkid) => self.session.on_subscribe_written(pkid),
            Outgoing::PingReq => self.ping.on_pingreq(Instant::now(), self.cfg.keepalive),
            _ => {}
        }
    }

    fn on_acked(&mut self, pkid: u16) {
        if let Some(id) = self.session.on_ack(pkid) {
            if self.outbox.remove(id) {
                self.after_outbox_removal();
            }
        }
    }

    /// The broker closed an unproven connection: if the same outbox entry was in flight each of
    /// the last few times, it is the cause, and it is set aside.
    fn count_refusal(&mut self) {
        let oldest = self.outbox.oldest_in_flight().map(|e| e.id);
        if let Some(id) = self.session.on_unproven_close(oldest) {
            let n = super::session::REFUSALS_BEFORE_SET_ASIDE;
            self.set_aside(id, format!("the broker closed the connection each of the {n} times it was sent"));
        }
    }

    /// Take one entry out of the outbox, with an event: never silently.
    fn set_aside(&mut self, id: u64, reason: String) {
        let Some((topic, size)) = self
            .outbox
            .get(id)
            .map(|e| (e.topic.clone(), publish_size(e.topic.len(), e.payload.len())))
        else {
            return;
        };
        if self.outbox.remove(id) {
            self.rec.dropped += 1;
            self.emit(EventKind::OutboxRefused { topic, size, reason });
            self.publish_outbox_len();
        }
    }

    fn after_outbox_removal(&mut self) {
        self.flushed += 1;
        if self.outbox.is_empty() {
            // Only a backlog from offline time is news; an acked live publish is not.
            if std::mem::take(&mut self.backlog) {
                self.outbox.sync();
                self.emit(EventKind::OutboxFlushed { count: self.flushed });
            }
            self.flushed = 0;
        }
        self.publish_outbox_len();
    }

    fn on_connected(&mut self, session_present: bool) {
        let now = Instant::now();
        self.mode = Mode::Connected;
        self.rec.on_connected(now, self.down_since.map(|t| now - t));
        self.set_state(LinkState::Connected {
            since: Utc::now(),
            session_present,
        });
        self.emit(EventKind::Connected { session_present });
        // The backoff resets and `recovered` is told once this connection has held.
        self.unproven_since = Some(now);
        if self.cfg.reconnect.stable_after.is_zero() {
            self.on_stable();
        }
        self.restore_subscriptions(session_present, now);
        // Periodic requests: once right away so the status is fresh.
        for i in 0..self.periodic.len() {
            self.send_periodic(i, now);
        }
        self.flushed = 0;
        self.backlog = !self.outbox.is_empty();
        self.flush_needed = true;
        self.flush_outbox();
    }

    /// The connection held for `stable_after`: the outage is over.
    fn on_stable(&mut self) {
        let Some(connack) = self.unproven_since.take() else { return };
        let after_failure = std::mem::take(&mut self.outage_failed) || self.machine.in_recovery();
        self.machine.on_stable();
        self.last_error = None;
        // A first connect that had to go through recovery (started before the network, say) is a
        // recovery too; a first connect after a plain failed attempt or two is not.
        let downtime = self.down_since.take().map(|t| connack.saturating_duration_since(t));
        if let (Some(downtime), true) = (downtime, self.was_interrupted || after_failure) {
            self.emit(EventKind::Recovered { downtime, after_failure });
        }
    }

    fn restore_subscriptions(&mut self, session_present: bool, now: Instant) {
        let restore = self.session.on_connack(session_present, now);
        if let Some(c) = self.driver.client() {
            // UNSUBSCRIBE is idempotent: resend what may not have reached the kept session.
            for topic in restore.unsubscribe {
                let _ = c.try_unsubscribe(topic);
            }
        }
        let count = restore.subscribe.len();
        for (t, q) in restore.subscribe {
            self.send_subscribe(t, q);
        }
        if count > 0 || restore.kept > 0 {
            self.emit(EventKind::SubscriptionsRestored {
                count,
                skipped_because_session_present: session_present && restore.kept > 0,
            });
        }
    }

    fn send_subscribe(&mut self, topic: String, qos: u8) {
        let Some(c) = self.driver.client() else { return };
        match c.try_subscribe(topic.clone(), qos_of(qos)) {
            Ok(()) => self.session.sent_subscribe(topic),
            Err(e) => tracing::warn!(profile = %self.profile, %topic, error = %e, "subscribe not queued; retried on the next connect"),
        }
    }

    fn send_periodic(&mut self, i: usize, now: Instant) {
        let Some(p) = self.periodic.sent(i, now, rand::random::<f64>()) else {
            return;
        };
        let (topic, payload, qos) = (p.topic.clone(), p.payload.clone(), p.qos);
        if let Some(c) = self.driver.client() {
            if c.try_publish(topic, qos_of(qos), false, payload.into_bytes()).is_ok() {
                self.session.sent_publish(None);
            }
        }
    }

    /// Hand the outbox's unsent entries to the client, in order, as far as its channel takes them.
    fn flush_outbox(&mut self) {
        let limit = self.cfg.max_packet_size;
        let too_big: Vec<u64> = self
            .outbox
            .unsent()
            .filter(|e| publish_size(e.topic.len(), e.payload.len()) > limit)
            .map(|e| e.id)
            .collect();
        for id in too_big {
            // Queued before the limit was lowered: rumqttc would fail the connection on it.
            self.set_aside(id, format!("over the profile's max_packet_size of {limit} bytes"));
        }
        let Some(c) = self.driver.client() else { return };
        let mut sent = Vec::new();
        let mut full = false;
        for e in self.outbox.unsent() {
            match c.try_publish(e.topic.clone(), qos_of(e.qos), e.retain, e.payload.to_vec()) {
                Ok(()) => sent.push(e.id),
                Err(_) => {
                    full = true;
                    break;
                }
            }
        }
        for id in sent {
            self.outbox.mark_in_flight(id);
            self.session.sent_publish(Some(id));
        }
        self.flush_needed = full;
    }

    // ---- failures and decisions -------------------------------------------------------------

    async fn on_failure(&mut self, err: LinkError) {
        let now = Instant::now();
        if self.mode == Mode::Connected {
            self.rec.on_dropped(now, err.cause());
            // A connection that never proved stable did not end the outage it came out of.
            self.down_since.get_or_insert(now);
            self.was_interrupted = true;
            self.emit(EventKind::ConnectionInterrupted {
                error: err.to_string(),
                cause: err.cause(),
            });
        } else {
            self.emit(EventKind::AttemptFailed {
                error: err.to_string(),
                cause: err.cause(),
            });
            if self.down_since.is_none() {
                self.down_since = Some(now);
            }
        }
        if self.mode == Mode::Connected && self.unproven_since.is_some() && matches!(err, LinkError::Closed) {
            self.count_refusal();
        }
        // Whatever was on the wire is sent again after the next CONNACK.
        self.reset_link_tracking();
        let kind = err.failure_kind();
        self.last_error = Some(err.clone());
        let decision = self.machine.on_failure(kind, self.creds.can_refresh(), rand::random::<f64>());
        self.apply(decision, &err).await;
    }

    async fn apply(&mut self, d: Decision, err: &LinkError) {
        let now = Instant::now();
        let wall = |delay: Duration| Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        match d {
            Decision::Reconnect { attempt, delay } => {
                let max_attempts = self.cfg.reconnect.max_reconnect_attempts;
                // State first: whoever sees the event finds the state already matching it.
                self.set_state(LinkState::Reconnecting {
                    attempt,
                    max_attempts,
                    retry_at: Some(wall(delay)),
                });
                self.emit(EventKind::Reconnecting {
                    attempt,
                    max_attempts,
                    delay,
                });
                self.mode = Mode::Waiting {
                    at: now + delay,
                    recreate: false,
                    refresh: false,
                };
            }
            Decision::Recover {
                cycle,
                delay,
                recreate,
                refresh,
                reconnection_failed,
            } => {
                if let Some(attempts) = reconnection_failed {
                    self.outage_failed = true;
                    self.emit(EventKind::ReconnectionFailed { attempts });
                }
                let max_cycles = self.cfg.recovery.max_recovery_attempts;
                let strategy = self.cfg.recovery.strategy;
                // State first: whoever sees the event finds the state already matching it.
                self.set_state(LinkState::Recovering {
                    cycle,
                    max_cycles,
                    strategy,
                    retry_at: Some(wall(delay)),
                });
                self.emit(EventKind::RecoveryAttempt {
                    cycle,
                    max_cycles,
                    delay,
                    refresh,
                    strategy: strategy.as_str(),
                });
                self.mode = Mode::Waiting {
                    at: now + delay,
                    recreate,
                    refresh,
                };
            }
            Decision::GiveUp { reconnection_failed } => {
                if let Some(attempts) = reconnection_failed {
                    self.emit(EventKind::ReconnectionFailed { attempts });
                }
                let reason = format!(
                    "recovery gave up after {} cycles (last error: {err}); waiting for Retry now, a network change or a wake",
                    self.cfg.recovery.max_recovery_attempts
                );
                self.park_gave_up(reason);
            }
            Decision::RefreshAndRetry => {
                self.set_state(LinkState::Reconnecting {
                    attempt: 0,
                    max_attempts: self.cfg.reconnect.max_reconnect_attempts,
                    retry_at: None,
                });
                self.mode = Mode::Waiting {
                    at: now,
                    recreate: true,
                    refresh: true,
                };
            }
            Decision::AuthRejected => {
                self.outage_failed = true;
                let reason = err.to_string();
                self.set_state(LinkState::AuthRejected { reason: reason.clone() });
                self.emit(EventKind::AuthRejected { reason });
                self.drop_connection();
                self.mode = Mode::Parked(Park::AuthRejected);
            }
            Decision::Fatal => self.park_gave_up(format!("{err}; fix the profile, then Retry now")),
        }
    }

    fn park_gave_up(&mut self, reason: String) {
        self.outage_failed = true;
        self.set_state(LinkState::GaveUp { reason: reason.clone() });
        self.emit(EventKind::GaveUp { reason });
        self.drop_connection();
        self.mode = Mode::Parked(Park::GaveUp);
    }

    // ---- timers -----------------------------------------------------------------------------

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

    // ---- commands ---------------------------------------------------------------------------

    async fn on_command(&mut self, c: Command) {
        match c {
            Command::Subscribe(spec, reply) => {
                let (topic, qos) = (spec.topic.clone(), spec.qos);
                self.session.register(spec, Instant::now());
                if self.mode == Mode::Connected {
                    self.send_subscribe(topic, qos);
                }
                let _ = reply.send(());
            }
            Command::Unsubscribe(topic, reply) => {
                let existed = self.session.forget(&topic);
                if existed && self.mode == Mode::Connected {
                    if let Some(c) = self.driver.client() {
                        let _ = c.try_unsubscribe(topic);
                    }
                }
                let _ = reply.send(existed);
            }
            Command::Publish {
                topic,
                payload,
                qos,
                retain,
                reply,
            } => {
                let r = self.publish(topic, payload, qos, retain);
                let _ = reply.send(r);
            }
            Command::AddPeriodic(req) => {
                let i = self.periodic.add(req);
                if self.mode == Mode::Connected {
                    self.send_periodic(i, Instant::now());
                }
            }
            Command::Trigger(t) => self.on_trigger(t).await,
            Command::Pause => self.pause().await,
            Command::Resume => {
                if self.mode == Mode::Paused {
                    self.emit(EventKind::Resumed);
                    self.machine.on_trigger();
                    self.set_state(LinkState::Connecting);
                    self.attempt(true, false).await;
                }
            }
            Command::Diagnostics(reply) => {
                // While disconnected nothing is acknowledged, whatever a kept session remembers.
                let (registered, mut acked) = self.session.counts();
                if !self.driver.has_client() {
                    acked = 0;
                }
                let state = self.state_tx.borrow().name();
                let snap = self.rec.snapshot(Instant::now(), self.outbox.len(), state, (registered, acked));
                let _ = reply.send(snap);
            }
        }
    }

    fn publish(&mut self, topic: String, payload: Bytes, qos: u8, retain: bool) -> Result<PublishOutcome, PublishError> {
        // Exactly as rumqttc counts it: a PUBLISH past its limit would break the connection.
        if publish_size(topic.len(), payload.len()) > self.cfg.max_packet_size {
            return Err(PublishError::TooLarge {
                size: payload.len(),
                max: self.cfg.max_packet_size,
            });
        }
        let connected = self.mode == Mode::Connected;
        if connected && qos == 0 && !self.flush_needed {
            if let Some(c) = self.driver.client() {
                if c.try_publish(topic.clone(), QoS::AtMostOnce, retain, payload.to_vec()).is_ok() {
                    self.session.sent_publish(None);
                    return Ok(PublishOutcome::Sent);
                }
            }
        }
        // QoS ≥ 1 always goes through the outbox (persisted until acknowledged), and so does
        // anything published while offline.
        let pushed = match self.outbox.push(topic, payload, qos, retain) {
            Ok(p) => p,
            Err(e) => {
                if matches!(e, PublishError::OutboxFull(_)) {
                    self.rec.dropped += 1;
                    self.emit(EventKind::OutboxDropped {
                        count: 1,
                        reason: "refused_outbox_full",
                    });
                }
                return Err(e);
            }
        };
        if pushed.dropped > 0 {
            self.rec.dropped += pushed.dropped as u64;
            self.emit(EventKind::OutboxDropped {
                count: pushed.dropped,
                reason: "overflow_dropped_oldest",
            });
        }
        self.publish_outbox_len();
        if connected {
            self.flush_outbox();
            Ok(PublishOutcome::Sent)
        } else {
            self.flush_needed = true;
            self.backlog = true;
            let queued = self.outbox.len();
            self.emit(EventKind::OutboxQueued { count: queued });
            Ok(PublishOutcome::Queued { queued })
        }
    }

    async fn on_trigger(&mut self, t: Trigger) {
        if t == Trigger::CredentialsChanged {
            self.creds_changed = true;
        }
        let act = match (self.mode, t) {
            (Mode::Paused, _) | (Mode::Attempting, _) => false,
            // Asleep long enough, the broker has dropped us while the socket still looks fine.
            (Mode::Connected, Trigger::Woke) => {
                self.drop_connection();
                self.on_failure(LinkError::Network("the machine woke from sleep; reconnecting".into()))
                    .await;
                true
            }
            // Is our path still there? Answered within PROBE_WAIT, nothing happens.
            (Mode::Connected, Trigger::NetworkChanged) => {
                self.probe_path();
                false
            }
            (Mode::Connected, _) => false,
            // New credentials are what an auth refusal waits for; a network change is not.
            (Mode::Parked(park), Trigger::NetworkChanged | Trigger::Woke) => park != Park::AuthRejected,
            _ => true,
        };
        if !act {
            return;
        }
        self.emit(EventKind::Triggered { trigger: t.name() });
        self.machine.on_trigger();
        let recreate = matches!(t, Trigger::CredentialsChanged | Trigger::RetryNow) || !self.driver.has_client();
        self.set_state(LinkState::Reconnecting {
            attempt: 0,
            max_attempts: self.cfg.reconnect.max_reconnect_attempts,
            retry_at: None,
        });
        self.attempt(recreate, false).await;
    }

    /// One round trip to the broker that must answer within [`PROBE_WAIT`], or the ping deadline
    /// declares the link dead. An UNSUBSCRIBE of a filter we never subscribed to: every broker
    /// answers it (UNSUBACK) and nothing changes, and unlike PINGREQ rumqttc lets us send it.
    fn probe_path(&mut self) {
        let Some(c) = self.driver.client() else { return };
        let filter = format!("tether/probe/{}", self.cfg.client_id);
        if c.try_unsubscribe(filter).is_ok() {
            self.emit(EventKind::Triggered {
                trigger: Trigger::NetworkChanged.name(),
            });
            self.ping.on_probe(Instant::now(), PROBE_WAIT);
        }
    }

    // ---- stopping ---------------------------------------------------------------------------

    /// Send DISCONNECT and keep processing acknowledgements until it is written, bounded; then
    /// drop the connection.
    async fn disconnect_gracefully(&mut self) {
        self.cancel_fetch();
        if self.mode == Mode::Connected {
            // What the consumer has taken goes out before DISCONNECT (the same channel, in order).
            if let Some(t) = self.outlet.ready_ack() {
                self.on_acks(t);
            }
            if let Some(c) = self.driver.client() {
                let _ = c.try_disconnect();
            }
            let deadline = Instant::now() + DISCONNECT_WAIT;
            loop {
                tokio::select! {
                    r = self.driver.recv() => match r {
                        Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                        Ok(Event::Outgoing(o)) => self.on_outgoing(o),
                        Ok(Event::Incoming(Incoming::PubAck(a))) => self.on_acked(a.pkid),
                        Ok(_) => {}
                    },
                    _ = sleep_until(deadline) => break,
                }
            }
        }
        self.drop_connection();
        self.reset_link_tracking();
    }

    async fn pause(&mut self) {
        if self.mode == Mode::Paused {
            return;
        }
        if self.mode == Mode::Connected {
            self.rec.on_dropped(Instant::now(), "paused");
        }
        self.disconnect_gracefully().await;
        self.mode = Mode::Paused;
        self.down_since = None;
        self.set_state(LinkState::Paused);
        self.emit(EventKind::Paused);
    }

    async fn shutdown(&mut self) {
        self.disconnect_gracefully().await;
        self.driver.close();
        // Closed before `Stopped` is published: `LinkHandle::stop` returns on that state, and a
        // restart of the same profile opens this file next.
        self.outbox.close();
        self.set_state(LinkState::Stopped);
        self.emit(EventKind::Stopped);
    }
}

fn qos_of(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}
