//! Batching a link's state and events for the UI: at most one update per interval (100 ms by
//! default, ~10 a second) however fast messages arrive, with bounded memory: messages are folded
//! into per-topic figures (count, rate, last payload), other events are capped per batch.

use serde::Serialize;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;
use tether::event::{EventKind, LinkEvent};
use tether::state::LinkState;
use tokio::time::Instant;

/// Limits; the defaults keep a 5,000 msg/s stream cheap for the webview.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub interval: Duration,
    /// Non-message events kept per batch (the oldest are skipped and counted beyond this).
    pub max_events: usize,
    /// Topics tracked; the least recently updated one makes room for a new one.
    pub max_topics: usize,
    /// Bytes of a payload shown (the rest is cut, and the update says so).
    pub max_payload: usize,
    /// Bytes of one encoded batch (JSON), well under what the window's reader takes in one line;
    /// topics past it wait for the next batch.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(100),
            max_events: 200,
            max_topics: 1000,
            max_payload: 4096,
            max_bytes: 1 << 20,
        }
    }
}

/// Per-topic figures for the live-messages view.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct TopicUpdate {
    pub topic: String,
    pub count: u64,
    /// Messages per second over the last second or so.
    pub rate: f64,
    pub last_payload: String,
    pub truncated: bool,
}

/// One UI update.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Batch {
    /// The latest state, when it changed since the last batch.
    pub state: Option<LinkState>,
    pub events: Vec<LinkEvent>,
    /// Events dropped from this batch because there were more than `max_events`.
    pub skipped_events: usize,
    /// Topics that got messages since the last batch.
    pub topics: Vec<TopicUpdate>,
}

#[derive(Debug)]
struct TopicStats {
    count: u64,
    last_payload: String,
    truncated: bool,
    last_at: Instant,
    window_start: Instant,
    window_count: u64,
    rate: f64,
}

#[derive(Debug)]
pub struct Batcher {
    limits: Limits,
    last_flush: Option<Instant>,
    state: Option<LinkState>,
    events: VecDeque<LinkEvent>,
    skipped: usize,
    topics: HashMap<String, TopicStats>,
    dirty: BTreeSet<String>,
}

impl Batcher {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            last_flush: None,
            state: None,
            events: VecDeque::new(),
            skipped: 0,
            topics: HashMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    pub fn set_state(&mut self, s: LinkState) {
        self.state = Some(s);
    }

    pub fn push(&mut self, ev: LinkEvent, now: Instant) {
        let EventKind::Message { topic, payload, .. } = &ev.kind else {
            if self.events.len() == self.limits.max_events {
                self.events.pop_front();
                self.skipped += 1;
            }
            self.events.push_back(ev);
            return;
        };
        if !self.topics.contains_key(topic) && self.topics.len() >= self.limits.max_topics {
            if let Some(oldest) = self.topics.iter().min_by_key(|(_, s)| s.last_at).map(|(t, _)| t.clone()) {
                self.topics.remove(&oldest);
                self.dirty.remove(&oldest);
            }
        }
        let stats = self.topics.entry(topic.clone()).or_insert_with(|| TopicStats {
            count: 0,
            last_payload: String::new(),
            truncated: false,
            last_at: now,
            window_start: now,
            window_count: 0,
            rate: 0.0,
        });
        stats.count += 1;
        stats.window_count += 1;
        stats.last_at = now;
        // Rate over a window of about a second, up to the latest message; a window shorter than
        // a quarter second is too noisy to show, so the previous figure stays until then.
        let elapsed = now.duration_since(stats.window_start);
        if elapsed >= Duration::from_millis(250) {
            stats.rate = stats.window_count as f64 / elapsed.as_secs_f64();
        }
        if elapsed >= Duration::from_secs(1) {
            stats.window_start = now;
            stats.window_count = 0;
        }
        let cut = payload.len() > self.limits.max_payload;
        let shown = &payload[..payload.len().min(self.limits.max_payload)];
        stats.last_payload = String::from_utf8_lossy(shown).into_owned();
        stats.truncated = cut;
        self.dirty.insert(topic.clone());
    }

