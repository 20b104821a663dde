//! The `tether` binary as a user runs it: against a real Mosquitto, through broker restarts and
//! `kill -9`, with bad input.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn watch_json_prints_backoff_and_recovery_through_a_broker_restart_and_loses_nothing() {
    let mut broker = Broker::start(BrokerOptions {
        persistence: true,
        ..Default::default()
    });
    let home = tempfile::tempdir().unwrap();
    let topic = unique("watch");
    let mut cmd = tether_cli(home.path());
    cmd.args([
        "watch",
        &format!("mqtt://127.0.0.1:{}", broker.port),
        "--sub",
        &format!("{topic}/#"),
        "--json",
    ])
    .args([
        "--client-id",
        &unique("cli"),
        "--initial-reconnect-delay",
        "0.5",
        "--max-reconnect-delay",
        "4",
        "--stable-after",
        "0.5",
    ]);
    let w = Watch::spawn(cmd);
    w.wait_event("subscriptions_restored", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));

    broker.stop();
    std::thread::sleep(Duration::from_secs(4));
    broker.restart();
    // Published while Tether is still away (its next attempt is up to 4 s off): the broker keeps
    // them in the persistent session.
    let sent: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    mosquitto_pub_lines(broker.port, &format!("{topic}/x"), &sent, 1);
    w.wait("all 20 messages", Duration::from_secs(20), |v| {
        v.iter().filter(|e| e["event"] == "message").count() >= 20
    });
    // Told once the new connection has held for --stable-after.
    w.wait_event("recovered", Duration::from_secs(5));
    let code = w.stop_and_check(&sent);
    assert_eq!(code, 0, "Ctrl-C/SIGTERM is a clean exit");
}

impl Watch {
    fn stop_and_check(self, sent: &[String]) -> i32 {
        let events = self.events();
        let names = self.names();
        for e in &events {
            let ts = e["ts"].as_str().expect("ts");
            assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.len() == 24, "ts {ts}");
        }
        let pos = |n: &str| names.iter().position(|x| x == n).unwrap_or_else(|| panic!("no {n} in {names:?}"));
        assert!(pos("connection_interrupted") < pos("reconnecting"));
        assert!(pos("reconnecting") < pos("recovered"));
        let delays: Vec<u64> = events
            .iter()
            .filter(|e| e["event"] == "reconnecting")
            .filter_map(|e| e["delay_ms"].as_u64())
            .collect();
        assert!(delays.len() >= 2, "{names:?}");
        assert!(delays.windows(2).all(|w| w[1] >= w[0]), "delays grow: {delays:?}");
        assert!(delays.last() > delays.first(), "delays grow: {delays:?}");
        let got: Vec<String> = events
            .iter()
            .filter(|e| e["event"] == "message")
            .map(|e| e["payload"].as_str().unwrap_or_default().to_string())
            .collect();
        let missing: Vec<_> = sent.iter().filter(|s| !got.contains(s)).collect();
        assert!(missing.is_empty(), "missing {missing:?}");
        self.stop()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_publishes_survive_kill_9_and_go_out_in_order() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let topic = unique("kill9");
    let observer = Observer::start(broker.port, &topic);
    let home = tempfile::tempdir().unwrap();
    let st = tether_cli(home.path())
        .args(["profile", "add", "dev", &format!("mqtt://127.0.0.1:{}", proxy.port)])
        .args(["--initial-reconnect-delay", "0.1", "--max-reconnect-delay", "0.3"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));

