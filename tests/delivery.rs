//! At least once all the way to the consumer: `tether watch` acknowledges a QoS 1 message to the
//! broker only once it has written it out, so a slow reader slows the link instead of losing
//! messages, and a `kill -9` loses nothing the broker will not send again.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tether");

/// The broker keeps whatever a slow client has not taken yet. Mosquitto's default queue (1000
/// messages per client) would drop the rest at the broker, which is the broker's own policy and
/// reported in its log, not a loss inside Tether.
fn roomy_broker(persistence: bool) -> Broker {
    Broker::start(BrokerOptions {
        persistence,
        extra: "max_queued_messages 0\nmax_queued_bytes 0\n".into(),
        ..Default::default()
    })
}

fn watch_cmd(home: &Path, port: u16, topic: &str, client_id: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("TETHER_CONFIG_DIR", home.join("config"))
        .env("TETHER_DATA_DIR", home.join("data"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .args(["watch", &format!("mqtt://127.0.0.1:{port}"), "--sub", topic, "--qos", "1", "--json"])
        .args(["--client-id", client_id]);
    c
}

/// 100-byte payloads, each naming its index.
fn payloads(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:08}-{}", "x".repeat(91))).collect()
}

fn received(events: &[serde_json::Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["event"] == "message")
        .filter_map(|e| e["payload"].as_str().map(str::to_string))
        .collect()
}

fn missing(sent: &[String], got: &BTreeSet<String>) -> Vec<String> {
    sent.iter().filter(|p| !got.contains(*p)).take(5).cloned().collect()
}

#[test]
fn a_slow_reader_of_watch_json_loses_no_qos1_message() {
    let broker = roomy_broker(false);
    let home = tempfile::tempdir().unwrap();
    let topic = unique("slow");
    let cmd = watch_cmd(home.path(), broker.port, &format!("{topic}/#"), &unique("slow"));
    // The reader stops for 10 s right after the subscription is in place.
    let w = Watch::spawn_stalling(cmd, Some(("subscriptions_restored", Duration::from_secs(10))));
    w.wait_event("subscriptions_restored", Duration::from_secs(10));
    let sent = payloads(20_000);
    mosquitto_pub_lines(broker.port, &format!("{topic}/x"), &sent, 1);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = received(&w.events());
        if got.len() >= sent.len() || Instant::now() > deadline {
            let lost = missing(&sent, &got);
            assert!(
                lost.is_empty(),
                "{} of {} messages never reached stdout, e.g. {lost:?}",
                sent.len() - got.intersection(&sent.iter().cloned().collect()).count(),
                sent.len()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(w.stop(), 0);
}

#[test]
fn kill_9_of_watch_loses_nothing_the_broker_had_sent_it() {
    let broker = roomy_broker(true);
    let home = tempfile::tempdir().unwrap();
    let topic = unique("kill");
    let client_id = unique("kill");
    let filter = format!("{topic}/#");
    let sent = payloads(10_000);
    let mut seen = BTreeSet::new();
    // A few rounds, each killed in the middle of the flow.
    for round in 0..3 {
        let w = Watch::spawn(watch_cmd(home.path(), broker.port, &filter, &client_id));
        w.wait_event("subscriptions_restored", Duration::from_secs(10));
        let chunk: Vec<String> = sent[round * 3000..(round + 1) * 3000].to_vec();
        let (port, t, c) = (broker.port, format!("{topic}/x"), chunk.clone());
        let publisher = std::thread::spawn(move || mosquitto_pub_lines(port, &t, &c, 1));
        // Killed once a third of this round's messages are out, the rest on their way.
        w.wait("part of this round's messages", Duration::from_secs(30), |v| {
            let got = received(v);
            chunk.iter().filter(|p| got.contains(*p)).count() > 1000
        });
        seen.extend(received(&w.kill9()));
        publisher.join().expect("publisher");
    }
    // The rest, and whatever the killed runs had not written out, come to the next run.
    let w = Watch::spawn(watch_cmd(home.path(), broker.port, &filter, &client_id));
    w.wait_event("subscriptions_restored", Duration::from_secs(10));
    mosquitto_pub_lines(broker.port, &format!("{topic}/x"), &sent[9000..], 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = seen.clone();
        all.extend(received(&w.events()));
        let lost = missing(&sent, &all);
        if lost.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never delivered after kill -9, e.g. {lost:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(w.stop(), 0);
}
