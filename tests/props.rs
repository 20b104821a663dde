//! Property tests of the core's parsers of outside input: the profile file, broker URLs, the
//! backoff schedule a profile's numbers make, and the Navien status decoder. Generated inputs,
//! a bounded number of cases each (the suite stays quick); a failing case is printed shrunk.
//! (The outbox's record decoder has its own in src/outbox.rs, where the codec is private.)

use proptest::prelude::*;
use std::time::Duration;
use tether::config::BrokerUrl;
use tether::navien::{decode_status, status::Status};
use tether::policy::{backoff, JITTER_FRACTION};
use tether::profiles::{line_col, Profile, ProfileError, ProfileFile, ProfileStore};

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        // Shrunk failures are printed; no regression files are written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Lines a profile file is made of, valid and not, so generated files get past the TOML parser
/// often enough to reach the profile checks.
fn profile_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._ -]{0,12}".prop_map(|n| format!("[profiles.{n}]")),
        "[a-zA-Z0-9é\"/:._ -]{0,20}".prop_map(|n| format!("[profiles.\"{n}\"]")),
        Just("[profiles.a.reconnect]".to_string()),
        // A whole profile under a quoted name, so the name checks are reached.
        "[a-zA-Z0-9é/:._ -]{0,20}".prop_map(|n| format!("[profiles.\"{n}\"]\nclient_id = \"c\"\nurl = \"mqtt://h:1883\"")),
        "(mqtt|mqtts|ws|http|mqtt:)://[a-z.:@]{0,12}(:[0-9]{1,6})?".prop_map(|u| format!("url = \"{u}\"")),
        "[a-zA-Z0-9-]{0,30}".prop_map(|c| format!("client_id = \"{c}\"")),
        (-5.0f64..100_000.0).prop_map(|k| format!("keepalive = {k}")),
        (0usize..300_000_000).prop_map(|m| format!("max_packet_size = {m}")),
        "(true|false|1|\"x\")".prop_map(|b| format!("clean_session = {b}")),
        "[a-z/#+]{0,10}".prop_map(|t| format!("subscriptions = [{{ topic = \"{t}\", qos = 1 }}]")),
        (0u32..5).prop_map(|q| format!("subscriptions = [{{ topic = \"a\", qos = {q} }}]")),
        "[a-z_]{1,10} = [0-9a-z\"]{0,6}",
        ".{0,30}",
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    /// A bad profile file is reported with where it is bad, and never changed by reading it or by
    /// a write that must load it first. Any text, valid or not: never a panic.
    #[test]
    fn any_profile_file_loads_or_is_reported_with_its_place_and_left_as_it_is(
        lines in prop::collection::vec(profile_line(), 0..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.toml");
        let text = lines.join("\n");
        std::fs::write(&path, &text).unwrap();
        let store = ProfileStore::new(path.clone());
        match store.load() {
            Ok(_) => {}
            Err(ProfileError::Malformed { path: p, line, column, reason }) => {
                prop_assert_eq!(&p, &path);
                prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "line {} of {:?}", line, text);
                prop_assert!(column >= 1);
                prop_assert!(!reason.is_empty());
            }
            Err(e) => prop_assert!(false, "not located in the file: {e} (text {text:?})"),
        }
        let failed_update = store.update(|f| {
            f.profiles.insert("added".into(), Profile::mqtt("mqtt://127.0.0.1:1883").unwrap());
            Ok(())
        });
        if failed_update.is_err() {
            prop_assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "a bad file is never overwritten");
        }
    }

    /// What the CLI or the app saves, it reads back the same; what it could not read back (a
    /// keepalive under a second, say) is refused at save, and the file stays as it was.
    #[test]
    fn a_saved_profile_file_reads_back_the_same_or_is_refused_at_save(
        profiles in prop::collection::btree_map("[a-zA-Z0-9_.-]{1,20}", profile(), 0..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path().join("profiles.toml"));
        let before = ProfileFile::default();
        store.save(&before).unwrap();
        let file = ProfileFile { profiles };
        match store.save(&file) {
            Ok(()) => prop_assert_eq!(store.load().unwrap(), file),
            Err(e) => {
                prop_assert!(matches!(e, ProfileError::Invalid(_)), "{e}");
                prop_assert_eq!(store.load().unwrap(), before);
            }
        }
    }

    /// A URL is parsed or refused with a reason; a refusal never repeats a password it held.
    #[test]
    fn a_broker_url_is_parsed_or_refused_without_echoing_a_password(
        scheme in "(mqtt|mqtts|ws|wss|tcp|ssl|http|)",
        sep in "(://|:|:/|)",
        user in "[a-z]{0,6}",
        password in "[A-Za-z0-9]{8,16}",
        host in "([a-z0-9.-]{0,12}|\\[::1\\]|)",
        port in "(:[0-9]{0,6})?",
        path in "(/[a-z]{0,5})?",
    ) {
        let s = format!("{scheme}{sep}{user}:{password}@{host}{port}{path}");
        match BrokerUrl::parse(&s) {
            Err(e) => prop_assert!(!e.to_string().contains(&password), "{e} repeats the password of {s:?}"),
            // Accepted only where the text was not a password after all (`ws:x@h` is user x).
            Ok(u) => {
                prop_assert!(url::Url::parse(s.trim()).is_ok_and(|p| p.password().is_none()), "{s:?} has a password and was accepted");
                prop_assert!(!u.display().contains(&password));
            }
        }
        let plain = format!("{scheme}{sep}{host}{port}{path}");
        if let Ok(u) = BrokerUrl::parse(&plain) {
            let again = BrokerUrl::parse(&u.display()).unwrap();
            prop_assert_eq!((again.scheme, &again.host, again.port), (u.scheme, &u.host, u.port));
        }
    }

    /// The backoff a profile's numbers make stays within its cap, grows, and jitter only shortens.
    #[test]
    fn the_backoff_never_exceeds_its_cap_and_never_shrinks(
        initial_ms in 0u64..100_000,
        extra_ms in 0u64..3_000_000_000,
        multiplier in 1.0f64..1e6,
        n in 1u32..200,
        unit in 0.0f64..1.0,
    ) {
        let (initial, max) = (Duration::from_millis(initial_ms), Duration::from_millis(initial_ms + extra_ms));
        let plain = backoff(initial, max, multiplier, n, None);
        let next = backoff(initial, max, multiplier, n + 1, None);
        let jittered = backoff(initial, max, multiplier, n, Some(unit));
        prop_assert!(plain <= max + Duration::from_micros(1), "{plain:?} > {max:?}");
        prop_assert!(next + Duration::from_micros(1) >= plain, "attempt {} waits {next:?} < {plain:?}", n + 1);
        prop_assert!(jittered <= plain && jittered.as_secs_f64() >= plain.as_secs_f64() * (1.0 - JITTER_FRACTION) - 1e-6);
    }

    /// An error's line and column are found for any offset, even inside a multibyte character.
    #[test]
    fn a_line_and_column_are_found_for_any_offset(text in "(.|\n){0,40}", offset in 0usize..200) {
        let (line, column) = line_col(&text, offset);
        prop_assert!(line >= 1 && column >= 1 && line <= text.matches('\n').count() + 1);
    }
}

