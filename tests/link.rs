//! The link engine against a real Mosquitto, with faults injected by a proxy, broker kills and
//! restarts. Policies use short delays so the suite stays fast; the benchmark uses the defaults.

mod common;

use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tether::config::{PeriodicRequest, Subscription};
use tether::credentials::{BoxFuture, CredentialError, CredentialSource, Credentials};
use tether::event::EventKind;
use tether::handle::PublishOutcome;
use tether::policy::RecoveryStrategy;
use tether::{Link, LinkState};

const T: Duration = Duration::from_secs(15);

#[tokio::test]
async fn broker_restart_recovers_and_subscriptions_are_live_again() {
    let mut broker = Broker::start(BrokerOptions::default());
    let topic = unique("restart");
    let mut cfg = fast_config(broker.port);
    cfg.subscriptions.push(qos1(format!("{topic}/#")));
    let (h, mut ev) = start(cfg);
    ev.wait_name("subscriptions_restored", T).await;
    mosquitto_pub(broker.port, &format!("{topic}/a"), "before", 1);
    ev.wait_for(
        "message before",
        T,
        |k| matches!(k, EventKind::Message { payload, .. } if payload == "before"),
    )
    .await;

    broker.stop();
    ev.wait_name("connection_interrupted", T).await;
    ev.wait_name("reconnecting", T).await;
    broker.restart();
    // No persistence: a new session, so every subscription must have been sent again.
    let restored = ev.wait_name("subscriptions_restored", T).await;
    assert!(
        matches!(restored.kind, EventKind::SubscriptionsRestored { count: 1, .. }),
        "{:?}",
        restored.kind
    );
    // Told once the new connection has held.
    let rec = ev.wait_name("recovered", T).await;
    let EventKind::Recovered { downtime, after_failure } = rec.kind else {
        unreachable!()
    };
    assert!(downtime > Duration::ZERO && !after_failure);
    // Give the SUBACK a moment, then prove the subscription is live.
    tokio::time::sleep(Duration::from_millis(200)).await;
    mosquitto_pub(broker.port, &format!("{topic}/b"), "after", 1);
    ev.wait_for(
        "message after",
        T,
        |k| matches!(k, EventKind::Message { payload, .. } if payload == "after"),
    )
    .await;
    let d = h.diagnostics().await.expect("diagnostics");
    assert_eq!(d.connects, 2);
    assert_eq!(d.recoveries, 1);
    assert!(d.messages_in >= 2);
    h.stop().await;
}

#[tokio::test]
async fn a_blackholed_link_is_found_by_the_keepalive_watchdog_within_one_and_a_half_keepalives() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let mut cfg = fast_config(proxy.port);
    cfg.keepalive = Duration::from_secs(4);
    let (h, mut ev) = start(cfg);
    ev.wait_name("connected", T).await;
    // Let one keepalive round trip pass so the timing below starts from a live link.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cut = Instant::now();
    proxy.set(Mode::Blackhole);
    let e = ev.wait_name("connection_interrupted", Duration::from_secs(20)).await;
    let found = cut.elapsed();
    assert!(
        matches!(e.kind, EventKind::ConnectionInterrupted { cause: "dead_link", .. }),
        "{:?}",
        e.kind
    );
    // rumqttc alone notices only at the second unanswered ping (2 × keepalive = 8 s); our
    // watchdog must fire by 1.5 × keepalive (6 s) after the link died, plus scheduling slack.
    assert!(found < Duration::from_millis(7_000), "dead link found after {found:?}");
    proxy.set(Mode::Pass);
    ev.wait_name("recovered", T).await;
    h.stop().await;
}

