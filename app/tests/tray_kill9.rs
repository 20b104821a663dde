//! `kill -9` of the tray process (`tether-tray`, the real program) at random points while it
//! flushes its profile's outbox, 50 rounds: every publish that was accepted reaches the broker at
//! least once, the first arrivals are in the order of acceptance, and a killed tray process never
//! keeps the next one from starting (its lock, its socket, its outbox file).
//! The core's `tests/kill9.rs` does the same to `tether pub`.

mod support;

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::broker::{Broker, BrokerOptions};
use support::dbus::DBusSession;
use tether::config::OutboxConfig;
use tether::demo::proxy::{FaultProxy, Mode};
use tether::outbox::Outbox;
use tether::profiles::{Paths, Profile, ProfileStore};
use tether_app::wire;

const ROUNDS: usize = 50;
/// Left queued per round by an offline app (the test writes them into the outbox file): a flush
/// long enough to be cut.
const PREFILL: usize = 100;

/// Seeded SplitMix64: reproducible kill points (this crate has no `rand`; adding it would change
/// `Cargo.lock`).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// An independent QoS 1 subscriber straight on the broker: `mosquitto_sub`, one payload a line.
struct Observer {
    child: Child,
    lines: Arc<Mutex<Seen>>,
}

/// What the observer received: each payload with when, and the distinct ones.
#[derive(Default)]
struct Seen {
    lines: Vec<(Instant, String)>,
    distinct: HashSet<String>,
}

