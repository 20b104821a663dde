//! Odd and illegal broker behaviour, scripted (tests/common/scripted.rs) or provoked on a real
//! Mosquitto: whatever comes, the link never panics, never storms (attempts follow the backoff),
//! says why each connection ended, and holds through what is odd but legal.

mod common;

use common::scripted::{remaining_length, Script, Scripted};
use common::*;
use std::time::Duration;
use tether::event::EventKind;

const WINDOW: Duration = Duration::from_secs(3);
/// CONNECTs a link may make in `WINDOW` against a broker that breaks every connection: the first,
/// tier 1's three attempts (0.1, 0.2, 0.4 s) and recovery cycles (0.3, 0.6 s, …) fit well inside;
/// a storm makes hundreds.
const MAX_CONNECTS: usize = 12;

fn publish(first: u8, topic: &str, pkid: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut body = (topic.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(topic.as_bytes());
    if let Some(id) = pkid {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    let mut p = vec![first];
    p.extend(remaining_length(body.len()));
    p.extend(body);
    p
}

/// What one script did to a link in `WINDOW`.
struct Outcome {
    connects: usize,
    interrupted: usize,
    causes: Vec<String>,
    messages: usize,
}

async fn run(script: Script) -> Outcome {
    let broker = Scripted::start(script).await;
    let mut cfg = fast_config(broker.port);
    // A partial packet (junk that announces more than comes) is only found by the watchdog.
    cfg.keepalive = Duration::from_secs(1);
    cfg.reconnect.max_reconnect_attempts = 3;
    cfg.reconnect.stable_after = Duration::from_secs(1);
    cfg.subscriptions.push(qos1("t/#"));
    let (h, mut ev) = start(cfg);
    ev.drain_for(WINDOW).await;
    // The supervisor is alive and answers after whatever it was sent.
    assert!(h.diagnostics().await.is_some(), "the link stopped answering: {:?}", ev.names());
    h.stop().await;
    let causes = ev
        .seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConnectionInterrupted { cause, error } | EventKind::AttemptFailed { cause, error } => {
                assert!(!cause.is_empty() && !error.is_empty(), "an end without a reason: {:?}", e.kind);
                Some(format!("{cause}: {error}"))
            }
            _ => None,
        })
        .collect();
    Outcome {
        connects: broker.connects(),
        interrupted: ev.count("connection_interrupted"),
        causes,
        messages: ev.count("message"),
    }
}

#[tokio::test]
async fn illegal_packets_end_the_connection_with_a_reason_and_are_retried_on_the_backoff() {
    let mut past_limit = vec![0x30];
    past_limit.extend(remaining_length(200 << 20));
    past_limit.extend(vec![b'x'; 1024]);
    let cases: Vec<(&str, Script)> = vec![
        (
            "CONNACK then close",
            Script {
                then_close: true,
                ..Default::default()
            },
        ),
        ("reserved packet type 0", bytes(&[0x00, 0x00])),
        ("packet type 15", bytes(&[0xF0, 0x00])),
        ("a PUBLISH with QoS 3", bytes(&publish(0x36, "t/a", Some(1), b"x"))),
        ("a PUBLISH QoS 1 with packet id 0", bytes(&publish(0x32, "t/a", Some(0), b"x"))),
        ("a five-byte remaining length", bytes(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])),
        ("a PUBLISH of 200 MiB (past the wire limit)", bytes(&past_limit)),
        ("a second CONNACK", bytes(&[0x20, 2, 0, 0])),
        ("a PUBACK for a packet never sent", bytes(&[0x40, 2, 0x12, 0x34])),
        ("an HTTP reply", bytes(b"HTTP/1.1 400 Bad Request\r\n\r\n")),
    ];
    let outcomes = futures_util::future::join_all(cases.iter().map(|(_, s)| run(s.clone()))).await;
    let mut table = Vec::new();
    for ((name, _), o) in cases.iter().zip(&outcomes) {
        table.push(format!("{name}: {} CONNECTs, ended by {:?}", o.connects, o.causes.first()));
        assert!(o.connects <= MAX_CONNECTS, "{name}: {} CONNECTs in {WINDOW:?}", o.connects);
        assert!(o.connects >= 2, "{name}: the connection was expected to end and be retried");
        assert!(!o.causes.is_empty(), "{name}: ended without a reason");
    }
    println!("{}", table.join("\n"));
}