/// Tier 1 runs out against a refusing link, `reconnection_failed` fires exactly once, and the
/// strategy's first recovery cycle reconnects once the link is back.
async fn strategy_recovers(strategy: RecoveryStrategy) {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let mut cfg = fast_config(proxy.port);
    cfg.reconnect.max_reconnect_attempts = 3;
    cfg.reconnect.initial_reconnect_delay = Duration::from_millis(50);
    cfg.reconnect.max_reconnect_delay = Duration::from_millis(100);
    cfg.recovery.strategy = strategy;
    cfg.recovery.initial_recovery_delay = Duration::from_millis(700);
    cfg.recovery.refresh_every = 1;
    let refreshes = Arc::new(AtomicUsize::new(0));
    let creds = Arc::new(CountingToken {
        refreshes: refreshes.clone(),
    });
    let (h, rx) = Link::start_subscribed(cfg, creds).expect("start");
    let mut ev = Events { rx, seen: vec![] };
    ev.wait_name("connected", T).await;

    proxy.cut();
    ev.wait_name("connection_interrupted", T).await;
    let failed = ev.wait_name("reconnection_failed", T).await;
    assert!(
        matches!(failed.kind, EventKind::ReconnectionFailed { attempts: 3 }),
        "{:?}",
        failed.kind
    );
    let cycle = ev.wait_name("recovery_attempt", T).await;
    assert!(matches!(h.state(), LinkState::Recovering { cycle: 1, .. }), "{:?}", h.state());
    proxy.restore();
    let rec = ev.wait_name("recovered", T).await;
    assert!(
        matches!(rec.kind, EventKind::Recovered { after_failure: true, .. }),
        "{:?}",
        rec.kind
    );
    ev.drain_for(Duration::from_millis(300)).await;
    assert_eq!(ev.count("reconnection_failed"), 1, "{strategy:?}: {:?}", ev.names());
    assert_eq!(ev.count("reconnecting"), 3, "{strategy:?}: {:?}", ev.names());
    let EventKind::RecoveryAttempt { refresh, .. } = cycle.kind else {
        unreachable!()
    };
    let expect_refresh = matches!(strategy, RecoveryStrategy::RefreshAndRecreate | RecoveryStrategy::Backoff);
    assert_eq!(refresh, expect_refresh, "{strategy:?}");
    assert_eq!(refreshes.load(Ordering::SeqCst) > 0, expect_refresh, "{strategy:?}");
    assert_eq!(ev.count("token_refreshed") > 0, expect_refresh, "{strategy:?}");
    assert!(h.state().is_connected());
    h.stop().await;
}

/// A token source for tests: anonymous credentials that count refreshes. (A stand-in for the
/// Navien token source, which needs the cloud.)
struct CountingToken {
    refreshes: Arc<AtomicUsize>,
}

impl CredentialSource for CountingToken {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        Box::pin(async { Ok(Credentials::default()) })
    }
    fn can_refresh(&self) -> bool {
        true
    }
    fn refresh(&self) -> BoxFuture<'_, Result<(), CredentialError>> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn simple_retry_recovers_after_tier1_is_exhausted() {
    strategy_recovers(RecoveryStrategy::SimpleRetry).await;
}

#[tokio::test]
async fn recreate_recovers_after_tier1_is_exhausted() {
    strategy_recovers(RecoveryStrategy::Recreate).await;
}

#[tokio::test]
async fn refresh_and_recreate_refreshes_then_recovers() {
    strategy_recovers(RecoveryStrategy::RefreshAndRecreate).await;
}

#[tokio::test]
async fn backoff_strategy_recovers() {
    strategy_recovers(RecoveryStrategy::Backoff).await;
}

#[tokio::test]
async fn after_gave_up_only_a_trigger_reconnects_and_retry_now_does() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let mut cfg = fast_config(proxy.port);
    cfg.reconnect.max_reconnect_attempts = 1;
    cfg.recovery.max_recovery_attempts = 1;
    cfg.recovery.initial_recovery_delay = Duration::from_millis(100);
    let (h, mut ev) = start(cfg);
    ev.wait_name("connected", T).await;
    proxy.cut();
    ev.wait_name("gave_up", T).await;
    assert!(matches!(h.state(), LinkState::GaveUp { .. }));
    proxy.restore();
    // No timer runs after gave_up: nothing reconnects on its own.
    let before = proxy.connections();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(proxy.connections(), before, "no attempt may start after gave_up without a trigger");
    assert!(matches!(h.state(), LinkState::GaveUp { .. }));
    h.retry_now().await;
    ev.wait_name("triggered", T).await;
    let rec = ev.wait_name("recovered", T).await;
    assert!(matches!(rec.kind, EventKind::Recovered { after_failure: true, .. }));
    h.stop().await;
}

