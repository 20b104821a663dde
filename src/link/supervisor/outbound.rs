//! What goes to the broker and what it acknowledges: publishes through the outbox, subscriptions
//! restored after CONNACK, periodic requests; the session bookkeeping kept in step with rumqttc.

use super::*;

impl Supervisor {
    pub(super) fn publish(&mut self, topic: String, payload: Bytes, qos: u8, retain: bool) -> Result<PublishOutcome, PublishError> {
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
                if matches!(e, PublishError::OutboxFull(_) | PublishError::OutboxBytesFull(_)) {
                    self.rec.dropped += 1;
                    if let Some(k) = self.coalesce.dropped(1, "refused_outbox_full", Instant::now()) {
                        self.emit(k);
                    }
                }
                return Err(e);
            }
        };
        if pushed.dropped > 0 {
            self.rec.dropped += pushed.dropped as u64;
            if let Some(k) = self.coalesce.dropped(pushed.dropped, "overflow_dropped_oldest", Instant::now()) {
                self.emit(k);
            }
        }
        self.publish_outbox_len();
        if connected {
            self.flush_outbox();
            Ok(PublishOutcome::Sent)
        } else {
            self.flush_needed = true;
            self.backlog = true;
            let queued = self.outbox.len();
            if let Some(k) = self.coalesce.queued(queued, Instant::now()) {
                self.emit(k);
            }
            Ok(PublishOutcome::Queued { queued })
        }
    }

    /// Hand the outbox's unsent entries to the client, in order, as far as its channel takes them.
    pub(super) fn flush_outbox(&mut self) {
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

    pub(super) fn on_outgoing(&mut self, o: Outgoing) {
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

    pub(super) fn on_acked(&mut self, pkid: u16) {
        if let Some(id) = self.session.on_ack(pkid) {
            if self.outbox.remove(id) {
                self.after_outbox_removal();
            }
        }
    }

    /// The broker closed an unproven connection: if the same outbox entry was in flight each of
    /// the last few times, it is the cause, and it is set aside.
    pub(super) fn count_refusal(&mut self) {
        let oldest = self.outbox.oldest_in_flight().map(|e| e.id);
        if let Some(id) = self.session.on_unproven_close(oldest) {
            let n = crate::link::session::REFUSALS_BEFORE_SET_ASIDE;
            self.set_aside(id, format!("the broker closed the connection each of the {n} times it was sent"));
        }
    }

    /// Take one entry out of the outbox, with an event: never silently.
    pub(super) fn set_aside(&mut self, id: u64, reason: String) {
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

    pub(super) fn after_outbox_removal(&mut self) {
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

    pub(super) fn restore_subscriptions(&mut self, session_present: bool, now: Instant) {
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

    pub(super) fn send_subscribe(&mut self, topic: String, qos: u8) {
        let Some(c) = self.driver.client() else { return };
        match c.try_subscribe(topic.clone(), qos_of(qos)) {
            Ok(()) => self.session.sent_subscribe(topic),
            Err(e) => tracing::warn!(profile = %self.profile, %topic, error = %e, "subscribe not queued; retried on the next connect"),
        }
    }

    pub(super) fn send_periodic(&mut self, i: usize, now: Instant) {
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

    /// Tell the coalesced outbox events that are due (all of them with `force`).
    pub(super) fn tell_coalesced(&mut self, now: Instant, force: bool) {
        for k in self.coalesce.due(now, force) {
            self.emit(k);
        }
    }
}
