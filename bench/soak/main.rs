//! Soak: a thousand mixed faults with QoS 1 traffic both ways the whole time.
//!
//! `cargo bench --bench soak` (about half an hour; `-- --cycles 30` for a smoke run; also
//! `--rate N` messages per second each way, default 50, and `--seed N`). Results in
//! `bench/results/soak.md` and `bench/results/soak-samples.csv`.
//!
//! A real Mosquitto (persistence on) and, between it and the link, the fault proxy. The link runs
//! in a process of its own (bench/soak/link.rs): a persistent session, a durable outbox, a
//! consumer that acks each message after writing it out. On the other side, bare rumqttc peers
//! straight on the broker: a publisher of `soak/in`, a witness subscribed to `soak/in` (what the
//! broker really took), and a subscriber of `soak/out`. Each cycle is one fault, drawn at random
//! (seeded) with a random length: broker restart, link cut, half-open (a silent link, held until
//! the link notices), reset, refused CONNECT (CONNACK 3), slow link. A cycle ends when messages
//! published after the fault ended have arrived both ways (recovery time), then a random pause.
//! At the end everything is drained and counted: lost (the broker had it, or the link accepted it,
//! and it never arrived), duplicated (allowed by QoS 1, reported), reordered (a first arrival
//! after a higher number).

mod child;
mod link;
mod peers;
mod report;
mod tally;

#[path = "../common.rs"]
mod common;

#[path = "../../tests/common/broker.rs"]
#[allow(dead_code)] // shared with the tests, which use all of it
mod broker;

use broker::{Broker, BrokerOptions};
use child::{LinkProcess, Seen};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tally::Tally;
use tether::demo::proxy::{FaultProxy, Mode};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    BrokerRestart,
    LinkCut,
    HalfOpen,
    Reset,
    RefusedConnect,
    SlowLink,
}

const FAULTS: [Fault; 6] = [
    Fault::BrokerRestart,
    Fault::LinkCut,
    Fault::HalfOpen,
    Fault::Reset,
    Fault::RefusedConnect,
    Fault::SlowLink,
];

/// Longest wait for a cycle's recovery before it is counted as stuck.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Cycle {
    pub fault: Fault,
    /// From the fault's end to traffic through both ways; `None`: stuck.
    pub recovery: Option<Duration>,
}

struct Opts {
    cycles: usize,
    rate: u32,
    seed: u64,
}

fn opts(args: &[String]) -> Opts {
    let value = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number, not {v}")))
            .unwrap_or(default)
    };
    Opts {
        cycles: value("--cycles", 1000) as usize,
        rate: value("--rate", 50) as u32,
        seed: value("--seed", 1),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--soak-link") {
        let arg = |k: usize| args.get(i + k).expect("--soak-link PORT DIR RATE");
        return link::run(link::Args {
            port: arg(1).parse().expect("port"),
            dir: arg(2).into(),
            rate: arg(3).parse().expect("rate"),
        });
    }
    let o = opts(&args);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(soak(o));
}