#[tokio::test]
async fn a_trigger_beats_the_backoff_timer() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let mut cfg = fast_config(proxy.port);
    // A long backoff: only the trigger can bring the link back within the test's wait.
    cfg.reconnect.initial_reconnect_delay = Duration::from_secs(60);
    cfg.reconnect.max_reconnect_delay = Duration::from_secs(60);
    let (h, mut ev) = start(cfg);
    ev.wait_name("connected", T).await;
    proxy.cut();
    ev.wait_name("reconnecting", T).await;
    proxy.restore();
    h.trigger(tether::handle::Trigger::NetworkChanged).await;
    ev.wait_name("recovered", Duration::from_secs(5)).await;
    h.stop().await;
}

#[tokio::test]
async fn refused_credentials_stop_in_auth_rejected_without_a_retry_storm() {
    let broker = Broker::start(BrokerOptions {
        user: Some(("alice".into(), "right-horse".into())),
        ..Default::default()
    });
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let cfg = fast_config(proxy.port);
    let creds = Arc::new(tether::credentials::StaticSource(Credentials {
        username: Some("alice".into()),
        password: Some("wrong-horse".to_string().into()),
    }));
    let (h, rx) = Link::start_subscribed(cfg, creds).expect("start");
    let mut ev = Events { rx, seen: vec![] };
    let e = ev.wait_name("auth_rejected", T).await;
    let EventKind::AuthRejected { reason } = &e.kind else {
        unreachable!()
    };
    assert!(reason.contains("CONNACK 4") || reason.contains("CONNACK 5"), "{reason}");
    assert!(!reason.contains("wrong-horse"), "the secret must not appear in events");
    assert!(matches!(h.state(), LinkState::AuthRejected { .. }));
    // Wait well past several backoff delays: there must be no further CONNECT.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(proxy.connections(), 1, "one CONNECT, then silence");
    assert_eq!(ev.count("reconnecting"), 0);
    h.stop().await;
}

#[tokio::test]
async fn a_token_source_gets_one_refresh_after_an_auth_refusal_then_auth_rejected() {
    let broker = Broker::start(BrokerOptions {
        user: Some(("alice".into(), "pw".into())),
        ..Default::default()
    });
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let refreshes = Arc::new(AtomicUsize::new(0));
    let (h, rx) = Link::start_subscribed(
        fast_config(proxy.port),
        Arc::new(CountingToken {
            refreshes: refreshes.clone(),
        }),
    )
    .expect("start");
    let mut ev = Events { rx, seen: vec![] };
    ev.wait_name("auth_rejected", T).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.connections(), 2, "the first CONNECT and one after the refresh");
    h.stop().await;
}

#[tokio::test]
async fn qos1_messages_published_while_offline_all_arrive_with_a_persistent_session() {
    let broker = Broker::start(BrokerOptions {
        persistence: true,
        ..Default::default()
    });
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let topic = unique("offline");
    let mut cfg = fast_config(proxy.port);
    cfg.subscriptions.push(qos1(topic.clone()));
    let (h, mut ev) = start(cfg);
    ev.wait_name("subscriptions_restored", T).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.cut();
    ev.wait_name("connection_interrupted", T).await;
    let sent: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    mosquitto_pub_lines(broker.port, &topic, &sent, 1);
    proxy.restore();
    let c = ev.wait_name("connected", T).await;
    assert!(matches!(c.kind, EventKind::Connected { session_present: true }), "{:?}", c.kind);
    let deadline = Instant::now() + T;
    while ev.payloads().len() < sent.len() && Instant::now() < deadline {
        ev.drain_for(Duration::from_millis(200)).await;
    }
    let got = ev.payloads();
    let missing: Vec<_> = sent.iter().filter(|m| !got.contains(m)).collect();
    assert!(
        missing.is_empty(),
        "lost {} of {}: {:?}",
        missing.len(),
        sent.len(),
        &missing[..missing.len().min(10)]
    );
    // The broker kept the session: nothing needed re-subscribing.
    let restored: Vec<_> = ev.seen.iter().filter(|e| e.kind.name() == "subscriptions_restored").collect();
    assert!(matches!(
        restored.last().map(|e| &e.kind),
        Some(EventKind::SubscriptionsRestored {
            count: 0,
            skipped_because_session_present: true
        })
    ));
    h.stop().await;
}

