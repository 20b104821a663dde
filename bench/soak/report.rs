//! The soak's results: bench/results/soak.md (the table) and soak-samples.csv (every sample).

use crate::child::{Sample, Seen};
use crate::tally::Tally;
use crate::{Cycle, FAULTS};
use std::fmt::Write;
use std::time::Duration;

pub struct Report<'a> {
    /// The commit the run was built from, taken when it started.
    pub commit: String,
    pub seed: u64,
    pub rate: u32,
    pub soak_secs: f64,
    pub cycles: &'a [Cycle],
    pub sent_in: u64,
    pub witness: &'a Tally,
    pub seen: &'a Seen,
    pub out: &'a Tally,
    pub exit: Option<std::process::ExitStatus>,
    pub broker_log_lines: usize,
}

fn pct(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    format!("{:.2}", sorted[i].as_secs_f64())
}

fn ratio(end: u64, start: u64) -> String {
    if start == 0 {
        return "-".into();
    }
    format!("{:.2}", end as f64 / start as f64)
}

impl Report<'_> {
    pub fn write(&self) {
        let mut md = String::new();
        let s = self.seen;
        let _ = writeln!(md, "# Soak: mixed faults with QoS 1 both ways\n");
        let _ = writeln!(
            md,
            "Command: `cargo bench --bench soak -- --cycles {} --rate {} --seed {}`. Tether commit {}, {}.",
            self.cycles.len(),
            self.rate,
            self.seed,
            self.commit,
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        );
        let _ = writeln!(
            md,
            "{} cycles in {:.0} s; the link's process exited {}. See bench/soak/main.rs for what a cycle is.\n",
            self.cycles.len(),
            self.soak_secs,
            self.exit.map_or("(killed after 10 s)".to_string(), |e| e.to_string())
        );

        let _ = writeln!(md, "## Cycles\n");
        let _ = writeln!(md, "| fault | cycles | stuck (> 60 s) | recovery median s | p95 s | max s |");
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for f in FAULTS {
            let of: Vec<&Cycle> = self.cycles.iter().filter(|c| c.fault == f).collect();
            let mut rec: Vec<Duration> = of.iter().filter_map(|c| c.recovery).collect();
            rec.sort();
            let stuck = of.len() - rec.len();
            let _ = writeln!(
                md,
                "| {f:?} | {} | {stuck} | {} | {} | {} |",
                of.len(),
                pct(&rec, 0.5),
                pct(&rec, 0.95),
                pct(&rec, 1.0)
            );
        }

        let _ = writeln!(md, "\n## Messages\n");
        let _ = writeln!(
            md,
            "| direction | sent | owed | delivered (distinct) | lost | duplicated | reordered |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        let (lost_in, first_in) = s.received.missing(self.witness.all());
        let _ = writeln!(
            md,
            "| broker → link (`soak/in`) | {} published by the peer | {} taken by the broker (witness) | {} | {lost_in} | {} | {} |",
            self.sent_in, self.witness.distinct, s.received.distinct, s.received.duplicates, s.received.reordered
        );
        let (lost_out, first_out) = self.out.missing(s.accepted.all());
        let _ = writeln!(
            md,
            "| link → broker (`soak/out`) | {} publishes | {} accepted by the link ({} refused) | {} | {lost_out} | {} | {} |",
            s.accepted.distinct + s.refused,
            s.accepted.distinct,
            s.refused,
            self.out.distinct,
            self.out.duplicates,
            self.out.reordered
        );
        let (unwitnessed, _) = self.witness.missing(0..self.sent_in);
        let _ = writeln!(
            md,
            "\nLost: owed and never delivered by the end of a 60 s drain. The first lost numbers: in {first_in:?}, out {first_out:?}. \
             Published by the peer but never taken by the broker (the peer's or Mosquitto's doing, not the link's): {unwitnessed}.{}",
            s.first_refusal
                .as_ref()
                .map_or(String::new(), |r| format!(" First refusal: `{r}`."))
        );

        let _ = writeln!(md, "\n## The link's events\n");
        let _ = writeln!(md, "| event | count |");
        let _ = writeln!(md, "|---|---|");
        for (name, n) in &s.events {
            let _ = writeln!(md, "| {name} | {n} |");
        }

        let _ = writeln!(md, "\n## The link's process (sampled every 2 s)\n");
        let pick = |c: Option<&Sample>| c.copied();
        let first = pick(s.samples.first());
        // After a warm-up of 1 % of the cycles (at least 10): allocator pools and buffers settle.
        let warm = (self.cycles.len() / 100).max(10);
        let start = pick(s.samples.iter().find(|x| x.cycle >= warm)).or(first);
        let end = pick(s.samples.iter().rev().find(|x| x.cycle + 1 >= self.cycles.len())).or(pick(s.samples.last()));
        let max = |f: fn(&Sample) -> u64| s.samples.iter().map(f).max().unwrap_or(0);
        let _ = writeln!(md, "| | first sample | start (after cycle {warm}) | end | max | end / start |");
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        type Field = (&'static str, fn(&Sample) -> u64);
        let fields: [Field; 4] = [
            ("RSS KiB", |x| x.rss_kib),
            ("open files", |x| x.fds),
            ("tokio tasks", |x| x.tasks),
            ("outbox entries", |x| x.outbox),
        ];
        for (name, f) in fields {
            let v = |x: Option<Sample>| x.map_or("-".into(), |x| f(&x).to_string());
            let r = match (start, end) {
                (Some(a), Some(b)) => ratio(f(&b), f(&a)),
                _ => "-".into(),
            };
            let _ = writeln!(md, "| {name} | {} | {} | {} | {} | {r} |", v(first), v(start), v(end), max(f));
        }
        let _ = writeln!(md, "\nMosquitto's log: {} lines.", self.broker_log_lines);

        let mut csv = String::from("at_secs,cycle,rss_kib,fds,tasks,outbox\n");
        for x in &s.samples {
            let _ = writeln!(csv, "{:.1},{},{},{},{},{}", x.at_secs, x.cycle, x.rss_kib, x.fds, x.tasks, x.outbox);
        }
        println!("{md}");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
        let _ = std::fs::create_dir_all(&dir);
        std::fs::write(dir.join("soak.md"), md).expect("write soak.md");
        std::fs::write(dir.join("soak-samples.csv"), csv).expect("write the samples");
        println!("written to {}", dir.join("soak.md").display());
    }
}
