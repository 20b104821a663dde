//! The front against real parts on loopback: the demo rumqttd behind it, the emulator's PKI, and
//! rumqttc (or a hand-written upgrade request) in front. Every wait is bounded.

use super::connect::{connect_client_id, Peek};
use super::*;
use crate::navien::cloud::pki;
use crate::navien::sigv4::{presign_query, AwsCredentials, Presign, SignedHeaders, REGION, SERVICE};
use chrono::{TimeDelta, Utc};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use secrecy::SecretString;
use std::sync::OnceLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const AKID: &str = "ASIATESTKEY0000001";
const SECRET: &str = "front-test-secret/With+Symbols=";
const TOKEN: &str = "front-test-session-token+/==";
/// Bound on any single wait.
const STEP: Duration = Duration::from_secs(10);

/// One rumqttd for the whole test process (it cannot be stopped); tests use distinct client ids.
fn broker_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| crate::demo::broker::start().expect("the demo broker starts"))
}

struct Rig {
    front: Front,
    tls: Arc<rustls::ClientConfig>,
}

async fn rig(opts: FrontOptions) -> Rig {
    let pki = pki::generate().expect("pki");
    let key = IssuedKey {
        secret_key: SecretString::from(SECRET),
        session_token: SecretString::from(TOKEN),
        expires_at: Utc::now() + TimeDelta::hours(1),
    };
    let keys: HashMap<String, IssuedKey> = HashMap::from([(AKID.to_string(), key)]);
    let lookup: KeyLookup = Arc::new(move |akid| keys.get(akid).cloned());
    let front = Front::start(0, pki.server.clone(), broker_port(), lookup, opts)
        .await
        .expect("front starts");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pki.ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Rig { front, tls: Arc::new(tls) }
}

fn creds(akid: &str, secret: &str, token: &str) -> AwsCredentials {
    AwsCredentials {
        access_key_id: akid.to_string(),
        secret_key: SecretString::from(secret),
        session_token: SecretString::from(token),
    }
}

fn good() -> AwsCredentials {
    creds(AKID, SECRET, TOKEN)
}

/// How a client signs each attempt.
#[derive(Clone)]
struct Signer {
    creds: AwsCredentials,
    /// Added to the clock for `X-Amz-Date`.
    skew: TimeDelta,
    /// Flip the signature's last hex digit.
    tamper: bool,
}

impl Signer {
    fn good() -> Signer {
        Signer {
            creds: good(),
            skew: TimeDelta::zero(),
            tamper: false,
        }
    }

    fn query(&self, host: &str) -> String {
        let p = Presign {
            host,
            path: "/mqtt",
            region: REGION,
            service: SERVICE,
            signed_headers: SignedHeaders::Host,
            expires: None,
        };
        let mut q = presign_query(&self.creds, &p, Utc::now() + self.skew);
        if self.tamper {
            let last = q.pop().expect("a signature");
            q.push(if last == 'a' { 'b' } else { 'a' });
        }
        q
    }
}

/// A rumqttc client over WSS to the front, presigning every attempt as Tether does.
fn mqtt(rig: &Rig, client_id: &str, signer: Signer) -> (AsyncClient, EventLoop) {
    let port = rig.front.port();
    let mut o = MqttOptions::new(client_id, format!("wss://127.0.0.1:{port}/mqtt"), port);
    o.set_transport(Transport::wss_with_config(TlsConfiguration::Rustls(rig.tls.clone())));
    o.set_max_packet_size(64 * 1024, 64 * 1024);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_request_modifier(move |mut req: http::Request<()>| {
        let signer = signer.clone();
        async move {
            // tungstenite sends host:port when the URL has a port: sign exactly that.
            let host = req
                .headers()
                .get("host")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let uri = format!("{}?{}", req.uri(), signer.query(&host));
            *req.uri_mut() = uri.parse().expect("a presigned URI");
            req
        }
    });
    AsyncClient::new(o, 10)
}

