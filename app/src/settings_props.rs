//! Property tests of the settings file: whatever the file holds, loading never panics and never
//! touches it; a file that does not load is reported with the line that is wrong and refused for
//! saving; settings written in any TOML style load as written; saved settings load equal.

use super::*;
use proptest::prelude::*;

/// 256 cases: each suite stays within a few seconds in a debug build.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Shrunk failures are printed; no regression files are written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const NOTIFY_KEYS: [&str; 4] = ["reconnection_failed", "recovered", "gave_up", "auth_rejected"];

fn app_settings() -> impl Strategy<Value = AppSettings> {
    (any::<[bool; 4]>(), any::<bool>()).prop_map(|([a, b, c, d], start_at_login)| AppSettings {
        notifications: NotifySettings {
            reconnection_failed: a,
            recovered: b,
            gave_up: c,
            auth_rejected: d,
        },
        start_at_login,
    })
}

fn notify_field<'a>(n: &'a mut NotifySettings, key: &str) -> &'a mut bool {
    match key {
        "reconnection_failed" => &mut n.reconnection_failed,
        "recovered" => &mut n.recovered,
        "gave_up" => &mut n.gave_up,
        _ => &mut n.auth_rejected,
    }
}

/// Write `bytes` as the settings file in a fresh directory; load it.
fn load_bytes(bytes: &[u8]) -> (tempfile::TempDir, PathBuf, SettingsFile, AppSettings) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("settings.toml");
    std::fs::write(&path, bytes).expect("write the file");
    let (file, settings) = SettingsFile::load(path.clone());
    (dir, path, file, settings)
}

/// The line a problem names (`… at line 3, column 7 …`).
fn reported_line(message: &str) -> Option<usize> {
    let rest = &message[message.find(" at line ")? + " at line ".len()..];
    rest[..rest.find(", column ")?].parse().ok()
}

/// A line of something like a settings file: real and made-up keys, any values, tables, comments,
/// garbage.
fn tomlish_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(&["start_at_login", "notifications", "recovered", "gave_up", "notifications.recovered"][..])
            .prop_map(String::from),
        "[a-z_.\"]{1,12}",
    ];
    let value = prop_oneof![
        prop::sample::select(
            &[
                "true",
                "false",
                "\"yes\"",
                "1",
                "-2.5",
                "[true]",
                "{ recovered = false }",
                "",
                "tru",
                "\"open"
            ][..]
        )
        .prop_map(String::from),
        "[\\PC]{0,12}",
    ];
    prop_oneof![
        4 => (key, prop::sample::select(&[" = ", "=", " "][..]), value).prop_map(|(k, sep, v)| format!("{k}{sep}{v}")),
        1 => prop::sample::select(&["[notifications]", "[x]", "[[notifications]]", "[notifications", "", "# a comment", "\"\"\""][..])
            .prop_map(String::from),
        1 => "[\\PC]{0,20}",
    ]
}

fn tomlish_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(tomlish_line(), 0..10),
        prop::sample::select(&["\n", "\r\n"][..]),
    )
        .prop_map(|(lines, nl)| lines.join(nl))
}

/// What a settings file may hold: any bytes, TOML-ish text, or that text with bytes spliced in.
fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        tomlish_text().prop_map(String::into_bytes),
        (
            tomlish_text(),
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..4)
        )
            .prop_map(|(t, at, junk)| {
                let mut b = t.into_bytes();
                let at = at.index(b.len() + 1);
                b.splice(at..at, junk);
                b
            }),
    ]
}

