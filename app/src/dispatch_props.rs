//! Property tests of the commands' argument decoding: any JSON for any command that takes
//! arguments is decoded or refused with a `bad_request` that names the command and never echoes a
//! value the sender chose (a secret may be among them); an unknown command is refused by its
//! name, cut to 40 characters.
//!
//! Decoding is tested through [`args`] with each command's own argument type, and through [`call`]
//! only with arguments no command accepts: a valid `save_settings` would change the login item of
//! the machine running the tests.

use super::*;
use crate::props_support::{any_text, decimal, json};
use proptest::prelude::*;
use tether::credentials::MemoryStore;

/// 256 cases: each suite stays within a few seconds in a debug build.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Shrunk failures are printed; no regression files are written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The commands `call` runs without looking at their arguments.
const NO_ARGS: [&str; 7] = [
    "get_overview",
    "retry_now",
    "pause",
    "resume",
    "get_diagnostics",
    "list_profiles",
    "get_settings",
];

const WITH_ARGS: [&str; 10] = [
    "save_profile",
    "remove_profile",
    "switch_profile",
    "save_settings",
    "set_secret",
    "delete_secret",
    "demo_fault",
    "device_command",
    "navien_sign_in",
    "save_navien_profile",
];

/// The decoding `call` does for each command in [`WITH_ARGS`].
fn decode(cmd: &str, a: Value) -> Result<(), UiError> {
    match cmd {
        "save_profile" => args::<InputArg>(cmd, a).map(drop),
        "remove_profile" => args::<NameArg>(cmd, a).map(drop),
        "switch_profile" => args::<MaybeNameArg>(cmd, a).map(drop),
        "save_settings" => args::<SettingsArg>(cmd, a).map(drop),
        "set_secret" => args::<SecretArg>(cmd, a).map(drop),
        "delete_secret" => args::<ProfileArg>(cmd, a).map(drop),
        "demo_fault" => args::<FaultArg>(cmd, a).map(drop),
        "device_command" => args::<DeviceCommandArg>(cmd, a).map(drop),
        "navien_sign_in" => args::<SignInArg>(cmd, a).map(drop),
        "save_navien_profile" => args::<NavienInputArg>(cmd, a).map(drop),
        other => unreachable!("{other} is not in WITH_ARGS"),
    }
}

/// Every field name of every argument type, at any depth.
const FIELDS: [&str; 40] = [
    "input",
    "original_name",
    "name",
    "url",
    "username",
    "subscriptions",
    "settings",
    "reconnect",
    "recovery",
    "notifications",
    "start_at_login",
    "max_attempts",
    "initial_delay_s",
    "max_delay_s",
    "multiplier",
    "jitter",
    "strategy",
    "max_cycles",
    "reconnection_failed",
    "recovered",
    "gave_up",
    "auth_rejected",
    "profile",
    "secret",
    "fault",
    "fahrenheit",
    "mac",
    "command",
    "kind",
    "mode",
    "days",
    "on",
    "period_days",
    "email",
    "password",
    "rest_url",
    "iot_host",
    "iot_port",
    "ca_file",
    "devices",
];

/// The enums' variants: ours, so a message may list them.
const VARIANTS: [&str; 15] = [
    "drop_link",
    "broker_outage",
    "refuse_credentials",
    "expire_tokens",
    "change_password",
    "clear",
    "simple_retry",
    "recreate",
    "refresh_and_recreate",
    "backoff",
    "setpoint",
    "mode",
    "vacation",
    "power",
    "anti_legionella",
];

/// A string a sender chose: printable (a password, a token) or any Unicode at all.
fn chosen() -> BoxedStrategy<String> {
    prop_oneof!["[!-~]{6,24}", any_text(20)].boxed()
}

fn string_value() -> BoxedStrategy<String> {
    prop_oneof![
        1 => prop::sample::select(&VARIANTS[..]).prop_map(String::from),
        3 => chosen(),
    ]
    .boxed()
}

fn any_json() -> BoxedStrategy<Value> {
    let key = prop_oneof![
        3 => prop::sample::select(&FIELDS[..]).prop_map(String::from),
        1 => any_text(10),
    ];
    json(key.boxed(), string_value())
}

