//! The OS network-change trigger for real: two network namespaces made by this test (a broker
//! host and a client host joined by a veth pair). The client's address is removed, the link dies,
//! Tether backs off with a 30 s delay; the address comes back, the OS reports it (netlink, through
//! if-watch) and Tether reconnects at once instead of waiting out the timer.
//!
//! Needs CAP_NET_ADMIN (root, as CI runs); without it the test fails and says so.

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Net {
    broker_ns: String,
    client_ns: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip (iproute2) runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    fn new() -> Self {
        let tag = format!("{:05}", std::process::id() % 100_000);
        let (b, c) = (format!("tb{tag}"), format!("tc{tag}"));
        let probe = Command::new("ip").args(["netns", "add", &b]).output().expect("ip runs");
        assert!(
            probe.status.success(),
            "this test creates network namespaces and needs CAP_NET_ADMIN (run as root, as CI does): {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        ip(&["netns", "add", &c]);
        let (vb, vc) = (format!("vb{tag}"), format!("vc{tag}"));
        ip(&["link", "add", &vb, "netns", &b, "type", "veth", "peer", "name", &vc, "netns", &c]);
        for (ns, dev, addr) in [(&b, &vb, "10.77.0.1/24"), (&c, &vc, "10.77.0.2/24")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Self {
            broker_ns: b,
            client_ns: c,
        }
    }

    fn client_dev(&self) -> String {
        self.client_ns.replacen("tc", "vc", 1)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and with it the other end.
        let _ = Command::new("ip").args(["netns", "del", &self.client_ns]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.broker_ns]).status();
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_network_coming_back_beats_the_backoff_timer() {
    let net = Net::new();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("m.conf");
    std::fs::write(&conf, "listener 1883 0.0.0.0\nallow_anonymous true\nuser root\n").unwrap();
    let _broker = Killed(
        Command::new("ip")
            .args(["netns", "exec", &net.broker_ns, "mosquitto", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto"),
    );
    std::thread::sleep(Duration::from_millis(500));

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
    .args(["--sub", "t/#", "--keepalive", "2", "--connect-timeout", "2"])
    // A long backoff: only the network trigger can bring the link back within the test.
    .args(["--initial-reconnect-delay", "30", "--max-reconnect-delay", "30"])
    .env("TETHER_DATA_DIR", dir.path().join("data"))
    .env("TETHER_CONFIG_DIR", dir.path().join("config"));
    let w = Watch::spawn(cmd);
    w.wait_event("connected", Duration::from_secs(10));
    // if-watch reports the addresses that already exist during its first second; let it settle.
    std::thread::sleep(Duration::from_millis(1500));

    // The client host loses its address: the link is dead (found by keepalive) and attempts fail.
    ip(&["-n", &net.client_ns, "addr", "flush", "dev", &net.client_dev()]);
    w.wait_event("connection_interrupted", Duration::from_secs(10));
    w.wait_event("reconnecting", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    assert!(!w.names().contains(&"recovered".to_string()));

    let back = Instant::now();
    ip(&["-n", &net.client_ns, "addr", "add", "10.77.0.2/24", "dev", &net.client_dev()]);
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
