//! Tether's back-end commands by name, with JSON arguments and replies: the one entry point both
//! for the window process's Tauri commands (in process on macOS and Windows) and for the tray
//! process's socket (Linux, [`crate::daemon`]). Arguments are checked here, so a bad request gets
//! a tagged error that names the argument, never a panic.

use crate::controller::Controller;
use crate::ipc::{DeviceCommand, Fault, NavienProfileInput, NavienSignIn, ProfileInput, Settings, UiError};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tether::LinkState;

/// Every command [`call`] answers (the window's own `ui_ready` and `hide_window` are not here).
pub const COMMANDS: [&str; 17] = [
    "get_overview",
    "retry_now",
    "pause",
    "resume",
    "get_diagnostics",
    "list_profiles",
    "save_profile",
    "remove_profile",
    "switch_profile",
    "get_settings",
    "save_settings",
    "set_secret",
    "delete_secret",
    "demo_fault",
    "device_command",
    "navien_sign_in",
    "save_navien_profile",
];

#[derive(Deserialize)]
struct InputArg {
    input: ProfileInput,
}
#[derive(Deserialize)]
struct NameArg {
    name: String,
}
#[derive(Deserialize)]
struct MaybeNameArg {
    name: Option<String>,
}
#[derive(Deserialize)]
struct SettingsArg {
    settings: Settings,
}
#[derive(Deserialize)]
struct SecretArg {
    profile: String,
    secret: SecretString,
}
#[derive(Deserialize)]
struct ProfileArg {
    profile: String,
}
#[derive(Deserialize)]
struct FaultArg {
    fault: Fault,
}
#[derive(Deserialize)]
struct DeviceCommandArg {
    mac: String,
    command: DeviceCommand,
}
#[derive(Deserialize)]
struct SignInArg {
    input: NavienSignIn,
}
#[derive(Deserialize)]
struct NavienInputArg {
    input: NavienProfileInput,
}

/// Decode `args` for `cmd`. The serde message names the missing or mistyped field; it never
/// echoes a value (a secret may be among them).
fn args<T: DeserializeOwned>(cmd: &str, args: Value) -> Result<T, UiError> {
    serde_json::from_value(args).map_err(|e| {
        let what = e.to_string();
        // serde_json says e.g. "missing field `name`" or `invalid type: string "…", expected f64`:
        // only the part before a quoted value is kept. An unknown variant comes in backticks
        // (`unknown variant `…`, expected one of `a`, `b``): the value goes, the list stays.
        let what = match what.strip_prefix("unknown variant `") {
            Some(rest) => match rest.rsplit_once("`, expected ") {
                Some((_, expected)) => format!("unknown variant, expected {expected}"),
                None => "unknown variant".to_string(),
            },
            // A number or bool that was sent comes in backticks (`invalid type: integer `123456`,
            // …`): cut there too. (A field name in backticks, as in `missing field `name``, stays.)
            None if what.starts_with("invalid type") || what.starts_with("invalid value") => {
                what.split(['"', '`']).next().unwrap_or("bad arguments").trim_end().to_string()
            }
            None => what.split('"').next().unwrap_or("bad arguments").trim_end().to_string(),
        };
        UiError::new("bad_request", format!("{cmd}: {what}"))
    })
}

fn reply<T: serde::Serialize>(v: T) -> Result<Value, UiError> {
    serde_json::to_value(v).map_err(|e| UiError::new("internal", format!("reply not encodable: {e}")))
}

