//! The soak's other end: bare rumqttc clients straight on the broker (no proxy, so the faults are
//! the link's alone). Each has a persistent session, so a broker restart loses none of its
//! messages; a poll error (the broker is down) is waited out.

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::tally::Tally;

fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_clean_session(false).set_keep_alive(Duration::from_secs(5)).set_inflight(100);
    o
}

/// Subscribe to `topic` and count what arrives (sequence numbers as payloads) in `tally`.
pub async fn subscriber(id: &str, port: u16, topic: &str, tally: Arc<Mutex<Tally>>) {
    let (client, mut el) = AsyncClient::new(options(id, port), 1000);
    client.subscribe(topic, QoS::AtLeastOnce).await.expect("subscribe");
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Incoming::SubAck(_))) => break,
            Ok(_) => {}
            Err(e) => panic!("peer {id} could not subscribe: {e}"),
        }
    }
    tokio::spawn(async move {
        let _client = client;
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    if let Some(seq) = std::str::from_utf8(&p.payload).ok().and_then(|s| s.parse().ok()) {
                        tally.lock().expect("tally").record(seq);
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
}

/// Publish `0, 1, 2, …` to `topic` at `rate` per second while `on`; `published` counts what was
/// handed to the client (rumqttc keeps and resends it across the broker's restarts).
pub fn publisher(port: u16, topic: &'static str, rate: u32, on: Arc<AtomicBool>, published: Arc<AtomicU64>) {
    let (client, mut el) = AsyncClient::new(options("soak-peer-pub", port), 100_000);
    tokio::spawn(async move {
        loop {
            if el.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        let mut seq = 0u64;
        while on.load(Ordering::SeqCst) {
            tick.tick().await;
            if client.publish(topic, QoS::AtLeastOnce, false, seq.to_string()).await.is_err() {
                break;
            }
            seq += 1;
            published.store(seq, Ordering::SeqCst);
        }
    });
}
