//! One-line adapters from the web UI onto the core. Errors reach the UI tagged `{kind, message}`.

use crate::state::AppState;
use serde::Serialize;
use tether::LinkState;

/// An error the UI shows where it belongs.
#[derive(Debug, Serialize)]
pub struct UiError {
    pub kind: &'static str,
    pub message: String,
}

#[tauri::command]
pub fn get_state(state: tauri::State<'_, AppState>) -> LinkState {
    state.link.state()
}

#[tauri::command]
pub async fn retry_now(state: tauri::State<'_, AppState>) -> Result<(), UiError> {
    state.link.retry_now().await;
    Ok(())
}

#[tauri::command]
pub async fn pause(state: tauri::State<'_, AppState>) -> Result<(), UiError> {
    state.link.pause().await;
    Ok(())
}

#[tauri::command]
pub async fn resume(state: tauri::State<'_, AppState>) -> Result<(), UiError> {
    state.link.resume().await;
    Ok(())
}
