//! Turning a [`LinkConfig`] into rumqttc options: TCP, TLS (rustls with the OS trust store, a
//! custom CA, a client certificate) and WebSockets.

use crate::config::{LinkConfig, Scheme, TlsConfig};
use crate::credentials::Credentials;
use crate::error::ConfigError;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// Requests the engine may queue in rumqttc's channel before it must wait; above the outbox bound
/// so a full outbox flush never blocks the supervisor.
pub(crate) const REQUEST_CHANNEL: usize = 4096;

/// The largest incoming packet read off the wire for a profile limit of `max_packet_size`. A
/// message between the two is read, reported and skipped by the supervisor with the link up; only
/// one past this breaks the connection (it would cost that much memory to read).
pub(crate) fn wire_limit(max_packet_size: usize) -> usize {
    max_packet_size.saturating_mul(16).clamp(16 << 20, 256 << 20).max(max_packet_size)
}

/// The size of a PUBLISH on the wire as rumqttc counts it against the outgoing limit, with a
/// packet id (the worst case): fixed header byte, remaining length (1 to 4 bytes), topic length,
/// topic, packet id, payload.
pub(crate) fn publish_size(topic_len: usize, payload_len: usize) -> usize {
    let len = 2 + topic_len + 2 + payload_len;
    let len_len = match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + len_len + len
}

/// Build rumqttc options. `creds` may carry a password: it lives only in memory, in the options.
pub fn mqtt_options(cfg: &LinkConfig, creds: &Credentials) -> Result<MqttOptions, ConfigError> {
    let b = &cfg.broker;
    let mut opts = match b.scheme {
        // rumqttc takes the whole URL as the "host" for WebSockets.
        Scheme::Ws | Scheme::Wss => MqttOptions::new(&cfg.client_id, b.display(), b.port),
        _ => MqttOptions::new(&cfg.client_id, &b.host, b.port),
    };
    opts.set_keep_alive(cfg.keepalive)
        .set_clean_session(cfg.clean_session)
        .set_max_packet_size(wire_limit(cfg.max_packet_size), cfg.max_packet_size)
        .set_request_channel_capacity(REQUEST_CHANNEL)
        // rumqttc resends its own pending list slowly by default; we replay from the outbox.
        .set_pending_throttle(std::time::Duration::ZERO)
        .set_inflight(100)
        // Inbound QoS 1 is acknowledged by the supervisor once its consumer has it.
        .set_manual_acks(true);
    let username = creds.username.clone().or_else(|| b.username.clone());
    match (username, &creds.password) {
        (Some(u), Some(p)) => {
            opts.set_credentials(u, p.expose_secret());
        }
        (Some(u), None) => {
            opts.set_credentials(u, "");
        }
        (None, Some(_)) => return Err(ConfigError::new("username", "a password is stored but no user name is set")),
        (None, None) => {}
    }
    if let (Some(signer), Scheme::Ws | Scheme::Wss) = (&cfg.upgrade, b.scheme) {
        let signer = signer.clone();
        opts.set_request_modifier(move |req| signer.sign(req));
    }
    match b.scheme {
        Scheme::Mqtt => {}
        Scheme::Ws => {
            opts.set_transport(Transport::Ws);
        }
        Scheme::Mqtts => {
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(rustls_config(
                &cfg.tls,
            )?))));
        }
        Scheme::Wss => {
            opts.set_transport(Transport::wss_with_config(TlsConfiguration::Rustls(Arc::new(rustls_config(
                &cfg.tls,
            )?))));
        }
    }
    Ok(opts)
}

/// rustls with the `ring` provider, the OS trust store plus any custom CA, and an optional client
/// certificate.
pub fn rustls_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    // A broken OS store is not fatal when a custom CA is given; an empty one is reported below.
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &tls.ca_file {
        for cert in read_certs(path, "tls.ca_file")? {
            roots
                .add(cert)
                .map_err(|e| ConfigError::new("tls.ca_file", format!("{}: {e}", path.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(ConfigError::new(
            "tls.ca_file",
            "no trusted CA: the OS trust store is empty and no ca_file is set",
        ));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new("tls", e.to_string()))?
        .with_root_certificates(roots);
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "tls.client_cert")?;
            let key_pem = std::fs::read(key).map_err(|e| ConfigError::new("tls.client_key", format!("{}: {e}", key.display())))?;
            let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .map_err(|e| ConfigError::new("tls.client_key", format!("{}: {e}", key.display())))?
                .ok_or_else(|| ConfigError::new("tls.client_key", format!("{}: no private key found (PEM expected)", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ConfigError::new("tls.client_cert", e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn read_certs(path: &std::path::Path, field: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| ConfigError::new(field, format!("{}: {e}", path.display())))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_slice()).collect();
    let certs = certs.map_err(|e| ConfigError::new(field, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("{}: no certificate found (PEM expected)", path.display()),
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_size_check_matches_rumqttcs_encoding() {
        let topic = "t/some/topic";
        for max in [1024, 16 << 10, 1 << 20, 4 << 20, 16 << 20] {
            // The largest payload our check lets through, and one byte more.
            let mut payload = max - topic.len();
            while publish_size(topic.len(), payload) > max {
                payload -= 1;
            }
            let mut p = rumqttc::Publish::from_bytes(topic, rumqttc::QoS::AtLeastOnce, vec![0u8; payload].into());
            p.pkid = 1;
            assert_eq!(p.size(), publish_size(topic.len(), payload), "max {max}");
            assert!(p.size() <= max, "max {max}: {} accepted", p.size());
            let mut q = rumqttc::Publish::from_bytes(topic, rumqttc::QoS::AtLeastOnce, vec![0u8; payload + 1].into());
            q.pkid = 1;
            assert!(q.size() > max, "max {max}: the next byte must be refused");
        }
    }

    #[test]
    fn the_wire_limit_reads_past_the_profile_limit_within_bounds() {
        assert_eq!(wire_limit(1 << 20), 16 << 20);
        assert_eq!(wire_limit(64 << 10), 16 << 20);
        assert_eq!(wire_limit(64 << 20), 256 << 20);
        assert_eq!(wire_limit(crate::config::MAX_PACKET), crate::config::MAX_PACKET);
    }
}
