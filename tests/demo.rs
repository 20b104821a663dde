//! The embedded demo: its broker, its simulated water heater and its fault switch, driven through
//! a Tether link the way the app and `tether demo` use them.

mod common;

use common::Events;
use std::sync::Arc;
use std::time::Duration;
use tether::credentials::StaticSource;
use tether::demo::Demo;
use tether::event::EventKind;
use tether::handle::Trigger;
use tether::navien::decode_status;
use tether::{Link, LinkHandle, LinkState};

const T: Duration = Duration::from_secs(20);

/// The demo profile with test-short delays.
async fn demo_link() -> (Demo, LinkHandle, Events) {
    let demo = Demo::start().await.expect("demo starts");
    let mut cfg = demo.link_config();
    cfg.profile_id = common::unique("demo");
    cfg.keepalive = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(1);
    cfg.reconnect.initial_reconnect_delay = Duration::from_millis(200);
    cfg.reconnect.max_reconnect_delay = Duration::from_millis(400);
    cfg.reconnect.max_reconnect_attempts = 2;
    cfg.recovery.initial_recovery_delay = Duration::from_millis(500);
    cfg.recovery.max_recovery_delay = Duration::from_secs(1);
    cfg.recovery.max_recovery_attempts = 20;
    let (h, rx) = Link::start_subscribed(cfg, Arc::new(StaticSource::anonymous())).expect("link starts");
    (demo, h, Events { rx, seen: vec![] })
}

fn status_of(kind: &EventKind) -> Option<tether::navien::Status> {
    match kind {
        EventKind::Message { payload, .. } => decode_status(payload).ok(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_heater_answers_status_requests_and_a_setpoint_command() {
    let (demo, h, mut ev) = demo_link().await;
    // The periodic status request goes out at connect; the heater answers with a full status.
    let first = ev.wait_for("a status reply", T, |k| status_of(k).is_some()).await;
    let s = status_of(&first.kind).unwrap();
    assert!(s.tank_f() > 100.0 && s.setpoint_f() > 100.0, "{s:?}");
    let (topic, payload) = Demo::set_setpoint(130.0);
    h.publish(&topic, payload, 1, false).await.expect("command sent");
    let reply = ev
        .wait_for("a reply with the new setpoint", T, |k| {
            status_of(k).is_some_and(|s| (s.setpoint_f() - 130.0).abs() < 1.0)
        })
        .await;
    assert_eq!(
        status_of(&reply.kind).unwrap().dhw_temperature_setting,
        109,
        "130 °F is 54.4 °C: 108.9 half-°C, rounded to 109"
    );
    h.stop().await;
    demo.stop().await;
}

/// The app connects the moment `Demo::start` returns, and its first status request goes out at
/// connect. The heater must already be subscribed then: a request published before would reach
/// no one, and the card would wait for the next one, 30 s later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_status_request_after_start_is_answered() {
    for round in 0..10 {
        let (demo, h, mut ev) = demo_link().await;
        // Well inside the 30 s period: only the answer to the first request counts.
        ev.wait_for(
            &format!("round {round}: the answer to the first status request"),
            Duration::from_secs(10),
            |k| status_of(k).is_some(),
        )
        .await;
        let d = h.diagnostics().await.expect("the link runs");
        assert_eq!((d.subscriptions, d.subscriptions_active), (1, 1), "round {round}");
        h.stop().await;
        demo.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_link_shows_a_dead_link_then_recovery() {
    let (demo, h, mut ev) = demo_link().await;
    ev.wait_name("connected", T).await;
    demo.faults.drop_link(Duration::from_secs(4));
    let i = ev.wait_name("connection_interrupted", T).await;
    assert!(
        matches!(i.kind, EventKind::ConnectionInterrupted { cause: "dead_link", .. }),
        "{:?}",
        i.kind
    );
    // The heater talks again at once (status request at every reconnect), and once the new
    // connection has held, the outage counts as recovered.
    ev.wait_for("a status reply after the reconnect", T, |k| status_of(k).is_some())
        .await;
    ev.wait_name("recovered", T).await;
    h.stop().await;
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_exhausts_tier1_and_recovery_brings_the_link_back() {
    let (demo, h, mut ev) = demo_link().await;
    ev.wait_name("connected", T).await;
    demo.faults.broker_outage(Duration::from_secs(3));
    ev.wait_name("connection_interrupted", T).await;
    ev.wait_name("reconnection_failed", T).await;
    let r = ev.wait_name("recovered", T).await;
    assert!(matches!(r.kind, EventKind::Recovered { after_failure: true, .. }), "{:?}", r.kind);
    h.stop().await;
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_wait_for_new_ones() {
    let (demo, h, mut ev) = demo_link().await;
    ev.wait_name("connected", T).await;
    demo.faults.refuse_credentials();
    ev.wait_name("auth_rejected", T).await;
    assert!(matches!(h.state(), LinkState::AuthRejected { .. }));
    demo.faults.clear();
    h.trigger(Trigger::CredentialsChanged).await;
    ev.wait_name("recovered", T).await;
    h.stop().await;
    demo.stop().await;
}