/// Profiles as the UI and CLI make them; the keepalive may be under the 1 s minimum.
fn profile() -> impl Strategy<Value = Profile> {
    (
        "(mqtt|mqtts|ws|wss)://[a-z]{1,8}(\\.[a-z]{1,5})?:[1-9][0-9]{0,3}",
        "[a-zA-Z0-9-]{1,23}",
        prop_oneof![1u64..20, 1u64..36_000],
        any::<bool>(),
        prop::collection::vec(("[a-z]{1,5}(/[a-z]{1,5}){0,2}(/#)?", 0u8..=1), 0..4),
        1u32..20,
    )
        .prop_map(|(url, client_id, keepalive_ds, clean, subs, attempts)| {
            let mut p = Profile::mqtt(&url).unwrap();
            p.client_id = client_id;
            p.keepalive = Duration::from_millis(keepalive_ds * 100);
            p.clean_session = clean;
            p.subscriptions = subs
                .into_iter()
                .map(|(topic, qos)| tether::config::Subscription {
                    topic,
                    qos,
                    stale_after: None,
                })
                .collect();
            p.reconnect.max_reconnect_attempts = attempts;
            p
        })
}

/// Any JSON: what a device (or a broken cloud) may send.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof!["[a-z]{1,6}", Just("dhwTemperature".to_string()), Just("status".to_string())],
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(cases(512))]

    /// A device reply is decoded or reported: any bytes, any JSON where the status goes.
    #[test]
    fn any_device_reply_is_decoded_or_reported(bytes in prop::collection::vec(any::<u8>(), 0..200), v in json()) {
        let _ = decode_status(&bytes);
        for wrapped in [serde_json::json!({"response": {"status": v.clone()}}), serde_json::json!({"st": v.clone()}), v] {
            if let Ok(s) = decode_status(wrapped.to_string().as_bytes()) {
                // Whatever came in, the conversions the UI shows are numbers and names.
                let _ = (s.tank_f(), s.setpoint_f(), s.mode_name(), s.setpoint_range_f());
            }
        }
    }

    /// A status with any field values reads back as sent.
    #[test]
    fn any_status_round_trips(fields in prop::collection::vec(any::<i64>(), 35)) {
        let mut v = serde_json::to_value(Status::demo()).unwrap();
        let obj = v.as_object_mut().unwrap();
        prop_assert_eq!(obj.len(), fields.len(), "one generated value per field");
        for (slot, x) in obj.values_mut().zip(&fields) {
            *slot = serde_json::Value::from(*x);
        }
        let sent: Status = serde_json::from_value(v.clone()).unwrap();
        let got = decode_status(serde_json::json!({"response": {"status": v}}).to_string().as_bytes()).unwrap();
        prop_assert_eq!(got, sent);
    }
}