#[tokio::test]
async fn outbox_publishes_made_offline_arrive_in_order_after_reconnect() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let topic = unique("outbox");
    let observer = Observer::start(broker.port, &topic);
    let (h, mut ev) = start(fast_config(proxy.port));
    ev.wait_name("connected", T).await;
    proxy.cut();
    ev.wait_name("connection_interrupted", T).await;
    for i in 0..50 {
        let out = h.publish(&topic, format!("o{i}"), 1, false).await.expect("queued");
        assert!(matches!(out, PublishOutcome::Queued { queued } if queued == i + 1), "{out:?}");
    }
    assert_eq!(*h.outbox_len().borrow(), 50);
    proxy.restore();
    ev.wait_name("outbox_flushed", T).await;
    let lines = observer.wait_lines(50, T).await;
    let expected: Vec<String> = (0..50).map(|i| format!("o{i}")).collect();
    assert_eq!(lines, expected, "in order, none lost, none doubled");
    assert_eq!(*h.outbox_len().borrow(), 0);
    h.stop().await;
}

#[tokio::test]
async fn outbox_overflow_and_expiry_are_events_never_silent() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    proxy.cut();
    let mut cfg = fast_config(proxy.port);
    cfg.outbox.max_messages = 3;
    cfg.outbox.max_age = Duration::from_millis(1500);
    let (h, mut ev) = start(cfg);
    for i in 0..5 {
        h.publish("t/x", format!("{i}"), 1, false).await.expect("queued");
    }
    let d = ev.wait_name("outbox_dropped", T).await;
    assert!(matches!(d.kind, EventKind::OutboxDropped { count: 1, .. }));
    let e = ev.wait_name("outbox_expired", Duration::from_secs(5)).await;
    assert!(matches!(e.kind, EventKind::OutboxExpired { count: 3 }), "{:?}", e.kind);
    let diag = h.diagnostics().await.expect("diag");
    assert_eq!((diag.messages_dropped, diag.messages_expired, diag.messages_queued), (2, 3, 0));
    h.stop().await;
}

#[tokio::test]
async fn a_periodic_request_is_sent_right_after_every_reconnect() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let topic = unique("periodic");
    let observer = Observer::start(broker.port, &topic);
    let mut cfg = fast_config(proxy.port);
    // Far longer than the test: every request seen comes from a (re)connect.
    cfg.periodic.push(PeriodicRequest {
        topic: topic.clone(),
        payload: "status?".into(),
        qos: 1,
        interval: Duration::from_secs(300),
    });
    let (h, mut ev) = start(cfg);
    ev.wait_name("connected", T).await;
    assert_eq!(observer.wait_lines(1, T).await.len(), 1);
    proxy.cut();
    ev.wait_name("connection_interrupted", T).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Skipped while offline: nothing piles up.
    assert_eq!(observer.lines().len(), 1);
    proxy.restore();
    ev.wait_name("recovered", T).await;
    let lines = observer.wait_lines(2, Duration::from_secs(3)).await;
    assert_eq!(lines, vec!["status?", "status?"]);
    h.stop().await;
}

