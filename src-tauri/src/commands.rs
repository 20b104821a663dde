//! One-line adapters from the web UI onto the back end (the tray process's socket on Linux, the
//! controller in process elsewhere; `tether_app::dispatch` decodes and checks the arguments).
//! Errors reach the UI as [`UiError`] (`{kind, field, message}`); a secret comes in once and
//! never goes back out.

use crate::backend::Backend;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tauri::{AppHandle, Manager, Runtime, State};
use tether_app::ipc::UiError;

type B<'a> = State<'a, Backend>;
type Reply = Result<Value, UiError>;

#[tauri::command]
pub async fn get_overview(b: B<'_>) -> Reply {
    b.call("get_overview", json!({})).await
}

#[tauri::command]
pub async fn retry_now(b: B<'_>) -> Reply {
    b.call("retry_now", json!({})).await
}

#[tauri::command]
pub async fn pause(b: B<'_>) -> Reply {
    b.call("pause", json!({})).await
}

#[tauri::command]
pub async fn resume(b: B<'_>) -> Reply {
    b.call("resume", json!({})).await
}

#[tauri::command]
pub async fn get_diagnostics(b: B<'_>) -> Reply {
    b.call("get_diagnostics", json!({})).await
}

#[tauri::command]
pub async fn list_profiles(b: B<'_>) -> Reply {
    b.call("list_profiles", json!({})).await
}

#[tauri::command]
pub async fn save_profile(b: B<'_>, input: Value) -> Reply {
    b.call("save_profile", json!({ "input": input })).await
}

#[tauri::command]
pub async fn remove_profile(b: B<'_>, name: String) -> Reply {
    b.call("remove_profile", json!({ "name": name })).await
}

#[tauri::command]
pub async fn switch_profile(b: B<'_>, name: Option<String>) -> Reply {
    b.call("switch_profile", json!({ "name": name })).await
}

#[tauri::command]
pub async fn get_settings(b: B<'_>) -> Reply {
    b.call("get_settings", json!({})).await
}

#[tauri::command]
pub async fn save_settings(b: B<'_>, settings: Value) -> Reply {
    b.call("save_settings", json!({ "settings": settings })).await
}

#[tauri::command]
pub async fn set_secret(b: B<'_>, profile: String, secret: SecretString) -> Reply {
    // Exposed only to hand it on (to the controller, or over the user's 0600 socket).
    b.call("set_secret", json!({ "profile": profile, "secret": secret.expose_secret() }))
        .await
}

#[tauri::command]
pub async fn delete_secret(b: B<'_>, profile: String) -> Reply {
    b.call("delete_secret", json!({ "profile": profile })).await
}

#[tauri::command]
pub async fn demo_fault(b: B<'_>, fault: Value) -> Reply {
    b.call("demo_fault", json!({ "fault": fault })).await
}

#[tauri::command]
pub async fn device_command(b: B<'_>, mac: String, command: Value) -> Reply {
    b.call("device_command", json!({ "mac": mac, "command": command })).await
}

/// The Navien form's sign-in: its password is handed on once, like `set_secret`'s.
#[tauri::command]
pub async fn navien_sign_in(b: B<'_>, input: NavienSignInArg) -> Reply {
    let NavienSignInArg {
        name,
        email,
        password,
        rest_url,
        iot_host,
        iot_port,
        ca_file,
    } = input;
    b.call(
        "navien_sign_in",
        json!({ "input": {
            "name": name, "email": email, "password": password.expose_secret(),
            "rest_url": rest_url, "iot_host": iot_host, "iot_port": iot_port, "ca_file": ca_file,
        }}),
    )
    .await
}

/// [`navien_sign_in`]'s argument: the password held as a secret until it is handed on.
#[derive(serde::Deserialize)]
pub struct NavienSignInArg {
    name: String,
    email: String,
    password: SecretString,
    rest_url: Option<String>,
    iot_host: Option<String>,
    iot_port: Option<u16>,
    ca_file: Option<String>,
}

#[tauri::command]
pub async fn save_navien_profile(b: B<'_>, input: Value) -> Reply {
    b.call("save_navien_profile", json!({ "input": input })).await
}

/// The window painted for the first time: how long the launch took (the footprint script reads it).
#[tauri::command]
pub fn ui_ready() {
    let ms = crate::launched().elapsed().as_millis();
    tracing::info!(ms, "first window painted");
    eprintln!("tether-desktop: first window painted {ms} ms after launch");
}

/// Close the window (Ctrl+W); Tether stays in the tray and the webview is freed.
#[tauri::command]
pub fn hide_window<R: Runtime>(app: AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.destroy();
    }
}