/// Arguments `cmd` accepts.
fn valid(cmd: &'static str) -> BoxedStrategy<Value> {
    use serde_json::json as j;
    let s = chosen;
    let variant = |v: &'static [&'static str]| prop::sample::select(v);
    match cmd {
        "save_profile" => (
            prop::option::of(s()),
            s(),
            s(),
            prop::option::of(s()),
            prop::collection::vec(s(), 0..3),
        )
            .prop_map(
                |(o, n, u, user, subs)| j!({"input": {"original_name": o, "name": n, "url": u, "username": user, "subscriptions": subs}}),
            )
            .boxed(),
        "remove_profile" => s().prop_map(|n| j!({ "name": n })).boxed(),
        "switch_profile" => prop::option::of(s()).prop_map(|n| j!({ "name": n })).boxed(),
        "save_settings" => (
            (any::<u32>(), decimal(), decimal(), decimal(), any::<bool>()),
            (variant(&VARIANTS[6..10]), any::<u32>(), decimal(), decimal(), decimal()),
            any::<[bool; 4]>(),
            any::<bool>(),
        )
            .prop_map(|((ma, i, m, x, jit), (st, mc, ri, rm, rx), [a, b, c, d], login)| {
                j!({"settings": {
                    "reconnect": {"max_attempts": ma, "initial_delay_s": i, "max_delay_s": m, "multiplier": x, "jitter": jit},
                    "recovery": {"strategy": st, "max_cycles": mc, "initial_delay_s": ri, "max_delay_s": rm, "multiplier": rx},
                    "notifications": {"reconnection_failed": a, "recovered": b, "gave_up": c, "auth_rejected": d},
                    "start_at_login": login,
                }})
            })
            .boxed(),
        "set_secret" => (s(), s()).prop_map(|(p, sec)| j!({"profile": p, "secret": sec})).boxed(),
        "delete_secret" => s().prop_map(|p| j!({ "profile": p })).boxed(),
        "demo_fault" => variant(&VARIANTS[..6]).prop_map(|f| j!({ "fault": f })).boxed(),
        "device_command" => (
            s(),
            prop_oneof![
                decimal().prop_map(|f| j!({"kind": "setpoint", "fahrenheit": f})),
                s().prop_map(|m| j!({"kind": "mode", "mode": m})),
                any::<u8>().prop_map(|d| j!({"kind": "vacation", "days": d})),
                any::<bool>().prop_map(|on| j!({"kind": "power", "on": on})),
                prop::option::of(any::<u8>()).prop_map(|d| j!({"kind": "anti_legionella", "period_days": d})),
            ],
        )
            .prop_map(|(m, c)| j!({"mac": m, "command": c}))
            .boxed(),
        "navien_sign_in" => (
            (s(), s(), s()),
            (prop::option::of(s()), prop::option::of(s()), prop::option::of(any::<u16>()), prop::option::of(s())),
        )
            .prop_map(|((n, e, pw), (r, h, port, ca))| {
                j!({"input": {"name": n, "email": e, "password": pw, "rest_url": r, "iot_host": h, "iot_port": port, "ca_file": ca}})
            })
            .boxed(),
        "save_navien_profile" => (s(), prop::collection::vec(s(), 0..3))
            .prop_map(|(n, d)| j!({"input": {"name": n, "devices": d}}))
            .boxed(),
        other => unreachable!("{other} is not in WITH_ARGS"),
    }
}

/// Every place in `v`: the keys or indices leading to it.
fn places(v: &Value, at: &mut Vec<Vec<Value>>, here: Vec<Value>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            let mut p = here.clone();
            p.push(Value::from(k.as_str()));
            places(c, at, p)
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| {
            let mut p = here.clone();
            p.push(Value::from(i));
            places(c, at, p)
        }),
        _ => {}
    }
    at.push(here);
}

fn place_mut<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        Value::String(k) => &mut v[k.as_str()],
        i => &mut v[i.as_u64().unwrap() as usize],
    })
}

/// How a near miss differs from valid arguments.
#[derive(Debug, Clone)]
enum Change {
    Replace(Value),
    Remove,
    Add(String, Value),
}

/// Arguments `cmd` accepts with one thing changed somewhere: a value of another type or out of
/// range, a field gone, a field added.
fn near_miss(cmd: &'static str) -> BoxedStrategy<Value> {
    let change = prop_oneof![
        // A string where another one or something else belongs: where an echo would come from.
        2 => string_value().prop_map(|s| Change::Replace(Value::String(s))),
        2 => any_json().prop_map(Change::Replace),
        1 => Just(Change::Remove),
        1 => (prop::sample::select(&FIELDS[..]).prop_map(String::from), any_json()).prop_map(|(k, v)| Change::Add(k, v)),
    ];
    (valid(cmd), any::<prop::sample::Index>(), change)
        .prop_map(|(mut v, at, change)| {
            let mut all = Vec::new();
            places(&v, &mut all, Vec::new());
            let path = at.get(&all).clone();
            match change {
                Change::Replace(x) => *place_mut(&mut v, &path) = x,
                Change::Remove => {
                    if let Some((last, parent)) = path.split_last() {
                        match (place_mut(&mut v, parent), last) {
                            (Value::Object(m), Value::String(k)) => {
                                m.remove(k);
                            }
                            (Value::Array(a), i) => {
                                a.remove(i.as_u64().unwrap() as usize);
                            }
                            _ => {}
                        }
                    }
                }
                Change::Add(k, x) => {
                    if let Value::Object(m) = place_mut(&mut v, &path) {
                        m.insert(k, x);
                    }
                }
            }
            v
        })
        .boxed()
}

