//! Engine ingest throughput: small messages from a real Mosquitto into a Tether link handle.
//!
//! `cargo bench --bench ingest` (release build). A separate rumqttc client publishes N small
//! messages as fast as the broker takes them; the figure is messages per second seen on the
//! link's event receiver, from the first message to the last, median of several runs.
//! Target (DESIGN.md): at least 50,000 messages/s.

#[path = "../tests/common/broker.rs"]
#[allow(dead_code)] // shared with the tests, which use all of it
mod broker;

use broker::{Broker, BrokerOptions};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::time::{Duration, Instant};
use tether::config::{LinkConfig, Subscription};
use tether::credentials::StaticSource;
use tether::event::EventKind;
use tether::Link;

const RUNS: usize = 5;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let broker = Broker::start(BrokerOptions {
        // Let the broker queue as much as the benchmark sends, so it measures us, not its limits.
        extra: "max_queued_messages 0\nmax_inflight_messages 0\nmax_queued_bytes 0\n".into(),
        ..Default::default()
    });
    let mut lines = vec![
        format!("# Ingest benchmark ({})", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")),
        String::new(),
        "Command: `cargo bench --bench ingest`. Mosquitto on loopback; a rumqttc publisher; a Tether link subscribed.".into(),
        format!("Tether commit: {}", commit()),
        format!("Median of {RUNS} runs; payload 16 bytes."),
        String::new(),
        "| QoS | messages per run | median msg/s | min msg/s | max msg/s | lost (max over runs) |".into(),
        "|---|---|---|---|---|---|".into(),
    ];
    for (qos, n) in [(0u8, 200_000usize), (1u8, 100_000usize)] {
        let mut rates = Vec::new();
        let mut lost_max = 0;
        for run in 0..RUNS {
            let (rate, lost) = rt.block_on(one_run(broker.port, qos, n, run));
            println!("qos {qos} run {run}: {rate:.0} msg/s, lost {lost}");
            rates.push(rate);
            lost_max = lost_max.max(lost);
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        lines.push(format!(
            "| {qos} | {n} | {:.0} | {:.0} | {:.0} | {lost_max} |",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        ));
    }
    let report = lines.join("\n") + "\n";
    println!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results/ingest.md");
    let _ = std::fs::create_dir_all(out.parent().expect("dir"));
    std::fs::write(&out, report).expect("write results");
    println!("written to {}", out.display());
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn one_run(port: u16, qos: u8, n: usize, run: usize) -> (f64, usize) {
    let topic = format!("ingest/{}/{qos}/{run}", std::process::id());
    let mut cfg = LinkConfig::new("bench", &format!("mqtt://127.0.0.1:{port}")).expect("url");
    cfg.clean_session = true;
    cfg.subscriptions.push(Subscription {
        topic: topic.clone(),
        qos,
        stale_after: None,
    });
    let (h, mut rx) = Link::start_subscribed(cfg, std::sync::Arc::new(StaticSource::anonymous())).expect("start");
    loop {
        match rx.recv().await.expect("events").kind {
            EventKind::SubscriptionsRestored { .. } => break,
            _ => continue,
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut opts = MqttOptions::new(format!("bench-pub-{run}-{qos}"), "127.0.0.1", port);
    opts.set_inflight(1000).set_request_channel_capacity(10_000);
    let (client, mut el) = AsyncClient::new(opts, 10_000);
    let pump = tokio::spawn(async move { while el.poll().await.is_ok() {} });
    let q = if qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
    let publisher = tokio::spawn(async move {
        for i in 0..n {
            let payload = format!("{i:016}");
            if client.publish(topic.as_str(), q, false, payload.into_bytes()).await.is_err() {
                break;
            }
        }
        client
    });

    let mut got = 0usize;
    let mut skipped = 0usize;
    let mut first = None;
    let mut last = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got + skipped < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(ev)) => {
                if let EventKind::Message { .. } = ev.kind {
                    got += 1;
                    last = Instant::now();
                    first.get_or_insert(last);
                }
            }
            // A reader slower than the engine skips events; counted as lost here.
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(k))) => skipped += k as usize,
            Ok(Err(_)) | Err(_) => break,
        }
    }
    if let Ok(client) = publisher.await {
        let _ = client.disconnect().await;
    }
    pump.abort();
    h.stop().await;
    let secs = first.map(|f| (last - f).as_secs_f64()).unwrap_or(f64::NAN).max(1e-9);
    (got as f64 / secs, n - got)
}
