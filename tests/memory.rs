//! Memory bounds in bytes (M10): what a link may hold for a reader that does not read is bounded
//! by bytes, whatever the messages' sizes. A test binary of its own: it measures this process's
//! resident memory, which other tests running beside it would disturb.

mod common;

use common::*;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::time::Duration;

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_that_never_reads_does_not_pin_the_messages_it_missed() {
    let broker = Broker::start(BrokerOptions::default());
    let topic = unique("pinned");
    let mut cfg = fast_config(broker.port);
    cfg.subscriptions.push(qos1(format!("{topic}/#")));
    // The observer: subscribed from the first event, and never read.
    let (h, mut ev) = start(cfg);
    ev.wait_name("subscriptions_restored", Duration::from_secs(10)).await;
    let before = rss_mib();

    const N: u64 = 1000;
    let payload = vec![b'p'; 512 * 1024];
    let mut opts = MqttOptions::new(unique("pub"), "127.0.0.1", broker.port);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(opts, 16);
    let pump = tokio::spawn(async move {
        let mut acked = 0;
        while acked < N {
            match el.poll().await {
                Ok(Event::Incoming(Incoming::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => panic!("publisher: {e}"),
            }
        }
    });
    for _ in 0..N {
        client
            .publish(format!("{topic}/x"), QoS::AtLeastOnce, false, payload.clone())
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), pump)
        .await
        .expect("published in time")
        .unwrap();
    // Every message reached the link (and was offered to the observer that does not read).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = h.diagnostics().await.expect("diagnostics");
        if d.messages_in >= N {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {} of {N} messages in", d.messages_in);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grown = rss_mib() - before;
    println!("{N} messages of 512 KiB to an observer that never reads: resident memory grew {grown:.0} MiB");
    assert!(grown < 200.0, "{grown:.0} MiB held for a reader that does not read");
    h.stop().await;
}
