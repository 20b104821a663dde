//! Logs: tracing to a daily-rotated file in the platform's log directory (7 files kept) and to
//! stderr. Secrets never reach a log in the first place (`SecretString`); as a second line of
//! defence every line is passed through [`redact`], which masks the value after any key that
//! names a secret.

use std::io::Write;
use std::path::{Path, PathBuf};
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// Keys whose values are masked (lower case; matched case-insensitively).
const SECRET_KEYS: [&str; 14] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "authorization",
    "apikey",
    "api_key",
    "api-key",
    "credential",
    // AWS's presigned URLs (`X-Amz-Signature=…`); `X-Amz-Security-Token` ends in `token`.
    "signature",
];

/// The log directory: `TETHER_LOG_DIR`, else `~/Library/Logs/Tether` on macOS and `logs` in
/// Tether's data directory elsewhere (Linux: `~/.local/share/tether/logs`; Windows:
/// `%APPDATA%\Tether\data\logs`).
pub fn dir(data_dir: &Path) -> PathBuf {
    if let Some(d) = std::env::var_os("TETHER_LOG_DIR") {
        return PathBuf::from(d);
    }
    if cfg!(target_os = "macos") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join("Library/Logs/Tether");
        }
    }
    data_dir.join("logs")
}

/// Mask secret values in one log line: `password=abc`, `token: "abc"`, `"accessToken":"abc"`,
/// `Authorization: Bearer abc` all become `…=[redacted]`. A value in double quotes ends at the
/// first quote that is not escaped (`\"`, as JSON and Rust's `Debug` write one inside).
pub fn redact(line: &str) -> String {
    // Everything below works on bytes: keys and separators are ASCII, and a UTF-8 continuation
    // byte never equals an ASCII one, so every cut lands on a character boundary.
    let lower = line.to_ascii_lowercase().into_bytes();
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    let mut copied = 0;
    while i < line.len() {
        let hit = SECRET_KEYS
            .iter()
            .find(|k| lower[i..].starts_with(k.as_bytes()) && !word_char_before(bytes, i));
        let Some(key) = hit else {
            i += 1;
            continue;
        };
        // The key may be followed by more word characters (`token_url`): then it is not a key.
        let mut j = i + key.len();
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        let key_end = j;
        // Separator: optional quote, spaces, '=' or ':', spaces, optional quote.
        if j < bytes.len() && bytes[j] == b'"' {
            j += 1;
        }
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || (bytes[j] != b'=' && bytes[j] != b':') || key_end != i + key.len() {
            i = key_end.max(i + 1);
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let quoted = j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'');
        let quote = if quoted { bytes[j] } else { 0 };
        if quoted {
            j += 1;
        }
        let value_start = j;
        // `Authorization: Bearer xyz`: the scheme stays, the credential goes.
        if lower[j..].starts_with(b"bearer ") || lower[j..].starts_with(b"basic ") {
            j += lower[j..].iter().position(|&c| c == b' ').unwrap_or(0) + 1;
        }
        let secret_start = j.max(value_start);
        while j < bytes.len()
            && if quoted {
                bytes[j] != quote
            } else {
                !bytes[j].is_ascii_whitespace() && bytes[j] != b',' && bytes[j] != b'}'
            }
        {
            // In double quotes (JSON, Rust's `Debug`) `\"` is part of the value, not its end.
            if quote == b'"' && bytes[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        // A backslash last on the line escaped nothing.
        let j = j.min(bytes.len());
        if j > secret_start {
            out.push_str(&line[copied..secret_start]);
            out.push_str("[redacted]");
            copied = j;
        }
        i = j.max(i + 1);
    }
    out.push_str(&line[copied..]);
    out
}

fn word_char_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric())
}

/// A writer that redacts each formatted event before it reaches the file.
pub struct Redacting<W>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

pub struct RedactingMaker<M>(M);

/// Bytes the log file may take per day (UTC); with seven daily files kept, the logs stay under
/// about 350 MiB whatever a peer or an input does.
pub const DAILY_CAP: u64 = 50 << 20;

