//! Tether's desktop shell: a thin Tauri v2 adapter over the `tether` core.
//!
//! Tauri-free, and tested without a window:
//! - [`controller`]: what the commands do (active link or demo, profiles, secrets, settings,
//!   fault switch, setpoint);
//! - [`bridge`]: core state and events → batched UI updates, device status, tray, notifications;
//! - [`ipc`]: the types crossing IPC, their validation, and the TypeScript they generate;
//! - [`vault`]: secrets in the OS keychain, or in memory when there is none;
//! - [`settings`]: app-wide settings file; [`login`]: start at login; [`logging`]: rotated,
//!   redacted log file; [`notify`]: desktop notifications (notify-rust).
//!
//! Tauri adapters: `commands` (one-liners onto the controller), `shell` (the bridge's sink:
//! app events, tray, notifications), `tray` (icon, tooltip, menu).
//!
//! Closing the window keeps Tether running in the tray and frees the webview; "Open Tether"
//! builds a new one. One instance only: a second launch opens the first one's window.

pub mod bridge;
mod commands;
pub mod controller;
pub mod ipc;
pub mod logging;
pub mod login;
pub mod notify;
pub mod settings;
mod shell;
mod tray;
pub mod vault;

use controller::Controller;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tauri::{AppHandle, Manager, RunEvent, Runtime, WebviewUrl, WebviewWindowBuilder};
use tether::credentials::OsKeychain;
use tether::profiles::Paths;

static LAUNCHED: OnceLock<Instant> = OnceLock::new();

/// The argument the login item starts Tether with: straight to the tray, no window.
pub const MINIMIZED: &str = "--minimized";

/// When the process started (for the launch-to-first-paint figure).
pub fn launched() -> Instant {
    *LAUNCHED.get_or_init(Instant::now)
}

/// Show the main window, building it again if it was closed.
fn open_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    if let Err(e) = WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
        .title("Tether")
        .inner_size(1000.0, 720.0)
        .min_inner_size(480.0, 400.0)
        .build()
    {
        tracing::error!(error = %e, "cannot open the window");
    }
}

pub(crate) async fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let ctl = app.state::<Controller>();
    match id {
        "open" => open_window(app),
        "retry" => {
            if let Some(l) = ctl.link().await {
                l.retry_now().await
            }
        }
        "pause" => {
            if let Some(l) = ctl.link().await {
                if matches!(l.state(), tether::LinkState::Paused) {
                    l.resume().await
                } else {
                    l.pause().await
                }
            }
        }
        "quit" => {
            ctl.shutdown().await;
            app.exit(0);
        }
        _ => {}
    }
}

pub fn run() {
    launched();
    // WebKitGTK's DMABUF renderer nearly doubles the page process's memory here (205 MB vs
    // 111 MB, bench/results/desktop.md) and shows blank windows on some GPU drivers; a small UI
    // has no use for it. Set before GTK starts, and only when the user has not chosen.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    let paths = match Paths::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tether-desktop: {e}");
            std::process::exit(1);
        }
    };
    let _log_guard = logging::init(&logging::dir(&paths.data_dir));
    let app = tauri::Builder::default()
        // First: a second launch hands over to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| open_window(app)))
        .setup(move |app| {
            tray::build(app.handle())?;
            let sink = Arc::new(shell::TauriSink(app.handle().clone()));
            let ctl = Controller::new(paths, Arc::new(OsKeychain), OsKeychain::probe(), sink);
            // `start` reports a bad profile file or profile in the window and runs the demo; it
            // fails only when even the demo cannot start. An error returned from `setup` would
            // be a panic in Tauri, so that case is said plainly and ends the process.
            if let Err(e) = tauri::async_runtime::block_on(ctl.start()) {
                tracing::error!(error = %e.message, "cannot start");
                eprintln!("tether-desktop: cannot start: {}", e.message);
                std::process::exit(1);
            }
            app.manage(ctl);
            // Started at login: the tray only; the window (and WebKit with it) when asked for.
            if !std::env::args().any(|a| a == MINIMIZED) {
                open_window(app.handle());
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::get_overview,
            commands::retry_now,
            commands::pause,
            commands::resume,
            commands::get_diagnostics,
            commands::list_profiles,
            commands::save_profile,
            commands::remove_profile,
            commands::switch_profile,
            commands::get_settings,
            commands::save_settings,
            commands::set_secret,
            commands::delete_secret,
            commands::demo_fault,
            commands::set_setpoint,
            commands::ui_ready,
            commands::hide_window
        ])
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
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
