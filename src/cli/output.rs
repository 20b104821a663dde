//! How `tether watch` prints: one JSON object per line (`--json`), or one readable line per event.

use crate::event::{EventKind, LinkEvent};
use std::io::Write;

pub struct Printer {
    json: bool,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Printer {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        }
    }

    pub fn event(&mut self, ev: &LinkEvent) {
        // A closed stdout (piped into `head`) is not worth a panic; the link stops on its own.
        let _ = if self.json {
            writeln!(self.out, "{}", ev.to_json())
        } else {
            writeln!(self.out, "{}", human(ev))
        };
    }

    /// A line of its own (human output only).
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

pub(crate) fn human(ev: &LinkEvent) -> String {
    let ts = ev.ts.format("%H:%M:%S%.3f");
    if let EventKind::Message { topic, payload, .. } = &ev.kind {
        return format!("{ts}  {topic}  {}", String::from_utf8_lossy(payload));
    }
    let mut line = format!("{ts}  {}", ev.kind.name());
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&ev.kind) {
        for (k, v) in map {
            if k == "event" {
                continue;
            }
            match v {
                serde_json::Value::String(s) => line.push_str(&format!("  {k}={s}")),
                other => line.push_str(&format!("  {k}={other}")),
            }
        }
    }
    line
}
