//! A validated link configuration. Everything a user can get wrong is checked here, with an error
//! that names the setting, before any connection is tried.

use crate::error::ConfigError;
use crate::policy::{ReconnectPolicy, RecoveryPolicy};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the broker is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Mqtt,
    Mqtts,
    Ws,
    Wss,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss)
    }
}

/// A parsed broker URL: `mqtt://host:1883`, `mqtts://host`, `ws://host:8080/mqtt`, `wss://host/mqtt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// The HTTP path for WebSockets (`/mqtt` by default); unused for TCP.
    pub path: String,
    /// A user name given in the URL (`mqtt://alice@host`). Passwords in URLs are refused.
    pub username: Option<String>,
}

impl BrokerUrl {
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let bad = |m: String| ConfigError::new("url", m);
        // The input is not echoed back: a URL that fails to parse may still hold a password.
        let url = url::Url::parse(s.trim()).map_err(|e| bad(format!("not a URL ({e}); expected e.g. mqtt://host:1883")))?;
        let scheme = match url.scheme() {
            "mqtt" | "tcp" => Scheme::Mqtt,
            "mqtts" | "ssl" | "tls" => Scheme::Mqtts,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            other => return Err(bad(format!("unsupported scheme {other:?}: use mqtt://, mqtts://, ws:// or wss://"))),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("the URL has no host; expected e.g. mqtt://host:1883".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if url.password().is_some() {
            // A password in a URL ends up in shell history and process lists.
            return Err(bad(
                "a password in the URL would leak into shell history and process lists; store it with `tether creds set`".into(),
            ));
        }
        let username = Some(url.username()).filter(|u| !u.is_empty()).map(str::to_string);
        let path = match url.path() {
            "" | "/" if matches!(scheme, Scheme::Ws | Scheme::Wss) => "/mqtt".to_string(),
            p => p.to_string(),
        };
        Ok(Self {
            scheme,
            port: url.port().unwrap_or(scheme.default_port()),
            host,
            path,
            username,
        })
    }

    /// The URL as rumqttc wants it for WebSockets, and as we show it (never with a secret).
    pub fn display(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.scheme {
            Scheme::Ws | Scheme::Wss => format!("{scheme}://{host}:{}{}", self.port, self.path),
            _ => format!("{scheme}://{host}:{}", self.port),
        }
    }
}

/// TLS settings beyond the OS trust store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Extra CA certificates (PEM) trusted besides the OS store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM). A file path, never the key itself.
    pub client_key: Option<PathBuf>,
}

/// A subscription the link keeps alive across reconnects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub topic: String,
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// Opt-in stale-data watchdog: no message for this long while connected means a zombie link.
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<Duration>,
}

fn default_qos() -> u8 {
    1
}

/// A request published on every (re)connect and then every `interval` while connected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicRequest {
    pub topic: String,
    pub payload: String,
    #[serde(default)]
    pub qos: u8,
    #[serde(with = "crate::policy::secs_f64")]
    pub interval: Duration,
}

/// What to do with a new publish when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Drop the oldest queued message (an `outbox_dropped` event says so).
    #[default]
    DropOldest,
    /// Refuse the new publish with an error.
    RefuseNew,
}

/// The outbox of publishes made while offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    pub max_messages: usize,
    /// Topic and payload bytes the outbox may hold (it keeps them in memory as well as on
    /// disk); the overflow policy applies past this as past `max_messages`.
    pub max_bytes: usize,
    #[serde(with = "crate::policy::secs_f64")]
    pub max_age: Duration,
    pub overflow: Overflow,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_messages: 1000,
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(300),
            overflow: Overflow::DropOldest,
        }
    }
}

