//! Property tests of [`redact`]: a generated secret in any form the redactor documents never
//! survives, text without a key is kept byte for byte, and no line makes it panic or leave a
//! value it would itself mask.

use super::{redact, SECRET_KEYS};
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

/// `word` with the letters that `case` has a bit set for in upper case: keys match in any case.
fn mixed_case(word: &str, case: u32) -> String {
    word.chars()
        .enumerate()
        .map(|(i, c)| if (case >> (i % 32)) & 1 == 1 { c.to_ascii_uppercase() } else { c })
        .collect()
}

fn secret_word() -> impl Strategy<Value = String> {
    (prop::sample::select(&SECRET_KEYS[..]), any::<u32>()).prop_map(|(k, case)| mixed_case(k, case))
}

/// A key: a secret word in any case, maybe after a prefix that keeps it one (a key needs no
/// letter or digit right before it): `mqtt_password`, `x-auth-token`, `db.secret`.
fn key() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(&["", "", "mqtt_", "MQTT_", "x-auth-", "client_", "db.", "access_"][..]);
    (prefix, secret_word()).prop_map(|(p, k)| format!("{p}{k}"))
}

/// Between a key and a value without quotes; spaces may sit on either side of `=` or `:`.
const SEPS: [&str; 7] = ["=", ":", " = ", ": ", " : ", " =", ":  "];

/// A secret as it stands without quotes: printable, no whitespace, at least 8 long. It has no
/// `,` or `}` (documented ends of such a value: `secret = s3cr3t,`) and does not start with a
/// quote (then it would be a quoted value).
fn bare_secret() -> impl Strategy<Value = String> {
    "[!#-&(-+\\--|~][!-+\\--|~]{7,39}"
}

/// A secret in quotes may hold anything printable; in double quotes it is escaped the way JSON
/// and Rust's `Debug` do (`\"`, `\\`), in single quotes it has no `'`.
fn printable_secret() -> impl Strategy<Value = String> {
    "[!-~]{8,40}"
}

fn single_quotable_secret() -> impl Strategy<Value = String> {
    "[!-&(-~]{8,40}"
}

/// The secret in double quotes, escaped, with the quotes.
fn json(s: &str) -> String {
    serde_json::to_string(s).expect("a string encodes")
}

/// One key and its secret as a log line carries it, and what the redactor must make of it.
#[derive(Debug, Clone)]
struct Placed {
    text: String,
    redacted: String,
    secret: String,
    /// Whether the value ends itself (a closing quote), or needs a delimiter after it.
    closed: bool,
}

fn placed() -> impl Strategy<Value = Placed> {
    let sep = || prop::sample::select(&SEPS[..]);
    let scheme = || (prop::sample::select(&["Bearer", "Basic"][..]), any::<u32>()).prop_map(|(s, case)| mixed_case(s, case));
    let auth_key = || {
        (prop::sample::select(&["", "proxy-", "x-"][..]), any::<u32>())
            .prop_map(|(p, case)| format!("{p}{}", mixed_case("authorization", case)))
    };
    prop_oneof![
        // `password=hunter2`, `token: abc`
        (key(), sep(), bare_secret()).prop_map(|(k, sep, s)| Placed {
            text: format!("{k}{sep}{s}"),
            redacted: format!("{k}{sep}[redacted]"),
            secret: s,
            closed: false,
        }),
        // `password: "…"` (Rust's Debug), `secret="…"`
        (key(), sep(), printable_secret()).prop_map(|(k, sep, s)| Placed {
            text: format!("{k}{sep}{}", json(&s)),
            redacted: format!("{k}{sep}\"[redacted]\""),
            secret: s,
            closed: true,
        }),
        // `refreshToken: 'r-123'`
        (key(), sep(), single_quotable_secret()).prop_map(|(k, sep, s)| Placed {
            text: format!("{k}{sep}'{s}'"),
            redacted: format!("{k}{sep}'[redacted]'"),
            secret: s,
            closed: true,
        }),
        // `"accessToken":"…"`, `"password" : "…"`
        (key(), prop::sample::select(&[":", ": ", " : "][..]), printable_secret()).prop_map(|(k, sep, s)| Placed {
            text: format!("\"{k}\"{sep}{}", json(&s)),
            redacted: format!("\"{k}\"{sep}\"[redacted]\""),
            secret: s,
            closed: true,
        }),
        // `Authorization: Bearer …`: the scheme stays.
        (auth_key(), sep(), scheme(), bare_secret()).prop_map(|(k, sep, sch, s)| Placed {
            text: format!("{k}{sep}{sch} {s}"),
            redacted: format!("{k}{sep}{sch} [redacted]"),
            secret: s,
            closed: false,
        }),
        // `"authorization":"Basic …"`
        (auth_key(), scheme(), printable_secret()).prop_map(|(k, sch, s)| Placed {
            text: format!("\"{k}\":{}", json(&format!("{sch} {s}"))),
            redacted: format!("\"{k}\":\"{sch} [redacted]\""),
            secret: s,
            closed: true,
        }),
    ]
}

