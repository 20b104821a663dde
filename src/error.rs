//! Errors per layer. The supervisor's whole job depends on telling fatal errors from retryable
//! ones, so every link error answers [`LinkError::is_retryable`].

use std::time::Duration;

/// How a failure should be treated. Decided in one place, [`LinkError::failure_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// I/O, DNS, timeouts, broker unavailable: retry with backoff.
    Retryable,
    /// Retry, but at the long delay from the first failure: the same answer is likely for a
    /// while (a certificate that does not validate yet).
    RetryLong,
    /// Credentials refused: refresh once where the source can, else stop and wait for the user.
    Auth,
    /// Invalid configuration: no blind retry.
    Fatal,
}

/// Why a connection attempt failed or an established link dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// CONNACK 4 or 5: the broker refused the username/password or the client is not authorised.
    #[error("the broker refused the credentials: {0}")]
    AuthRefused(String),
    /// Something in the configuration cannot work however often we retry (bad client id,
    /// protocol refused, a missing CA file).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The broker's TLS certificate did not validate. Often transient: a captive portal answering
    /// with its own, a clock not yet set after boot, a certificate renewed late.
    #[error("the broker's TLS certificate was not accepted: {0} (retrying at the long delay)")]
    Certificate(String),
    /// Connection refused, reset, unreachable host, DNS failure.
    #[error("network: {0}")]
    Network(String),
    /// The connect (TCP, TLS or CONNACK) did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// CONNACK 3: the broker is up but not serving.
    #[error("broker unavailable: {0}")]
    BrokerUnavailable(String),
    /// Our own watchdog: a PINGREQ, or the round trip probing the path after a network change, went
    /// unanswered.
    #[error("no answer from the broker for {}s after a request (dead link)", .0.as_secs_f64())]
    DeadLink(Duration),
    /// Stale-data watchdog: a watched subscription was silent too long on a "connected" link.
    #[error("no message on {topic} for {}s (stale link)", .silent_for.as_secs())]
    Stale { topic: String, silent_for: Duration },
    /// The broker or the peer closed the connection.
    #[error("connection closed by the broker")]
    Closed,
    /// A malformed or unexpected packet from the broker.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The credential source could not produce credentials (keychain locked, token refresh failed).
    #[error("credentials unavailable: {0}")]
    Credentials(String),
}

impl LinkError {
    /// Whether a blind retry can help. Bad credentials and bad configuration are not retried
    /// blindly: the supervisor refreshes once where it can, else waits for the user.
    pub fn is_retryable(&self) -> bool {
        matches!(self.failure_kind(), FailureKind::Retryable | FailureKind::RetryLong)
    }

    /// How the supervisor treats it: the one place that decides.
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            LinkError::AuthRefused(_) => FailureKind::Auth,
            LinkError::InvalidConfig(_) => FailureKind::Fatal,
            LinkError::Certificate(_) => FailureKind::RetryLong,
            _ => FailureKind::Retryable,
        }
    }

    /// A short, stable name for diagnostics ("drops by cause").
    pub fn cause(&self) -> &'static str {
        match self {
            LinkError::AuthRefused(_) => "auth_refused",
            LinkError::InvalidConfig(_) => "invalid_config",
            LinkError::Certificate(_) => "tls_certificate",
            LinkError::Network(_) => "network",
            LinkError::Timeout(_) => "timeout",
            LinkError::BrokerUnavailable(_) => "broker_unavailable",
            LinkError::DeadLink(_) => "dead_link",
            LinkError::Stale { .. } => "stale",
            LinkError::Closed => "closed",
            LinkError::Protocol(_) => "protocol",
            LinkError::Credentials(_) => "credentials",
        }
    }
}