/// Everything one link needs, validated.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The profile id, carried by every event.
    pub profile_id: String,
    pub broker: BrokerUrl,
    /// Stable per profile and install, so a persistent session can resume.
    pub client_id: String,
    /// Off by default: the broker keeps our subscriptions and QoS 1 messages while we are away.
    pub clean_session: bool,
    pub keepalive: Duration,
    /// How long one connect (TCP + TLS + CONNACK) may take.
    pub connect_timeout: Duration,
    /// Raised from rumqttc's 10 KiB default: device status payloads are often larger.
    pub max_packet_size: usize,
    pub tls: TlsConfig,
    pub reconnect: ReconnectPolicy,
    pub recovery: RecoveryPolicy,
    pub outbox: OutboxConfig,
    /// Where the outbox persists (a file); `None` keeps it in memory for this run only.
    pub outbox_path: Option<PathBuf>,
    pub subscriptions: Vec<Subscription>,
    pub periodic: Vec<PeriodicRequest>,
    /// Rewrites the WebSocket upgrade of every connect attempt, for a broker that wants a fresh
    /// signature per connection (AWS IoT's SigV4-presigned URL); `None` for every other broker.
    pub upgrade: Option<Arc<dyn UpgradeSigner>>,
    /// The broker closes the older connection when a client id connects again (AWS IoT): a run
    /// of such closes means another client uses this id, and the link stops instead of fighting.
    pub exclusive_client_id: bool,
    /// Sent (QoS 0, never queued) right before the DISCONNECT of a graceful stop or pause, when
    /// connected: a Navien client ends its session with each device so (`st/end`). A replay on a
    /// later connection would end that one, so these never enter the outbox.
    pub farewell: Vec<(String, String)>,
}

/// Signs (or otherwise rewrites) the WebSocket upgrade request of one connect attempt. Called by
/// the transport before every attempt, reconnects included, so a signature is never reused.
pub trait UpgradeSigner: Send + Sync + std::fmt::Debug {
    /// The request to send instead of `req` (same host and path; the query and headers may change).
    fn sign(&self, req: http::Request<()>) -> crate::credentials::BoxFuture<'static, http::Request<()>>;
}

impl LinkConfig {
    /// A configuration with the design's defaults for `url`.
    pub fn new(profile_id: impl Into<String>, url: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            profile_id: profile_id.into(),
            broker: BrokerUrl::parse(url)?,
            client_id: generate_client_id(),
            clean_session: false,
            keepalive: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_packet_size: 1024 * 1024,
            tls: TlsConfig::default(),
            reconnect: ReconnectPolicy::default(),
            recovery: RecoveryPolicy::default(),
            outbox: OutboxConfig::default(),
            outbox_path: None,
            subscriptions: Vec::new(),
            periodic: Vec::new(),
            upgrade: None,
            exclusive_client_id: false,
            farewell: Vec::new(),
        })
    }

    /// Check everything that can be checked without a network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_client_id(&self.client_id)?;
        if self.upgrade.is_some() && !matches!(self.broker.scheme, Scheme::Ws | Scheme::Wss) {
            return Err(ConfigError::new(
                "url",
                "this kind signs each WebSocket upgrade: it needs a ws:// or wss:// URL",
            ));
        }
        if self.keepalive < Duration::from_secs(1) || self.keepalive > Duration::from_secs(65535) {
            return Err(ConfigError::new(
                "keepalive",
                "must be between 1 and 65535 seconds (the MQTT limit)",
            ));
        }
        let durations = [
            ("connect_timeout", self.connect_timeout),
            ("reconnect.initial_reconnect_delay", self.reconnect.initial_reconnect_delay),
            ("reconnect.max_reconnect_delay", self.reconnect.max_reconnect_delay),
            ("reconnect.stable_after", self.reconnect.stable_after),
            ("recovery.initial_recovery_delay", self.recovery.initial_recovery_delay),
            ("recovery.max_recovery_delay", self.recovery.max_recovery_delay),
            ("outbox.max_age", self.outbox.max_age),
        ];
        for (field, d) in durations {
            if d > MAX_SETTING {
                return Err(ConfigError::new(field, "must be at most 30 days"));
            }
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return Err(ConfigError::new("connect_timeout", "must be at least 1 second"));
        }
        if self.max_packet_size < 1024 || self.max_packet_size > MAX_PACKET {
            return Err(ConfigError::new(
                "max_packet_size",
                format!("must be between 1024 bytes and {MAX_PACKET} bytes (the MQTT limit)"),
            ));
        }
        let r = &self.reconnect;
        if !(r.reconnect_backoff_multiplier >= 1.0 && r.reconnect_backoff_multiplier.is_finite()) {
            return Err(ConfigError::new("reconnect.reconnect_backoff_multiplier", "must be a number ≥ 1"));
        }
        if r.max_reconnect_delay < r.initial_reconnect_delay {
            return Err(ConfigError::new(
                "reconnect.max_reconnect_delay",
                "must not be below initial_reconnect_delay",
            ));
        }
        let c = &self.recovery;
        if !(c.recovery_backoff_multiplier >= 1.0 && c.recovery_backoff_multiplier.is_finite()) {
            return Err(ConfigError::new("recovery.recovery_backoff_multiplier", "must be a number ≥ 1"));
        }
        if c.max_recovery_delay < c.initial_recovery_delay {
            return Err(ConfigError::new(
                "recovery.max_recovery_delay",
                "must not be below initial_recovery_delay",
            ));
        }
        if self.outbox.max_messages == 0 {
            return Err(ConfigError::new("outbox.max_messages", "must be at least 1"));
        }
        if self.outbox.max_bytes == 0 || self.outbox.max_bytes > MAX_OUTBOX_BYTES {
            return Err(ConfigError::new(
                "outbox.max_bytes",
                format!("must be between 1 and {MAX_OUTBOX_BYTES} bytes (the outbox is held in memory too)"),
            ));
        }
        for (i, s) in self.subscriptions.iter().enumerate() {
            validate_filter(&s.topic).map_err(|m| ConfigError::new(format!("subscriptions[{i}].topic"), m))?;
            if s.qos > 1 {
                return Err(ConfigError::new(format!("subscriptions[{i}].qos"), QOS_ERROR));
            }
            // Shorter than the watchdog's 1 s tick, every tick would call the link stale.
            if s.stale_after.is_some_and(|d| d < Duration::from_secs(1) || d > MAX_SETTING) {
                return Err(ConfigError::new(
                    format!("subscriptions[{i}].stale_after"),
                    "must be between 1 second and 30 days",
                ));
            }
        }
        for (i, p) in self.periodic.iter().enumerate() {
            validate_topic(&p.topic).map_err(|m| ConfigError::new(format!("periodic[{i}].topic"), m))?;
            if p.interval < Duration::from_secs(1) || p.interval > MAX_SETTING {
                return Err(ConfigError::new(
                    format!("periodic[{i}].interval"),
                    "must be between 1 second and 30 days",
                ));
            }
            if p.qos > 1 {
                return Err(ConfigError::new(format!("periodic[{i}].qos"), QOS_ERROR));
            }
        }
        if self.tls.client_cert.is_some() != self.tls.client_key.is_some() {
            return Err(ConfigError::new("tls", "client_cert and client_key go together"));
        }
        Ok(())
    }
}

