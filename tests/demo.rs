//! The embedded demo: the Navien cloud emulator with its simulated water heater, the demo account
//! signed in over real HTTPS and MQTT over presigned WSS, and the fault switch, driven through a
//! Tether link the way the app and `tether demo` use them.

mod common;

use common::Events;
use std::time::Duration;
use tether::demo::{Demo, DEMO_ADDITIONAL, DEMO_CLIENT_ID, DEMO_MAC};
use tether::event::EventKind;
use tether::handle::Trigger;
use tether::navien::control::{Command, Features};
use tether::navien::{decode_status, Topics};
use tether::paths::Paths;
use tether::{Link, LinkHandle, LinkState};

const T: Duration = Duration::from_secs(20);

/// The demo profile with test-short delays.
async fn demo_link() -> (Demo, LinkHandle, Events) {
    let demo = Demo::start().await.expect("demo starts");
    let paths = Paths {
        config_dir: "/nonexistent/config".into(),
        data_dir: "/nonexistent/data".into(),
    };
    let plan = demo.plan(&paths).expect("the demo plans");
    let mut cfg = plan.config;
    cfg.profile_id = common::unique("demo");
    cfg.keepalive = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(1);
    cfg.reconnect.initial_reconnect_delay = Duration::from_millis(200);
    cfg.reconnect.max_reconnect_delay = Duration::from_millis(400);
    cfg.reconnect.max_reconnect_attempts = 2;
    cfg.recovery.initial_recovery_delay = Duration::from_millis(500);
    cfg.recovery.max_recovery_delay = Duration::from_secs(1);
    cfg.recovery.max_recovery_attempts = 20;
    let (h, rx) = Link::start_subscribed(cfg, plan.credentials).expect("link starts");
    (demo, h, Events { rx, seen: vec![] })
}

fn status_of(kind: &EventKind) -> Option<tether::navien::Status> {
    match kind {
        EventKind::Message { payload, .. } => decode_status(payload).ok(),
        _ => None,
    }
}

fn features_of(kind: &EventKind) -> Option<Features> {
    match kind {
        EventKind::Message { payload, .. } => Features::from_reply(&serde_json::from_slice(payload).ok()?),
        _ => None,
    }
}

/// A setpoint command as the app sends it, gated on the heater's features.
fn setpoint(features: &Features, f: f64) -> (String, String) {
    let t = Topics::new(DEMO_MAC, DEMO_CLIENT_ID);
    let session = tether::navien::session_id(DEMO_CLIENT_ID);
    let req = Command::SetpointF(f)
        .request(features, &t, &session, DEMO_MAC, DEMO_ADDITIONAL)
        .expect("in range");
    (t.control(), serde_json::to_string(&req).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_heater_answers_status_requests_and_a_setpoint_command() {
    let (demo, h, mut ev) = demo_link().await;
    // The periodic status request goes out at connect; the heater answers with a full status.
    let first = ev.wait_for("a status reply", T, |k| status_of(k).is_some()).await;
    let s = status_of(&first.kind).unwrap();
    assert!(s.tank_f() > 100.0 && s.setpoint_f() > 100.0, "{s:?}");
    // So is the feature object, which commands are gated on.
    let f = ev.wait_for("the feature object", T, |k| features_of(k).is_some()).await;
    let features = features_of(&f.kind).unwrap();
    let (topic, payload) = setpoint(&features, 130.0);
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
    assert_eq!(demo.cloud().heater_setpoint(DEMO_MAC), Some(109), "the cloud's heater took it");
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
        let stats = demo.cloud().stats();
        assert_eq!(stats["password_sign_ins"], 1, "round {round}: one sign-in: {stats}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_are_renewed_and_the_link_reconnects_without_a_refusal() {
    let (demo, h, mut ev) = demo_link().await;
    ev.wait_name("connected", T).await;
    let before = demo.cloud().stats();
    demo.faults.expire_tokens();
    ev.wait_name("connection_interrupted", T).await;
    ev.wait_name("connected", T).await;
    ev.wait_for("a status reply on the new connection", T, |k| status_of(k).is_some())
        .await;
    let after = demo.cloud().stats();
    // Every renewal step was revoked too, so the password signed in again, once.
    assert_eq!(
        after["password_sign_ins"].as_u64().unwrap(),
        before["password_sign_ins"].as_u64().unwrap() + 1,
        "{after}"
    );
    assert!(
        after["mqtt"]["refused"].as_u64().unwrap() > before["mqtt"]["refused"].as_u64().unwrap(),
        "the stale signature was refused first: {after}"
    );
    assert!(!ev.seen.iter().any(|e| e.kind.name() == "auth_rejected"));
    h.stop().await;
    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_password_is_refused_once_and_the_new_one_brings_the_link_back() {
    let (demo, h, mut ev) = demo_link().await;
    ev.wait_name("connected", T).await;
    demo.faults.change_password();
    ev.wait_name("auth_rejected", T).await;
    // Waiting changes nothing: the old password is not sent again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(demo.cloud().stats()["rejected_password_sign_ins"], 1);
    assert!(matches!(h.state(), LinkState::AuthRejected { .. }));
    demo.faults.clear();
    h.trigger(Trigger::CredentialsChanged).await;
    ev.wait_name("recovered", T).await;
    assert_eq!(demo.cloud().stats()["rejected_password_sign_ins"], 1);
    h.stop().await;
    demo.stop().await;
}
