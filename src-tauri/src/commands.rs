//! One-line adapters from the web UI onto the [`Controller`]. Errors reach the UI as
//! [`UiError`] (`{kind, field, message}`); a secret comes in once and never goes back out.

use crate::controller::Controller;
use crate::ipc::*;
use secrecy::SecretString;
use tauri::{AppHandle, Manager, Runtime, State};
use tether::diagnostics::Diagnostics;

type Ctl<'a> = State<'a, Controller>;

#[tauri::command]
pub async fn get_overview(ctl: Ctl<'_>) -> Result<Overview, UiError> {
    ctl.overview().await
}

#[tauri::command]
pub async fn retry_now(ctl: Ctl<'_>) -> Result<(), UiError> {
    if let Some(l) = ctl.link().await {
        l.retry_now().await;
    }
    Ok(())
}

#[tauri::command]
pub async fn pause(ctl: Ctl<'_>) -> Result<(), UiError> {
    if let Some(l) = ctl.link().await {
        l.pause().await;
    }
    Ok(())
}

#[tauri::command]
pub async fn resume(ctl: Ctl<'_>) -> Result<(), UiError> {
    if let Some(l) = ctl.link().await {
        l.resume().await;
    }
    Ok(())
}

#[tauri::command]
pub async fn get_diagnostics(ctl: Ctl<'_>) -> Result<Option<Diagnostics>, UiError> {
    Ok(ctl.diagnostics().await)
}

#[tauri::command]
pub async fn list_profiles(ctl: Ctl<'_>) -> Result<Vec<ProfileView>, UiError> {
    ctl.list_profiles().await
}

#[tauri::command]
pub async fn save_profile(ctl: Ctl<'_>, input: ProfileInput) -> Result<ProfileView, UiError> {
    ctl.save_profile(input).await
}

#[tauri::command]
pub async fn remove_profile(ctl: Ctl<'_>, name: String) -> Result<(), UiError> {
    ctl.remove_profile(&name).await
}

#[tauri::command]
pub async fn switch_profile(ctl: Ctl<'_>, name: Option<String>) -> Result<Overview, UiError> {
    ctl.activate(name).await?;
    ctl.overview().await
}

#[tauri::command]
pub async fn get_settings(ctl: Ctl<'_>) -> Result<Settings, UiError> {
    ctl.settings().await
}

#[tauri::command]
pub async fn save_settings(ctl: Ctl<'_>, settings: Settings) -> Result<Settings, UiError> {
    ctl.save_settings(settings).await
}

#[tauri::command]
pub async fn set_secret(ctl: Ctl<'_>, profile: String, secret: SecretString) -> Result<SecretStatus, UiError> {
    ctl.set_secret(&profile, secret).await
}

#[tauri::command]
pub async fn delete_secret(ctl: Ctl<'_>, profile: String) -> Result<SecretStatus, UiError> {
    ctl.delete_secret(&profile).await
}

#[tauri::command]
pub async fn demo_fault(ctl: Ctl<'_>, fault: Fault) -> Result<(), UiError> {
    ctl.demo_fault(fault).await
}

#[tauri::command]
pub async fn set_setpoint(ctl: Ctl<'_>, fahrenheit: f64) -> Result<(), UiError> {
    ctl.set_setpoint(fahrenheit).await
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
