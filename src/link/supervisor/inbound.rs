//! What the broker sends: poll results (CONNACK, messages, acknowledgements, the connection
//! ending) and the link proving stable.

use super::*;

impl Supervisor {
    pub(super) async fn on_polled(&mut self, r: Result<Event, ConnectionError>) {
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

    pub(super) fn on_incoming(&mut self, p: Incoming) {
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

    pub(super) fn on_connected(&mut self, session_present: bool) {
        let now = Instant::now();
        // What was queued or dropped while away is told before the connect it precedes.
        self.tell_coalesced(now, true);
        self.mode = Mode::Connected;
        self.machine.on_connected();
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
    pub(super) fn on_stable(&mut self) {
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

    // ---- timers -----------------------------------------------------------------------------
}
