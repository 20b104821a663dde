//! The session bookkeeping, pure: no network, no clock of its own (the caller passes `now`).
//!
//! What rumqttc keeps in its `state.rs` for one connection, we keep for the link across
//! connections: the subscription registry and what the broker said of each (SUBACK), the
//! SUBSCRIBE and PUBLISH requests handed to the client until rumqttc numbers them, packet id →
//! outbox entry until the broker acknowledges, the UNSUBSCRIBEs a resumed session may not have
//! seen, and the outbox entry the broker keeps closing the connection on. Methods say what
//! happened; the supervisor does the sending and the telling.

use crate::config::Subscription;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// Connections the broker closed, each before it proved stable, with the same outbox entry the
/// oldest unacknowledged: past this the entry is what the broker refuses (over its packet limit,
/// an ACL it disconnects on), and it is set aside so the queue behind it flows.
pub(crate) const REFUSALS_BEFORE_SET_ASIDE: u32 = 3;

/// A registered subscription and what the broker said of it on this connection.
struct Sub {
    spec: Subscription,
    /// SUBACK accepted on the current session.
    active: bool,
    /// Last message matching it (for the stale-data watchdog).
    last_msg: Option<Instant>,
}

/// What to send after a CONNACK so the broker's session matches the registry.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Restore {
    /// SUBSCRIBEs to send (topic, QoS).
    pub(crate) subscribe: Vec<(String, u8)>,
    /// UNSUBSCRIBEs to send again (a resumed session may not have seen the first).
    pub(crate) unsubscribe: Vec<String>,
    /// Subscriptions the resumed session still holds.
    pub(crate) kept: usize,
}

/// What rumqttc numbering a PUBLISH means for the outbox.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// A QoS 0 outbox entry: done once written.
    Done(u64),
    /// Not an outbox entry, or one now waiting for its acknowledgement.
    Pending,
}

pub(crate) struct Session {
    subs: BTreeMap<String, Sub>,
    /// Topics unsubscribed since the broker last started a clean session.
    unsubscribed: BTreeSet<String>,
    /// Outbox ids of publishes handed to the client, in order, until rumqttc numbers them
    /// (`Outgoing::Publish(pkid)`); `None` for publishes not from the outbox.
    publish_fifo: VecDeque<Option<u64>>,
    /// Packet id → outbox id, until PUBACK (QoS 1) or PUBREC (QoS 2).
    in_flight: HashMap<u16, u64>,
    /// Topics of SUBSCRIBEs handed to the client, in order, until numbered.
    subscribe_fifo: VecDeque<String>,
    /// Packet id → topic, until SUBACK.
    sub_pkids: HashMap<u16, String>,
    /// The outbox entry in flight when the broker last closed an unproven connection, and how many
    /// such closes in a row it has been in flight for.
    refusals: Option<(u64, u32)>,
}

impl Session {
    pub(crate) fn new(subs: &[Subscription]) -> Self {
        Self {
            subs: subs
                .iter()
                .map(|s| {
                    let sub = Sub {
                        spec: s.clone(),
                        active: false,
                        last_msg: None,
                    };
                    (s.topic.clone(), sub)
                })
                .collect(),
            unsubscribed: BTreeSet::new(),
            publish_fifo: VecDeque::new(),
            in_flight: HashMap::new(),
            subscribe_fifo: VecDeque::new(),
            sub_pkids: HashMap::new(),
            refusals: None,
        }
    }

    // ---- the registry -----------------------------------------------------------------------

    /// Register (or replace) a subscription; its silence counts from `now`.
    pub(crate) fn register(&mut self, spec: Subscription, now: Instant) {
        self.unsubscribed.remove(&spec.topic);
        let sub = Sub {
            spec,
            active: false,
            last_msg: Some(now),
        };
        self.subs.insert(sub.spec.topic.clone(), sub);
    }

    /// Forget a subscription; whether it was registered. Its UNSUBSCRIBE is remembered.
    pub(crate) fn forget(&mut self, topic: &str) -> bool {
        let existed = self.subs.remove(topic).is_some();
        if existed {
            self.unsubscribed.insert(topic.to_string());
        }
        existed
    }

