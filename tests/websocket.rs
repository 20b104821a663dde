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