/// Why QoS 2 is refused: rumqttc drops a QoS 2 handshake's state on reconnect (an incoming PUBREL
/// then breaks the link again and again), and the outbox re-sends unacknowledged messages, which is
/// at least once, not exactly once.
const QOS_ERROR: &str = "must be 0 or 1 (QoS 2 is not supported: across a reconnect Tether can only promise at least once)";

/// The most an outbox may hold in bytes: its entries are kept in memory too.
pub const MAX_OUTBOX_BYTES: usize = if (usize::MAX as u64) < (4u64 << 30) {
    usize::MAX
} else {
    (4u64 << 30) as usize
};

/// The longest duration a setting accepts: beyond this a number is a typo, and `Instant`
/// arithmetic would overflow.
pub const MAX_SETTING: Duration = Duration::from_secs(30 * 24 * 3600);
/// MQTT's largest packet: a remaining length of at most 268,435,455 bytes, plus its header.
pub const MAX_PACKET: usize = 268_435_455 + 5;

/// `tether-` and 8 hex digits: stable once saved with a profile.
pub fn generate_client_id() -> String {
    format!("tether-{:08x}", rand::random::<u32>())
}

pub fn validate_client_id(id: &str) -> Result<(), ConfigError> {
    // MQTT 3.1.1 guarantees 1-23 chars of [0-9a-zA-Z]; brokers accept more, so only refuse what
    // cannot be sent at all.
    if id.is_empty() || id.len() > 65535 || id.chars().any(char::is_control) {
        return Err(ConfigError::new(
            "client_id",
            format!("{id:?} is not a usable client id (non-empty, no control characters)"),
        ));
    }
    Ok(())
}

