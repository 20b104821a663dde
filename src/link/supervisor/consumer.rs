//! The supervisor's side of at least once to the consumer: every event to the observers and the
//! consumer, and the consumer's acknowledgements to rumqttc, in order, tied to their connection.

use super::*;

/// Payload bytes the event broadcast may hold for its slowest observer.
const OBSERVER_BUDGET: usize = 64 << 20;

impl Supervisor {
    /// To the observers (who may skip) and to the consumer (who acknowledges `token`).
    pub(super) fn deliver(&mut self, kind: EventKind, token: Option<AckToken>) {
        let ev = LinkEvent::new(self.profile.clone(), kind);
        if !self.outlet.has_consumer() {
            self.broadcast_event(ev);
            if let Some(t) = token {
                self.send_ack(t);
            }
            return;
        }
        if self.events.receiver_count() > 0 {
            self.broadcast_event(ev.clone());
        }
        match self.outlet.offer(ev, token) {
            Offer::AckNow(t) => self.send_ack(t),
            Offer::Taken | Offer::Dropped => {}
        }
    }

    /// To the broadcast, within [`OBSERVER_BUDGET`] bytes of payloads held for the slowest
    /// observer: past it a message is skipped for the observers (they may skip; the consumer,
    /// if any, still gets it), and the skips are logged once they read again.
    fn broadcast_event(&mut self, ev: LinkEvent) {
        let size = match &ev.kind {
            EventKind::Message { topic, payload, .. } => topic.len() + payload.len(),
            _ => 0,
        };
        self.pinned.settle(self.events.len());
        if let Some(n) = self.pinned.take_report(OBSERVER_BUDGET) {
            tracing::warn!(profile = %self.profile, skipped = n, budget = OBSERVER_BUDGET, "an event observer fell behind by more than the budget: messages were skipped for the observers");
        }
        if !self.pinned.admit(size, OBSERVER_BUDGET) {
            return;
        }
        // No receiver is fine: nobody is listening right now (and nothing is held).
        if self.events.send(ev).is_ok() {
            self.pinned.sent(size);
        }
    }

    /// Acknowledgements from the consumer: this one and whatever else is ready.
    pub(super) fn on_acks(&mut self, first: AckToken) {
        self.unsent_acks.push_back(first);
        while self.unsent_acks.len() < 4096 {
            match self.outlet.ready_ack() {
                Some(t) => self.unsent_acks.push_back(t),
                None => break,
            }
        }
        self.flush_acks();
    }

    pub(super) fn send_ack(&mut self, t: AckToken) {
        self.unsent_acks.push_back(t);
        self.flush_acks();
    }

    /// Hand acknowledgements to rumqttc, in order, as far as its channel takes them. One for an
    /// earlier connection is void: the broker sends that message again when the session resumes.
    pub(super) fn flush_acks(&mut self) {
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
}