    /// (registered, accepted by the broker on this connection).
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.subs.len(), self.subs.values().filter(|s| s.active).count())
    }

    /// CONNACK: what to send so the broker's session matches the registry.
    pub(crate) fn on_connack(&mut self, session_present: bool, now: Instant) -> Restore {
        let mut r = Restore::default();
        if session_present {
            r.unsubscribe = self.unsubscribed.iter().cloned().collect();
        } else {
            for s in self.subs.values_mut() {
                s.active = false;
            }
            // A clean session forgot them anyway.
            self.unsubscribed.clear();
        }
        for s in self.subs.values_mut() {
            // The stale-data watchdog counts silence from this connect on.
            s.last_msg = Some(now);
            if s.active {
                r.kept += 1;
            } else {
                r.subscribe.push((s.spec.topic.clone(), s.spec.qos));
            }
        }
        r
    }

    /// The connection ended: nothing handed to it will be numbered or acknowledged now.
    pub(crate) fn reset(&mut self) {
        self.publish_fifo.clear();
        self.in_flight.clear();
        self.subscribe_fifo.clear();
        self.sub_pkids.clear();
    }

    // ---- requests handed to the client, and what rumqttc reports of them ---------------------

    /// A PUBLISH was handed to the client: an outbox entry's id, or `None`.
    pub(crate) fn sent_publish(&mut self, outbox_id: Option<u64>) {
        self.publish_fifo.push_back(outbox_id);
    }

    pub(crate) fn sent_subscribe(&mut self, topic: String) {
        self.subscribe_fifo.push_back(topic);
    }

    /// rumqttc wrote the oldest PUBLISH handed to it under `pkid` (0 for QoS 0).
    pub(crate) fn on_publish_written(&mut self, pkid: u16) -> Written {
        match self.publish_fifo.pop_front() {
            Some(Some(id)) if pkid == 0 => Written::Done(id),
            Some(Some(id)) => {
                self.in_flight.insert(pkid, id);
                Written::Pending
            }
            _ => Written::Pending,
        }
    }

    pub(crate) fn on_subscribe_written(&mut self, pkid: u16) {
        if let Some(topic) = self.subscribe_fifo.pop_front() {
            self.sub_pkids.insert(pkid, topic);
        }
    }

    /// PUBACK (or PUBREC): the outbox entry it acknowledges, if any.
    pub(crate) fn on_ack(&mut self, pkid: u16) -> Option<u64> {
        self.in_flight.remove(&pkid)
    }

    /// SUBACK: the topic it answers, if known. A refused one stays registered, for the next
    /// connect.
    pub(crate) fn on_suback(&mut self, pkid: u16, refused: bool) -> Option<String> {
        let topic = self.sub_pkids.remove(&pkid)?;
        if let Some(s) = self.subs.get_mut(&topic) {
            s.active = !refused;
        }
        Some(topic)
    }

    // ---- stale data -------------------------------------------------------------------------

    /// A message arrived on `topic`.
    pub(crate) fn touch(&mut self, topic: &str, now: Instant) {
        for s in self.subs.values_mut() {
            if s.spec.stale_after.is_some() && rumqttc::matches(topic, &s.spec.topic) {
                s.last_msg = Some(now);
            }
        }
    }

    /// Every subscription counts as heard from now (data waits unread behind a slow consumer).
    pub(crate) fn touch_all(&mut self, now: Instant) {
        for s in self.subs.values_mut() {
            s.last_msg = Some(now);
        }
    }

    /// The first subscription silent for longer than its `stale_after`, and for how long; its
    /// silence then counts again from `now`, so each silence is told once.
    pub(crate) fn stale(&mut self, now: Instant) -> Option<(String, Duration)> {
        self.subs.values_mut().find_map(|s| {
            let after = s.spec.stale_after?;
            let silent = now.saturating_duration_since(s.last_msg.unwrap_or(now));
            (silent > after).then(|| {
                s.last_msg = Some(now);
                (s.spec.topic.clone(), silent)
            })
        })
    }

    // ---- refusals ---------------------------------------------------------------------------

    /// The broker closed a connection that had not proved stable, with `oldest` the oldest
    /// unacknowledged outbox entry: the entry to set aside, once it has been the one in flight
    /// [`REFUSALS_BEFORE_SET_ASIDE`] times in a row.
    pub(crate) fn on_unproven_close(&mut self, oldest: Option<u64>) -> Option<u64> {
        let Some(id) = oldest else {
            self.refusals = None;
            return None;
        };
        let n = match self.refusals {
            Some((head, n)) if head == id => n + 1,
            _ => 1,
        };
        if n >= REFUSALS_BEFORE_SET_ASIDE {
            self.refusals = None;
            return Some(id);
        }
        self.refusals = Some((id, n));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(topic: &str, stale_after: Option<u64>) -> Subscription {
        Subscription {
            topic: topic.into(),
            qos: 1,
            stale_after: stale_after.map(Duration::from_secs),
        }
    }

    fn connected(s: &mut Session, present: bool) -> Restore {
        s.on_connack(present, Instant::now())
    }

    /// CONNACK, every SUBSCRIBE written and answered: `refused` names the ones the broker refused.
    fn subscribe_all(s: &mut Session, refused: &[&str]) {
        let r = connected(s, false);
        for (i, (t, _)) in r.subscribe.iter().enumerate() {
            s.sent_subscribe(t.clone());
            s.on_subscribe_written(i as u16 + 1);
        }
        for (i, (t, _)) in r.subscribe.iter().enumerate() {
            assert_eq!(
                s.on_suback(i as u16 + 1, refused.contains(&t.as_str())).as_deref(),
                Some(t.as_str())
            );
        }
    }

    #[test]
    fn a_refused_suback_keeps_the_subscription_for_the_next_connect() {
        let mut s = Session::new(&[sub("a", None), sub("b", None)]);
        subscribe_all(&mut s, &["b"]);
        assert_eq!(s.counts(), (2, 1));
        let r = connected(&mut s, true);
        assert_eq!(r.subscribe, vec![("b".to_string(), 1)], "only the refused one is sent again");
        assert_eq!(r.kept, 1);
    }

    #[test]
    fn a_clean_session_resubscribes_everything_and_forgets_the_unsubscribes() {
        let mut s = Session::new(&[sub("a", None), sub("b", None)]);
        subscribe_all(&mut s, &[]);
        assert!(s.forget("b"));
        let r = connected(&mut s, false);
        assert_eq!(r.subscribe, vec![("a".to_string(), 1)]);
        assert!(r.unsubscribe.is_empty());
        assert_eq!(r.kept, 0);
    }

    #[test]
    fn a_resumed_session_resends_every_unsubscribe_until_a_clean_one() {
        let mut s = Session::new(&[sub("a", None)]);
        subscribe_all(&mut s, &[]);
        s.forget("a");
        assert_eq!(connected(&mut s, true).unsubscribe, vec!["a".to_string()]);
        assert_eq!(connected(&mut s, true).unsubscribe, vec!["a".to_string()], "idempotent: sent again");
        connected(&mut s, false);
        assert!(connected(&mut s, true).unsubscribe.is_empty());
    }

    #[test]
    fn subscribing_again_cancels_a_remembered_unsubscribe() {
        let mut s = Session::new(&[sub("a", None)]);
        s.forget("a");
        s.register(sub("a", None), Instant::now());
        assert!(connected(&mut s, true).unsubscribe.is_empty());
        assert!(!s.forget("zzz"), "an unknown topic was not registered");
    }

    #[test]
    fn a_qos0_outbox_entry_is_removed_once_written() {
        let mut s = Session::new(&[]);
        s.sent_publish(Some(7));
        assert_eq!(s.on_publish_written(0), Written::Done(7));
    }

    #[test]
    fn a_qos1_outbox_entry_is_removed_only_on_its_puback() {
        let mut s = Session::new(&[]);
        s.sent_publish(Some(7));
        s.sent_publish(Some(8));
        assert_eq!(s.on_publish_written(11), Written::Pending);
        assert_eq!(s.on_publish_written(12), Written::Pending);
        assert_eq!(s.on_ack(12), Some(8));
        assert_eq!(s.on_ack(12), None, "acknowledged once");
        assert_eq!(s.on_ack(11), Some(7));
    }

    #[test]
    fn publishes_not_from_the_outbox_keep_the_numbering_in_step() {
        let mut s = Session::new(&[]);
        s.sent_publish(None); // a periodic request
        s.sent_publish(Some(3));
        assert_eq!(s.on_publish_written(1), Written::Pending);
        assert_eq!(s.on_publish_written(2), Written::Pending);
        assert_eq!(s.on_ack(1), None);
        assert_eq!(s.on_ack(2), Some(3));
    }

    #[test]
    fn after_a_reset_no_old_packet_id_maps_to_an_outbox_entry() {
        let mut s = Session::new(&[sub("a", None)]);
        s.sent_publish(Some(3));
        s.on_publish_written(5);
        s.sent_subscribe("a".into());
        s.reset();
        assert_eq!(s.on_ack(5), None);
        assert_eq!(s.on_suback(1, false), None);
        s.sent_publish(Some(4));
        assert_eq!(s.on_publish_written(0), Written::Done(4), "the next write is the next entry");
    }

    #[test]
    fn the_same_entry_in_flight_at_three_unproven_closes_is_set_aside() {
        let mut s = Session::new(&[]);
        assert_eq!(s.on_unproven_close(Some(9)), None);
        assert_eq!(s.on_unproven_close(Some(9)), None);
        assert_eq!(s.on_unproven_close(Some(9)), Some(9));
        assert_eq!(s.on_unproven_close(Some(9)), None, "the count starts over");
    }

    #[test]
    fn a_different_entry_or_none_in_flight_starts_the_count_again() {
        let mut s = Session::new(&[]);
        s.on_unproven_close(Some(9));
        s.on_unproven_close(Some(9));
        assert_eq!(s.on_unproven_close(Some(10)), None);
        s.on_unproven_close(None);
        s.on_unproven_close(Some(10));
        assert_eq!(s.on_unproven_close(Some(10)), None);
        assert_eq!(s.on_unproven_close(Some(10)), Some(10));
    }

    #[test]
    fn a_silent_subscription_is_stale_once_per_silence_and_a_message_resets_it() {
        let t0 = Instant::now();
        let mut s = Session::new(&[sub("dev/+/status", Some(10)), sub("other", None)]);
        s.on_connack(false, t0);
        assert_eq!(s.stale(t0 + Duration::from_secs(10)), None, "not past stale_after yet");
        s.touch("dev/1/status", t0 + Duration::from_secs(9));
        assert_eq!(s.stale(t0 + Duration::from_secs(15)), None, "the message counts");
        let at = t0 + Duration::from_secs(20);
        assert_eq!(s.stale(at), Some(("dev/+/status".into(), Duration::from_secs(11))));
        assert_eq!(s.stale(at + Duration::from_secs(1)), None, "told once");
    }
}