/// A topic filter for SUBSCRIBE: `#` only last and alone in its level, `+` alone in its level.
pub fn validate_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() || filter.len() > 65535 || filter.contains('\0') || !rumqttc::valid_filter(filter) {
        return Err(format!(
            "{filter:?} is not a valid topic filter: '#' must be last and alone in its level, '+' alone in its level"
        ));
    }
    for level in filter.split('/') {
        if level.len() > 1 && (level.contains('+') || level.contains('#')) {
            return Err(format!(
                "{filter:?} is not a valid topic filter: wildcard inside the level {level:?}"
            ));
        }
    }
    Ok(())
}

/// A topic name for PUBLISH: no wildcards.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 65535 || topic.contains('\0') || !rumqttc::valid_topic(topic) {
        return Err(format!("{topic:?} is not a valid topic name: non-empty, without '+' or '#'"));
    }
    Ok(())
}

mod opt_secs {
    use serde::{Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        crate::policy::secs_f64::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_every_scheme_parse_with_default_ports() {
        let u = BrokerUrl::parse("mqtt://127.0.0.1").unwrap();
        assert_eq!((u.scheme, u.port), (Scheme::Mqtt, 1883));
        let u = BrokerUrl::parse("mqtts://broker.example").unwrap();
        assert_eq!((u.scheme, u.port), (Scheme::Mqtts, 8883));
        let u = BrokerUrl::parse("ws://localhost:8080").unwrap();
        assert_eq!((u.scheme, u.port, u.path.as_str()), (Scheme::Ws, 8080, "/mqtt"));
        let u = BrokerUrl::parse("wss://a.iot.example/mqtt").unwrap();
        assert_eq!(u.display(), "wss://a.iot.example:443/mqtt");
        let u = BrokerUrl::parse("mqtt://[::1]:1884").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1884));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let e = BrokerUrl::parse("http://x").unwrap_err();
        assert_eq!(e.field, "url");
        assert!(e.message.contains("unsupported scheme"), "{e}");
        assert!(BrokerUrl::parse("localhost:1883").is_err());
        let e = BrokerUrl::parse("mqtt://u:hunter2@host").unwrap_err();
        assert!(e.message.contains("password"), "{e}");
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn filters_and_topics_are_validated() {
        assert!(validate_filter("a/+/c/#").is_ok());
        assert!(validate_filter("#").is_ok());
        assert!(validate_filter("a/#/c").is_err());
        assert!(validate_filter("a/b#").is_err());
        assert!(validate_filter("a+/b").is_err());
        assert!(validate_filter("").is_err());
        assert!(validate_topic("a/b").is_ok());
        assert!(validate_topic("a/+").is_err());
    }

    #[test]
    fn client_ids_are_stable_shape() {
        let id = generate_client_id();
        assert!(id.starts_with("tether-") && id.len() == 15, "{id}");
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = LinkConfig::new("p", "mqtt://h").unwrap();
        c.subscriptions.push(Subscription {
            topic: "ok/#".into(),
            qos: 1,
            stale_after: None,
        });
        c.subscriptions.push(Subscription {
            topic: "bad/#/x".into(),
            qos: 1,
            stale_after: None,
        });
        assert_eq!(c.validate().unwrap_err().field, "subscriptions[1].topic");
        let mut c = LinkConfig::new("p", "mqtt://h").unwrap();
        c.reconnect.reconnect_backoff_multiplier = 0.5;
        assert_eq!(c.validate().unwrap_err().field, "reconnect.reconnect_backoff_multiplier");
    }

    #[test]
    fn a_stale_watchdog_shorter_than_its_tick_and_a_packet_limit_past_mqtts_are_refused() {
        let mut c = LinkConfig::new("p", "mqtt://h").unwrap();
        c.subscriptions.push(Subscription {
            topic: "t".into(),
            qos: 1,
            stale_after: Some(Duration::from_millis(1)),
        });
        assert_eq!(c.validate().unwrap_err().field, "subscriptions[0].stale_after");
        c.subscriptions[0].stale_after = Some(Duration::from_secs(1));
        assert!(c.validate().is_ok());
        c.max_packet_size = usize::MAX;
        assert_eq!(c.validate().unwrap_err().field, "max_packet_size");
        c.max_packet_size = MAX_PACKET;
        assert!(c.validate().is_ok());
        c.reconnect.stable_after = MAX_SETTING + Duration::from_secs(1);
        assert_eq!(c.validate().unwrap_err().field, "reconnect.stable_after");
    }
}