impl Observer {
    fn start(port: u16, topic: &str) -> Self {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic, "-q", "1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("mosquitto_sub runs (apt-get install mosquitto-clients)");
        let out = child.stdout.take().expect("stdout");
        let lines: Arc<Mutex<Seen>> = Arc::default();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let mut g = l.lock().unwrap();
                g.distinct.insert(line.clone());
                g.lines.push((Instant::now(), line));
            }
        });
        // Let it subscribe before anything is published.
        std::thread::sleep(Duration::from_millis(300));
        Self { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().lines.iter().map(|(_, l)| l.clone()).collect()
    }

    fn has(&self, payload: &str) -> bool {
        self.lines.lock().unwrap().distinct.contains(payload)
    }

    fn has_all(&self, payloads: &[String]) -> bool {
        let g = self.lines.lock().unwrap();
        payloads.iter().all(|p| g.distinct.contains(p))
    }

    /// When `payload` first arrived.
    fn arrived(&self, payload: &str) -> Option<Instant> {
        let g = self.lines.lock().unwrap();
        g.lines.iter().find(|(_, l)| l == payload).map(|(t, _)| *t)
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where one tray process keeps everything: the same home for every round.
struct Home {
    dir: PathBuf,
    bus: String,
}

impl Home {
    fn runtime(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn stderr_file(&self) -> PathBuf {
        self.dir.join("tray.stderr")
    }

    fn spawn_tray(&self) -> Child {
        let err = std::fs::File::create(self.stderr_file()).unwrap();
        Command::new(env!("CARGO_BIN_EXE_tether-tray"))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("xdg-config"))
            .env("XDG_DATA_HOME", self.dir.join("xdg-data"))
            .env("TETHER_CONFIG_DIR", self.dir.join("config"))
            .env("TETHER_DATA_DIR", self.dir.join("data"))
            .env("TETHER_LOG_DIR", self.dir.join("logs"))
            .env("TETHER_RUNTIME_DIR", self.runtime())
            // Never opened here: "Open Tether" is not clicked.
            .env("TETHER_WINDOW_BIN", "/bin/true")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("tether-tray starts")
    }

    /// What the last tray process said, and the end of its log, for a failure message.
    fn told(&self) -> String {
        let stderr = std::fs::read_to_string(self.stderr_file()).unwrap_or_default();
        let mut log = String::new();
        if let Ok(dir) = std::fs::read_dir(self.dir.join("logs")) {
            for e in dir.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                log += &tail.into_iter().rev().collect::<Vec<_>>().join("\n");
            }
        }
        format!("stderr:\n{stderr}\nlog (end):\n{log}")
    }

    /// Whether the last tray process said it is ready (its SIGTERM handler is in place then).
    fn ready(&self) -> bool {
        std::fs::read_to_string(self.stderr_file()).is_ok_and(|s| s.contains("tether-tray: ready on"))
    }

    /// The single-instance lock is free (the kernel released a killed holder's).
    fn lock_is_free(&self) -> bool {
        let Ok(f) = std::fs::OpenOptions::new().write(true).open(self.runtime().join("tether.lock")) else {
            return true;
        };
        f.try_lock().is_ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_tray_process_while_the_outbox_flushes_loses_nothing_accepted_and_keeps_the_order() {
    let started = Instant::now();
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let topic = format!("kill9tray-{}", std::process::id());
    // A slow link (20 ms a chunk each way): a round's flush takes 50 to 100 ms instead of 5, so
    // a kill 0 to 50 ms after its first message is out often cuts it.
    proxy.set(Mode::Delay(Duration::from_millis(20)));
    let observer = Observer::start(broker.port, &topic);
    let bus = DBusSession::start();
    let tmp = tempfile::tempdir().unwrap();
    let home = Home {
        dir: tmp.path().to_path_buf(),
        bus: bus.address.clone(),
    };
    let paths = Paths {
        config_dir: home.dir.join("config"),
        data_dir: home.dir.join("data"),
    };

    // The one profile, so the one the tray process runs at start (its first). Anonymous broker:
    // no secret, no keychain. Room for everything the rounds may leave queued.
    let mut dev = Profile::mqtt(&format!("mqtt://127.0.0.1:{}", proxy.port)).unwrap();
    dev.reconnect.initial_reconnect_delay = Duration::from_millis(50);
    dev.reconnect.max_reconnect_delay = Duration::from_millis(200);
    dev.outbox.max_messages = 100_000;
    ProfileStore::new(paths.profiles_file())
        .update(|f| {
            f.profiles.insert("dev".into(), dev);
            Ok(())
        })
        .unwrap();
    let outbox_file = paths.profile_outbox("dev");
    let cfg = OutboxConfig {
        max_messages: 100_000,
        ..OutboxConfig::default()
    };

    let mut rng = Rng(9);
    let mut seq = 0usize;
    let mut accepted: Vec<String> = Vec::new();
    let (mut cut_mid_flush, mut cut_before_round_done) = (0, 0);
    let mut first_seen_after = Vec::new();
    let mut spreads = Vec::new();
    for round in 0..ROUNDS {
        // No tray process runs: what an offline app left queued.
        let first_of_round = seq;
        {
            let (mut o, corrupt) = Outbox::open(Some(&outbox_file), cfg.clone())
                .unwrap_or_else(|e| panic!("round {round}: the outbox does not open after a kill: {e}"));
            assert!(corrupt.is_empty(), "round {round}: unreadable entries {corrupt:?}");
            assert_eq!(o.take_set_aside(), None, "round {round}: the outbox file was unreadable");
            for _ in 0..PREFILL {
                o.push(topic.clone(), seq.to_string().into(), 1, false).expect("queued");
                accepted.push(seq.to_string());
                seq += 1;
            }
            o.close();
        }

        let spawned = Instant::now();
        let mut tray = home.spawn_tray();
        let first = first_of_round.to_string();
        if round % 5 == 4 {
            // Anywhere from its start: before it runs its link, while it flushes, after.
            tokio::time::sleep(Duration::from_millis(rng.below(1500))).await;
        } else {
            // Once this round's first message is out: in the middle of the flush.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !observer.has(&first) {
                if let Some(st) = tray.try_wait().unwrap() {
                    panic!("round {round}: the tray process exited by itself ({st}):\n{}", home.told());
                }
                assert!(
                    Instant::now() < deadline,
                    "round {round}: {first} not delivered within 10 s of the start:\n{}",
                    home.told()
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            first_seen_after.push(spawned.elapsed());
            tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
        }
        // It never leaves by itself (an "already running" refusal would, with success).
        if let Some(st) = tray.try_wait().unwrap() {
            panic!("round {round}: the tray process exited by itself ({st}):\n{}", home.told());
        }
        tray.kill().expect("SIGKILL"); // std sends SIGKILL: kill -9
        let _ = tray.wait();
        assert!(home.lock_is_free(), "round {round}: the killed tray process's lock is still held");

        // What was on its way when it died arrives within moments: then count this round's.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let arrived = (first_of_round..first_of_round + PREFILL)
            .filter(|n| observer.has(&n.to_string()))
            .count();
        if arrived == PREFILL {
            let a = observer.arrived(&first).unwrap();
            let b = observer.arrived(&(first_of_round + PREFILL - 1).to_string()).unwrap();
            spreads.push(b - a);
        }
        if arrived > 0 {
            cut_mid_flush += 1;
            if arrived < PREFILL {
                cut_before_round_done += 1;
            }
        }
        if round % 10 == 0 {
            println!("round {round}: {arrived} of {PREFILL} of this round out before the kill");
        }
    }

    // A last tray process, on a fast link, is let run: it sends what the kills left, and quits
    // on SIGTERM.
    proxy.restore();
    let mut tray = home.spawn_tray();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !observer.has_all(&accepted) && Instant::now() < deadline {
        if let Some(st) = tray.try_wait().unwrap() {
            panic!("the last tray process exited by itself ({st}):\n{}", home.told());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Asked to quit only once it listens for that: before, SIGTERM would end it as a kill does.
    while !home.ready() {
        assert!(tray.try_wait().unwrap().is_none(), "the last tray process exited:\n{}", home.told());
        assert!(Instant::now() < deadline, "the last tray process is not ready:\n{}", home.told());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: a plain kill(2) of our own child, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(tray.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = tray.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "tray process still running 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}:\n{}", home.told());
    assert!(!wire::socket_path(&home.runtime()).exists(), "socket left behind");
    drop(proxy);

    let lines = observer.lines();
    let mut seen = HashSet::new();
    let firsts: Vec<usize> = lines
        .iter()
        .filter(|l| seen.insert(l.as_str()))
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not one of ours: {l:?}")))
        .collect();
    let missing: Vec<&String> = accepted.iter().filter(|n| !seen.contains(n.as_str())).collect();
    let duplicates = lines.len() - firsts.len();
    first_seen_after.sort();
    spreads.sort();
    let median = |v: &[Duration]| v.get(v.len() / 2).copied().unwrap_or_default();
    println!(
        "{ROUNDS} rounds, {cut_mid_flush} kills while it ran with its flush begun, {cut_before_round_done} of them \
         before the round's last message was out; {} accepted, {} delivered, {duplicates} duplicates; a round's first \
         message out {:?} after the spawn (median; {:?} at most), its {PREFILL} out in {:?} (median); {:.1?} in all",
        accepted.len(),
        firsts.len(),
        median(&first_seen_after),
        first_seen_after.last().copied().unwrap_or_default(),
        median(&spreads),
        started.elapsed()
    );
    assert!(missing.is_empty(), "accepted and never delivered: {missing:?}");
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "first arrivals out of order: {firsts:?}");
    // A kill may re-send what was acknowledged but not yet struck from the file (a batch of 64,
    // and one being written) and the in-flight window (100), never its whole backlog again.
    assert!(
        duplicates <= ROUNDS * (2 * 64 + 100),
        "{duplicates} duplicates: progress is lost at each kill"
    );
    // The kills must have hit flushes, or this proved nothing.
    assert!(cut_mid_flush >= 25, "only {cut_mid_flush} kills landed mid-flush");
    assert!(
        cut_before_round_done >= 10,
        "only {cut_before_round_done} kills cut a round's flush before its end"
    );
}
