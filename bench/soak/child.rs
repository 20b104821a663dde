//! The driver's view of the link's process: it spawns it and reads its lines into [`Seen`].

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;

use crate::tally::Tally;

/// One sample of the link's process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at_secs: f64,
    pub cycle: usize,
    pub rss_kib: u64,
    pub fds: u64,
    pub tasks: u64,
    pub outbox: u64,
}

#[derive(Debug, Default)]
pub struct Seen {
    /// `soak/in` as delivered to the link's consumer.
    pub received: Tally,
    /// `soak/out` publishes the link accepted.
    pub accepted: Tally,
    pub refused: u64,
    pub first_refusal: Option<String>,
    pub events: BTreeMap<String, u64>,
    pub samples: Vec<Sample>,
    /// The cycle running now, stamped on samples.
    pub cycle: usize,
}

impl Seen {
    pub fn event(&self, name: &str) -> u64 {
        self.events.get(name).copied().unwrap_or(0)
    }
}

pub struct LinkProcess {
    child: Child,
    stdin: ChildStdin,
}

impl LinkProcess {
    pub fn spawn(port: u16, dir: &std::path::Path, rate: u32, seen: Arc<Mutex<Seen>>) -> Self {
        let exe = std::env::current_exe().expect("own path");
        let log = std::fs::File::create(dir.join("link.stderr")).expect("log file");
        let mut child = Command::new(exe)
            .arg("--soak-link")
            .arg(port.to_string())
            .arg(dir)
            .arg(rate.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the link process starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let started = Instant::now();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut s = seen.lock().expect("seen");
                read_line(&mut s, &line, started);
            }
        });
        Self { child, stdin }
    }

    pub async fn say(&mut self, line: &str) {
        let _ = self.stdin.write_all(format!("{line}\n").as_bytes()).await;
        let _ = self.stdin.flush().await;
    }

    /// `quit`, then wait (at most 10 s) for the link to stop and the process to exit.
    pub async fn quit(mut self) -> Option<std::process::ExitStatus> {
        self.say("quit").await;
        match tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(st)) => Some(st),
            _ => {
                let _ = self.child.kill().await;
                None
            }
        }
    }
}

fn read_line(s: &mut Seen, line: &str, started: Instant) {
    let mut w = line.split(' ');
    let num = |x: Option<&str>| x.and_then(|v| v.parse::<u64>().ok());
    match w.next() {
        Some("R") => {
            if let Some(n) = num(w.next()) {
                s.received.record(n)
            }
        }
        Some("A") => {
            if let Some(n) = num(w.next()) {
                s.accepted.record(n)
            }
        }
        Some("X") => {
            s.refused += 1;
            s.first_refusal.get_or_insert_with(|| line.to_string());
        }
        Some("E") => *s.events.entry(w.next().unwrap_or("?").to_string()).or_default() += 1,
        Some("S") => {
            let v: Vec<u64> = w.filter_map(|x| x.parse().ok()).collect();
            if let [rss_kib, fds, tasks, outbox] = v[..] {
                let cycle = s.cycle;
                s.samples.push(Sample {
                    at_secs: started.elapsed().as_secs_f64(),
                    cycle,
                    rss_kib,
                    fds,
                    tasks,
                    outbox,
                });
            }
        }
        _ => {}
    }
}
