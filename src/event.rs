//! What happened on a link. Published through a `broadcast` channel; every event carries a
//! timestamp and the profile id. Nothing is dropped or expired without an event.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use std::sync::Arc;
use std::time::Duration;

/// One event of one link.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LinkEvent {
    /// When it happened (RFC 3339, milliseconds, UTC).
    #[serde(serialize_with = "rfc3339_ms")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub ts: DateTime<Utc>,
    /// The profile (link) it happened on.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub profile: Arc<str>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl LinkEvent {
    pub fn new(profile: Arc<str>, kind: EventKind) -> Self {
        Self {
            ts: Utc::now(),
            profile,
            kind,
        }
    }

    /// One JSON object, as the CLI prints with `--json`.
    /// One JSON object. A message whose payload is not UTF-8 also carries it exactly, in
    /// `payload_b64` (standard base64): `payload` is text, with such bytes replaced.
    pub fn to_json(&self) -> String {
        // Serialising plain data to a String cannot fail; fall back to a marker rather than panic.
        let fallback = |e: serde_json::Error| format!("{{\"event\":\"serialize_error\",\"error\":{:?}}}", e.to_string());
        match &self.kind {
            EventKind::Message { payload, .. } if std::str::from_utf8(payload).is_err() => {
                use base64::Engine;
                let mut v = match serde_json::to_value(self) {
                    Ok(v) => v,
                    Err(e) => return fallback(e),
                };
                if let Some(m) = v.as_object_mut() {
                    m.insert(
                        "payload_b64".into(),
                        base64::engine::general_purpose::STANDARD.encode(payload).into(),
                    );
                }
                v.to_string()
            }
            _ => serde_json::to_string(self).unwrap_or_else(fallback),
        }
    }
}

/// The design's events. Durations are in milliseconds (`*_ms`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Connected {
        session_present: bool,
    },
    ConnectionInterrupted {
        error: String,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        cause: &'static str,
    },
    /// A connection attempt failed (tier 1 or tier 2); says why.
    AttemptFailed {
        error: String,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        cause: &'static str,
    },
    Reconnecting {
        attempt: u32,
        max_attempts: u32,
        #[serde(rename = "delay_ms", serialize_with = "millis")]
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        delay: Duration,
    },
    ReconnectionFailed {
        attempts: u32,
    },
    RecoveryAttempt {
        cycle: u32,
        max_cycles: u32,
        #[serde(rename = "delay_ms", serialize_with = "millis")]
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        delay: Duration,
        refresh: bool,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        strategy: &'static str,
    },
    Recovered {
        #[serde(rename = "downtime_ms", serialize_with = "millis")]
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        downtime: Duration,
        /// Whether tier 1 had been exhausted (a "real" failure, worth a notification).
        after_failure: bool,
    },
    GaveUp {
        reason: String,
    },
    AuthRejected {
        reason: String,
    },
    TokenRefreshed,
    SubscriptionsRestored {
        count: usize,
        skipped_because_session_present: bool,
    },
    SubscribeFailed {
        topic: String,
        reason: String,
    },
    Message {
        topic: String,
        #[serde(serialize_with = "payload_text")]
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        payload: Bytes,
        qos: u8,
        retain: bool,
    },
    /// A message over the profile's `max_packet_size`, skipped (acknowledged, not delivered).
    MessageTooLarge {
        topic: String,
        size: usize,
        limit: usize,
    },
    OutboxQueued {
        count: usize,
    },
    OutboxFlushed {
        count: usize,
    },
    OutboxExpired {
        count: usize,
    },
    OutboxDropped {
        count: usize,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        reason: &'static str,
    },
    /// A queued publish set aside so the queue behind it flows: the broker closed the connection
    /// each time it was sent, or it is over the profile's `max_packet_size` (lowered since it was
    /// queued). It is not sent.
    OutboxRefused {
        topic: String,
        size: usize,
        reason: String,
    },
    /// The outbox file could not be read at start: moved to `path` (kept for the user) and a
    /// fresh outbox started, so the profile runs. What it held is not sent.
    OutboxSetAside {
        path: String,
        reason: String,
    },
    Stale {
        topic: String,
        #[serde(rename = "silent_for_ms", serialize_with = "millis")]
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        silent_for: Duration,
    },
    /// A triggered attempt (Retry now, network back, wake) beat the backoff timer.
    Triggered {
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        trigger: &'static str,
    },
    Paused,
    Resumed,
    Stopped,
}