#[tokio::test]
async fn odd_but_legal_packets_leave_the_link_up() {
    let twice = [publish(0x32, "t/a", Some(7), b"x"), publish(0x3A, "t/a", Some(7), b"x")].concat();
    let cases: Vec<(&str, Script, usize)> = vec![
        ("an unsolicited PINGRESP", bytes(&[0xD0, 0]), 0),
        ("the same QoS 1 PUBLISH twice (DUP)", bytes(&twice), 2),
        ("a PUBLISH on a topic never subscribed", bytes(&publish(0x30, "z/q", None, b"!")), 1),
        ("a retained empty message", bytes(&publish(0x31, "t/e", None, b"")), 1),
        ("a SUBACK for a subscription never made", bytes(&[0x90, 3, 0x7f, 0x7f, 1]), 0),
    ];
    let outcomes = futures_util::future::join_all(cases.iter().map(|(_, s, _)| run(s.clone()))).await;
    for ((name, _, messages), o) in cases.iter().zip(&outcomes) {
        println!("{name}: {} CONNECTs, {} messages, ends {:?}", o.connects, o.messages, o.causes);
        assert_eq!((o.connects, o.interrupted), (1, 0), "{name}: the link should hold: {:?}", o.causes);
        assert_eq!(o.messages, *messages, "{name}: delivered (at least once: a DUP is delivered again)");
    }
}

fn bytes(b: &[u8]) -> Script {
    Script {
        after_connack: b.to_vec(),
        then_close: false,
    }
}

/// Another client with our client id: the broker kicks whichever connected first. A thief that
/// reconnects at once each time would, with a client that does too, make a ping-pong storm; the
/// link's backoff grows because no connection holds, and it escalates.
#[tokio::test]
async fn a_duplicate_client_id_kicking_us_is_not_a_storm_and_the_link_returns_when_it_stops() {
    let broker = Broker::start(BrokerOptions::default());
    let mut cfg = fast_config(broker.port);
    cfg.reconnect.max_reconnect_attempts = 3;
    cfg.reconnect.stable_after = Duration::from_secs(2);
    let id = cfg.client_id.clone();
    let (h, mut ev) = start(cfg);
    ev.wait_name("connected", Duration::from_secs(10)).await;
    let port = broker.port;
    let thief = tokio::spawn(async move {
        let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        let (_c, mut el) = rumqttc::AsyncClient::new(opts, 10);
        let mut connects = 0usize;
        loop {
            match el.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Incoming::ConnAck(_))) => connects += 1,
                Ok(_) => {}
                // Kicked: back at once (a small pause, so the thief alone is not the storm).
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            if connects >= 1000 {
                return connects;
            }
        }
    });
    ev.drain_for(Duration::from_secs(8)).await;
    thief.abort();
    let connects = ev.count("connected");
    println!("8 s of a thief: {connects} connects, {:?}", ev.names());
    // The policy (0.1-0.4 s in tier 1, then cycles of 0.3-1 s) allows about one a second by the
    // end; the thief alone would have it reconnect every 50 ms, 160 in 8 s.
    assert!(connects <= 20, "{connects} connects in 8 s: a storm");
    assert!(ev.count("reconnection_failed") >= 1, "it escalates: {:?}", ev.names());
    assert_eq!(ev.count("recovered"), 0, "no connection held while kicked: {:?}", ev.names());
    // The thief gone, the link comes back and holds.
    ev.wait_name("recovered", Duration::from_secs(15)).await;
    h.stop().await;
}
