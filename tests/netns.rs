//! The OS network-change trigger for real: two network namespaces made by this test (a broker
//! host and a client host joined by a veth pair). The client's address is removed, the link dies,
//! Tether backs off with a 30 s delay; the address comes back, the OS reports it (netlink, through
//! if-watch) and Tether reconnects at once instead of waiting out the timer.
//!
//! A network change while connected is checked at once: when the connection's path is gone, the
//! link is replaced within seconds instead of 1.5 × keepalive.
//!
//! Needs CAP_NET_ADMIN (root, as CI runs); without it the test fails and says so.

mod common;

use common::netns::{ip, Net};
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_network_coming_back_beats_the_backoff_timer() {
    let net = Net::new();
    let dir = tempfile::tempdir().unwrap();
    let _broker = net.broker(dir.path());

    // A long backoff: only the network trigger can bring the link back within the test.
    let extra = ["--keepalive", "2", "--initial-reconnect-delay", "30", "--max-reconnect-delay", "30"];
    let w = watch_in_client(&net, dir.path(), &extra);
    w.wait_event("connected", Duration::from_secs(10));
    // if-watch reports the addresses that already exist during its first second; let it settle.
    std::thread::sleep(Duration::from_millis(1500));

    // The client host loses its address: the link is dead (the probe after the change finds it)
    // and attempts fail.
    net.client_address_gone();
    w.wait_event("connection_interrupted", Duration::from_secs(10));
    w.wait_event("reconnecting", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    assert!(!w.names().contains(&"recovered".to_string()));

    let back = Instant::now();
    net.client_address_back();
    w.wait_event("recovered", Duration::from_secs(10));
    let took = back.elapsed();
    let events = w.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "triggered" && e["trigger"] == "network_changed"),
        "the OS signal must be what reconnected: {:?}",
        w.names()
    );
    // The backoff timer would have waited 30 s.
    assert!(took < Duration::from_secs(10), "recovered {took:?} after the address came back");
    println!("recovered {:.0} ms after the address came back", took.as_secs_f64() * 1000.0);
    let _ = w.stop();
}

/// `tether watch` in the client host against the broker host, with `extra` flags.
fn watch_in_client(net: &Net, dir: &std::path::Path, extra: &[&str]) -> Watch {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &net.client_ns,
        env!("CARGO_BIN_EXE_tether"),
        "watch",
        "mqtt://10.77.0.1:1883",
        "--json",
    ])
    .args(["--sub", "t/#", "--connect-timeout", "2", "--stable-after", "0.5"])
    .args(extra)
    .env("TETHER_DATA_DIR", dir.join("data"))
    .env("TETHER_CONFIG_DIR", dir.join("config"));
    Watch::spawn(cmd)
}

#[test]
fn a_network_change_while_connected_finds_a_dead_path_within_seconds() {
    let net = Net::new();
    let dir = tempfile::tempdir().unwrap();
    let _broker = net.broker(dir.path());
    // Keepalive 30 s: the watchdog alone would find a dead path only after up to 45 s.
    let w = watch_in_client(&net, dir.path(), &["--keepalive", "30"]);
    w.wait_event("connected", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));

    // An address that has nothing to do with the broker comes up: the probe's round trip answers,
    // the link stays.
    ip(&["-n", &net.client_ns, "addr", "add", "10.88.0.2/24", "dev", &net.client_dev()]);
    w.wait("the probe after the new address", Duration::from_secs(5), |v| {
        v.iter().any(|e| e["event"] == "triggered" && e["trigger"] == "network_changed")
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !w.names().contains(&"connection_interrupted".to_string()),
        "a live path survives a probe: {:?}",
        w.names()
    );

    // The client's address to the broker goes: no answer to the probe, the link is replaced now.
    let gone = Instant::now();
    net.client_address_gone();
    w.wait_event("connection_interrupted", Duration::from_secs(10));
    let took = gone.elapsed();
    let interrupted = w.events().into_iter().find(|e| e["event"] == "connection_interrupted").unwrap();
    assert_eq!(interrupted["cause"], "dead_link", "{interrupted}");
    assert!(
        took < Duration::from_secs(8),
        "dead path found {took:?} after the address went (keepalive 30 s)"
    );
    println!("dead path found {:.0} ms after the address went", took.as_secs_f64() * 1000.0);
    let _ = w.stop();
}
