//! Engine ingest throughput: small messages from a real Mosquitto into a Tether link.
//!
//! `cargo bench --bench ingest` (release build). Two flows, each read three ways in the same run:
//! - **backlog**: N messages wait in the reader's persistent session (published while it was
//!   away), then it connects and drains them: what the broker can hand out is the limit, and the
//!   reader is what is measured;
//! - **live**: a rumqttc publisher sends N messages while the reader is connected: on 2 cores the
//!   publisher and the broker share the machine with the reader, so this is a ceiling for all three.
//!
//! Readers: a consumer (`Link::start_consumed`, what `tether watch` and the app use: each delivery
//! acknowledged, QoS 1 acked to the broker only then), an observer of the event broadcast
//! (`Link::start_subscribed`: the supervisor acks at once, a slow observer skips), and a peer, a bare
//! rumqttc client (auto acks, no engine). The figure is messages per second from the first message
//! to the last, median of several runs. Target (DESIGN.md): at least 50,000 QoS 1 messages/s.

#[path = "common.rs"]
mod common;
use common::commit;

#[path = "../tests/common/broker.rs"]
#[allow(dead_code)] // shared with the tests, which use all of it
mod broker;

use broker::{Broker, BrokerOptions};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Outgoing, QoS};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tether::config::{LinkConfig, Subscription};
use tether::credentials::StaticSource;
use tether::delivery::Consumer;
use tether::event::{EventKind, LinkEvent};
use tether::{Link, LinkHandle};
use tokio::sync::broadcast;

const RUNS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Reader {
    Consumer,
    Observer,
    Rumqttc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Flow {
    Backlog,
    Live,
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    // Let the broker queue as much as the benchmark sends, so it measures us, not its limits.
    let queue = "max_queued_messages 0\nmax_queued_bytes 0\nqueue_qos0_messages true\n";
    let broker = Broker::start(BrokerOptions {
        extra: format!("{queue}max_inflight_messages 0\n"),
        ..Default::default()
    });
    // Mosquitto's default window of 20 unacknowledged QoS 1 messages per client: with acks after
    // hand-off, the round trip to the consumer paces it.
    let window20 = Broker::start(BrokerOptions {
        extra: queue.into(),
        ..Default::default()
    });
    let mut lines = vec![
        format!("# Ingest benchmark ({})", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")),
        String::new(),
        "Command: `cargo bench --bench ingest`. Mosquitto on loopback; see the header of bench/ingest.rs for the flows and readers.".into(),
        format!("Tether commit: {}", commit()),
        format!("Median of {RUNS} runs; payload 16 bytes; ratio = median / the peer's median in the same flow."),
        String::new(),
        "| flow | reader | broker window | QoS | messages | median msg/s | min | max | ratio to peer | lost (max) |".into(),
        "|---|---|---|---|---|---|---|---|---|---|".into(),
    ];
    let mut peer = std::collections::HashMap::new();
    for flow in [Flow::Backlog, Flow::Live] {
        for (qos, n) in [(1u8, 100_000usize), (0, 200_000)] {
            let mut cases = vec![(Reader::Rumqttc, &broker, "unlimited"), (Reader::Consumer, &broker, "unlimited")];
            if qos == 1 {
                cases.push((Reader::Consumer, &window20, "20 (default)"));
            }
            cases.push((Reader::Observer, &broker, "unlimited"));
            for (reader, b, window) in cases {
                let mut rates = Vec::new();
                let mut lost_max = 0;
                for run in 0..RUNS {
                    let (rate, lost) = rt.block_on(one_run(b.port, flow, reader, qos, n, run));
                    println!("{flow:?} {reader:?} window {window} qos {qos} run {run}: {rate:.0} msg/s, lost {lost}");
                    rates.push(rate);
                    lost_max = lost_max.max(lost);
                }
                rates.sort_by(|a, b| a.total_cmp(b));
                let median = rates[rates.len() / 2];
                if reader == Reader::Rumqttc {
                    peer.insert((flow, qos), median);
                }
                let ratio = median / peer.get(&(flow, qos)).copied().unwrap_or(f64::NAN);
                lines.push(format!(
                    "| {flow:?} | {reader:?} | {window} | {qos} | {n} | {median:.0} | {:.0} | {:.0} | {ratio:.2} | {lost_max} |",
                    rates[0],
                    rates[rates.len() - 1]
                ));
            }
        }
    }
    let report = lines.join("\n") + "\n";
    println!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/ingest.md");
    let _ = std::fs::create_dir_all(out.parent().expect("dir"));
    std::fs::write(&out, report).expect("write results");
    println!("written to {}", out.display());
}

fn qos_of(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

/// A reader of one topic: a Tether link read either way, or a bare rumqttc client.
enum Rx {
    Consumer(LinkHandle, Consumer),
    Observer(LinkHandle, broadcast::Receiver<LinkEvent>),
    Rumqttc(AsyncClient, Box<rumqttc::EventLoop>),
}

impl Rx {
    /// Connected and subscribed (its session, if persistent, then holds what comes).
    async fn start(reader: Reader, port: u16, client_id: &str, topic: &str, qos: u8, persistent: bool) -> Self {
        let mut rx = if reader == Reader::Rumqttc {
            let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
            opts.set_clean_session(!persistent).set_inflight(100);
            let (c, el) = AsyncClient::new(opts, 10_000);
            c.subscribe(topic, qos_of(qos)).await.expect("subscribe");
            Rx::Rumqttc(c, Box::new(el))
        } else {
            let mut cfg = LinkConfig::new("bench", &format!("mqtt://127.0.0.1:{port}")).expect("url");
            cfg.client_id = client_id.to_string();
            cfg.clean_session = !persistent;
            cfg.subscriptions.push(Subscription {
                topic: topic.to_string(),
                qos,
                stale_after: None,
            });
            let creds = Arc::new(StaticSource::anonymous());
            if reader == Reader::Consumer {
                let (h, c) = Link::start_consumed(cfg, creds).expect("start");
                Rx::Consumer(h, c)
            } else {
                let (h, rx) = Link::start_subscribed(cfg, creds).expect("start");
                Rx::Observer(h, rx)
            }
        };
        // Ready: subscribed (SUBACK), or the kept session resumed.
        loop {
            match rx.next().await {
                Some(Ok(Got::Ready)) => return rx,
                Some(_) => continue,
                None => panic!("the reader stopped before it was ready"),
            }
        }
    }

    /// The next thing of interest; `Err(n)`: the reader skipped `n` events (the broadcast only).
    async fn next(&mut self) -> Option<Result<Got, usize>> {
        let got = |ev: &LinkEvent| match &ev.kind {
            EventKind::Message { .. } => Got::Message,
            EventKind::SubscriptionsRestored { .. } => Got::Ready,
            EventKind::Connected { session_present: true } => Got::Ready,
            _ => Got::Other,
        };
        match self {
            Rx::Consumer(_, c) => {
                let d = c.recv().await?;
                let g = got(&d.event);
                c.ack(d.receipt);
                Some(Ok(g))
            }
            Rx::Observer(_, rx) => match rx.recv().await {
                Ok(ev) => Some(Ok(got(&ev))),
                Err(broadcast::error::RecvError::Lagged(k)) => Some(Err(k as usize)),
                Err(_) => None,
            },
            Rx::Rumqttc(_, el) => match el.poll().await {
                Ok(Event::Incoming(Incoming::Publish(_))) => Some(Ok(Got::Message)),
                Ok(Event::Incoming(Incoming::SubAck(_))) => Some(Ok(Got::Ready)),
                Ok(Event::Incoming(Incoming::ConnAck(a))) if a.session_present => Some(Ok(Got::Ready)),
                Ok(_) => Some(Ok(Got::Other)),
                Err(_) => None,
            },
        }
    }

    async fn stop(self) {
        match self {
            Rx::Consumer(h, _) => h.stop().await,
            Rx::Observer(h, _) => h.stop().await,
            Rx::Rumqttc(c, mut el) => {
                let _ = c.disconnect().await;
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while !matches!(el.poll().await, Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_)) {}
                })
                .await;
            }
        }
    }
}