#[tokio::test]
async fn the_stale_data_watchdog_reconnects_a_silent_link() {
    let broker = Broker::start(BrokerOptions::default());
    let mut cfg = fast_config(broker.port);
    cfg.subscriptions.push(Subscription {
        topic: unique("quiet"),
        qos: 1,
        stale_after: Some(Duration::from_secs(1)),
    });
    let (h, mut ev) = start(cfg);
    ev.wait_name("connected", T).await;
    let s = ev.wait_name("stale", Duration::from_secs(5)).await;
    assert!(matches!(s.kind, EventKind::Stale { silent_for, .. } if silent_for >= Duration::from_secs(1)));
    let i = ev.wait_name("connection_interrupted", T).await;
    assert!(matches!(i.kind, EventKind::ConnectionInterrupted { cause: "stale", .. }));
    ev.wait_name("recovered", T).await;
    h.stop().await;
}

#[tokio::test]
async fn a_first_connect_that_fails_follows_the_same_tiers() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    proxy.set(Mode::Refuse);
    let (h, mut ev) = start(fast_config(proxy.port));
    ev.wait_name("attempt_failed", T).await;
    ev.wait_name("reconnecting", T).await;
    proxy.restore();
    ev.wait_name("connected", T).await;
    h.stop().await;
}

#[tokio::test]
async fn a_first_connect_that_needed_recovery_reports_recovered() {
    // The app started at login before the network: tier 1 runs out, then recovery connects.
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    proxy.set(Mode::Refuse);
    let mut cfg = fast_config(proxy.port);
    cfg.reconnect.max_reconnect_attempts = 1;
    cfg.recovery.initial_recovery_delay = Duration::from_millis(500);
    let (h, mut ev) = start(cfg);
    ev.wait_name("reconnection_failed", T).await;
    proxy.restore();
    let rec = ev.wait_name("recovered", T).await;
    assert!(
        matches!(rec.kind, EventKind::Recovered { after_failure: true, .. }),
        "{:?}",
        rec.kind
    );
    h.stop().await;
}

#[tokio::test]
async fn the_connect_timeout_setting_bounds_an_attempt_into_a_black_hole() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    proxy.set(Mode::Blackhole);
    let mut cfg = fast_config(proxy.port);
    cfg.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let (h, mut ev) = start(cfg);
    let e = ev.wait_name("attempt_failed", T).await;
    assert!(matches!(e.kind, EventKind::AttemptFailed { cause: "timeout", .. }), "{:?}", e.kind);
    // rumqttc's own default would be 5 s.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    h.stop().await;
}

#[tokio::test]
async fn qos2_is_refused_with_a_reason() {
    let broker = Broker::start(BrokerOptions::default());
    let (h, _ev) = start(fast_config(broker.port));
    let e = h.publish("a/b", "x", 2, false).await.unwrap_err();
    assert!(e.to_string().contains("QoS 2 is not supported"), "{e}");
    let e = h.subscribe("a/#", 2).await.unwrap_err();
    assert!(e.to_string().contains("QoS 2"), "{e}");
    h.stop().await;
}

#[tokio::test]
async fn pause_disconnects_and_resume_reconnects() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let (h, mut ev) = start(fast_config(proxy.port));
    ev.wait_name("connected", T).await;
    h.pause().await;
    ev.wait_name("paused", T).await;
    assert_eq!(h.state(), LinkState::Paused);
    let n = proxy.connections();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(proxy.connections(), n, "paused means no attempts");
    h.resume().await;
    ev.wait_name("connected", T).await;
    h.stop().await;
    assert_eq!(h.state(), LinkState::Stopped);
}

