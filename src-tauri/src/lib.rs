//! Tether's window: a thin Tauri v2 adapter over the `tether` core and `tether_app` back end.
//!
//! - `backend`: where commands go. On Linux the links, tray and notifications live in the tray
//!   process (`tether-tray`, no GTK or WebKit) and this process is only the window, its client
//!   over a local socket: closing the window ends this process and WebKit with it. On macOS and
//!   Windows the controller runs here, with Tauri's tray (`tray`, `shell`).
//! - `commands`: one-liners onto the back end.
//!
//! One window only: a second launch focuses the first one's window and exits.

mod backend;
mod commands;
mod shell;
mod tray;

use backend::Backend;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tauri::{AppHandle, Emitter, Manager, RunEvent, Runtime, WebviewUrl, WebviewWindowBuilder};
use tether::credentials::OsKeychain;
use tether::profiles::Paths;
use tether_app::controller::Controller;
use tether_app::{dispatch, logging, MINIMIZED};

static LAUNCHED: OnceLock<Instant> = OnceLock::new();

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

/// The Tauri tray's menu (in-process mode only; on Linux the tray process has the tray).
pub(crate) async fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let Some(ctl) = app.try_state::<Arc<Controller>>() else { return };
    use tether_app::present::menu::Action;
    match Action::from_id(id) {
        Some(Action::Open) => open_window(app),
        Some(Action::Retry) => dispatch::retry_now(&ctl).await,
        Some(Action::TogglePause) => dispatch::toggle_pause(&ctl).await,
        Some(Action::Quit) => {
            ctl.shutdown().await;
            app.exit(0);
        }
        None => {}
    }
}

/// Forward what the tray process pushes: UI events to the page, focus and quit to the window.
#[cfg(unix)]
fn forward<R: Runtime>(app: AppHandle<R>, mut rx: tokio::sync::mpsc::UnboundedReceiver<tether_app::wire::Pushed>) {
    use tether_app::wire::{Pushed, FOCUS_EVENT, QUIT_EVENT};
    tauri::async_runtime::spawn(async move {
        while let Some(p) = rx.recv().await {
            match p {
                Pushed::Event { event, .. } if event == FOCUS_EVENT => open_window(&app),
                Pushed::Event { event, .. } if event == QUIT_EVENT => app.exit(0),
                Pushed::Event { event, payload } => {
                    let _ = app.emit(&event, payload);
                }
                Pushed::Closed => {
                    tracing::warn!("the tray process went away; closing the window");
                    app.exit(0);
                }
            }
        }
    });
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    tracing::error!(error = %e, "{what}");
    eprintln!("tether-desktop: {what}: {e}");
    std::process::exit(1);
}

/// Whether the links run in a separate tray process (Linux) or in this one.
const SPLIT: bool = cfg!(target_os = "linux");

pub fn run() {
    launched();
    // WebKitGTK's DMABUF renderer nearly doubles the page process's memory here (205 MB vs
    // 111 MB, bench/results/desktop.md) and shows blank windows on some GPU drivers; a small UI
    // has no use for it. Set before GTK starts, and only when the user has not chosen.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    let paths = Paths::from_env().unwrap_or_else(|e| fail("no profile directory", e));
    let minimized = std::env::args().any(|a| a == MINIMIZED);
    let _log_guard = logging::init(&logging::dir(&paths.data_dir), "tether-window");

    let backend = if SPLIT {
        #[cfg(unix)]
        {
            // The tray process owns the links; this process is the window, and only when one is
            // wanted: started at login, it makes sure the tray process runs and leaves.
            if minimized {
                if let Err(e) = tauri::async_runtime::block_on(backend::tray_process::ensure_running()) {
                    fail("cannot start the tray process", e);
                }
                return;
            }
            match tauri::async_runtime::block_on(backend::tray_process::connect()) {
                Ok(c) => Some(c),
                Err(e) => fail("cannot reach the tray process", e),
            }
        }
        #[cfg(not(unix))]
        None
    } else {
        None
    };

    let app = tauri::Builder::default()
        // First: a second launch hands over to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| open_window(app)))
        .setup(move |app| {
            #[cfg(unix)]
            if let Some((client, pushed)) = backend {
                let client = tauri::async_runtime::block_on(async move {
                    // Counted as the open window: the tray's Open focuses it instead of starting another.
                    client.call(tether_app::wire::ATTACH, serde_json::json!({})).await.map(|_| client)
                })
                .unwrap_or_else(|e| fail("the tray process refused the window", e.message));
                app.manage(Backend::Remote(client));
                forward(app.handle().clone(), pushed);
                open_window(app.handle());
                return Ok(());
            }
            #[cfg(not(unix))]
            let _ = backend;
            tray::build(app.handle())?;
            let sink = Arc::new(shell::TauriSink(app.handle().clone()));
            let ctl = Arc::new(Controller::new(paths, Arc::new(OsKeychain), OsKeychain::probe(), sink));
            // `start` reports a bad profile file or profile in the window and runs the demo; it
            // fails only when even the demo cannot start. An error returned from `setup` would
            // be a panic in Tauri, so that case is said plainly and ends the process.
            if let Err(e) = tauri::async_runtime::block_on(ctl.start()) {
                fail("cannot start", e.message);
            }
            app.manage(ctl.clone());
            app.manage(Backend::Local(ctl));
            // Started at login: the tray only; the window (and WebKit with it) when asked for.
            if !minimized {
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
            commands::device_command,
            commands::navien_sign_in,
            commands::save_navien_profile,
            commands::ui_ready,
            commands::hide_window
        ])
        .build(tauri::generate_context!())
        .unwrap_or_else(|e| fail("cannot start", e));
    app.run(move |_app, event| {
        // In-process mode, closing the last window keeps Tether in the tray; only Quit (an
        // explicit exit code) ends it. Split, the window process simply ends.
        if let RunEvent::ExitRequested { api, code: None, .. } = event {
            if !SPLIT {
                api.prevent_exit();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use tether_app::dispatch::COMMANDS;

    /// The window's own commands, beside the back end's.
    const WINDOW_COMMANDS: [&str; 2] = ["ui_ready", "hide_window"];

    /// The window may call Tether's commands and listen to its events, nothing else; and every
    /// command the back end answers is one Tauri generates a permission for (build.rs).
    #[test]
    fn capabilities_grant_exactly_tethers_commands() {
        let cap: serde_json::Value = serde_json::from_str(include_str!("../capabilities/main.json")).expect("capability JSON");
        let granted: BTreeSet<String> = cap["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .map(|p| p.as_str().expect("a permission name").to_string())
            .collect();
        let commands = || COMMANDS.iter().chain(WINDOW_COMMANDS.iter());
        let mut want: BTreeSet<String> = commands().map(|c| format!("allow-{}", c.replace('_', "-"))).collect();
        want.insert("core:event:allow-listen".into());
        want.insert("core:event:allow-unlisten".into());
        assert_eq!(granted, want);
        let build = include_str!("../build.rs");
        for c in commands() {
            assert!(build.contains(&format!("\"{c}\"")), "build.rs does not list {c}");
        }
    }
}
