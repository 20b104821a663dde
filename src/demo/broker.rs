//! The demo's broker: rumqttd embedded in this process on 127.0.0.1, so the demo needs nothing
//! outside the app.

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Start rumqttd on a free loopback port; returns the port once it accepts connections.
/// It runs until the process exits (rumqttd has no stop; the demo lives as long as the app).
pub fn start() -> Result<u16, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    let toml_cfg = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 64
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 10
[v4.1]
name = "demo"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
  [v4.1.connections]
  connection_timeout_ms = 10000
  max_payload_size = 1048576
  max_inflight_count = 100
  dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&toml_cfg).map_err(|e| format!("demo broker config: {e}"))?;
    std::thread::Builder::new()
        .name("demo-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "demo broker stopped");
            }
        })
        .map_err(|e| format!("cannot start the demo broker thread: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("the demo broker did not listen on 127.0.0.1:{port} within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(port)
}
