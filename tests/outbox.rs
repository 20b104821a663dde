//! The outbox file under faults a user's disk can produce.

mod common;

use common::*;
use std::time::Duration;
use tether::event::EventKind;

const T: Duration = Duration::from_secs(15);

#[tokio::test]
async fn an_unreadable_outbox_file_is_set_aside_and_the_link_starts() {
    let broker = Broker::start(BrokerOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox").join("p.redb");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let topic = unique("aside");
    let observer = Observer::start(broker.port, &topic);
    let mut cfg = fast_config(broker.port);
    cfg.outbox_path = Some(path.clone());
    let (h, mut ev) = start(cfg);
    let e = ev.wait_name("outbox_set_aside", T).await;
    let EventKind::OutboxSetAside { path: aside, .. } = &e.kind else {
        unreachable!()
    };
    assert_eq!(std::fs::read(aside).expect("kept"), garbage);
    ev.wait_name("connected", T).await;
    h.publish(&topic, "after", 1, false)
        .await
        .expect("the fresh outbox takes publishes");
    assert_eq!(observer.wait_lines(1, T).await, ["after"]);
    h.stop().await;
}

#[tokio::test]
async fn an_entry_queued_before_the_packet_limit_was_lowered_is_set_aside_and_the_rest_flows() {
    let broker = Broker::start(BrokerOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("lowered");
    let observer = Observer::start(broker.port, &topic);
    // Queued while offline (nobody listens on this port), under the default 1 MiB limit.
    let mut cfg = fast_config(broker::free_port());
    cfg.outbox_path = Some(dir.path().join("p.redb"));
    let (h, _ev) = start(cfg.clone());
    h.publish(&topic, "x".repeat(4096), 1, false).await.expect("queued");
    h.publish(&topic, "small", 1, false).await.expect("queued");
    h.stop().await;

    cfg.broker = tether::config::BrokerUrl::parse(&format!("mqtt://127.0.0.1:{}", broker.port)).unwrap();
    cfg.max_packet_size = 2048;
    let (h, mut ev) = start(cfg);
    let e = ev.wait_name("outbox_refused", T).await;
    assert!(
        matches!(&e.kind, EventKind::OutboxRefused { reason, .. } if reason.contains("max_packet_size")),
        "{:?}",
        e.kind
    );
    assert_eq!(observer.wait_lines(1, T).await, ["small"]);
    ev.drain_for(Duration::from_millis(300)).await;
    assert_eq!(ev.count("connected"), 1, "no reconnect on the way: {:?}", ev.names());
    h.stop().await;
}

#[tokio::test]
async fn offline_publishing_is_told_in_a_few_events_with_exact_counts_not_one_per_message() {
    // Nothing listens on this port: every publish is offline.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fast_config(1);
    cfg.outbox_path = Some(dir.path().join("o.redb"));
    cfg.outbox.max_messages = 100;
    cfg.outbox.overflow = tether::config::Overflow::DropOldest;
    let (h, mut ev) = start(cfg);
    for i in 0..2_000 {
        h.publish("t/x", format!("{i}"), 1, false).await.expect("queued");
    }
    ev.drain_for(Duration::from_millis(1500)).await;
    // Whatever waits to be told is told before `stopped`.
    h.stop().await;
    ev.wait_name("stopped", Duration::from_secs(5)).await;
    let queued: Vec<usize> = ev
        .seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::OutboxQueued { count } => Some(count),
            _ => None,
        })
        .collect();
    let dropped: usize = ev
        .seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::OutboxDropped { count, .. } => Some(count),
            _ => None,
        })
        .sum();
    let told = ev.count("outbox_queued") + ev.count("outbox_dropped");
    // Each event is also a log line at info: the log grows with time offline, not with traffic.
    assert!(told < 40, "{told} outbox events for 2,000 publishes");
    assert_eq!(queued.last(), Some(&100), "the last count is the outbox's: {queued:?}");
    assert_eq!(dropped, 1_900, "every overflow is counted");
}
