//! Tether's desktop shell: a thin Tauri v2 adapter over the `tether` core.
//!
//! - [`commands`]: `#[tauri::command]` one-liners onto the link handle;
//! - [`bridge`]: core state and events → batched app events, the tray, notifications;
//! - [`tray`]: the tray icon, tooltip and menu;
//! - [`notify`]: desktop notifications (notify-rust);
//! - [`state`]: what the app keeps (`manage`).
//!
//! Closing the window keeps Tether running in the tray and frees the webview; "Open Tether"
//! builds a new one. With no profile configured, the app runs the embedded demo.

mod bridge;
mod commands;
mod notify;
mod state;
mod tray;

use state::AppState;
use std::sync::Arc;
use tauri::{AppHandle, Manager, RunEvent, Runtime, WebviewUrl, WebviewWindowBuilder};
use tether::credentials::{KeychainSource, OsKeychain};
use tether::demo::Demo;
use tether::event::LinkEvent;
use tether::profiles::{Paths, ProfileStore};
use tether::{Link, LinkHandle};
use tokio::sync::broadcast;

type Started = (LinkHandle, broadcast::Receiver<LinkEvent>, String, Option<Demo>);

/// The first profile, or the embedded demo when there is none.
async fn start_link() -> Result<Started, String> {
    let paths = Paths::from_env().map_err(|e| e.to_string())?;
    let file = ProfileStore::new(paths.profiles_file()).load().map_err(|e| e.to_string())?;
    match file.profiles.into_iter().next() {
        Some((name, profile)) => {
            let cfg = profile.link_config(&name, &paths).map_err(|e| e.to_string())?;
            let creds = Arc::new(KeychainSource {
                store: Arc::new(OsKeychain),
                profile: name.clone(),
                username: profile.username.clone(),
            });
            let (h, rx) = Link::start_subscribed(cfg, creds).map_err(|e| e.to_string())?;
            Ok((h, rx, name, None))
        }
        None => {
            let demo = Demo::start().await.map_err(|e| e.to_string())?;
            let (h, rx) = Link::start_subscribed(demo.link_config(), Arc::new(tether::credentials::StaticSource::anonymous()))
                .map_err(|e| e.to_string())?;
            Ok((h, rx, "demo".to_string(), Some(demo)))
        }
    }
}

/// Show the main window, building it again if it was closed.
fn open_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    if let Err(e) = WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
        .title("Tether")
        .inner_size(900.0, 640.0)
        .build()
    {
        tracing::error!(error = %e, "cannot open the window");
    }
}

pub(crate) async fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let state = app.state::<AppState>();
    match id {
        "open" => open_window(app),
        "retry" => state.link.retry_now().await,
        "pause" => {
            if matches!(state.link.state(), tether::LinkState::Paused) {
                state.link.resume().await
            } else {
                state.link.pause().await
            }
        }
        "quit" => {
            state.link.stop().await;
            app.exit(0);
        }
        _ => {}
    }
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TETHER_LOG").unwrap_or_else(|_| "warn,rumqttd=off".into()))
        .init();
    let app = tauri::Builder::default()
        .setup(|app| {
            let (link, rx, profile, demo) = tauri::async_runtime::block_on(start_link())?;
            tray::build(app.handle())?;
            bridge::spawn(app.handle().clone(), link.clone(), rx, profile);
            app.manage(AppState { link, _demo: demo });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::get_state,
            commands::retry_now,
            commands::pause,
            commands::resume
        ])
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("tether-desktop: cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        // Closing the last window keeps Tether in the tray; only Quit (an explicit exit code) ends it.
        if let RunEvent::ExitRequested { api, code: None, .. } = event {
            api.prevent_exit();
        }
    });
}
