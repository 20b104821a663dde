//! The Navien profile against `tether navien-cloud`'s emulator, in this process, with the real
//! HTTP, TLS and WebSocket stacks on loopback: sign-in, SigV4-presigned MQTT over WSS, the device
//! protocol, token renewal in the protocol's order, and the cloud's faults.

mod common;

use common::*;
use secrecy::SecretString;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tether::credentials::{account, MemoryStore, SecretStore};
use tether::event::EventKind;
use tether::kind::{self, Context};
use tether::navien::cloud::{Cloud, CloudOptions};
use tether::navien::control::{Command, Features};
use tether::navien::{command, Request, Topics};
use tether::paths::Paths;
use tether::profiles::{NavienDevice, NavienSettings, Profile};
use tether::{Link, LinkHandle, LinkState};

const EMAIL: &str = "demo@tether.invalid";
const PASSWORD: &str = "tether-demo";
const MAC: &str = "04786332fca0";

struct Rig {
    cloud: Cloud,
    profile: Profile,
    secrets: Arc<MemoryStore>,
    _home: tempfile::TempDir,
    paths: Paths,
}

async fn rig(opts: CloudOptions, password: &str) -> Rig {
    let home = tempfile::tempdir().unwrap();
    let opts = CloudOptions {
        ca_file: Some(home.path().join("ca.pem")),
        ..opts
    };
    let cloud = Cloud::start(opts).await.expect("the emulator starts");
    let info = cloud.info().clone();
    let settings = NavienSettings {
        rest_url: info.rest_url.clone(),
        iot_host: info.mqtt_host.clone(),
        iot_port: info.mqtt_port,
        devices: vec![NavienDevice {
            mac: MAC.into(),
            additional_value: "5322".into(),
            name: "Demo water heater".into(),
        }],
    };
    let mut profile = Profile::navien(EMAIL, settings).unwrap();
    profile.tls.ca_file = Some(info.ca_file.clone());
    // Short delays: the faults below are recovered from within seconds.
    profile.reconnect.initial_reconnect_delay = Duration::from_millis(200);
    profile.reconnect.max_reconnect_delay = Duration::from_secs(1);
    profile.reconnect.stable_after = Duration::from_millis(500);
    profile.recovery.initial_recovery_delay = Duration::from_millis(500);
    profile.recovery.max_recovery_delay = Duration::from_secs(2);
    let secrets = Arc::new(MemoryStore::default());
    secrets
        .set(&account("home", "password"), &SecretString::from(password.to_string()))
        .unwrap();
    let paths = Paths {
        config_dir: home.path().join("config"),
        data_dir: home.path().join("data"),
    };
    Rig {
        cloud,
        profile,
        secrets,
        _home: home,
        paths,
    }
}

impl Rig {
    fn start(&self) -> (LinkHandle, Events) {
        self.start_at(&self.paths)
    }

    /// The profile run from another data dir: another install with the same profile file.
    fn start_at(&self, paths: &Paths) -> (LinkHandle, Events) {
        let ctx = Context {
            paths,
            secrets: Some(self.secrets.clone()),
            demo: None,
        };
        let plan = kind::plan("home", &self.profile, &ctx).expect("a Navien plan");
        let (h, rx) = Link::start_subscribed(plan.config, plan.credentials).expect("link starts");
        (h, Events { rx, seen: Vec::new() })
    }

    /// The link, started and connected.
    async fn connected(&self) -> (LinkHandle, Events) {
        let (h, mut ev) = self.start();
        ev.wait_name("connected", Duration::from_secs(20)).await;
        (h, ev)
    }

    fn stat(&self, path: &str) -> u64 {
        let s = self.cloud.stats();
        let v = path.split('.').fold(&s, |v, k| &v[k]);
        v.as_u64().unwrap_or_else(|| panic!("no stat {path} in {s}"))
    }

    fn calls(&self, endpoint: &str) -> u64 {
        self.cloud.stats()["calls"][endpoint].as_u64().unwrap_or(0)
    }

    fn topics(&self) -> Topics {
        Topics::new(MAC, &self.profile.client_id)
    }