#[tokio::test]
async fn a_graceful_stop_sends_disconnect() {
    let broker = Broker::start(BrokerOptions::default());
    let cfg = fast_config(broker.port);
    let client_id = cfg.client_id.clone();
    let (h, mut ev) = start(cfg);
    ev.wait_name("connected", T).await;
    h.stop().await;
    // Mosquitto tells a DISCONNECT ("disconnected") from a dropped socket ("closed its connection").
    let deadline = Instant::now() + Duration::from_secs(5);
    while !broker.log().contains(&format!("Client {client_id} disconnected")) {
        assert!(
            Instant::now() < deadline,
            "no clean DISCONNECT in the broker log:\n{}",
            broker.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!broker.log().contains(&format!("Client {client_id} closed its connection")));
}

#[tokio::test]
async fn payloads_far_above_rumqttcs_10_kib_default_pass_and_oversized_ones_are_refused_with_a_reason() {
    let broker = Broker::start(BrokerOptions::default());
    let topic = unique("big");
    let mut cfg = fast_config(broker.port);
    cfg.max_packet_size = 512 * 1024;
    cfg.subscriptions.push(qos1(topic.clone()));
    let (h, mut ev) = start(cfg);
    ev.wait_name("subscriptions_restored", T).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let big = "x".repeat(200 * 1024);
    h.publish(&topic, big.clone(), 1, false).await.expect("200 KiB publish");
    ev.wait_for(
        "the 200 KiB message",
        T,
        |k| matches!(k, EventKind::Message { payload, .. } if payload.len() == big.len()),
    )
    .await;
    let e = h.publish(&topic, "y".repeat(600 * 1024), 1, false).await.unwrap_err();
    assert!(e.to_string().contains("maximum packet size"), "{e}");
    h.stop().await;
}

#[tokio::test]
async fn a_refused_subscription_is_reported_per_topic_and_retried_on_the_next_connect() {
    // Mosquitto 2.0 grants ACL-denied subscriptions; the scripted broker refuses `denied/`.
    let broker = common::scripted::Scripted::start(Default::default()).await;
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let mut cfg = fast_config(proxy.port);
    cfg.subscriptions.push(qos1("allowed/x"));
    cfg.subscriptions.push(qos1("denied/x"));
    let (h, mut ev) = start(cfg);
    let f = ev.wait_name("subscribe_failed", T).await;
    assert!(
        matches!(&f.kind, EventKind::SubscribeFailed { topic, .. } if topic == "denied/x"),
        "{:?}",
        f.kind
    );
    ev.drain_for(Duration::from_millis(300)).await;
    assert_eq!(ev.count("subscribe_failed"), 1, "only the refused topic: {:?}", ev.names());
    // Reconnect: the refused one is tried again (and refused again); the granted one too, as the
    // session was not present.
    proxy.reset_all();
    let f = ev.wait_name("subscribe_failed", T).await;
    assert!(matches!(&f.kind, EventKind::SubscribeFailed { topic, .. } if topic == "denied/x"));
    ev.wait_name("recovered", T).await;
    assert_eq!(ev.count("subscribe_failed"), 2, "{:?}", ev.names());
    h.stop().await;
}

#[tokio::test]
async fn a_wake_from_sleep_replaces_a_connection_that_only_looks_alive() {
    let broker = Broker::start(BrokerOptions::default());
    let (h, mut ev) = start(fast_config(broker.port));
    ev.wait_name("connected", T).await;
    // What the wake detector sends when the wall clock jumps past the monotonic one.
    h.trigger(tether::handle::Trigger::Woke).await;
    let i = ev.wait_name("connection_interrupted", T).await;
    assert!(
        matches!(&i.kind, EventKind::ConnectionInterrupted { error, .. } if error.contains("woke")),
        "{:?}",
        i.kind
    );
    ev.wait_name("triggered", T).await;
    ev.wait_name("recovered", Duration::from_secs(3)).await;
    h.stop().await;
}

#[tokio::test]
async fn diagnostics_count_no_acknowledged_subscription_while_disconnected() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let mut cfg = fast_config(proxy.port);
    cfg.reconnect.initial_reconnect_delay = Duration::from_secs(5);
    cfg.reconnect.max_reconnect_delay = Duration::from_secs(5);
    cfg.subscriptions.push(qos1(unique("diag")));
    let (h, mut ev) = start(cfg);
    ev.wait_name("subscriptions_restored", T).await;
    // Acknowledged once its SUBACK is in.
    let deadline = Instant::now() + T;
    loop {
        let d = h.diagnostics().await.expect("diagnostics");
        if d.subscriptions_active == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never acknowledged: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.cut();
    ev.wait_name("reconnecting", T).await;
    let d = h.diagnostics().await.expect("diagnostics");
    assert_ne!(d.state, "connected");
    assert_eq!(d.subscriptions_active, 0, "nothing is acknowledged while disconnected: {d:?}");
    h.stop().await;
}