async fn soak(o: Opts) {
    let commit = common::commit();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = Broker::start(BrokerOptions {
        persistence: true,
        extra: "max_queued_messages 0\nmax_queued_bytes 0\n".into(),
        ..Default::default()
    });
    let proxy = FaultProxy::start(broker.port).await.expect("proxy");
    let witness = Arc::new(Mutex::new(Tally::default()));
    let delivered_out = Arc::new(Mutex::new(Tally::default()));
    peers::subscriber("soak-witness", broker.port, "soak/in", witness.clone()).await;
    peers::subscriber("soak-peer-sub", broker.port, "soak/out", delivered_out.clone()).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut link = LinkProcess::spawn(proxy.port, dir.path(), o.rate, seen.clone());
    // Connected and subscribed before the traffic starts, so that all of it is owed to the link.
    let ready = wait(Duration::from_secs(20), || {
        seen.lock().expect("seen").event("subscriptions_restored") > 0
    })
    .await;
    assert!(ready, "the link did not connect: see {}", dir.path().join("link.stderr").display());
    let publishing = Arc::new(AtomicBool::new(true));
    let published_in = Arc::new(AtomicU64::new(0));
    peers::publisher(broker.port, "soak/in", o.rate, publishing.clone(), published_in.clone());

    let mut rng = rand::rngs::StdRng::seed_from_u64(o.seed);
    let mut cycles = Vec::with_capacity(o.cycles);
    let started = Instant::now();
    for i in 0..o.cycles {
        seen.lock().expect("seen").cycle = i;
        let fault = FAULTS[rng.random_range(0..FAULTS.len())];
        inflict(fault, &mut rng, &mut broker, &proxy, &seen).await;
        // Traffic sent from now on must get through both ways.
        let mark_in = published_in.load(Ordering::SeqCst);
        let mark_out = seen.lock().expect("seen").accepted.max().map_or(0, |m| m + 1);
        let back = Instant::now();
        let through = wait(RECOVERY_TIMEOUT, || {
            let s = seen.lock().expect("seen");
            s.received.max().is_some_and(|m| m >= mark_in) && delivered_out.lock().expect("out").max().is_some_and(|m| m >= mark_out)
        })
        .await;
        let recovery = through.then(|| back.elapsed());
        if i % 50 == 0 || recovery.is_none() {
            println!(
                "cycle {i} {fault:?}: recovery {recovery:?} ({:.0} s in)",
                started.elapsed().as_secs_f64()
            );
        }
        cycles.push(Cycle { fault, recovery });
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1000))).await;
    }
    let soak_secs = started.elapsed().as_secs_f64();

    // Drain: stop both publishers, then wait until everything owed has arrived (or 60 s).
    publishing.store(false, Ordering::SeqCst);
    link.say("stop").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent_in = published_in.load(Ordering::SeqCst);
    wait(Duration::from_secs(60), || {
        let s = seen.lock().expect("seen");
        let w = witness.lock().expect("witness");
        let out = delivered_out.lock().expect("out");
        w.missing(0..sent_in).0 == 0 && s.received.missing(w.all()).0 == 0 && out.missing(s.accepted.all()).0 == 0
    })
    .await;
    let exit = link.quit().await;
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    let witness = std::mem::take(&mut *witness.lock().expect("witness"));
    let out = std::mem::take(&mut *delivered_out.lock().expect("out"));
    let r = report::Report {
        commit,
        seed: o.seed,
        rate: o.rate,
        soak_secs,
        cycles: &cycles,
        sent_in,
        witness: &witness,
        seen: &seen,
        out: &out,
        exit,
        broker_log_lines: broker.log().lines().count(),
    };
    r.write();
}

/// Poll `cond` every 20 ms until it holds (true) or `limit` passes (false).
async fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ms(rng: &mut impl Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.random_range(lo..hi))
}

/// Do `fault` and return when it is over (the link may still be recovering).
async fn inflict(fault: Fault, rng: &mut impl Rng, broker: &mut Broker, proxy: &FaultProxy, seen: &Mutex<Seen>) {
    match fault {
        Fault::BrokerRestart => {
            let down = ms(rng, 100, 1500);
            // Mosquitto saves its sessions on SIGTERM and loads them on start.
            tokio::task::block_in_place(|| {
                broker.stop();
                std::thread::sleep(down);
                broker.restart();
            });
        }
        Fault::LinkCut => {
            proxy.cut();
            tokio::time::sleep(ms(rng, 200, 2000)).await;
            proxy.restore();
        }
        Fault::HalfOpen => {
            // Silent until the link notices (its watchdog), then the path works again.
            let before = seen.lock().expect("seen").event("connection_interrupted");
            proxy.set(Mode::Blackhole);
            wait(Duration::from_secs(20), || {
                seen.lock().expect("seen").event("connection_interrupted") > before
            })
            .await;
            proxy.restore();
        }
        Fault::Reset => proxy.reset_all(),
        Fault::RefusedConnect => {
            proxy.set(Mode::Unavailable);
            proxy.reset_all();
            tokio::time::sleep(ms(rng, 300, 2000)).await;
            proxy.restore();
        }
        Fault::SlowLink => {
            proxy.set(Mode::Delay(ms(rng, 20, 120)));
            tokio::time::sleep(ms(rng, 1000, 3000)).await;
            proxy.restore();
        }
    }
}