#[test]
fn any_file_loads_without_panic_and_one_that_does_not_parse_is_reported_and_kept() {
    proptest!(config(), |(bytes in file_bytes())| {
        let (_dir, path, file, settings) = load_bytes(&bytes);
        prop_assert_eq!(&std::fs::read(&path).unwrap(), &bytes, "load wrote the file");
        match file.problem() {
            Some(problem) => {
                prop_assert_eq!(settings, AppSettings::default());
                let text = problem.to_string();
                prop_assert!(matches!(problem, SettingsError::Malformed { .. }), "{}", text);
                prop_assert!(text.contains("settings.toml"), "says which file: {}", text);
                let lines = bytes.split(|&b| b == b'\n').count();
                let line = reported_line(&text);
                prop_assert!(line.is_some_and(|l| (1..=lines).contains(&l)), "says where: {}", text);
                // Saving now would destroy the user's file: refused, file as it was.
                prop_assert_eq!(file.save(&AppSettings::default()), Err(problem.clone()));
                prop_assert_eq!(&std::fs::read(&path).unwrap(), &bytes, "save wrote a refused file");
            }
            None => {
                // It parsed: what it said is what a save writes back.
                file.save(&settings).unwrap();
                let (again, reloaded) = SettingsFile::load(path);
                prop_assert!(again.problem().is_none());
                prop_assert_eq!(reloaded, settings);
            }
        }
    });
}