    fn request(&self, topic: String, code: u32) -> String {
        let sid = tether::navien::session_id(&self.profile.client_id);
        serde_json::to_string(&Request::new(&self.topics(), topic, &sid, MAC, "5322", code)).unwrap()
    }
}

/// The emulator with short token lifetimes, in seconds.
fn lifetimes(jwt: u64, aws: u64) -> CloudOptions {
    CloudOptions {
        jwt_lifetime: Duration::from_secs(jwt),
        aws_lifetime: Duration::from_secs(aws),
        ..CloudOptions::default()
    }
}

/// The reply object of a device message, if it is one (our own requests come back too).
fn reply(kind: &EventKind) -> Option<Value> {
    let EventKind::Message { payload, .. } = kind else { return None };
    let v: Value = serde_json::from_slice(payload).ok()?;
    v.get("response")?;
    Some(v)
}

fn is_status(kind: &EventKind) -> bool {
    reply(kind).is_some_and(|v| v["response"].get("status").is_some())
}

async fn wait_state(h: &LinkHandle, limit: Duration, what: &str, pred: impl Fn(&LinkState) -> bool) -> LinkState {
    let mut st = h.watch_state();
    let reached = tokio::time::timeout(limit, st.wait_for(|s| pred(s)))
        .await
        .map(|r| r.map(|s| s.clone()));
    match reached {
        Ok(Ok(s)) => s,
        _ => panic!("{what}: not reached within {limit:?}; the state is {:?}", h.state()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_auth_rejected_after_one_sign_in_attempt() {
    let rig = rig(CloudOptions::default(), "not-the-password").await;
    let (h, _ev) = rig.start();
    let s = wait_state(&h, Duration::from_secs(20), "auth_rejected", |s| {
        matches!(s, LinkState::AuthRejected { .. })
    })
    .await;
    let LinkState::AuthRejected { reason } = s else { unreachable!() };
    assert!(reason.contains("refused the e-mail or password"), "{reason}");
    // And it stays there: no retry storm against the sign-in.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(matches!(h.state(), LinkState::AuthRejected { .. }), "{:?}", h.state());
    assert_eq!(rig.stat("password_sign_ins"), 1, "{}", rig.cloud.stats());
    assert_eq!(rig.calls("/user/sign-in"), 1);
    assert_eq!(rig.stat("mqtt.upgrades"), 0, "nothing was sent to the broker");
    h.stop().await;
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_signs_in_connects_over_wss_reads_a_status_and_a_setpoint_is_confirmed() {
    let rig = rig(CloudOptions::default(), PASSWORD).await;
    let (h, mut ev) = rig.connected().await;
    // The status request at connect is answered with a full status.
    let st = ev.wait_for("a status", Duration::from_secs(10), is_status).await;
    let status = reply(&st.kind).unwrap()["response"]["status"].clone();
    assert_eq!(status.as_object().map(|m| m.len()), Some(104), "all 104 fields");
    // Features first (commands are gated on them), then the setpoint.
    let t = rig.topics();
    h.publish(&t.info_request(), rig.request(t.info_request(), command::DEVICE_INFO), 1, false)
        .await
        .unwrap();
    let fe = ev
        .wait_for("the features", Duration::from_secs(10), |k| {
            reply(k).and_then(|v| Features::from_reply(&v)).is_some()
        })
        .await;
    let features = Features::from_reply(&reply(&fe.kind).unwrap()).unwrap();
    let cmd = Command::SetpointF(125.0);
    let req = cmd
        .request(&features, &t, &tether::navien::session_id(&rig.profile.client_id), MAC, "5322")
        .unwrap();
    h.publish(&t.control(), serde_json::to_string(&req).unwrap(), 1, false)
        .await
        .unwrap();
    ev.wait_for("the status confirming 125 °F", Duration::from_secs(10), |k| {
        reply(k).is_some_and(|v| v["response"]["command"] == command::SET_DHW_TEMPERATURE && cmd.confirmed_by(&v["response"]["status"]))
    })
    .await;
    assert_eq!(rig.cloud.heater_setpoint(MAC), Some(103), "125 °F is 103 half-°C in the heater");
    assert_eq!(rig.stat("password_sign_ins"), 1);
    h.stop().await;
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_renewed_on_a_timer_before_they_expire_without_a_reconnect() {
    // Lifetimes of 6 s: renewed at half of that, so within 10 s each is renewed at least once.
    let opts = lifetimes(6, 6);
    let rig = rig(opts, PASSWORD).await;
    let (h, mut ev) = rig.connected().await;
    ev.drain_for(Duration::from_secs(10)).await;
    assert!(rig.calls("/auth/refresh") >= 1, "{}", rig.cloud.stats());
    assert!(rig.calls("/auth/session/refresh") >= 1, "{}", rig.cloud.stats());
    assert_eq!(rig.stat("password_sign_ins"), 1, "renewals use the tokens: {}", rig.cloud.stats());
    assert_eq!(ev.count("connected"), 1, "no reconnect: {:?}", ev.names());
    assert_eq!(rig.stat("mqtt.upgrades"), 1);
    // Each timed renewal is on the link's timeline too, where a user watches it happen.
    assert!(ev.count("token_refreshed") >= 2, "{:?}", ev.names());
    h.stop().await;
    rig.cloud.stop().await;
}

/// The AWS credentials go stale (the JWT does not); `refuse` makes the emulator turn a step away.
async fn aws_renewal_with(refused: &[&str]) -> Rig {
    let opts = lifetimes(3600, 4);
    let rig = rig(opts, PASSWORD).await;
    for step in refused {
        rig.cloud.refuse(step, true).unwrap();
    }
    let (h, mut ev) = rig.connected().await;
    ev.drain_for(Duration::from_secs(5)).await;
    assert_eq!(ev.count("connected"), 1, "renewed while connected: {:?}", ev.names());
    h.stop().await;
    rig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_credentials_are_renewed_in_the_protocols_order_each_fallback_in_turn() {
    // 1. Session refresh works: nothing else is called.
    let rig = aws_renewal_with(&[]).await;
    assert!(rig.calls("/auth/session/refresh") >= 1, "{}", rig.cloud.stats());
    assert_eq!(rig.calls("/user/secured-sign-in"), 0, "{}", rig.cloud.stats());
    assert_eq!(rig.stat("password_sign_ins"), 1);
    rig.cloud.stop().await;
    // 2. Session refresh refused: secured sign-in.
    let rig = aws_renewal_with(&["session"]).await;
    assert!(rig.calls("/user/secured-sign-in") >= 1, "{}", rig.cloud.stats());
    assert_eq!(rig.stat("password_sign_ins"), 1, "{}", rig.cloud.stats());
    rig.cloud.stop().await;
    // 3. Both refused: the password.
    let rig = aws_renewal_with(&["session", "secured"]).await;
    assert!(rig.calls("/user/secured-sign-in") >= 1, "{}", rig.cloud.stats());
    assert!(rig.stat("password_sign_ins") >= 2, "{}", rig.cloud.stats());
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_jwt_refresh_falls_back_to_the_password() {
    let opts = lifetimes(4, 3600);
    let rig = rig(opts, PASSWORD).await;
    rig.cloud.refuse("refresh", true).unwrap();
    let (h, mut ev) = rig.connected().await;
    ev.drain_for(Duration::from_secs(5)).await;
    assert!(rig.calls("/auth/refresh") >= 1, "{}", rig.cloud.stats());
    assert!(rig.stat("password_sign_ins") >= 2, "{}", rig.cloud.stats());
    assert_eq!(ev.count("connected"), 1, "{:?}", ev.names());
    h.stop().await;
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_reconnects_at_once_with_a_fresh_signature_and_no_notification() {
    // AWS keys of 4 s (renewed at 2 s), connections closed at 5 s: a reconnect that reused the
    // first presigned URL would carry a key expired at 4 s and be refused (403).
    let opts = CloudOptions {
        connection_limit: Some(Duration::from_secs(5)),
        aws_lifetime: Duration::from_secs(4),
        ..CloudOptions::default()
    };
    let rig = rig(opts, PASSWORD).await;
    let (h, mut ev) = rig.connected().await;
    ev.wait_for("a second connection", Duration::from_secs(15), |k| {
        matches!(k, EventKind::Connected { .. })
    })
    .await;
    assert_eq!(ev.count("reconnection_failed"), 0, "{:?}", ev.names());
    assert!(rig.stat("mqtt.limit_closes") >= 1, "{}", rig.cloud.stats());
    assert_eq!(rig.stat("mqtt.refused"), 0, "every reconnect was signed afresh and accepted");
    // The device subscription is live again: a status request is answered.
    let t = rig.topics();
    h.publish(
        &t.status_request(),
        rig.request(t.status_request(), command::STATUS_REQUEST),
        1,
        false,
    )
    .await
    .unwrap();
    ev.wait_for("a status after the reconnect", Duration::from_secs(10), is_status)
        .await;
    h.stop().await;
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_and_outage_are_recovered_from_with_the_subscriptions_live_again() {
    let rig = rig(CloudOptions::default(), PASSWORD).await;
    let (h, mut ev) = rig.connected().await;
    ev.wait_for("a status", Duration::from_secs(10), is_status).await;
    let t = rig.topics();
    for fault in ["drop", "outage"] {
        let before = ev.count("connected");
        match fault {
            "drop" => rig.cloud.drop_connections(),
            _ => rig.cloud.outage(Duration::from_secs(3)),
        }
        ev.wait_name("connection_interrupted", Duration::from_secs(10)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while ev.count("connected") == before {
            assert!(tokio::time::Instant::now() < deadline, "{fault}: not back: {:?}", ev.names());
            ev.drain_for(Duration::from_millis(200)).await;
        }
        h.publish(
            &t.status_request(),
            rig.request(t.status_request(), command::STATUS_REQUEST),
            1,
            false,
        )
        .await
        .unwrap();
        ev.wait_for(&format!("a status after {fault}"), Duration::from_secs(10), is_status)
            .await;
    }
    assert_eq!(rig.stat("password_sign_ins"), 1, "{}", rig.cloud.stats());
    h.stop().await;
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_is_met_by_a_renewal_not_a_storm() {
    let rig = rig(CloudOptions::default(), PASSWORD).await;
    let (h, mut ev) = rig.connected().await;
    // Every token and key revoked, then the connection dropped: the next upgrade is refused (403)
    // with the old signature, the link renews (the refresh token is revoked too: secured sign-in,
    // then the password) and connects.
    rig.cloud.expire();
    rig.cloud.drop_connections();
    ev.wait_name("connection_interrupted", Duration::from_secs(10)).await;
    ev.wait_for("connected again", Duration::from_secs(30), |k| {
        matches!(k, EventKind::Connected { .. })
    })
    .await;
    assert_eq!(rig.stat("password_sign_ins"), 2, "{}", rig.cloud.stats());
    assert!(
        rig.stat("mqtt.refused") <= 2,
        "a refused signature is renewed, not retried: {}",
        rig.cloud.stats()
    );
    assert!(rig.calls("/user/sign-in") <= 2, "{}", rig.cloud.stats());
    h.stop().await;
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_on_the_same_client_id_is_reported_and_the_two_stop_fighting() {
    let rig = rig(CloudOptions::default(), PASSWORD).await;
    let (a, mut ev_a) = rig.start();
    ev_a.wait_name("connected", Duration::from_secs(20)).await;
    // The same profile on a second install (its file copied over): one client id, two links.
    let other_install = tempfile::tempdir().unwrap();
    let (b, _ev_b) = rig.start_at(&Paths {
        config_dir: other_install.path().join("config"),
        data_dir: other_install.path().join("data"),
    });
    let taken = |s: &LinkState| matches!(s, LinkState::GaveUp { reason } if reason.contains("another client is using this client id"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (parked, other) = loop {
        if taken(&a.state()) {
            break (&a, &b);
        }
        if taken(&b.state()) {
            break (&b, &a);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no takeover reported: a {:?}, b {:?}, {}",
            a.state(),
            b.state(),
            rig.cloud.stats()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let LinkState::GaveUp { reason } = parked.state() else {
        unreachable!()
    };
    assert!(reason.contains(&rig.profile.client_id), "{reason}");
    assert!(rig.stat("mqtt.takeovers") >= 3, "{}", rig.cloud.stats());
    // The other keeps the connection, and the kicking has stopped.
    wait_state(other, Duration::from_secs(15), "the other connected", |s| {
        matches!(s, LinkState::Connected { .. })
    })
    .await;
    let takeovers = rig.stat("mqtt.takeovers");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rig.stat("mqtt.takeovers"), takeovers, "{}", rig.cloud.stats());
    assert!(matches!(other.state(), LinkState::Connected { .. }), "{:?}", other.state());
    a.stop().await;
    b.stop().await;
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_ends_the_session_with_each_device_and_never_queues_it() {
    let rig = rig(CloudOptions::default(), PASSWORD).await;
    // An observer on the device's wildcard: a second client of the account (no no-local, §3.5).
    let observer_home = tempfile::tempdir().unwrap();
    let mut other = rig.profile.clone();
    other.client_id = "navien-client-0b5e4ve4".into();
    let ctx = Context {
        paths: &Paths {
            config_dir: observer_home.path().join("config"),
            data_dir: observer_home.path().join("data"),
        },
        secrets: Some(rig.secrets.clone()),
        demo: None,
    };
    let plan = kind::plan("home", &other, &ctx).unwrap();
    let (obs, rx) = Link::start_subscribed(plan.config, plan.credentials).unwrap();
    let mut seen = Events { rx, seen: Vec::new() };
    seen.wait_name("subscriptions_restored", Duration::from_secs(20)).await;

    let (h, mut ev) = rig.start();
    ev.wait_name("subscriptions_restored", Duration::from_secs(20)).await;
    h.stop().await;
    let end = seen
        .wait_for(
            "st/end from the stopped link",
            Duration::from_secs(10),
            |k| matches!(k, EventKind::Message { topic, .. } if topic == "cmd/52/navilink-04786332fca0/st/end"),
        )
        .await;
    let EventKind::Message { payload, .. } = &end.kind else {
        unreachable!()
    };
    let v: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(v["clientID"], rig.profile.client_id.as_str());
    assert_eq!(v["request"]["command"], command::SESSION_END);
    assert_eq!(v["responseTopic"], format!("cmd/52/{}/res/end", rig.profile.client_id));
    // Not queued: starting the link again sends no st/end at connect.
    let (h, mut ev) = rig.start();
    ev.wait_name("subscriptions_restored", Duration::from_secs(20)).await;
    seen.drain_for(Duration::from_secs(2)).await;
    let ends = seen
        .seen
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Message { topic, .. } if topic.ends_with("/st/end")))
        .count();
    assert_eq!(ends, 1, "one st/end, from the stop");
    h.stop().await;
    obs.stop().await;
    rig.cloud.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_through_a_due_renewal_is_waited_out_not_met_with_the_password() {
    let opts = lifetimes(4, 4);
    let rig = rig(opts, PASSWORD).await;
    let (h, mut ev) = rig.connected().await;
    // REST answers 503 and MQTT is refused for 6 s: both renewals fall due inside it.
    rig.cloud.outage(Duration::from_secs(6));
    ev.wait_name("connection_interrupted", Duration::from_secs(10)).await;
    ev.wait_for("connected after the outage", Duration::from_secs(40), |k| {
        matches!(k, EventKind::Connected { .. })
    })
    .await;
    assert_eq!(rig.stat("password_sign_ins"), 1, "the outage was waited out: {}", rig.cloud.stats());
    h.stop().await;
    rig.cloud.stop().await;
}

/// Review finding 15b: two REST calls that meet a revoked access token together renew it once;
/// the second finds the first's new token and retries with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_refused_together_renew_the_access_token_once() {
    let rig = rig(CloudOptions::default(), PASSWORD).await;
    let settings = rig.profile.navien.clone().unwrap();
    let acct = tether::navien::client::Account::new("home", EMAIL, &settings, &rig.profile.tls, rig.secrets.clone()).unwrap();
    acct.devices().await.expect("signed in");
    rig.cloud.expire_access();
    let (a, b) = tokio::join!(acct.devices(), acct.devices());
    assert_eq!(a.expect("first call").len(), 1);
    assert_eq!(b.expect("second call").len(), 1);
    assert_eq!(rig.calls("/auth/refresh"), 1, "one renewal for both: {}", rig.cloud.stats());
    assert_eq!(rig.stat("password_sign_ins"), 1);
    rig.cloud.stop().await;
}
