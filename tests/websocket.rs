//! ws:// for real: rumqttd (Debian's Mosquitto is built without WebSockets) with a WebSocket
//! listener in this process; Tether connects over it, subscribes and gets its own message back.

mod common;

use common::*;
use std::time::Duration;
use tether::config::BrokerUrl;
use tether::event::EventKind;

fn start_rumqttd_ws() -> u16 {
    let port = common::broker::free_port();
    let toml_cfg = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 100
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 10
[ws.1]
name = "ws-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
  [ws.1.connections]
  connection_timeout_ms = 60000
  max_payload_size = 1048576
  max_inflight_count = 100
  dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&toml_cfg).expect("rumqttd config");
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        // Runs until the test process exits.
        let _ = broker.start();
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "rumqttd did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    port
}

#[tokio::test]
async fn ws_transport_connects_subscribes_and_carries_messages() {
    let port = start_rumqttd_ws();
    let mut cfg = fast_config(port);
    cfg.broker = BrokerUrl::parse(&format!("ws://127.0.0.1:{port}/mqtt")).unwrap();
    let topic = unique("ws");
    cfg.subscriptions.push(qos1(topic.clone()));
    let (h, mut ev) = start(cfg);
    ev.wait_name("subscriptions_restored", Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.publish(&topic, "over websockets", 1, false).await.expect("publish");
    ev.wait_for(
        "own message back",
        Duration::from_secs(15),
        |k| matches!(k, EventKind::Message { payload, .. } if payload == "over websockets"),
    )
    .await;
    h.stop().await;
}

/// Appends `sig=<n>` to the upgrade's query, n counting the calls: what a SigV4 presigner does
/// with a fresh date and signature.
#[derive(Debug, Default)]
struct CountingSigner(std::sync::atomic::AtomicU32);

impl tether::config::UpgradeSigner for CountingSigner {
    fn sign(&self, mut req: http::Request<()>) -> tether::credentials::BoxFuture<'static, http::Request<()>> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let uri = format!("{}?sig={n}", req.uri());
        *req.uri_mut() = uri.parse().expect("a valid URI");
        Box::pin(async move { req })
    }
}

/// The request line of each WebSocket upgrade that reaches `listener`, which then hangs up.
async fn record_upgrades(listener: tokio::net::TcpListener, seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::AsyncReadExt;
    loop {
        let Ok((mut sock, _)) = listener.accept().await else { return };
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        seen.lock().unwrap().push(text.lines().next().unwrap_or_default().to_string());
        // Dropped: the upgrade fails and the link tries again.
    }
}

#[tokio::test]
async fn an_upgrade_signer_signs_every_connect_attempt_afresh() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    tokio::spawn(record_upgrades(listener, seen.clone()));
    let mut cfg = fast_config(port);
    cfg.broker = BrokerUrl::parse(&format!("ws://127.0.0.1:{port}/mqtt")).unwrap();
    let signer = std::sync::Arc::new(CountingSigner::default());
    cfg.upgrade = Some(signer.clone());
    let (h, _ev) = start(cfg);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "attempts seen: {:?}", seen.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.stop().await;
    let seen = seen.lock().unwrap().clone();
    for (i, line) in seen.iter().take(3).enumerate() {
        assert_eq!(line, &format!("GET /mqtt?sig={} HTTP/1.1", i + 1), "attempt {}: {seen:?}", i + 1);
    }
}

#[test]
fn an_upgrade_signer_needs_a_websocket_url() {
    let mut cfg = fast_config(1883);
    cfg.upgrade = Some(std::sync::Arc::new(CountingSigner::default()));
    let e = cfg.validate().expect_err("mqtt:// cannot carry a signed upgrade");
    assert_eq!(e.field, "url");
    assert!(e.message.contains("ws://"), "{}", e.message);
}