    /// The next batch, if the interval has passed and there is something to send.
    pub fn take(&mut self, now: Instant) -> Option<Batch> {
        if self.last_flush.is_some_and(|t| now.duration_since(t) < self.limits.interval) {
            return None;
        }
        if self.state.is_none() && self.events.is_empty() && self.dirty.is_empty() {
            return None;
        }
        self.last_flush = Some(now);
        let mut batch = Batch {
            state: self.state.take(),
            events: self.events.drain(..).collect(),
            skipped_events: std::mem::take(&mut self.skipped),
            topics: Vec::new(),
        };
        // Encoded as the window gets it: topics are added while the line stays within
        // `max_bytes`; the rest stay dirty and go in the next batch (at least one per batch).
        let mut used = serde_json::to_string(&batch).map_or(0, |j| j.len());
        while let Some(t) = self.dirty.first().cloned() {
            let Some(s) = self.topics.get(&t) else {
                self.dirty.remove(&t);
                continue;
            };
            let update = TopicUpdate {
                count: s.count,
                rate: s.rate,
                last_payload: s.last_payload.clone(),
                truncated: s.truncated,
                topic: t.clone(),
            };
            let len = serde_json::to_string(&update).map_or(0, |j| j.len()) + 1;
            if used + len > self.limits.max_bytes && !batch.topics.is_empty() {
                break;
            }
            used += len;
            self.dirty.remove(&t);
            batch.topics.push(update);
        }
        Some(batch)
    }

    /// Topics tracked now (bounded by `max_topics`).
    pub fn tracked_topics(&self) -> usize {
        self.topics.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::bytes::Bytes;

    fn msg(topic: &str, payload: &str) -> LinkEvent {
        LinkEvent::new(
            "p".into(),
            EventKind::Message {
                topic: topic.into(),
                payload: Bytes::from(payload.to_string()),
                qos: 0,
                retain: false,
            },
        )
    }

    #[test]
    fn a_flood_becomes_at_most_ten_updates_a_second_with_exact_counts() {
        let mut b = Batcher::new(Limits::default());
        let t0 = Instant::now();
        let mut batches = 0;
        let mut last_count = 0;
        // 5,000 messages a second for one second, one every 200 µs.
        for i in 0..5000u64 {
            let now = t0 + Duration::from_micros(200 * i);
            b.push(msg("t/a", &format!("{i}")), now);
            if let Some(batch) = b.take(now) {
                batches += 1;
                last_count = batch.topics[0].count;
            }
        }
        assert!(batches <= 11, "{batches} batches in one second");
        let final_batch = b.take(t0 + Duration::from_secs(2)).unwrap();
        let u = &final_batch.topics[0];
        assert_eq!(u.count, 5000);
        assert!(last_count < 5000);
        assert_eq!(u.last_payload, "4999");
        assert!((4000.0..=6000.0).contains(&u.rate), "rate {}", u.rate);
    }

    #[test]
    fn memory_is_bounded_by_topics_payload_size_and_event_count() {
        let limits = Limits {
            max_topics: 10,
            max_events: 5,
            max_payload: 8,
            ..Default::default()
        };
        let mut b = Batcher::new(limits);
        let t0 = Instant::now();
        for i in 0..100u64 {
            b.push(msg(&format!("t/{i}"), "0123456789"), t0 + Duration::from_millis(i));
        }
        assert_eq!(b.tracked_topics(), 10);
        for _ in 0..8 {
            b.push(LinkEvent::new("p".into(), EventKind::Paused), t0);
        }
        let batch = b.take(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(batch.topics.len(), 10);
        assert!(batch.topics.iter().all(|t| t.last_payload == "01234567" && t.truncated));
        assert_eq!((batch.events.len(), batch.skipped_events), (5, 3));
        // The newest topics survived.
        assert!(batch.topics.iter().any(|t| t.topic == "t/99"));
    }

    #[test]
    fn nothing_new_means_no_update() {
        let mut b = Batcher::new(Limits::default());
        let t0 = Instant::now();
        assert!(b.take(t0).is_none());
        b.set_state(LinkState::Paused);
        assert!(b.take(t0).is_some());
        assert!(b.take(t0 + Duration::from_secs(1)).is_none());
    }

    fn bytes(topic: &str, payload: &[u8]) -> LinkEvent {
        LinkEvent::new(
            "p".into(),
            EventKind::Message {
                topic: topic.into(),
                payload: Bytes::from(payload.to_vec()),
                qos: 0,
                retain: false,
            },
        )
    }

    #[test]
    fn a_full_batch_stays_within_its_byte_budget_and_the_rest_comes_in_the_next() {
        // Payloads that grow most when encoded: quotes (escaped) and control bytes (\u0001).
        for fill in [b'"', 0x01u8] {
            let limits = Limits::default();
            let mut b = Batcher::new(limits);
            let t0 = Instant::now();
            for i in 0..limits.max_topics {
                b.push(bytes(&format!("retained/{i}"), &vec![fill; limits.max_payload]), t0);
            }
            let mut seen = 0;
            let mut t = t0;
            for _ in 0..100 {
                let Some(batch) = b.take(t) else { break };
                let line = serde_json::to_string(&batch).unwrap();
                assert!(line.len() <= limits.max_bytes, "{} bytes over {}", line.len(), limits.max_bytes);
                seen += batch.topics.len();
                t += limits.interval;
            }
            assert_eq!(seen, limits.max_topics, "every topic is shown, over several batches");
        }
    }
}