async fn next(el: &mut EventLoop) -> Result<Event, ConnectionError> {
    timeout(STEP, el.poll()).await.expect("an MQTT event within 10 s")
}

async fn until(el: &mut EventLoop, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, el.poll()).await {
            Ok(Ok(e)) if pred(&e) => return e,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("waiting for {what}: {e:?}"),
            Err(_) => panic!("no {what} within 10 s"),
        }
    }
}

async fn connected(el: &mut EventLoop) {
    match until(el, "CONNACK", |e| matches!(e, Event::Incoming(Packet::ConnAck(_)))).await {
        Event::Incoming(Packet::ConnAck(ack)) => {
            assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
            assert!(!ack.session_present);
        }
        other => panic!("{other:?}"),
    }
}

/// Polls until the connection fails; returns the error.
async fn disconnected(el: &mut EventLoop) -> ConnectionError {
    let wait = async {
        loop {
            if let Err(e) = el.poll().await {
                return e;
            }
        }
    };
    timeout(STEP, wait).await.expect("a disconnect within 10 s")
}

/// Subscribes to `topic`, publishes `payload` at QoS 1 and waits for both its PUBACK and its own
/// message coming back.
async fn roundtrip(client: &AsyncClient, el: &mut EventLoop, topic: &str, payload: Vec<u8>) {
    client.subscribe(topic, QoS::AtLeastOnce).await.expect("subscribe queued");
    until(el, "SUBACK", |e| matches!(e, Event::Incoming(Packet::SubAck(_)))).await;
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.clone())
        .await
        .expect("publish queued");
    let (mut acked, mut echoed) = (false, false);
    while !(acked && echoed) {
        match until(el, "PUBACK and the echo", |e| {
            matches!(e, Event::Incoming(Packet::PubAck(_)) | Event::Incoming(Packet::Publish(_)))
        })
        .await
        {
            Event::Incoming(Packet::PubAck(_)) => acked = true,
            Event::Incoming(Packet::Publish(p)) => {
                assert_eq!(p.topic, topic);
                assert_eq!(p.payload.len(), payload.len());
                assert!(p.payload[..] == payload[..], "payload intact");
                echoed = true;
            }
            _ => {}
        }
    }
}

/// The HTTP status of a refused upgrade, as rumqttc reports it.
fn http_status(e: &ConnectionError) -> Option<u16> {
    match e {
        ConnectionError::Websocket(async_tungstenite::tungstenite::Error::Http(resp)) => Some(resp.status().as_u16()),
        _ => None,
    }
}

async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + STEP;
    while !cond() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A hand-written upgrade request over TLS; returns the reply's head (status line and headers)
/// and any body bytes read with it, and the time to the reply.
async fn raw_upgrade(rig: &Rig, path_and_query: &str, host: &str) -> (String, Duration) {
    let started = std::time::Instant::now();
    let tcp = TcpStream::connect(("127.0.0.1", rig.front.port())).await.expect("tcp");
    let connector = tokio_rustls::TlsConnector::from(rig.tls.clone());
    let name = rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut tls = timeout(STEP, connector.connect(name, tcp))
        .await
        .expect("TLS in time")
        .expect("TLS");
    let req = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
    );
    tls.write_all(req.as_bytes()).await.expect("request written");
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
            }
        }
    };
    timeout(STEP, read).await.expect("a reply within 10 s");
    let elapsed = started.elapsed();
    (String::from_utf8_lossy(&reply).into_owned(), elapsed)
}

fn status_line(reply: &str) -> &str {
    reply.lines().next().unwrap_or_default()
}

#[tokio::test]
async fn a_signed_client_connects_and_gets_its_own_qos1_message_back() {
    let rig = rig(FrontOptions::default()).await;
    let (client, mut el) = mqtt(&rig, "front-roundtrip", Signer::good());
    connected(&mut el).await;
    roundtrip(&client, &mut el, "front/roundtrip", b"hello".to_vec()).await;
    let s = rig.front.stats();
    assert_eq!((s.upgrades, s.open, s.refused.len()), (1, 1, 0), "{s:?}");
}