/// What makes one line of an otherwise good file wrong.
#[derive(Debug, Clone)]
enum Bad {
    /// A top-level key the file may not have (typos are caught there).
    UnknownKey(String),
    /// A notification key with a value that is not a bool.
    NotABool(&'static str, &'static str),
    /// `start_at_login` with a value that is not a bool.
    StartNotABool(&'static str),
    /// Not TOML (in either part of the file).
    Syntax(&'static str, bool),
}

fn bad() -> impl Strategy<Value = Bad> {
    let not_bool = || prop::sample::select(&["\"yes\"", "1", "[true]", "{}", "2024-01-01", "'false'"][..]);
    prop_oneof![
        "[a-z][a-z_]{0,10}"
            .prop_filter("a known key", |k| k != "start_at_login" && k != "notifications")
            .prop_map(Bad::UnknownKey),
        (prop::sample::select(&NOTIFY_KEYS[..]), not_bool()).prop_map(|(k, v)| Bad::NotABool(k, v)),
        not_bool().prop_map(Bad::StartNotABool),
        (
            prop::sample::select(
                &[
                    "= true",
                    "recovered =",
                    "[notifications",
                    "gave_up = tru",
                    "x y = 1",
                    "recovered = true false",
                    "\"open = 1",
                    "auth_rejected = \"unterminated"
                ][..]
            ),
            any::<bool>()
        )
            .prop_map(|(l, top)| Bad::Syntax(l, top)),
    ]
}

/// A good file (keys in any order, comments, blank lines) with one bad line inserted.
#[derive(Debug, Clone)]
struct OneBadLine {
    text: String,
    /// 1-based.
    bad_line: usize,
}

fn one_bad_line() -> impl Strategy<Value = OneBadLine> {
    let filler = || prop::sample::select(&["", "# settings", "   ", "# recovered = \"yes\""][..]);
    (
        any::<Option<bool>>(),
        prop::collection::vec(filler(), 0..3),
        Just(NOTIFY_KEYS.to_vec()).prop_shuffle(),
        any::<[Option<bool>; 4]>(),
        prop::collection::vec(filler(), 0..3),
        bad(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(start, top_fill, keys, values, notify_fill, bad, at)| {
            let mut top: Vec<String> = top_fill.iter().map(|s| s.to_string()).collect();
            let mut notify: Vec<String> = notify_fill.iter().map(|s| s.to_string()).collect();
            // A key set twice is wrong in itself: the bad line's key is left out of the good part.
            let taken = match &bad {
                Bad::NotABool(k, _) => Some(*k),
                _ => None,
            };
            for (k, v) in keys.iter().zip(values) {
                if let (Some(v), false) = (v, taken == Some(*k)) {
                    notify.push(format!("{k} = {v}"));
                }
            }
            if let (Some(v), false) = (start, matches!(bad, Bad::StartNotABool(_))) {
                top.push(format!("start_at_login = {v}"));
            }
            let (line, in_top) = match &bad {
                Bad::UnknownKey(k) => (format!("{k} = true"), true),
                Bad::StartNotABool(v) => (format!("start_at_login = {v}"), true),
                Bad::NotABool(k, v) => (format!("{k} = {v}"), false),
                Bad::Syntax(l, top) => (l.to_string(), *top),
            };
            let part = if in_top { &mut top } else { &mut notify };
            let i = at.index(part.len() + 1);
            part.insert(i, line);
            let bad_line = if in_top { i + 1 } else { top.len() + 2 + i };
            let mut lines = top;
            lines.push("[notifications]".into());
            lines.extend(notify);
            OneBadLine {
                text: lines.join("\n") + "\n",
                bad_line,
            }
        })
}

#[test]
fn the_line_reported_is_the_line_that_is_wrong() {
    proptest!(config(), |(f in one_bad_line())| {
        let (_dir, path, file, _) = load_bytes(f.text.as_bytes());
        let problem = file.problem().map(ToString::to_string);
        prop_assert!(problem.is_some(), "loaded a bad file:\n{}", f.text);
        let problem = problem.unwrap();
        prop_assert_eq!(reported_line(&problem), Some(f.bad_line), "{}\n{}", problem, f.text);
        prop_assert!(file.save(&AppSettings::default()).is_err());
        prop_assert_eq!(std::fs::read_to_string(&path).unwrap(), f.text);
    });
}

/// Settings as a person might write them: any subset of the keys (the rest are defaults), in any
/// order, as a `[notifications]` table, dotted keys or an inline table, with comments.
fn written_settings() -> impl Strategy<Value = (String, AppSettings)> {
    (
        any::<Option<bool>>(),
        Just(NOTIFY_KEYS.to_vec()).prop_shuffle(),
        any::<[Option<bool>; 4]>(),
        0..3u8,
        any::<bool>(),
        prop::sample::select(&["\n", "\r\n"][..]),
    )
        .prop_map(|(start, keys, values, style, comments, nl)| {
            let mut want = AppSettings::default();
            let mut pairs = Vec::new();
            for (k, v) in keys.iter().zip(values) {
                if let Some(v) = v {
                    *notify_field(&mut want.notifications, k) = v;
                    pairs.push(format!("{k} = {v}"));
                }
            }
            let mut lines = Vec::new();
            if comments {
                lines.push("# Tether's settings".to_string());
            }
            if let Some(v) = start {
                want.start_at_login = v;
                lines.push(format!("start_at_login = {v}{}", if comments { " # at login" } else { "" }));
            }
            match style {
                0 => {
                    lines.push("[notifications]".into());
                    lines.extend(pairs);
                }
                1 => lines.extend(pairs.iter().map(|p| format!("notifications.{p}"))),
                _ => lines.push(format!("notifications = {{ {} }}", pairs.join(", "))),
            }
            if comments {
                lines.push(String::new());
            }
            (lines.join(nl), want)
        })
}

#[test]
fn settings_written_in_any_toml_style_load_as_written() {
    proptest!(config(), |((text, want) in written_settings())| {
        let (_dir, _path, file, settings) = load_bytes(text.as_bytes());
        prop_assert!(file.problem().is_none(), "{:?}\n{}", file.problem(), text);
        prop_assert_eq!(settings, want, "{}", text);
    });
}

#[test]
fn saved_settings_load_equal() {
    proptest!(config(), |(s in app_settings(), nested in any::<bool>())| {
        let dir = tempfile::tempdir().unwrap();
        // A first start: the directory may not exist yet.
        let path = if nested { dir.path().join("config/tether/settings.toml") } else { dir.path().join("settings.toml") };
        let (file, _) = SettingsFile::load(path.clone());
        file.save(&s).unwrap();
        let (again, loaded) = SettingsFile::load(path.clone());
        prop_assert!(again.problem().is_none());
        prop_assert_eq!(loaded, s);
        prop_assert!(!path.with_extension("toml.tmp").exists(), "the temp file is left");
    });
}