/// Run `cmd` with `args` (an object with the command's named arguments).
pub async fn call(ctl: &Controller, cmd: &str, a: Value) -> Result<Value, UiError> {
    match cmd {
        "get_overview" => reply(ctl.overview().await?),
        "retry_now" => {
            retry_now(ctl).await;
            Ok(Value::Null)
        }
        "pause" => {
            if let Some(l) = ctl.link().await {
                l.pause().await;
            }
            Ok(Value::Null)
        }
        "resume" => {
            if let Some(l) = ctl.link().await {
                l.resume().await;
            }
            Ok(Value::Null)
        }
        "get_diagnostics" => reply(ctl.diagnostics().await),
        "list_profiles" => reply(ctl.list_profiles().await?),
        "save_profile" => reply(ctl.save_profile(args::<InputArg>(cmd, a)?.input).await?),
        "remove_profile" => {
            ctl.remove_profile(&args::<NameArg>(cmd, a)?.name).await?;
            Ok(Value::Null)
        }
        "switch_profile" => {
            ctl.activate(args::<MaybeNameArg>(cmd, a)?.name).await?;
            reply(ctl.overview().await?)
        }
        "get_settings" => reply(ctl.settings().await?),
        "save_settings" => reply(ctl.save_settings(args::<SettingsArg>(cmd, a)?.settings).await?),
        "set_secret" => {
            let SecretArg { profile, secret } = args(cmd, a)?;
            reply(ctl.set_secret(&profile, secret).await?)
        }
        "delete_secret" => reply(ctl.delete_secret(&args::<ProfileArg>(cmd, a)?.profile).await?),
        "demo_fault" => {
            ctl.demo_fault(args::<FaultArg>(cmd, a)?.fault).await?;
            Ok(Value::Null)
        }
        "device_command" => {
            let DeviceCommandArg { mac, command } = args(cmd, a)?;
            reply(ctl.device_command(&mac, command).await?)
        }
        "navien_sign_in" => reply(ctl.navien_sign_in(args::<SignInArg>(cmd, a)?.input).await?),
        "save_navien_profile" => reply(ctl.save_navien_profile(args::<NavienInputArg>(cmd, a)?.input).await?),
        _ => Err(UiError::new("bad_request", format!("no such command: {:?}", truncate(cmd)))),
    }
}

/// Retry now (the command, and the tray menu's item).
pub async fn retry_now(ctl: &Controller) {
    if let Some(l) = ctl.link().await {
        l.retry_now().await;
    }
}

/// The tray menu's Pause/Resume: one item that toggles.
pub async fn toggle_pause(ctl: &Controller) {
    if let Some(l) = ctl.link().await {
        if matches!(l.state(), LinkState::Paused) {
            l.resume().await
        } else {
            l.pause().await
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// `{}` when a command takes no arguments (what Tauri passes too).
pub fn no_args() -> Value {
    json!({})
}

#[cfg(test)]
#[path = "dispatch_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_errors_name_the_field_and_never_echo_a_value() {
        let e = args::<SecretArg>("set_secret", json!({"profile": "home"}))
            .err()
            .expect("missing secret");
        assert_eq!(e.kind, "bad_request");
        assert!(e.message.contains("set_secret") && e.message.contains("`secret`"), "{}", e.message);
        let e = args::<DeviceCommandArg>(
            "device_command",
            json!({"mac": "04786332fca0", "command": {"kind": "setpoint", "fahrenheit": "hunter2-very-secret"}}),
        )
        .err()
        .expect("string for f64");
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(e.message.starts_with("device_command: invalid type"), "{}", e.message);
        let e = args::<SignInArg>(
            "navien_sign_in",
            json!({"input": {"name": "home", "email": "a@b.c", "password": 424242}}),
        )
        .err()
        .expect("a number for the password");
        assert!(!e.message.contains("424242"), "{}", e.message);
    }

    /// Found by `props::any_json_arguments_are_decoded_or_refused_without_echoing_a_value`: an
    /// unknown variant came back in the message, in backticks the cut at a quote missed (and
    /// a quote inside it cut the message in the middle of the value).
    #[test]
    fn an_unknown_variant_is_refused_without_echoing_it() {
        // A PIN sent as a number: serde quotes it in backticks, not double quotes.
        let e = args::<SecretArg>("set_secret", json!({"profile": "home", "secret": 424242}))
            .err()
            .expect("not a string");
        assert!(!e.message.contains("424242"), "{}", e.message);
        let e = args::<FaultArg>("demo_fault", json!({"fault": "hunter2-very-secret"}))
            .err()
            .expect("not a fault");
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(e.message.starts_with("demo_fault: unknown variant"), "{}", e.message);
        assert!(
            e.message.contains("expected one of `drop_link`"),
            "says what would do: {}",
            e.message
        );
        let e = args::<SettingsArg>(
            "save_settings",
            json!({"settings": {"recovery": {"strategy": "hunter2\"`, expected x"}}}),
        )
        .err()
        .expect("not a strategy");
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(e.message.ends_with("`backoff`"), "{}", e.message);
    }

    #[test]
    fn every_command_name_is_unique() {
        let mut names = COMMANDS.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
    }
}