/// A configuration that cannot be used, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Which setting is wrong (e.g. `url`, `subscriptions[2].topic`), so a UI can show it there.
    pub field: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a publish was refused. A refused publish always says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("invalid topic {0:?}: a topic name must be non-empty UTF-8 without '+' or '#'")]
    InvalidTopic(String),
    #[error("invalid QoS {0}: use 0 or 1 (QoS 2 is not supported: across a reconnect Tether can only promise at least once)")]
    InvalidQos(u8),
    #[error("payload of {size} bytes is over the maximum packet size of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("the outbox is full ({0} messages) and the overflow policy refuses new ones")]
    OutboxFull(usize),
    #[error("the outbox is full ({0} bytes of messages) and the overflow policy refuses new ones")]
    OutboxBytesFull(usize),
    /// The outbox's file could not be written (a full disk): the message was neither queued nor sent.
    #[error("the message was not queued: {0}")]
    Storage(String),
    #[error("the link is stopped")]
    Stopped,
}

/// Why a subscribe or unsubscribe request was refused before reaching the broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("invalid topic filter {0:?}: '#' must be last and alone in its level, '+' alone in its level")]
    InvalidFilter(String),
    #[error(
        "invalid QoS {0}: use 0 or 1 (QoS 2 subscriptions are not supported: rumqttc cannot resume their handshake after a reconnect)"
    )]
    InvalidQos(u8),
    #[error("the link is stopped")]
    Stopped,
}

/// Classify rumqttc's single error enum into ours. `keepalive`: what an unanswered ping reports as
/// the silence.
pub(crate) fn classify(err: &rumqttc::ConnectionError, keepalive: Duration) -> LinkError {
    use rumqttc::{ConnectReturnCode as Code, ConnectionError as E};
    match err {
        E::ConnectionRefused(code) => match code {
            Code::BadUserNamePassword => LinkError::AuthRefused("bad user name or password (CONNACK 4)".into()),
            Code::NotAuthorized => LinkError::AuthRefused("not authorised (CONNACK 5)".into()),
            Code::ServiceUnavailable => LinkError::BrokerUnavailable("server unavailable (CONNACK 3)".into()),
            Code::BadClientId => LinkError::InvalidConfig("client identifier rejected (CONNACK 2)".into()),
            Code::RefusedProtocolVersion => {
                LinkError::InvalidConfig("protocol version refused (CONNACK 1): the broker needs another MQTT version".into())
            }
            Code::Success => LinkError::Protocol("refused with code 0".into()),
        },
        E::NetworkTimeout => LinkError::Timeout("connecting to the broker".into()),
        E::FlushTimeout => LinkError::Timeout("writing to the broker".into()),
        E::Io(e) => classify_io(e),
        E::MqttState(rumqttc::StateError::Io(e)) => classify_io(e),
        E::MqttState(rumqttc::StateError::ConnectionAborted) => LinkError::Closed,
        E::MqttState(rumqttc::StateError::AwaitPingResp) => LinkError::DeadLink(keepalive),
        E::MqttState(e) => LinkError::Protocol(e.to_string()),
        E::Tls(e) => classify_tls(e),
        E::NotConnAck(p) => LinkError::Protocol(format!("expected CONNACK, got {p:?}")),
        E::RequestsDone => LinkError::Closed,
        E::Websocket(e) => classify_ws(e),
        E::WsConnect(e) => LinkError::InvalidConfig(format!("websocket request: {e}")),
        E::InvalidUrl(e) => LinkError::InvalidConfig(format!("websocket URL: {e}")),
        E::ResponseValidation(e) => LinkError::Network(format!("websocket handshake: {e:?}")),
    }
}

fn classify_ws(e: &async_tungstenite::tungstenite::Error) -> LinkError {
    use async_tungstenite::tungstenite::Error as W;
    match e {
        W::Http(resp) => {
            let status = resp.status();
            match status.as_u16() {
                // AWS IoT refuses an expired or bad signature at the upgrade (protocol doc §3.2):
                // the same credentials will be refused again, renewed ones may not.
                401 | 403 => LinkError::AuthRefused(format!("the WebSocket upgrade was refused with HTTP {status}")),
                // A wrong path or endpoint: retrying cannot fix the configuration.
                404 => LinkError::InvalidConfig(format!("the WebSocket upgrade was answered HTTP {status}: check the URL's path")),
                _ => LinkError::Network(format!("the WebSocket upgrade was answered HTTP {status}")),
            }
        }
        other => LinkError::Network(format!("websocket: {other}")),
    }
}

