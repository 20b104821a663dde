//! What the heater publishes for what it receives, without and with a broker.

use super::*;
use crate::navien::cloud::heater_control::{code, test_request};
use rumqttc::EventLoop;
use serde_json::{json, Value};

const MAC: &str = "04786332fca0";

fn heater() -> Heater {
    Heater::new(MAC, "5322", "Water heater")
}

#[test]
fn garbage_is_ignored_with_a_reason_and_nothing_is_published() {
    let mut h = heater();
    let topic = format!("cmd/52/navilink-{MAC}/ctrl");
    let wrong_mac = test_request("ffffffffffff", "ctrl", code::POWER_OFF, Some(("power-off", &[])))
        .1
        .to_string();
    let payloads: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        br#"{"request":1}"#.to_vec(),
        br#"{"request":{"command":33554433}}"#.to_vec(),
        b"{\"request\":".to_vec(),
        vec![0xff, 0xfe, 0x00],
        wrong_mac.into_bytes(),
    ];
    let before = h.clone();
    for p in &payloads {
        let (reply, out) = answer(&mut h, &topic, p, Instant::now());
        assert!(
            matches!(&reply, Reply::Ignore(r) if !r.is_empty()),
            "{:?} → {reply:?}",
            String::from_utf8_lossy(p)
        );
        assert!(out.is_none());
    }
    assert_eq!(h, before);
}

#[test]
fn a_status_request_is_answered_on_its_response_topic() {
    let mut h = heater();
    let (topic, env) = test_request(MAC, "st", code::STATUS, None);
    let (reply, out) = answer(&mut h, &topic, env.to_string().as_bytes(), Instant::now());
    assert_eq!(
        reply,
        Reply::Status {
            command: code::STATUS,
            refused: None
        }
    );
    let out = out.expect("a reply");
    assert_eq!(out.topic, format!("cmd/52/navilink-{MAC}/navien-client-1a2b3c4d/res"));
    let v: Value = serde_json::from_slice(&out.payload).expect("JSON");
    assert_eq!(v["response"]["status"].as_object().map(|s| s.len()), Some(104));
    assert_eq!(v["sessionID"], env["sessionID"]);
}

#[test]
fn a_feature_request_gets_the_features_and_a_session_end_nothing() {
    let mut h = heater();
    let (topic, env) = test_request(MAC, "st/did", code::FEATURE, None);
    let (_, out) = answer(&mut h, &topic, env.to_string().as_bytes(), Instant::now());
    let v: Value = serde_json::from_slice(&out.expect("a reply").payload).expect("JSON");
    assert_eq!(v["response"]["feature"]["dhwTemperatureMin"], 81);
    let (topic, env) = test_request(MAC, "st/end", code::SESSION_END, None);
    let (reply, out) = answer(&mut h, &topic, env.to_string().as_bytes(), Instant::now());
    assert_eq!((reply, out), (Reply::None, None));
}

#[test]
fn a_control_within_the_interval_publishes_ctrl_fail_instead_of_a_status() {
    let mut h = heater();
    h.control_interval = Some(Duration::from_secs(1));
    let (topic, env) = test_request(MAC, "ctrl", code::POWER_OFF, Some(("power-off", &[])));
    let now = Instant::now();
    let payload = env.to_string();
    answer(&mut h, &topic, payload.as_bytes(), now);
    let (reply, out) = answer(&mut h, &topic, payload.as_bytes(), now);
    assert_eq!(reply, Reply::CtrlFail { fail_code: 2 });
    let out = out.expect("a ctrl-fail");
    assert_eq!(out.topic, format!("cmd/52/navilink-{MAC}/res/ctrl-fail"));
    let v: Value = serde_json::from_slice(&out.payload).expect("JSON");
    assert_eq!(v["response"]["failCode"], 2);
}

/// Polls `eventloop` until a reply for `command` arrives on `topic`, at most 10 s.
async fn reply_on(eventloop: &mut EventLoop, topic: &str, command: u32) -> Value {
    let wait = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == topic => {
                    let Ok(v) = serde_json::from_slice::<Value>(&p.payload) else {
                        continue;
                    };
                    // Our own request comes back too (no no-local in 3.1.1); only replies count.
                    if v.get("response").is_some() && v["response"]["command"] == command {
                        return v;
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("test client: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("a reply within 10 s")
}

#[tokio::test]
async fn a_heater_on_the_broker_answers_a_status_request_and_a_setpoint_control() {
    let port = crate::demo::broker::start().expect("broker");
    let mac = "0a1b2c3d4e5f";
    let shutdown = CancellationToken::new();
    let handles = spawn(port, vec![Heater::new(mac, "5322", "Test heater")], shutdown.clone());
    assert!(handles.wait_subscribed(Duration::from_secs(10)).await, "the heater subscribed");

    let mut opts = MqttOptions::new("navien-client-1a2b3c4d", "127.0.0.1", port);
    opts.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    let (client, mut eventloop) = AsyncClient::new(opts, 16);
    client
        .subscribe(format!("cmd/52/navilink-{mac}/#"), QoS::AtLeastOnce)
        .await
        .expect("subscribe queued");
    let subscribed = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => return,
                Ok(_) => {}
                Err(e) => panic!("test client: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), subscribed)
        .await
        .expect("SUBACK within 10 s");

    let response_topic = format!("cmd/52/navilink-{mac}/navien-client-1a2b3c4d/res");
    let (topic, status_request) = test_request(mac, "st", code::STATUS, None);
    assert_eq!(status_request["responseTopic"], json!(response_topic));
    client
        .publish(&topic, QoS::AtLeastOnce, false, status_request.to_string())
        .await
        .expect("queued");
    let v = reply_on(&mut eventloop, &response_topic, code::STATUS).await;
    assert_eq!(v["response"]["status"].as_object().map(|s| s.len()), Some(104));
    assert_eq!(v["response"]["macAddress"], mac);
    assert_eq!(v["clientID"], "navien-client-1a2b3c4d");

    let (topic, control) = test_request(mac, "ctrl", code::DHW_TEMPERATURE, Some(("dhw-temperature", &[110])));
    client
        .publish(&topic, QoS::AtLeastOnce, false, control.to_string())
        .await
        .expect("queued");
    let v = reply_on(&mut eventloop, &response_topic, code::DHW_TEMPERATURE).await;
    let status = &v["response"]["status"];
    assert_eq!(status.as_object().map(|s| s.len()), Some(104));
    assert_eq!(
        (
            status["dhwTemperatureSetting"].as_i64(),
            status["dhwTargetTemperatureSetting"].as_i64()
        ),
        (Some(110), Some(110))
    );
    assert_eq!(handles.snapshot(mac).map(|h| h.setpoint), Some(110));
    assert_eq!(handles.update(mac, |h| h.error_code = 799), Some(()));
    assert_eq!(handles.snapshot("0A1B2C3D4E5F").map(|h| h.error_code), Some(799));
    assert!(handles.snapshot("000000000000").is_none());

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), handles.join())
        .await
        .expect("the heater's tasks end");
}