enum Got {
    Message,
    Ready,
    Other,
}

async fn one_run(port: u16, flow: Flow, reader: Reader, qos: u8, n: usize, run: usize) -> (f64, usize) {
    let tag = format!("{}-{flow:?}-{reader:?}-{qos}-{run}-{port}", std::process::id());
    let topic = format!("ingest/{tag}");
    let client_id = format!("bench-{tag}");
    let mut rx = match flow {
        Flow::Live => Rx::start(reader, port, &client_id, &topic, qos, false).await,
        Flow::Backlog => {
            // The session is made, left, filled, then resumed.
            Rx::start(reader, port, &client_id, &topic, qos, true).await.stop().await;
            publish(port, &topic, qos, n, &tag).await;
            Rx::start(reader, port, &client_id, &topic, qos, true).await
        }
    };
    let publisher = (flow == Flow::Live).then(|| {
        let topic = topic.clone();
        tokio::spawn(async move { publish(port, &topic, qos, n, &tag).await })
    });
    let mut got = 0usize;
    let mut skipped = 0usize;
    let mut first = None;
    let mut last = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got + skipped < n {
        match tokio::time::timeout_at(deadline, rx.next()).await {
            Ok(Some(Ok(Got::Message))) => {
                got += 1;
                last = Instant::now();
                first.get_or_insert(last);
            }
            Ok(Some(Ok(_))) => {}
            // A reader slower than the engine skips events; counted as lost here.
            Ok(Some(Err(k))) => skipped += k,
            Ok(None) | Err(_) => break,
        }
    }
    if let Some(p) = publisher {
        let _ = p.await;
    }
    rx.stop().await;
    let secs = first.map(|f| (last - f).as_secs_f64()).unwrap_or(f64::NAN).max(1e-9);
    (got as f64 / secs, n - got)
}

/// Publish `n` 16-byte messages as fast as the broker takes them; returns once the broker has
/// them all (PUBACKs for QoS 1, written for QoS 0).
async fn publish(port: u16, topic: &str, qos: u8, n: usize, tag: &str) {
    let mut opts = MqttOptions::new(format!("bench-pub-{tag}"), "127.0.0.1", port);
    opts.set_inflight(1000).set_request_channel_capacity(10_000);
    let (client, mut el) = AsyncClient::new(opts, 10_000);
    let pump = tokio::spawn(async move {
        let mut done = 0usize;
        while done < n {
            match el.poll().await {
                Ok(Event::Incoming(Incoming::PubAck(_))) if qos == 1 => done += 1,
                Ok(Event::Outgoing(Outgoing::Publish(_))) if qos == 0 => done += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        el
    });
    for i in 0..n {
        let payload = format!("{i:016}");
        if client.publish(topic, qos_of(qos), false, payload.into_bytes()).await.is_err() {
            break;
        }
    }
    if let Ok(mut el) = pump.await {
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while !matches!(el.poll().await, Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_)) {}
        })
        .await;
    }
}