    proxy.set(Mode::Refuse);
    for i in 0..10 {
        let out = tether_cli(home.path())
            .args(["pub", "--profile", "dev", &topic, &format!("k{i}"), "--timeout", "0.3"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "queued, not delivered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("stay queued"));
    }
    // One more, killed with SIGKILL while it waits for the link.
    let mut victim = tether_cli(home.path())
        .args(["pub", "--profile", "dev", &topic, "k10", "--timeout", "60"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = Command::new("kill").arg("-KILL").arg(victim.id().to_string()).status();
    let _ = victim.wait();
    assert!(observer.lines().is_empty(), "nothing may leak through a refusing link");

    proxy.restore();
    let w = Watch::spawn({
        let mut c = tether_cli(home.path());
        c.args(["watch", "--profile", "dev", "--json"]);
        c
    });
    let lines = observer.wait_lines(11, Duration::from_secs(15)).await;
    let expected: Vec<String> = (0..=10).map(|i| format!("k{i}")).collect();
    assert_eq!(lines, expected, "all queued publishes, in order, once");
    w.wait_event("outbox_flushed", Duration::from_secs(5));
    // Diagnostics of the running profile: rewritten on every state change and every 2 s, so
    // polled (bounded) rather than read once after a sleep, which a loaded machine outruns.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let v = loop {
        let d = tether_cli(home.path()).args(["diag", "dev"]).output().unwrap();
        assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
        let v: serde_json::Value = serde_json::from_slice(&d.stdout).expect("diag is JSON");
        let settled = v["state"] == "connected" && v["messages_out"].as_u64() >= Some(11);
        if settled || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(v["state"], "connected", "{v}");
    assert!(v["connects"].as_u64() >= Some(1) && v["messages_out"].as_u64() >= Some(11), "{v}");
    assert_eq!(w.stop(), 0);
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_code_2() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = tether_cli(home.path()).args(args).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (code, err) = run(&["watch", "http://127.0.0.1:1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unsupported scheme") && err.contains("mqtt://"), "{err}");
    let (code, err) = run(&["watch", "mqtt://127.0.0.1:1", "--sub", "a/#/b"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("a/#/b") && err.contains("topic filter"), "{err}");
    let (code, err) = run(&["pub", "mqtt://127.0.0.1:1", "a/+", "x"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("topic name"), "{err}");
    let (code, err) = run(&["watch", "mqtt://u:hunter2@127.0.0.1:1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("password") && !err.contains("hunter2"), "{err}");
    let (code, err) = run(&["watch", "mqtt://127.0.0.1:1", "--keepalive", "inf"]);
    assert_eq!(code, Some(2), "a clear error, not a panic: {err}");
    assert!(err.contains("keepalive"), "{err}");
    let (code, err) = run(&["pub", "mqtt://127.0.0.1:1", "a/b", "x", "--qos", "2"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--qos"), "{err}");
    let (code, err) = run(&["watch", "--profile", "nope"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no profile named"), "{err}");

    // A malformed profile file: reported with its line, and never overwritten.
    let file = home.path().join("config").join("profiles.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let bad = "[profiles.a]\nclient_id = \"x\"\nurl = \"mqtt://h\"\nkeepalive = [1\n";
    std::fs::write(&file, bad).unwrap();
    let (code, err) = run(&["profile", "add", "b", "mqtt://127.0.0.1:1883"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("profiles.toml:4:"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), bad);
}

#[test]
fn profiles_are_added_listed_shown_and_removed() {
    let home = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| {
        let o = tether_cli(home.path()).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    ok(&[
        "profile",
        "add",
        "lab",
        "mqtts://broker.example:8883",
        "-u",
        "ops",
        "--sub",
        "lab/#",
        "--strategy",
        "recreate",
        "--max-reconnect-attempts",
        "4",
    ]);
    let list = ok(&["profile", "list"]);
    assert!(
        list.contains("lab") && list.contains("mqtts://broker.example:8883") && list.contains("tether-"),
        "{list}"
    );
    let show = ok(&["profile", "show", "lab"]);
    assert!(
        show.contains("strategy = \"recreate\"") && show.contains("max_reconnect_attempts = 4"),
        "{show}"
    );
    let o = tether_cli(home.path())
        .args(["profile", "add", "lab", "mqtt://x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "duplicate names are refused");
    ok(&["profile", "remove", "lab"]);
    assert!(!ok(&["profile", "list"]).contains("lab\t"));
}

#[test]
fn tether_demo_runs_the_heater_and_its_fault_switch_headless() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tether_cli(home.path());
    cmd.args(["demo", "--json"]).stdin(std::process::Stdio::piped());
    let mut w = Watch::spawn(cmd);
    // The demo heater answers the status request sent at connect.
    w.wait("a status reply from the demo heater", Duration::from_secs(15), |v| {
        v.iter()
            .any(|e| e["event"] == "message" && e["payload"].as_str().is_some_and(|p| p.contains("dhwTemperature")))
    });
    w.type_line("set 130");
    w.wait("the new setpoint in a reply", Duration::from_secs(10), |v| {
        v.iter()
            .any(|e| e["event"] == "message" && e["payload"].as_str().is_some_and(|p| p.contains("\"dhwTemperatureSetting\":109")))
    });
    let count = |v: &[serde_json::Value], name: &str| v.iter().filter(|e| e["event"] == name).count();
    w.type_line("refuse");
    w.wait_event("auth_rejected", Duration::from_secs(10));
    w.type_line("accept");
    w.wait_event("recovered", Duration::from_secs(10));
    // Revoked tokens: the reconnect is refused, the link renews them and connects again.
    let connects = count(&w.events(), "connected");
    w.type_line("expire");
    w.wait("a reconnect after the tokens were revoked", Duration::from_secs(20), |v| {
        count(v, "connected") > connects
    });
    assert_eq!(count(&w.events(), "auth_rejected"), 1, "a renewal, not a refusal");
    // A changed password: refused once, not retried; `accept` enters the new one.
    w.type_line("password");
    w.wait("auth_rejected after the password changed", Duration::from_secs(20), |v| {
        count(v, "auth_rejected") == 2
    });
    let recovered = count(&w.events(), "recovered");
    w.type_line("accept");
    w.wait("recovered with the new password", Duration::from_secs(20), |v| {
        count(v, "recovered") > recovered
    });
    w.type_line("quit");
    assert_eq!(w.wait_exit(Duration::from_secs(10)), 0);
}

/// H1: `pub --profile` must not resume the profile's persistent session. If it did, the broker
/// would hand it the QoS 1 messages queued for the next `watch`, and nobody would read them.
#[test]
fn pub_does_not_consume_the_profiles_persistent_session() {
    let broker = Broker::start(BrokerOptions {
        persistence: true,
        ..Default::default()
    });
    let home = tempfile::tempdir().unwrap();
    let topic = unique("h1");
    let st = tether_cli(home.path())
        .args(["profile", "add", "home", &format!("mqtt://127.0.0.1:{}", broker.port)])
        .args(["--sub", &format!("{topic}/#"), "--qos", "1"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let watch = || {
        let mut c = tether_cli(home.path());
        c.args(["watch", "--profile", "home", "--json"]);
        Watch::spawn(c)
    };
    let w = watch();
    w.wait_event("subscriptions_restored", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.stop(), 0);

    let sent: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    mosquitto_pub_lines(broker.port, &format!("{topic}/a"), &sent, 1);
    // Its own message goes to a topic the profile subscribes to: that one is queued for `watch` too.
    let out = tether_cli(home.path())
        .args(["pub", "--profile", "home", &format!("{topic}/own"), "hi", "--qos", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let w = watch();
    w.wait("the 20 queued messages and pub's own", Duration::from_secs(10), |v| {
        v.iter().filter(|e| e["event"] == "message").count() >= 21
    });
    let got: Vec<String> = w
        .events()
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| e["payload"].as_str().unwrap_or_default().to_string())
        .collect();
    let missing: Vec<_> = sent.iter().filter(|s| !got.contains(s)).collect();
    assert!(missing.is_empty(), "missing {missing:?}; got {got:?}");
    assert!(
        got.iter().any(|p| p == "hi"),
        "pub's own message reaches the profile's session: {got:?}"
    );
    assert_eq!(w.stop(), 0);
}

/// M7: a profile's queued publishes go with it; a new profile of the same name starts empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_profile_removes_its_outbox() {
    let broker_a = Broker::start(BrokerOptions::default());
    let broker_b = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker_a.port).await.expect("fault proxy on loopback");
    proxy.set(Mode::Refuse);
    let topic = unique("removed");
    let observer_b = Observer::start(broker_b.port, &topic);
    let home = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| {
        let o = tether_cli(home.path()).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    ok(&["profile", "add", "p", &format!("mqtt://127.0.0.1:{}", proxy.port)]);
    let out = tether_cli(home.path())
        .args(["pub", "--profile", "p", &topic, "for-a", "--timeout", "0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "queued: {}", String::from_utf8_lossy(&out.stderr));
    let removed = ok(&["profile", "remove", "p"]);
    assert!(removed.contains("its outbox"), "{removed}");
    ok(&["profile", "add", "p", &format!("mqtt://127.0.0.1:{}", broker_b.port)]);
    let w = Watch::spawn({
        let mut c = tether_cli(home.path());
        c.args(["watch", "--profile", "p", "--json"]);
        c
    });
    w.wait_event("connected", Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(observer_b.lines().is_empty(), "broker B got A's message: {:?}", observer_b.lines());
    assert_eq!(w.stop(), 0);
}
