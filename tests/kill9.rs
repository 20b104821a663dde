//! `kill -9` of `tether pub` at random points while it flushes a profile's outbox, 50 rounds:
//! every publish that was accepted (queued or sent) reaches the broker at least once, and the
//! first arrivals are in the order of acceptance.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use std::process::Command;
use std::time::Duration;
use tether::config::OutboxConfig;
use tether::outbox::Outbox;
use tether::profiles::{Paths, ProfileStore};

const ROUNDS: usize = 50;
/// Accepted into the outbox by the test (as an offline `watch` or app would) per round, beside
/// one accepted by a real `tether pub` that found the link down: a flush long enough to be cut.
const PREFILL: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_pub_while_the_outbox_flushes_loses_nothing_accepted_and_keeps_the_order() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let topic = unique("kill9pub");
    let observer = Observer::start(broker.port, &topic);
    let home = tempfile::tempdir().unwrap();
    let st = tether_cli(home.path())
        .args(["profile", "add", "dev", &format!("mqtt://127.0.0.1:{}", proxy.port)])
        .args(["--initial-reconnect-delay", "0.05", "--max-reconnect-delay", "0.2"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    // Room for everything the rounds may leave queued: nothing is dropped for space here.
    let store = ProfileStore::new(home.path().join("config/profiles.toml"));
    store
        .update(|f| {
            f.profiles.get_mut("dev").expect("dev").outbox.max_messages = 100_000;
            Ok(())
        })
        .unwrap();
    let paths = Paths {
        config_dir: home.path().join("config"),
        data_dir: home.path().join("data"),
    };
    let outbox_file = paths.profile_outbox("dev");
    let cfg = OutboxConfig {
        max_messages: 100_000,
        ..OutboxConfig::default()
    };

    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut seq = 0usize;
    let mut accepted = Vec::new();
    let mut cut_mid_flush = 0;
    for round in 0..ROUNDS {
        let first_of_round = seq;
        proxy.set(Mode::Refuse);
        let out = tether_cli(home.path())
            .args(["pub", "--profile", "dev", &topic, &seq.to_string(), "--timeout", "0.1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "queued: {}", String::from_utf8_lossy(&out.stderr));
        accepted.push(seq);
        seq += 1;
        {
            let (mut o, _) = Outbox::open(Some(&outbox_file), cfg.clone()).expect("the outbox opens after a kill");
            for _ in 0..PREFILL {
                o.push(topic.clone(), seq.to_string().into(), 1, false).expect("queued");
                accepted.push(seq);
                seq += 1;
            }
            o.close();
        }
        proxy.restore();
        // This one's own message counts only if it arrives (it may die before accepting it).
        let mut victim = tether_cli(home.path())
            .args(["pub", "--profile", "dev", &topic, &seq.to_string(), "--timeout", "10"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seq += 1;
        if round % 5 == 4 {
            // Anywhere from its start: before it connects, while it flushes, after.
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        } else {
            // Once this round's first message is out: in the middle of the flush.
            let first = first_of_round.to_string();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while !observer.lines().contains(&first) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..50))).await;
        }
        let alive = victim.try_wait().ok().flatten().is_none();
        let _ = Command::new("kill").arg("-KILL").arg(victim.id().to_string()).status();
        let _ = victim.wait();
        // What was on its way when it died arrives within moments: then count this round's.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let lines = observer.lines();
        let arrived = (first_of_round..=first_of_round + PREFILL)
            .filter(|n| lines.iter().any(|l| l == &n.to_string()))
            .count();
        if alive && arrived > 0 {
            cut_mid_flush += 1;
        }
        if round % 10 == 0 {
            println!("round {round}: {arrived} of {} of this round out before the kill", PREFILL + 1);
        }
    }
    // A last `pub` that is let finish sends what the kills left.
    let out = tether_cli(home.path())
        .args(["pub", "--profile", "dev", &topic, "end", "--timeout", "30"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = observer.wait_lines(accepted.len() + 1, Duration::from_secs(30)).await;
    let got: Vec<usize> = lines.iter().filter_map(|l| l.parse().ok()).collect();
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<usize> = got.iter().copied().filter(|n| seen.insert(*n)).collect();
    let missing: Vec<usize> = accepted.iter().copied().filter(|n| !seen.contains(n)).collect();
    println!(
        "{ROUNDS} kills, {cut_mid_flush} while it ran with its flush begun; {} accepted, {} delivered ({} duplicates)",
        accepted.len(),
        firsts.len(),
        got.len() - firsts.len()
    );
    assert!(missing.is_empty(), "accepted and never delivered: {missing:?}");
    // A kill may re-send what was acknowledged but not yet struck from the file (a batch of 64,
    // and one being written) and the in-flight window (100), never its whole backlog again.
    let duplicates = got.len() - firsts.len();
    assert!(
        duplicates <= ROUNDS * (2 * 64 + 100),
        "{duplicates} duplicates: progress is lost at each kill"
    );
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "first arrivals out of order: {firsts:?}");
    assert_eq!(lines.last().map(String::as_str), Some("end"));
    // The kills must have hit flushes, or this proved nothing.
    assert!(cut_mid_flush >= 5, "only {cut_mid_flush} kills landed mid-flush");
}