/// A word of a line in which nothing is a key: a key is a secret word with no letter or digit
/// on either side, then `=` or `:` (optionally after a quote and spaces).
fn keyless_word() -> impl Strategy<Value = String> {
    let value = || "[\\PC&&[^\\s=:]]{0,10}";
    prop_oneof![
        // Without `=` or `:` no key can be followed by one, whatever the words hold.
        3 => "[\\PC&&[^\\s=:]]{1,12}",
        // A secret word in prose: `token refreshed`, `stored the password`.
        2 => secret_word(),
        // A longer word that starts with one: `tokens_left=3`, `token_url: …`.
        2 => (
            secret_word(),
            prop::sample::select(&["s", "_url", "_left", "less", "_len", "2", "ary", "_hint", "-manager"][..]),
            prop::sample::select(&SEPS[..]),
            value()
        )
            .prop_map(|(k, tail, sep, v)| format!("{k}{tail}{sep}{v}")),
        // A word that ends with one: `mypassword=…`.
        1 => (
            prop::sample::select(&["my", "x", "no", "db2", "old", "Auto"][..]),
            secret_word(),
            prop::sample::select(&SEPS[..]),
            value()
        )
            .prop_map(|(p, k, sep, v)| format!("{p}{k}{sep}{v}")),
    ]
}

fn keyless_text() -> impl Strategy<Value = String> {
    prop::collection::vec(keyless_word(), 0..8).prop_map(|w| w.join(" "))
}

/// A log line with one to four secrets among keyless text; what it must become; its secrets.
fn line_with_secrets() -> impl Strategy<Value = (String, String, Vec<String>)> {
    let part = (
        keyless_text(),
        // Before a key: no letter or digit.
        prop::sample::select(&[" ", "{", ", ", "(", "\t", "; ", " [", "?"][..]),
        placed(),
        // After an unquoted value: what ends it.
        prop::sample::select(&[" ", ",", "}", "\t", " ,"][..]),
    );
    (prop::collection::vec(part, 1..5), keyless_text()).prop_map(|(parts, tail)| {
        let (mut text, mut redacted, mut secrets) = (String::new(), String::new(), Vec::new());
        for (words, before, p, end) in parts {
            let end = if p.closed { "" } else { end };
            text += &format!("{words}{before}{}{end}", p.text);
            redacted += &format!("{words}{before}{}{end}", p.redacted);
            secrets.push(p.secret);
        }
        // The line may also end right after a value.
        text += &tail;
        redacted += &tail;
        (text, redacted, secrets)
    })
}

/// Any text, with the pieces the redactor looks at (keys, separators, quotes, schemes,
/// backslashes, multi-byte characters) thrown in where they land.
fn anything() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::collection::vec(any::<char>(), 0..6).prop_map(String::from_iter),
        key(),
        prop::sample::select(
            &[
                "=",
                ":",
                " ",
                "\"",
                "'",
                "\\",
                ",",
                "}",
                "Bearer ",
                "basic ",
                "é",
                "日本",
                "\t",
                "\n",
                "[redacted]"
            ][..]
        )
        .prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

#[test]
fn no_generated_secret_survives_redaction() {
    proptest!(config(), |((line, want, secrets) in line_with_secrets())| {
        let out = redact(&line);
        for s in &secrets {
            prop_assert!(!out.contains(s.as_str()), "secret {:?} survived: {:?}", s, out);
            let escaped = json(s);
            prop_assert!(!out.contains(&escaped[1..escaped.len() - 1]), "secret {:?} survived: {:?}", s, out);
        }
        // Exactly the values go: nothing of a secret is left, nothing around it is lost.
        prop_assert_eq!(out, want);
    });
}

#[test]
fn text_without_a_key_is_left_unchanged() {
    proptest!(config(), |(text in keyless_text())| {
        prop_assert_eq!(redact(&text), text);
    });
}

#[test]
fn any_line_is_redacted_without_panic_to_a_line_it_would_keep() {
    // A redacted line is a fixed point: if a second pass still masked something, the first
    // pass left a value it considers secret in the log.
    proptest!(config(), |(line in anything())| {
        let once = redact(&line);
        prop_assert_eq!(redact(&once), once.clone(), "from {:?}", line);
    });
}
