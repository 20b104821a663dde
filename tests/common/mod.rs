//! The real-parts test rig: a Mosquitto per test on an ephemeral port, a fault proxy in front of
//! it, and helpers to wait for events. Every wait is bounded.
#![allow(dead_code, unused_imports)] // each test binary uses a different part of the rig

pub mod broker;
pub mod dbus;
pub mod netns;
pub mod proxy;
pub mod scripted;
pub mod watch;

pub use broker::{Broker, BrokerOptions};
pub use proxy::{FaultProxy, Mode};
pub use watch::Watch;

use std::sync::Arc;
use std::time::Duration;
use tether::config::{LinkConfig, Subscription};
use tether::credentials::{Credentials, StaticSource};
use tether::event::{EventKind, LinkEvent};
use tether::{Link, LinkHandle};
use tokio::sync::broadcast;

/// A unique name per test run (client ids, topics), so tests never collide.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:08x}", std::process::id(), rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish() as u32
}

/// A QoS 1 subscription without a stale-data watchdog.
pub fn qos1(topic: impl Into<String>) -> Subscription {
    Subscription {
        topic: topic.into(),
        qos: 1,
        stale_after: None,
    }
}

/// A link config for `port` with short test delays (the real defaults are for the benchmark).
pub fn fast_config(port: u16) -> LinkConfig {
    let mut c = LinkConfig::new(unique("test"), &format!("mqtt://127.0.0.1:{port}")).expect("valid url");
    c.client_id = unique("tether");
    c.keepalive = Duration::from_secs(5);
    c.connect_timeout = Duration::from_secs(2);
    c.reconnect.initial_reconnect_delay = Duration::from_millis(100);
    c.reconnect.max_reconnect_delay = Duration::from_millis(400);
    c.reconnect.max_reconnect_attempts = 50;
    // Short, so recoveries are told quickly; the poison tests set their own.
    c.reconnect.stable_after = Duration::from_millis(300);
    c.recovery.initial_recovery_delay = Duration::from_millis(300);
    c.recovery.max_recovery_delay = Duration::from_secs(1);
    c
}

/// A `tether` command with its own config and data dirs under `home` (never the user's), and no
/// session bus (so no keychain is reached).
pub fn tether_cli(home: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tether"));
    c.env("TETHER_CONFIG_DIR", home.join("config"))
        .env("TETHER_DATA_DIR", home.join("data"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    c
}

/// Run `c` with `input` on its stdin; its output once it has exited.
pub fn run_with_stdin(mut c: std::process::Command, input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("stdin written");
    }
    child.wait_with_output().expect("the command ends")
}

/// Each line once, at its first arrival, in order (at least once allows repeats).
pub fn first_arrivals(lines: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    lines.iter().filter(|l| seen.insert(l.as_str())).cloned().collect()
}

pub fn anonymous() -> Arc<StaticSource> {
    Arc::new(StaticSource(Credentials::default()))
}

/// Start a link and an event receiver that sees everything from the first event.
pub fn start(cfg: LinkConfig) -> (LinkHandle, Events) {
    let (h, rx) = Link::start_subscribed(cfg, anonymous()).expect("link starts");
    (h, Events { rx, seen: Vec::new() })
}

/// Events of one link, with the history kept for assertions.
pub struct Events {
    pub rx: broadcast::Receiver<LinkEvent>,
    pub seen: Vec<LinkEvent>,
}

impl Events {
    /// Wait (bounded) for the first event matching `pred`; panics with the history on timeout.
    pub async fn wait_for(&mut self, what: &str, limit: Duration, pred: impl Fn(&EventKind) -> bool) -> LinkEvent {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Ok(ev)) => {
                    self.seen.push(ev.clone());
                    if pred(&ev.kind) {
                        return ev;
                    }
                }
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => panic!("test receiver lagged by {n}"),
                Ok(Err(broadcast::error::RecvError::Closed)) => panic!("link closed while waiting for {what}"),
                Err(_) => {
                    let last: Vec<_> = self.seen.iter().rev().take(5).map(|e| &e.kind).collect();
                    panic!(
                        "no {what} within {limit:?}; events so far: {:?}; the last ones: {last:?}",
                        self.names()
                    )
                }
            }
        }
    }

    pub async fn wait_name(&mut self, name: &str, limit: Duration) -> LinkEvent {
        self.wait_for(name, limit, |k| k.name() == name).await
    }

    /// Collect everything that arrives within `d`.
    pub async fn drain_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(ev);
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.seen.iter().map(|e| e.kind.name()).collect()
    }

    pub fn count(&self, name: &str) -> usize {
        self.seen.iter().filter(|e| e.kind.name() == name).count()
    }

    /// Payloads of messages seen so far, in order of arrival.
    pub fn payloads(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Message { payload, .. } => Some(String::from_utf8_lossy(payload).to_string()),
                _ => None,
            })
            .collect()
    }
}

/// Debian's `mosquitto_pub` on `port`, `topic` and `qos`: another, independent client.
fn mosquitto_pub_cmd(port: u16, topic: &str, qos: u8) -> std::process::Command {
    let mut c = std::process::Command::new("mosquitto_pub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic, "-q", &qos.to_string()]);
    c
}

/// Publish one message with `mosquitto_pub`.
pub fn mosquitto_pub(port: u16, topic: &str, payload: &str, qos: u8) {
    let st = mosquitto_pub_cmd(port, topic, qos)
        .args(["-m", payload])
        .status()
        .expect("mosquitto_pub runs");
    assert!(st.success(), "mosquitto_pub failed for {topic}");
}

/// Publish `payload` from a file with `mosquitto_pub` (too big for a command line).
pub fn mosquitto_pub_file(port: u16, topic: &str, payload: &[u8], qos: u8, retain: bool) {
    let f = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(f.path(), payload).expect("write payload");
    let mut c = mosquitto_pub_cmd(port, topic, qos);
    c.arg("-f").arg(f.path());
    if retain {
        c.arg("-r");
    }
    assert!(
        c.status().expect("mosquitto_pub runs").success(),
        "mosquitto_pub failed for {topic}"
    );
}

/// Publish many messages through one `mosquitto_pub` connection (one line of stdin each).
pub fn mosquitto_pub_lines(port: u16, topic: &str, lines: &[String], qos: u8) {
    use std::io::Write;
    let mut child = mosquitto_pub_cmd(port, topic, qos)
        .arg("-l")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_pub runs");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for l in lines {
            writeln!(stdin, "{l}").expect("write to mosquitto_pub");
        }
    }
    assert!(child.wait().expect("mosquitto_pub exits").success());
}

/// An independent observer: `mosquitto_sub` printing each payload of `topic` on a line.
pub struct Observer {
    child: std::process::Child,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Observer {
    pub fn start(port: u16, topic: &str) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic, "-q", "1"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("mosquitto_sub runs");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        // Let it subscribe before anything is published.
        std::thread::sleep(Duration::from_millis(300));
        Self { child, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Wait (bounded) until `n` lines arrived.
    pub async fn wait_lines(&self, n: usize, limit: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let l = self.lines();
            if l.len() >= n || tokio::time::Instant::now() > deadline {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