impl EventKind {
    /// The event's name as in the design and the JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Connected { .. } => "connected",
            EventKind::ConnectionInterrupted { .. } => "connection_interrupted",
            EventKind::AttemptFailed { .. } => "attempt_failed",
            EventKind::Reconnecting { .. } => "reconnecting",
            EventKind::ReconnectionFailed { .. } => "reconnection_failed",
            EventKind::RecoveryAttempt { .. } => "recovery_attempt",
            EventKind::Recovered { .. } => "recovered",
            EventKind::GaveUp { .. } => "gave_up",
            EventKind::AuthRejected { .. } => "auth_rejected",
            EventKind::TokenRefreshed => "token_refreshed",
            EventKind::SubscriptionsRestored { .. } => "subscriptions_restored",
            EventKind::SubscribeFailed { .. } => "subscribe_failed",
            EventKind::Message { .. } => "message",
            EventKind::MessageTooLarge { .. } => "message_too_large",
            EventKind::OutboxQueued { .. } => "outbox_queued",
            EventKind::OutboxFlushed { .. } => "outbox_flushed",
            EventKind::OutboxExpired { .. } => "outbox_expired",
            EventKind::OutboxDropped { .. } => "outbox_dropped",
            EventKind::OutboxRefused { .. } => "outbox_refused",
            EventKind::OutboxSetAside { .. } => "outbox_set_aside",
            EventKind::Stale { .. } => "stale",
            EventKind::Triggered { .. } => "triggered",
            EventKind::Paused => "paused",
            EventKind::Resumed => "resumed",
            EventKind::Stopped => "stopped",
        }
    }
}

fn rfc3339_ms<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
}

/// Payloads are shown as text; bytes that are not UTF-8 are replaced (the count stays exact).
fn payload_text<S: Serializer>(p: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_payload_is_carried_exactly_in_payload_b64() {
        let msg = |p: &'static [u8]| {
            LinkEvent::new(
                "home".into(),
                EventKind::Message {
                    topic: "t".into(),
                    payload: Bytes::from_static(p),
                    qos: 1,
                    retain: false,
                },
            )
        };
        let v: serde_json::Value = serde_json::from_str(&msg(b"\xff\x00ok").to_json()).unwrap();
        assert_eq!(v["payload_b64"], "/wBvaw==");
        let v: serde_json::Value = serde_json::from_str(&msg(b"text").to_json()).unwrap();
        assert_eq!(v["payload"], "text");
        assert!(v.get("payload_b64").is_none(), "text stays as it was: {v}");
    }

    #[test]
    fn json_has_ts_with_milliseconds_and_the_event_name() {
        let ev = LinkEvent::new(
            "home".into(),
            EventKind::Reconnecting {
                attempt: 2,
                max_attempts: 10,
                delay: Duration::from_millis(1500),
            },
        );
        let v: serde_json::Value = serde_json::from_str(&ev.to_json()).unwrap();
        assert_eq!(v["event"], "reconnecting");
        assert_eq!(v["delay_ms"], 1500);
        assert_eq!(v["profile"], "home");
        let ts = v["ts"].as_str().unwrap();
        assert!(DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len(), "{ts}");
    }

    #[test]
    fn names_match_the_serialised_tag() {
        let ev = LinkEvent::new(
            "p".into(),
            EventKind::OutboxDropped {
                count: 3,
                reason: "overflow",
            },
        );
        let v: serde_json::Value = serde_json::from_str(&ev.to_json()).unwrap();
        assert_eq!(v["event"], ev.kind.name());
    }
}
