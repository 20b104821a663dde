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
