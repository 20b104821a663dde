//! The supervisor's timing under tokio's paused clock: the delays it waits are the policy's,
//! tier 1 then tier 2 then gave_up, without sleeping in real time. The broker port is closed, so
//! every attempt fails at once with "connection refused".

mod common;

use std::time::Duration;
use tether::event::EventKind;
use tether::policy::RecoveryStrategy;
use tokio::time::Instant;

/// The design's schedule without jitter, shortened to 4 tier-1 attempts and 3 recovery cycles.
fn design_schedule(port: u16) -> tether::LinkConfig {
    let mut cfg = common::fast_config(port);
    cfg.reconnect.jitter = false;
    cfg.reconnect.initial_reconnect_delay = Duration::from_secs(1);
    cfg.reconnect.max_reconnect_delay = Duration::from_secs(120);
    cfg.reconnect.max_reconnect_attempts = 4;
    cfg.recovery.strategy = RecoveryStrategy::Backoff;
    cfg.recovery.initial_recovery_delay = Duration::from_secs(60);
    cfg.recovery.max_recovery_delay = Duration::from_secs(300);
    cfg.recovery.max_recovery_attempts = 3;
    cfg
}

#[tokio::test(start_paused = true)]
async fn the_supervisor_waits_exactly_the_policy_delays_in_virtual_time() {
    let cfg = design_schedule(common::broker::free_port());
    let t0 = Instant::now();
    let (h, mut ev) = common::start(cfg);
    ev.wait_name("gave_up", Duration::from_secs(3600)).await;
    let elapsed = t0.elapsed();

    let delays: Vec<u64> = ev
        .seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Reconnecting { delay, .. } => Some(delay.as_secs()),
            EventKind::RecoveryAttempt { delay, .. } => Some(delay.as_secs()),
            _ => None,
        })
        .collect();
    // Tier 1: 1, 2, 4, 8; then recovery cycles 60, 120, 240 (the default backoff strategy).
    assert_eq!(delays, vec![1, 2, 4, 8, 60, 120, 240], "{:?}", ev.names());
    assert_eq!(ev.count("reconnection_failed"), 1);
    // The whole outage took the sum of the delays in virtual time (attempts fail at once).
    let total: u64 = delays.iter().sum();
    assert!(elapsed >= Duration::from_secs(total), "{elapsed:?} < {total} s");
    assert!(elapsed < Duration::from_secs(total + 5), "{elapsed:?} ≫ {total} s");
    h.stop().await;
}

/// A broker that accepts every CONNECT and closes the connection right after its CONNACK: the
/// shape of a poison message, a duplicate client id kicking us, or an ACL refusal that
/// disconnects. Counts the CONNECTs it saw.
async fn connack_then_close() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connects = std::sync::Arc::new(AtomicUsize::new(0));
    let c = connects.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                // One read holds the whole (small) CONNECT on loopback.
                if matches!(sock.read(&mut buf).await, Ok(n) if n > 0 && buf[0] >> 4 == 1) {
                    c.fetch_add(1, Ordering::SeqCst);
                    let _ = sock.write_all(&[0x20, 2, 0, 0]).await;
                }
                // Dropped: closed right after CONNACK.
            });
        }
    });
    (port, connects)
}

#[tokio::test(start_paused = true)]
async fn a_link_dropped_right_after_every_connack_escalates() {
    let (port, connects) = connack_then_close().await;
    let mut cfg = design_schedule(port);
    cfg.reconnect.stable_after = Duration::from_secs(10);
    let (h, mut ev) = common::start(cfg);
    // Tier 1 (1 + 2 + 4 + 8 s) and three recovery cycles (60 + 120 + 240 s) fit in 10 minutes.
    ev.wait_name("gave_up", Duration::from_secs(600)).await;
    let n = connects.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ev.count("reconnection_failed"), 1, "{:?}", ev.names());
    // The first connect, 4 tier 1 attempts, 3 recovery cycles: the policy's schedule, no storm.
    assert!(n <= 12, "{n} CONNECTs in 10 virtual minutes");
    println!("{n} CONNECTs until gave_up");
    assert_eq!(ev.count("recovered"), 0, "a link that never held never recovered: {:?}", ev.names());
    h.stop().await;
}
