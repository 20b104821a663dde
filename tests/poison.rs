//! Poison: inputs that trap a naive client in a reconnect loop (a message too big to keep, a
//! publish the broker refuses, a link that dies right after every CONNACK). None of them may make
//! a reconnect storm, and what they carry is reported, not silently lost.

mod common;

use common::*;
use std::time::Duration;
use tether::event::EventKind;

const T: Duration = Duration::from_secs(15);

#[tokio::test]
async fn an_oversized_queued_message_does_not_trap_the_link() {
    let broker = Broker::start(BrokerOptions {
        persistence: true,
        ..Default::default()
    });
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let topic = unique("poison");
    let mut cfg = fast_config(proxy.port);
    cfg.max_packet_size = 64 * 1024;
    cfg.subscriptions.push(qos1(format!("{topic}/#")));
    let (h, mut ev) = start(cfg);
    ev.wait_name("subscriptions_restored", T).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Queued by the broker for our persistent session while we are away: redelivered on every
    // reconnect until someone acknowledges it.
    proxy.cut();
    ev.wait_name("connection_interrupted", T).await;
    mosquitto_pub_file(broker.port, &format!("{topic}/big"), &vec![b'x'; 200 * 1024], 1, false);
    mosquitto_pub(broker.port, &format!("{topic}/after"), "after", 1);
    proxy.restore();

    ev.wait_for(
        "the message queued behind the big one",
        T,
        |k| matches!(k, EventKind::Message { payload, .. } if payload == "after"),
    )
    .await;
    ev.drain_for(Duration::from_secs(5)).await;
    let skipped: Vec<_> = ev
        .seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageTooLarge { topic, size, limit } => Some((topic.clone(), *size, *limit)),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1, "reported once: {:?}", ev.names());
    let (t, size, limit) = &skipped[0];
    assert_eq!(t, &format!("{topic}/big"));
    assert!(*size >= 200 * 1024 && *limit == 64 * 1024, "{size} / {limit}");
    assert!(ev.count("connected") <= 3, "the link stays up: {:?}", ev.names());
    assert!(
        !ev.seen
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Message { payload, .. } if payload.len() > 64 * 1024)),
        "the oversized message is not delivered"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_retained_oversized_message_is_skipped_on_every_subscribe_without_a_reconnect() {
    let broker = Broker::start(BrokerOptions::default());
    let topic = unique("retained");
    mosquitto_pub_file(broker.port, &format!("{topic}/big"), &vec![b'y'; 2 * 1024 * 1024], 1, true);
    let mut cfg = fast_config(broker.port);
    cfg.max_packet_size = 1024 * 1024;
    cfg.subscriptions.push(qos1(format!("{topic}/#")));
    let (h, mut ev) = start(cfg);
    ev.wait_name("message_too_large", T).await;
    mosquitto_pub(broker.port, &format!("{topic}/small"), "small", 1);
    ev.wait_for(
        "a message after the retained big one",
        T,
        |k| matches!(k, EventKind::Message { payload, .. } if payload == "small"),
    )
    .await;
    ev.drain_for(Duration::from_secs(3)).await;
    assert_eq!(ev.count("connected"), 1, "{:?}", ev.names());
    assert_eq!(ev.count("connection_interrupted"), 0, "{:?}", ev.names());
    h.stop().await;
}

#[tokio::test]
async fn a_publish_the_broker_refuses_is_set_aside_not_replayed_forever() {
    // Mosquitto disconnects a client whose packet is over its max_packet_size.
    let broker = Broker::start(BrokerOptions {
        extra: "max_packet_size 2048\n".into(),
        ..Default::default()
    });
    let topic = unique("refused");
    let observer = Observer::start(broker.port, &topic);
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let mut cfg = fast_config(proxy.port);
    cfg.reconnect.stable_after = Duration::from_secs(2);
    let (h, mut ev) = start(cfg);
    ev.wait_name("connected", T).await;
    let t0 = std::time::Instant::now();
    let since = proxy.connections();
    h.publish(&topic, "x".repeat(4096), 1, false).await.expect("queued");
    h.publish(&topic, "ok", 1, false).await.expect("queued");
    let refused = ev.wait_name("outbox_refused", Duration::from_secs(20)).await;
    let EventKind::OutboxRefused { topic: t, size, .. } = &refused.kind else {
        unreachable!()
    };
    assert_eq!(t, &topic);
    assert!(*size > 4096, "{size}");
    assert_eq!(observer.wait_lines(1, T).await, ["ok"], "the queue behind it flows");
    let connects = proxy.connections() - since;
    assert!(connects <= 4, "{connects} CONNECTs in {:?}", t0.elapsed());
    ev.wait_name("recovered", T).await;
    h.stop().await;
}