#[tokio::test]
async fn messages_larger_than_a_frame_pass_both_ways() {
    let rig = rig(FrontOptions::default()).await;
    let (client, mut el) = mqtt(&rig, "front-large", Signer::good());
    connected(&mut el).await;
    let payload: Vec<u8> = (0..9_000u32).map(|i| (i % 251) as u8).collect();
    roundtrip(&client, &mut el, "front/large", payload).await;
    // Several packets per frame and packets over several frames, in one go.
    let big: Vec<u8> = (0..40_000u32).map(|i| (i % 241) as u8).collect();
    roundtrip(&client, &mut el, "front/larger", big).await;
}

#[tokio::test]
async fn bad_signature_unknown_key_wrong_token_and_stale_date_get_403_and_no_mqtt() {
    let rig = rig(FrontOptions::default()).await;
    let cases = [
        (
            "bad signature",
            Signer {
                tamper: true,
                ..Signer::good()
            },
            Refusal::BadSignature,
        ),
        (
            "unknown key",
            Signer {
                creds: creds("ASIAUNKNOWNKEY000001", SECRET, TOKEN),
                ..Signer::good()
            },
            Refusal::UnknownKey,
        ),
        (
            "wrong token",
            Signer {
                creds: creds(AKID, SECRET, "another-token"),
                ..Signer::good()
            },
            Refusal::WrongToken,
        ),
        (
            "stale date",
            Signer {
                skew: TimeDelta::minutes(-20),
                ..Signer::good()
            },
            Refusal::BadDate,
        ),
    ];
    for (i, (what, signer, reason)) in cases.into_iter().enumerate() {
        let (_client, mut el) = mqtt(&rig, &format!("front-refused-{i}"), signer);
        let e = next(&mut el).await.expect_err(what);
        assert_eq!(http_status(&e), Some(403), "{what}: {e:?}");
        assert_eq!(rig.front.stats().refused(reason), 1, "{what}");
    }
    let s = rig.front.stats();
    assert_eq!((s.upgrades, s.open), (0, 0), "no MQTT connection was made: {s:?}");
}

