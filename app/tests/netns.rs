//! The desktop app's OS triggers for real: the tray process (`tether-tray`, the real program) in
//! a client network namespace made by this test, its profile's broker in another. The client's
//! address goes, the link fails through tier 1 into a 60 s recovery delay; the address comes
//! back, the OS reports it (netlink) and the tray process reconnects at once instead of waiting
//! out the timer. Needs CAP_NET_ADMIN (root, as CI runs); without it the test fails and says so.

mod support;

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::netns::{Killed, Net};
use tether_app::wire::{self, Client};

const PROFILE: &str = r#"[profiles.lab]
url = "mqtt://10.77.0.1:1883"
client_id = "tether-0a0b0c0d"
keepalive = 2

[profiles.lab.reconnect]
initial_reconnect_delay = 0.5
max_reconnect_delay = 1
max_reconnect_attempts = 1
stable_after = 0.5

[profiles.lab.recovery]
initial_recovery_delay = 60
max_recovery_delay = 60
"#;

async fn overview(c: &Client) -> Value {
    c.call("get_overview", json!({})).await.expect("overview")
}

async fn wait_state(c: &Client, want: &[&str], within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let o = overview(c).await;
        if want.contains(&o["state"]["state"].as_str().unwrap_or("")) {
            return o;
        }
        assert!(Instant::now() < deadline, "not {want:?} within {within:?}: {}", o["state"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_process_reconnects_at_once_when_the_network_comes_back() {
    let net = Net::new();
    let home = tempfile::tempdir().unwrap();
    let _broker = net.broker(home.path());
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("profiles.toml"), PROFILE).unwrap();
    let runtime = home.path().join("run");
    let _tray = Killed(
        Command::new("ip")
            .args(["netns", "exec", &net.client_ns, env!("CARGO_BIN_EXE_tether-tray")])
            .env("HOME", home.path())
            .env("TETHER_CONFIG_DIR", &config)
            .env("TETHER_DATA_DIR", home.path().join("data"))
            .env("TETHER_LOG_DIR", home.path().join("logs"))
            .env("TETHER_RUNTIME_DIR", &runtime)
            // No session bus in the namespace: no tray icon and no keychain, which this test does not need.
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tether-tray starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let (client, _pushed) = loop {
        if let Ok(c) = Client::connect(&wire::socket_path(&runtime)).await {
            break c;
        }
        assert!(Instant::now() < deadline, "tray process not listening within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let o = wait_state(&client, &["connected"], Duration::from_secs(15)).await;
    assert_eq!(o["profile"], "lab", "the profile runs, not the demo: {o}");
    // if-watch reports the addresses that already exist during its first second; let it settle.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    net.client_address_gone();
    wait_state(&client, &["recovering"], Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let back = Instant::now();
    net.client_address_back();
    let o = wait_state(&client, &["connected"], Duration::from_secs(10)).await;
    let took = back.elapsed();
    let triggered = o["recent_events"]
        .as_array()
        .is_some_and(|v| v.iter().any(|e| e["event"] == "triggered" && e["trigger"] == "network_changed"));
    assert!(triggered, "the OS signal must be what reconnected: {}", o["recent_events"]);
    // The recovery timer would have waited 60 s.
    assert!(took < Duration::from_secs(3), "connected {took:?} after the address came back");
    println!(
        "the tray process was connected {:.0} ms after the address came back",
        took.as_secs_f64() * 1000.0
    );
}
