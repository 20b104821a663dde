//! The supervisor's timing under tokio's paused clock: the delays it waits are the policy's,
//! tier 1 then tier 2 then gave_up, without sleeping in real time. The broker port is closed, so
//! every attempt fails at once with "connection refused".

mod common;

use std::time::Duration;
use tether::event::EventKind;
use tether::policy::RecoveryStrategy;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn the_supervisor_waits_exactly_the_policy_delays_in_virtual_time() {
    let port = common::broker::free_port();
    let mut cfg = common::fast_config(port);
    cfg.reconnect.jitter = false;
    cfg.reconnect.initial_reconnect_delay = Duration::from_secs(1);
    cfg.reconnect.max_reconnect_delay = Duration::from_secs(120);
    cfg.reconnect.max_reconnect_attempts = 4;
    cfg.recovery.strategy = RecoveryStrategy::Backoff;
    cfg.recovery.initial_recovery_delay = Duration::from_secs(60);
    cfg.recovery.max_recovery_delay = Duration::from_secs(300);
    cfg.recovery.max_recovery_attempts = 3;
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