fn classify_io(e: &std::io::Error) -> LinkError {
    // tokio-rustls reports certificate failures as io::Error(InvalidData) wrapping rustls::Error.
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return classify_rustls(tls);
    }
    match e.kind() {
        std::io::ErrorKind::TimedOut => LinkError::Timeout(e.to_string()),
        std::io::ErrorKind::UnexpectedEof => LinkError::Closed,
        _ => LinkError::Network(e.to_string()),
    }
}

fn classify_tls(e: &rumqttc::TlsError) -> LinkError {
    use rumqttc::TlsError as T;
    match e {
        T::Io(io) => classify_io(io),
        T::TLS(tls) => classify_rustls(tls),
        other => LinkError::InvalidConfig(format!("TLS: {other}")),
    }
}

fn classify_rustls(e: &rustls::Error) -> LinkError {
    match e {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => LinkError::Certificate(e.to_string()),
        _ => LinkError::Network(format!("TLS: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::{ConnectReturnCode, ConnectionError};

    fn upgrade_answered(status: u16) -> ConnectionError {
        let resp = http::Response::builder().status(status).body(Some(b"Forbidden".to_vec())).unwrap();
        ConnectionError::Websocket(async_tungstenite::tungstenite::Error::Http(resp))
    }

    #[test]
    fn a_websocket_upgrade_refused_with_401_or_403_is_refused_credentials() {
        // AWS IoT answers an expired or bad signature so (protocol doc §3.2): retrying the same
        // signature cannot help, renewing the credentials can.
        for status in [401, 403] {
            let e = classify(&upgrade_answered(status), Duration::from_secs(30));
            assert!(
                matches!(e, LinkError::AuthRefused(ref m) if m.contains(&status.to_string())),
                "{status}: {e:?}"
            );
        }
        let e = classify(&upgrade_answered(503), Duration::from_secs(30));
        assert!(e.is_retryable(), "{e:?}");
        let e = classify(&upgrade_answered(404), Duration::from_secs(30));
        assert!(matches!(e, LinkError::InvalidConfig(_)), "a wrong path will not fix itself: {e:?}");
    }

    #[test]
    fn bad_credentials_are_not_retryable() {
        let e = classify(
            &ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword),
            Duration::from_secs(30),
        );
        assert!(matches!(e, LinkError::AuthRefused(_)));
        assert!(!e.is_retryable());
    }

    #[test]
    fn connection_refused_by_the_os_is_retryable() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = classify(&ConnectionError::Io(io), Duration::from_secs(30));
        assert!(matches!(e, LinkError::Network(_)));
        assert!(e.is_retryable());
    }

    #[test]
    fn server_unavailable_is_retryable() {
        let e = classify(
            &ConnectionError::ConnectionRefused(ConnectReturnCode::ServiceUnavailable),
            Duration::from_secs(30),
        );
        assert!(e.is_retryable());
        assert_eq!(e.cause(), "broker_unavailable");
    }

    #[test]
    fn bad_client_id_is_a_configuration_error() {
        let e = classify(
            &ConnectionError::ConnectionRefused(ConnectReturnCode::BadClientId),
            Duration::from_secs(30),
        );
        assert!(matches!(e, LinkError::InvalidConfig(_)));
        assert!(!e.is_retryable());
    }

    #[test]
    fn a_certificate_that_does_not_validate_is_retried_at_the_long_delay() {
        let e = classify_rustls(&rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer));
        assert_eq!(e.failure_kind(), FailureKind::RetryLong);
        assert!(e.is_retryable());
        assert_eq!(e.cause(), "tls_certificate");
        assert!(e.to_string().contains("certificate"), "{e}");
    }

    #[test]
    fn timeouts_are_retryable() {
        assert!(classify(&ConnectionError::NetworkTimeout, Duration::from_secs(30)).is_retryable());
    }
}
