//! The soak's Tether side, a child process of its own so that what is sampled (memory, open
//! files, tasks) is the link's process alone, not the broker's peers or the fault proxy's.
//!
//! One link (persistent session, durable outbox on disk) through the fault proxy: it consumes
//! `soak/in` and publishes `soak/out` at a steady rate. It speaks to the driver in lines on stdout:
//! `A <seq>` a publish accepted (queued or sent), `X <seq> <why>` one refused, `R <seq>` a message
//! received (written and flushed before its receipt is acknowledged: at least once to this
//! consumer), `E <event>` a link event, `S <rss KiB> <fds> <tasks> <outbox>` a sample every 2 s.
//! A line `stop` on stdin ends the publishing; `quit` stops the link and the process.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tether::config::{LinkConfig, Subscription};
use tether::credentials::StaticSource;
use tether::event::EventKind;
use tether::policy::RecoveryStrategy;
use tether::Link;
use tokio::io::AsyncBufReadExt;

pub struct Args {
    pub port: u16,
    pub dir: PathBuf,
    pub rate: u32,
}

pub fn config(a: &Args) -> LinkConfig {
    let mut cfg = LinkConfig::new("soak", &format!("mqtt://127.0.0.1:{}", a.port)).expect("url");
    cfg.client_id = "soak-link".into();
    cfg.clean_session = false;
    // Short clocks, so a thousand cycles fit in half an hour: a silent link is found in about
    // 1.5 s, a refused attempt is retried within a second.
    cfg.keepalive = Duration::from_secs(1);
    cfg.connect_timeout = Duration::from_secs(1);
    cfg.reconnect.initial_reconnect_delay = Duration::from_millis(100);
    cfg.reconnect.max_reconnect_delay = Duration::from_secs(1);
    cfg.reconnect.max_reconnect_attempts = 5;
    cfg.reconnect.stable_after = Duration::from_secs(2);
    cfg.recovery.strategy = RecoveryStrategy::Backoff;
    cfg.recovery.initial_recovery_delay = Duration::from_millis(200);
    cfg.recovery.max_recovery_delay = Duration::from_secs(2);
    // The soak counts `gave_up`; it should never come, and the link must not stop if it does.
    cfg.recovery.max_recovery_attempts = u32::MAX;
    cfg.outbox.max_messages = 1_000_000;
    cfg.outbox.max_age = Duration::from_secs(24 * 3600);
    cfg.outbox_path = Some(a.dir.join("outbox.redb"));
    cfg.subscriptions.push(Subscription {
        topic: "soak/in".into(),
        qos: 1,
        stale_after: None,
    });
    cfg
}

/// One line to the driver. A closed stdout means the driver is gone: stop.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

pub fn run(a: Args) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let (handle, mut consumer) = Link::start_consumed(config(&a), Arc::new(StaticSource::anonymous())).expect("the soak's link starts");
        let consuming = tokio::spawn(async move {
            while let Some(d) = consumer.recv().await {
                match &d.event.kind {
                    EventKind::Message { topic, payload, .. } if topic == "soak/in" => {
                        say(&format!("R {}", String::from_utf8_lossy(payload)));
                    }
                    other => say(&format!("E {}", other.name())),
                }
                consumer.ack(d.receipt);
            }
        });
        let publishing = Arc::new(AtomicBool::new(true));
        let (h, on) = (handle.clone(), publishing.clone());
        let rate = a.rate;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
            let mut seq = 0u64;
            while on.load(Ordering::SeqCst) {
                tick.tick().await;
                match h.publish("soak/out", seq.to_string(), 1, false).await {
                    Ok(_) => say(&format!("A {seq}")),
                    Err(e) => say(&format!("X {seq} {e}")),
                }
                seq += 1;
            }
        });
        let h = handle.clone();
        tokio::spawn(async move {
            let outbox = h.outbox_len();
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
                say(&format!("S {} {} {tasks} {}", rss_kib(), open_files(), *outbox.borrow()));
            }
        });
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            match line.trim() {
                "stop" => publishing.store(false, Ordering::SeqCst),
                "quit" => break,
                _ => {}
            }
        }
        handle.stop().await;
        consuming.abort();
    });
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}