/// What has been written today, shared by every writer of one file.
#[derive(Debug, Default)]
struct Budget {
    day: i64,
    bytes: u64,
    /// The cap was hit today and a line said so.
    told: bool,
}

/// Stops writing once `cap` bytes went out in a day, with one line saying so; writes resume the
/// next day (the appender starts a new file then).
pub struct CappedMaker<M> {
    inner: M,
    cap: u64,
    budget: std::sync::Arc<std::sync::Mutex<Budget>>,
}

impl<M> CappedMaker<M> {
    pub fn new(inner: M, cap: u64) -> Self {
        Self {
            inner,
            cap,
            budget: Default::default(),
        }
    }
}

pub struct Capped<W> {
    inner: W,
    cap: u64,
    budget: std::sync::Arc<std::sync::Mutex<Budget>>,
}

impl<W: Write> Write for Capped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let today = chrono::Utc::now().timestamp().div_euclid(86_400);
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        if b.day != today {
            *b = Budget {
                day: today,
                ..Budget::default()
            };
        }
        if b.bytes + buf.len() as u64 > self.cap {
            if !b.told {
                b.told = true;
                drop(b);
                let note = format!(
                    "log cap of {} KiB reached for today (UTC); further lines are dropped until tomorrow\n",
                    self.cap >> 10
                );
                self.inner.write_all(note.as_bytes())?;
            }
            // Dropped, not failed: the caller goes on.
            return Ok(buf.len());
        }
        b.bytes += buf.len() as u64;
        drop(b);
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for CappedMaker<M> {
    type Writer = Capped<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        Capped {
            inner: self.inner.make_writer(),
            cap: self.cap,
            budget: self.budget.clone(),
        }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMaker<M> {
    type Writer = Redacting<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        Redacting(self.0.make_writer())
    }
}

/// `f` with the targets that could log a secret (a presigned URL) turned off, whatever was asked.
fn silence(f: EnvFilter) -> EnvFilter {
    tether::SILENCED_LOG_TARGETS
        .iter()
        .fold(f, |f, t| f.add_directive(format!("{t}=off").parse().unwrap_or_default()))
}

/// Install the subscriber: the file gets `TETHER_LOG` (default `info`), stderr gets
/// `TETHER_LOG_STDERR` (default `warn`). Returns the file writer's guard (keep it for the app's life), or
/// `None` when the log directory cannot be used (then only stderr gets logs, and says why).
/// `prefix` names the file (`tether` for the tray process, `tether-window` for the window), so
/// that two processes never write one file.
pub fn init(dir: &Path, prefix: &str) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = || silence(EnvFilter::try_from_env("TETHER_LOG").unwrap_or_else(|_| "info,rumqttd=off,tao=warn,wry=warn".into()));
    // No colours: escape codes between a key and its value would hide the key from `redact`.
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(RedactingMaker(std::io::stderr))
        .with_filter(silence(
            EnvFilter::try_from_env("TETHER_LOG_STDERR").unwrap_or_else(|_| "warn,rumqttd=off".into()),
        ));
    // The appender prunes old files by listing the directory: it must exist first.
    // Logs name hosts, users and topics: this user's only.
    let _ = tether::paths::private_dir(dir);
    let file = Builder::new()
        .rotation(Rotation::DAILY)
        .max_log_files(7)
        .filename_prefix(prefix)
        .filename_suffix("log")
        .build(dir);
    match file {
        Ok(appender) => {
            let (nb, guard) = tracing_appender::non_blocking(appender);
            let file_layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(RedactingMaker(CappedMaker::new(nb, DAILY_CAP)))
                .with_filter(filter());
            tracing_subscriber::registry().with(stderr).with(file_layer).init();
            Some(guard)
        }
        Err(e) => {
            tracing_subscriber::registry().with(stderr).init();
            tracing::warn!(dir = %dir.display(), error = %e, "no log file; logging to stderr only");
            None
        }
    }
}

