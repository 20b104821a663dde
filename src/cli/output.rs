//! How `tether watch` prints: one JSON object per line (`--json`), or one readable line per event.

use std::io::Write;
use tether::delivery::Consumer;
use tether::event::{EventKind, LinkEvent};

/// Deliveries written before one flush and one round of acknowledgements.
const WRITE_BATCH: usize = 1024;

pub struct Printer {
    json: bool,
    /// The link talks to devices: a status reply is also printed decoded (`device_status`).
    devices: bool,
    out: std::io::BufWriter<std::io::Stdout>,
    /// A write failed (stdout closed): nothing written from here on reached anyone.
    failed: bool,
}

impl Printer {
    pub fn with_devices(json: bool, devices: bool) -> Self {
        Self {
            json,
            devices,
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            failed: false,
        }
    }

    pub fn event(&mut self, ev: &LinkEvent) {
        // A closed stdout (piped into `head`) is not worth a panic: it is remembered.
        let r = if self.json {
            writeln!(self.out, "{}", ev.to_json())
        } else {
            writeln!(self.out, "{}", human(ev))
        };
        self.failed |= r.is_err();
        if self.devices {
            if let EventKind::Message { payload, .. } = &ev.kind {
                self.device_status(ev, payload);
            }
        }
    }

    /// A device's status reply, decoded: one `device_status` object (`--json`) or one line.
    fn device_status(&mut self, ev: &LinkEvent, payload: &[u8]) {
        let Some((mac, command, status)) = tether::navien::view::status_in_reply(payload) else {
            return;
        };
        let decoded = tether::navien::view::decode(&status);
        let r = if self.json {
            let line = serde_json::json!({
                "ts": ev.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "profile": &*ev.profile, "event": "device_status", "mac": mac, "command": command, "status": decoded,
            });
            writeln!(self.out, "{line}")
        } else {
            let ts = ev.ts.format("%H:%M:%S%.3f");
            writeln!(
                self.out,
                "{ts}  device_status  {}  {}",
                printable(&mac),
                tether::navien::view::summary(&decoded)
            )
        };
        self.failed |= r.is_err();
    }

    /// Everything written so far is in the kernel's hands: whether it all got there.
    pub fn flush(&mut self) -> bool {
        self.failed |= self.out.flush().is_err();
        !self.failed
    }
}

/// `tether watch`'s writer (blocking, on a thread of its own): every delivery printed in order, and
/// acknowledged only once it is flushed to stdout. Returns when the link has stopped and all was
/// written, or when stdout is closed (then the rest stays unacknowledged, for the broker to send
/// again on the next run).
pub fn write_all(mut consumer: Consumer, json: bool, devices: bool) {
    let mut out = Printer::with_devices(json, devices);
    let acker = consumer.acker();
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(d) = consumer.blocking_recv() {
        batch.push(d);
        while batch.len() < WRITE_BATCH {
            match consumer.try_recv() {
                Some(d) => batch.push(d),
                None => break,
            }
        }
        for d in &batch {
            out.event(&d.event);
        }
        if !out.flush() {
            return;
        }
        acker.ack_all(batch.drain(..).map(|d| d.receipt));
    }
}

pub(crate) fn human(ev: &LinkEvent) -> String {
    let ts = ev.ts.format("%H:%M:%S%.3f");
    if let EventKind::Message { topic, payload, .. } = &ev.kind {
        return format!("{ts}  {}  {}", printable(topic), printable(&String::from_utf8_lossy(payload)));
    }
    let mut line = format!("{ts}  {}", ev.kind.name());
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&ev.kind) {
        for (k, v) in map {
            if k == "event" {
                continue;
            }
            match v {
                // Topics and reasons come from outside too.
                serde_json::Value::String(s) => line.push_str(&format!("  {k}={}", printable(&s))),
                other => line.push_str(&format!("  {k}={other}")),
            }
        }
    }
    line
}

/// Text for a terminal: control characters (an escape sequence a publisher sends could set the
/// clipboard, the title, or hide what follows) are shown escaped, as `\u{1b}`; the rest as is.
fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_cannot_send_escape_sequences_to_the_terminal() {
        let ev = LinkEvent::new(
            "home".into(),
            EventKind::Message {
                topic: "t".into(),
                payload: bytes::Bytes::from_static(b"\x1b]52;c;aGk=\x07 hi \xc2\xb0F"),
                qos: 0,
                retain: false,
            },
        );
        let line = human(&ev);
        assert!(!line.contains('\x1b') && !line.contains('\x07'), "{line:?}");
        assert!(line.ends_with("\\u{1b}]52;c;aGk=\\u{7} hi °F"), "{line:?}");
    }
}