/// A command that takes arguments, and arguments for it: valid, nearly valid, or anything.
fn command_and_args() -> impl Strategy<Value = (&'static str, Value)> {
    prop::sample::select(&WITH_ARGS[..]).prop_flat_map(|cmd| {
        let a = prop_oneof![1 => valid(cmd), 4 => near_miss(cmd), 3 => any_json()];
        (Just(cmd), a)
    })
}

/// The strings in `v` a sender chose (not keys; not our own names, which a message may give).
fn chosen_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.chars().count() >= 6 && !VARIANTS.contains(&s.as_str()) && !FIELDS.contains(&s.as_str()) => {
            out.push(s.clone())
        }
        Value::Array(a) => a.iter().for_each(|c| chosen_strings(c, out)),
        Value::Object(m) => m.values().for_each(|c| chosen_strings(c, out)),
        _ => {}
    }
}

/// A refusal as promised: `bad_request`, the command's name first, and no six characters in a
/// row of any string the sender chose (not even part of a secret).
fn check_refusal(cmd: &str, a: &Value, e: &UiError) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.kind.as_str(), "bad_request", "{:?}", e);
    prop_assert_eq!(e.field.as_deref(), None);
    prop_assert!(e.message.starts_with(&format!("{cmd}: ")), "{}", e.message);
    let mut strings = Vec::new();
    chosen_strings(a, &mut strings);
    for s in strings {
        let chars: Vec<char> = s.chars().collect();
        for w in chars.windows(6) {
            let w: String = w.iter().collect();
            prop_assert!(!e.message.contains(&w), "{:?} of {:?} echoed: {}", w, s, e.message);
        }
    }
    Ok(())
}

#[test]
fn every_command_either_decodes_its_arguments_here_or_takes_none() {
    let mut here: Vec<_> = NO_ARGS.iter().chain(&WITH_ARGS).collect();
    here.sort();
    let mut all: Vec<_> = COMMANDS.iter().collect();
    all.sort();
    assert_eq!(here, all, "a new command: add it to NO_ARGS or WITH_ARGS (and decode)");
}

#[test]
fn any_json_arguments_are_decoded_or_refused_without_echoing_a_value() {
    proptest!(config(), |((cmd, a) in command_and_args())| {
        if let Err(e) = decode(cmd, a.clone()) {
            check_refusal(cmd, &a, &e)?;
        }
    });
}

#[test]
fn valid_arguments_decode() {
    // The other properties' valid cases are real ones: the generator matches the types.
    proptest!(config(), |((cmd, a) in prop::sample::select(&WITH_ARGS[..]).prop_flat_map(|c| (Just(c), valid(c))))| {
        prop_assert!(decode(cmd, a.clone()).is_ok(), "{} {}", cmd, a);
    });
}

fn controller(home: &std::path::Path) -> Controller {
    let paths = tether::profiles::Paths {
        config_dir: home.join("config"),
        data_dir: home.join("data"),
    };
    struct NoSink;
    impl crate::bridge::Sink for NoSink {
        fn batch(&self, _: &crate::present::batch::Batch) {}
        fn device(&self, _: &crate::ipc::DeviceStatus) {}
        fn state(&self, _: &str, _: &LinkState) {}
        fn notify(&self, _: &crate::present::notify::Notification) {}
    }
    Controller::new(
        paths,
        std::sync::Arc::new(MemoryStore::default()),
        Ok(()),
        std::sync::Arc::new(NoSink),
    )
}

#[test]
fn a_command_called_with_arguments_that_are_not_an_object_is_refused_by_its_name() {
    let home = tempfile::tempdir().unwrap();
    let ctl = controller(home.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        decimal().prop_map(Value::from),
        chosen().prop_map(Value::String),
    ];
    proptest!(config(), |(cmd in prop::sample::select(&WITH_ARGS[..]), a in scalar)| {
        let e = rt.block_on(call(&ctl, cmd, a.clone())).expect_err("no command takes a scalar");
        check_refusal(cmd, &a, &e)?;
    });
}

#[test]
fn an_unknown_command_is_refused_by_its_name_cut_to_40_characters() {
    let home = tempfile::tempdir().unwrap();
    let ctl = controller(home.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let name = prop_oneof![any_text(120), "[a-z_]{0,60}"].prop_filter("a command", |n| !COMMANDS.contains(&n.as_str()));
    proptest!(config(), |(name in name, a in any_json())| {
        let e = rt.block_on(call(&ctl, &name, a)).expect_err("no such command");
        prop_assert_eq!(e.kind.as_str(), "bad_request");
        let cut: String = name.chars().take(40).collect();
        prop_assert_eq!(e.message, format!("no such command: {cut:?}"));
    });
}