#[tokio::test]
async fn the_raw_upgrade_gets_101_with_mqtt_403_with_a_reason_and_404_off_path() {
    let rig = rig(FrontOptions::default()).await;
    let port = rig.front.port();
    let host = format!("127.0.0.1:{port}");

    let (reply, took) = raw_upgrade(&rig, &format!("/mqtt?{}", Signer::good().query(&host)), &host).await;
    assert_eq!(status_line(&reply), "HTTP/1.1 101 Switching Protocols", "{reply}");
    let lower = reply.to_ascii_lowercase();
    assert!(lower.contains("\r\nsec-websocket-protocol: mqtt\r\n"), "{reply}");
    eprintln!("TCP connect + TLS + signed upgrade to 101: {took:?}");

    // The Host is used as received: a presign for a port-less Host, sent port-less, is good.
    let (reply, _) = raw_upgrade(&rig, &format!("/mqtt?{}", Signer::good().query("127.0.0.1")), "127.0.0.1").await;
    assert_eq!(status_line(&reply), "HTTP/1.1 101 Switching Protocols", "{reply}");
    // … and the same presign with the port added to the Host is not.
    let (reply, _) = raw_upgrade(&rig, &format!("/mqtt?{}", Signer::good().query("127.0.0.1")), &host).await;
    assert_eq!(status_line(&reply), "HTTP/1.1 403 Forbidden", "{reply}");
    assert!(reply.ends_with("forbidden: the signature does not match\n"), "{reply}");

    let (reply, _) = raw_upgrade(&rig, "/mqtt", &host).await;
    assert_eq!(status_line(&reply), "HTTP/1.1 403 Forbidden", "unsigned: {reply}");

    let (reply, _) = raw_upgrade(&rig, &format!("/other?{}", Signer::good().query(&host)), &host).await;
    assert_eq!(status_line(&reply), "HTTP/1.1 404 Not Found", "{reply}");
    let (reply, _) = raw_upgrade(&rig, "/mqtt/", &host).await;
    assert_eq!(status_line(&reply), "HTTP/1.1 404 Not Found", "{reply}");

    let s = rig.front.stats();
    assert_eq!(s.upgrades, 2, "{s:?}");
    assert_eq!(
        (
            s.refused(Refusal::BadSignature),
            s.refused(Refusal::Malformed),
            s.refused(Refusal::NotFound)
        ),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn the_same_client_id_again_closes_the_older_connection() {
    let rig = rig(FrontOptions::default()).await;
    let (_old, mut old_el) = mqtt(&rig, "front-takeover", Signer::good());
    connected(&mut old_el).await;
    let (new, mut new_el) = mqtt(&rig, "front-takeover", Signer::good());
    connected(&mut new_el).await;
    let e = disconnected(&mut old_el).await;
    drop(old_el); // No reconnect: two loops under one id would kick each other.
    assert_eq!(http_status(&e), None, "a disconnect, not a refusal: {e:?}");
    assert_eq!(rig.front.stats().takeovers, 1);
    eventually("the older connection is gone", || rig.front.stats().open == 1).await;
    roundtrip(&new, &mut new_el, "front/takeover", b"still here".to_vec()).await;
    let s = rig.front.stats();
    assert_eq!((s.takeovers, s.open), (1, 1), "{s:?}");
}

#[tokio::test]
async fn drop_all_closes_connections_and_a_new_signed_one_is_accepted_after() {
    let rig = rig(FrontOptions::default()).await;
    let (a, mut a_el) = mqtt(&rig, "front-drop-a", Signer::good());
    let (_b, mut b_el) = mqtt(&rig, "front-drop-b", Signer::good());
    connected(&mut a_el).await;
    connected(&mut b_el).await;
    rig.front.drop_all();
    disconnected(&mut a_el).await;
    disconnected(&mut b_el).await;
    eventually("both connections closed", || rig.front.stats().open == 0).await;
    // rumqttc's next poll reconnects, presigning again.
    connected(&mut a_el).await;
    roundtrip(&a, &mut a_el, "front/drop", b"back".to_vec()).await;
    assert_eq!(rig.front.stats().upgrades, 3);
}

#[tokio::test]
async fn an_outage_closes_connections_refuses_with_503_and_ends_on_time() {
    let rig = rig(FrontOptions::default()).await;
    let (client, mut el) = mqtt(&rig, "front-outage", Signer::good());
    connected(&mut el).await;
    let started = Instant::now();
    rig.front.outage(Duration::from_secs(1));
    disconnected(&mut el).await;
    let e = next(&mut el).await.expect_err("refused during the outage");
    assert_eq!(http_status(&e), Some(503), "{e:?}");
    assert!(rig.front.stats().refused(Refusal::Outage) >= 1);
    tokio::time::sleep_until(started + Duration::from_millis(1100)).await;
    connected(&mut el).await;
    roundtrip(&client, &mut el, "front/outage", b"over".to_vec()).await;
}

#[tokio::test]
async fn deny_closes_connections_refuses_signed_upgrades_with_403_until_lifted() {
    let rig = rig(FrontOptions::default()).await;
    let (client, mut el) = mqtt(&rig, "front-deny", Signer::good());
    connected(&mut el).await;
    rig.front.deny(true);
    disconnected(&mut el).await;
    let e = next(&mut el).await.expect_err("refused while denied");
    assert_eq!(http_status(&e), Some(403), "{e:?}");
    assert!(rig.front.stats().refused(Refusal::Denied) >= 1);
    rig.front.deny(false);
    connected(&mut el).await;
    roundtrip(&client, &mut el, "front/deny", b"allowed".to_vec()).await;
}

#[tokio::test]
async fn the_connection_limit_closes_each_connection_and_it_reconnects_with_a_fresh_signature() {
    let rig = rig(FrontOptions {
        connection_limit: Some(Duration::from_secs(1)),
    })
    .await;
    let (client, mut el) = mqtt(&rig, "front-limit", Signer::good());
    connected(&mut el).await;
    let up = Instant::now();
    disconnected(&mut el).await;
    let lasted = up.elapsed();
    assert!(
        lasted >= Duration::from_millis(900) && lasted < Duration::from_secs(3),
        "{lasted:?}"
    );
    assert_eq!(rig.front.stats().limit_closes, 1);
    connected(&mut el).await;
    roundtrip(&client, &mut el, "front/limit", b"again".to_vec()).await;
    assert_eq!(rig.front.stats().upgrades, 2);
}

#[tokio::test]
async fn stop_closes_connections_and_the_listener() {
    let rig = rig(FrontOptions::default()).await;
    let (_client, mut el) = mqtt(&rig, "front-stop", Signer::good());
    connected(&mut el).await;
    rig.front.stop();
    disconnected(&mut el).await;
    eventually("the connection task ended", || rig.front.stats().open == 0).await;
    let refused = async {
        loop {
            match TcpStream::connect(("127.0.0.1", rig.front.port())).await {
                Err(_) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    timeout(STEP, refused).await.expect("the listener closes");
}

fn connect_bytes(id: &str) -> Vec<u8> {
    let mut c = rumqttc::Connect::new(id);
    c.keep_alive = 1200;
    c.login = Some(rumqttc::Login::new("?SDK=IoTDeviceSDK/Python&Platform=Unix", ""));
    let mut buf = bytes::BytesMut::new();
    c.write(&mut buf).expect("encodes");
    buf.to_vec()
}

#[test]
fn the_client_id_is_read_from_a_connect_arriving_in_pieces() {
    let b = connect_bytes("navien-client-0123abcd");
    for cut in 0..b.len() {
        let got = connect_client_id(&b[..cut]);
        // The id ends before the login, so it is known before the whole CONNECT is in.
        if got != Peek::NeedMore {
            assert_eq!(got, Peek::ClientId("navien-client-0123abcd".into()), "cut {cut}");
            assert!(cut >= 14 + 22, "cut {cut}");
        }
    }
    assert_eq!(connect_client_id(&b), Peek::ClientId("navien-client-0123abcd".into()));
    // A CONNECT followed by more packets in the same read.
    let mut more = b.clone();
    more.extend_from_slice(&[0xc0, 0x00]);
    assert_eq!(connect_client_id(&more), Peek::ClientId("navien-client-0123abcd".into()));
}

#[test]
fn malformed_or_id_less_first_packets_give_no_client_id_and_never_panic() {
    assert_eq!(connect_client_id(&[]), Peek::NeedMore);
    assert_eq!(connect_client_id(&[0xc0, 0x00]), Peek::NoClientId, "PINGREQ first");
    assert_eq!(
        connect_client_id(&[0x10, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Peek::NoClientId,
        "5-byte length"
    );
    assert_eq!(connect_client_id(&connect_bytes("")), Peek::NoClientId, "empty id");
    // The id's declared length runs past the packet.
    let short = [0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 9, b'a', b'b'];
    assert_eq!(connect_client_id(&short), Peek::NoClientId);
    // MQTT 5 has properties before the id.
    let v5 = [0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 0, 0, 1, b'a'];
    assert_eq!(connect_client_id(&v5), Peek::NoClientId);
    // Not UTF-8.
    let bad = [0x10, 0x0e, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 2, 0xff, 0xfe];
    assert_eq!(connect_client_id(&bad), Peek::NoClientId);
    // Every prefix of every byte pattern is safe.
    for len in 0..24 {
        for fill in [0x00u8, 0x10, 0x7f, 0x80, 0xff] {
            let mut v = vec![fill; len];
            if let Some(f) = v.first_mut() {
                *f = 0x10;
            }
            let _ = connect_client_id(&v);
        }
    }
}
