//! mqtts:// for real: a Mosquitto TLS listener with a CA made by this test (openssl), a custom CA
//! in Tether's config, and mutual TLS with a client certificate. A certificate that does not
//! validate is retried with a long backoff (it may be a captive portal or a clock not yet set); a
//! missing CA file is a configuration error.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tether::config::TlsConfig;
use tether::event::EventKind;

const T: Duration = Duration::from_secs(15);

/// Run `openssl` with a whitespace-separated argument line (no argument here has spaces).
fn openssl(dir: &Path, line: &str) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(line.split_whitespace())
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl {line}: {}", String::from_utf8_lossy(&out.stderr));
}

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=TetherTestCA",
        );
        // Extensions make these X.509 v3 certificates: webpki refuses v1.
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n").unwrap();
        for name in ["server", "client"] {
            openssl(
                d,
                &format!("req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr -subj /CN={name}"),
            );
            openssl(
                d,
                &format!("x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out {name}.pem -extfile {name}.ext"),
            );
        }
        Self { dir }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    /// mosquitto.conf lines for a TLS listener that requires a client certificate.
    fn listener(&self) -> String {
        format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            self.path("ca.pem").display(),
            self.path("server.pem").display(),
            self.path("server.key").display()
        )
    }
}

fn tls_broker(pki: &Pki) -> Broker {
    Broker::start(BrokerOptions {
        extra: pki.listener(),
        ..Default::default()
    })
}

#[tokio::test]
async fn mqtts_with_a_custom_ca_and_a_client_certificate_connects_and_carries_messages() {
    let pki = Pki::new();
    let broker = tls_broker(&pki);
    let mut cfg = fast_config(broker.port);
    cfg.broker = tether::config::BrokerUrl::parse(&format!("mqtts://127.0.0.1:{}", broker.port)).unwrap();
    cfg.tls = TlsConfig {
        ca_file: Some(pki.path("ca.pem")),
        client_cert: Some(pki.path("client.pem")),
        client_key: Some(pki.path("client.key")),
    };
    let topic = unique("tls");
    cfg.subscriptions.push(qos1(topic.clone()));
    let (h, mut ev) = start(cfg);
    ev.wait_name("subscriptions_restored", T).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.publish(&topic, "over tls", 1, false).await.expect("publish");
    ev.wait_for(
        "own message back",
        T,
        |k| matches!(k, EventKind::Message { payload, .. } if payload == "over tls"),
    )
    .await;
    h.stop().await;
}

/// A server-only TLS listener (no client certificate asked) with `pki`'s certificate.
fn server_only_listener(pki: &Pki) -> String {
    format!(
        "certfile {}\nkeyfile {}\n",
        pki.path("server.pem").display(),
        pki.path("server.key").display()
    )
}

#[tokio::test]
async fn a_certificate_that_does_not_validate_is_retried_with_a_long_backoff_and_connects_once_it_does() {
    // What a captive portal, a clock not yet set or a certificate renewed late looks like: the
    // broker's certificate is not one the link trusts, for a while.
    let trusted = Pki::new();
    let stranger = Pki::new();
    let mut broker = Broker::start(BrokerOptions {
        extra: server_only_listener(&stranger),
        ..Default::default()
    });
    let mut cfg = fast_config(broker.port);
    cfg.broker = tether::config::BrokerUrl::parse(&format!("mqtts://127.0.0.1:{}", broker.port)).unwrap();
    cfg.tls.ca_file = Some(trusted.path("ca.pem"));
    let cap = cfg.reconnect.max_reconnect_delay;
    let (h, mut ev) = start(cfg);
    let e = ev.wait_name("attempt_failed", T).await;
    assert!(
        matches!(&e.kind, EventKind::AttemptFailed { cause: "tls_certificate", error } if error.contains("certificate")),
        "{:?}",
        e.kind
    );
    let r = ev.wait_name("reconnecting", T).await;
    let EventKind::Reconnecting { delay, .. } = r.kind else {
        unreachable!()
    };
    // Long: at the top of the schedule from the first failure (less its jitter), not the
    // initial delay, so a portal is not hammered.
    assert!(delay >= cap.mul_f64(0.8), "certificate failures wait the long delay: {delay:?}");
    // The broker's certificate becomes one the link trusts: connected with no trigger.
    broker.stop();
    let conf = std::fs::read_to_string(broker.conf()).unwrap();
    let fixed = conf.replace(&stranger.path("").display().to_string(), &trusted.path("").display().to_string());
    std::fs::write(broker.conf(), fixed).unwrap();
    broker.restart();
    ev.wait_name("connected", T).await;
    assert_eq!(ev.count("gave_up"), 0, "{:?}", ev.names());
    assert_eq!(ev.count("triggered"), 0);
    h.stop().await;
}

#[tokio::test]
async fn a_missing_ca_file_is_reported_by_its_setting() {
    let mut cfg = fast_config(1);
    cfg.broker = tether::config::BrokerUrl::parse("mqtts://127.0.0.1:1").unwrap();
    cfg.tls.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
    let (h, mut ev) = start(cfg);
    let e = ev.wait_name("gave_up", T).await;
    assert!(
        matches!(&e.kind, EventKind::GaveUp { reason } if reason.contains("tls.ca_file") && reason.contains("/nonexistent/ca.pem")),
        "{:?}",
        e.kind
    );
    h.stop().await;
}