#[cfg(test)]
#[path = "logging_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    #[test]
    fn the_log_stops_at_its_daily_cap_with_one_line_saying_so() {
        let out = Buf::default();
        let maker = CappedMaker::new(out.clone(), 1000);
        for i in 0..1000 {
            let mut w = maker.make_writer();
            w.write_all(format!("line {i:05} of a flood from a peer\n").as_bytes()).unwrap();
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let cap_lines = text.lines().filter(|l| l.starts_with("log cap")).count();
        assert_eq!(cap_lines, 1, "said once");
        let written: usize = text.lines().filter(|l| l.starts_with("line")).map(|l| l.len() + 1).sum();
        assert!(written <= 1000, "{written} bytes past the cap");
        assert!(written > 900, "writes up to the cap: {written}");
    }

    #[test]
    fn secrets_after_their_keys_are_masked() {
        assert_eq!(redact("connect password=hunter2 user=bob"), "connect password=[redacted] user=bob");
        assert_eq!(
            redact(r#"{"accessToken":"eyJabc.def","x":1}"#),
            r#"{"accessToken":"[redacted]","x":1}"#
        );
        assert_eq!(redact("refreshToken: 'r-123' next"), "refreshToken: '[redacted]' next");
        assert_eq!(redact("Authorization: Bearer eyJ.abc.def"), "Authorization: Bearer [redacted]");
        assert_eq!(redact("secret = s3cr3t,"), "secret = [redacted],");
    }

    /// Found by `props::no_generated_secret_survives_redaction`: the value ended at the escaped
    /// quote, and the rest of the secret went to the log.
    #[test]
    fn a_quoted_secret_holding_an_escaped_quote_is_masked_to_its_closing_quote() {
        assert_eq!(redact(r#"{"password":"\"A!aAaAa","x":1}"#), r#"{"password":"[redacted]","x":1}"#);
        // Rust's Debug escapes the same way; a backslash last on the line escapes nothing.
        let line = format!("connect {{ password: {:?}, user: \"bob\" }}", r#"hun"ter\2"#);
        assert_eq!(redact(&line), r#"connect { password: "[redacted]", user: "bob" }"#);
        assert_eq!(redact(r#"token="abc\"#), r#"token="[redacted]"#);
    }

    #[test]
    fn the_other_names_of_secrets_are_masked_too() {
        for (line, want) in [
            ("pwd=hunter22", "pwd=[redacted]"),
            ("api_key: abc123", "api_key: [redacted]"),
            ("X-Api-Key: abc123", "X-Api-Key: [redacted]"),
            ("\"apiKey\":\"abc123\"", "\"apiKey\":\"[redacted]\""),
            ("credential=AKIA/2026", "credential=[redacted]"),
            // An unquoted value runs to a space: the rest of a query string goes with it.
            (
                "wss://h/mqtt?X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok x",
                "wss://h/mqtt?X-Amz-Signature=[redacted] x",
            ),
        ] {
            assert_eq!(redact(line), want, "{line}");
        }
    }

    #[test]
    fn text_beyond_ascii_is_kept_and_never_cut_inside_a_character() {
        assert_eq!(redact("tank 120 °F, setpoint ≥ 105 °F"), "tank 120 °F, setpoint ≥ 105 °F");
        assert_eq!(
            redact("Connexion refusée: password=hunter2 é"),
            "Connexion refusée: password=[redacted] é"
        );
        assert_eq!(redact("пароль password: \"секрет\" конец"), "пароль password: \"[redacted]\" конец");
        assert_eq!(redact("token=日本語の秘密 next"), "token=[redacted] next");
        assert_eq!(redact("é"), "é");
    }

    #[test]
    fn ordinary_lines_are_untouched() {
        for line in [
            "connected to mqtt://127.0.0.1:1883 session_present=true",
            "stored the password in the keychain",
            "token refreshed",
            "tokens_left=3",
            "",
        ] {
            assert_eq!(redact(line), line);
        }
    }
}
