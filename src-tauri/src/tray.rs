//! The tray: an icon per state, a tooltip with the next retry, and a menu (Open Tether, Retry
//! now, Pause/Resume, Quit). The mapping from state to icon and text is the core's
//! (`tether_app::present::tray`). This is Tauri's tray, for macOS and Windows, where the window
//! process runs the links itself; on Linux the tray process shows a StatusNotifierItem instead
//! (`tether_app::systray`), without GTK.

use std::sync::Mutex;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Runtime};
use tether::LinkState;
use tether_app::present::menu::Action;
use tether_app::present::tray::{icon_for, tooltip_now, TrayIcon as Kind};

pub const TRAY_ID: &str = "tether";

fn icon(kind: Kind) -> tauri::Result<Image<'static>> {
    let bytes: &'static [u8] = match kind {
        Kind::Connected => include_bytes!("../../icons/tray-connected.png"),
        Kind::Reconnecting => include_bytes!("../../icons/tray-reconnecting.png"),
        Kind::Failed => include_bytes!("../../icons/tray-failed.png"),
        Kind::Paused => include_bytes!("../../icons/tray-paused.png"),
    };
    Image::from_bytes(bytes)
}

pub fn build<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<TrayIcon<R>> {
    let items = Action::ALL
        .into_iter()
        .map(|a| MenuItem::with_id(app, a.id(), a.label(None), true, None::<&str>))
        .collect::<tauri::Result<Vec<_>>>()?;
    let refs: Vec<&dyn tauri::menu::IsMenuItem<R>> = items.iter().map(|i| i as &dyn tauri::menu::IsMenuItem<R>).collect();
    let menu = Menu::with_items(app, &refs)?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(Kind::Paused)?)
        .tooltip("Tether")
        .menu(&menu)
        .on_menu_event(|app, event| {
            let app = app.clone();
            let id = event.id().as_ref().to_string();
            tauri::async_runtime::spawn(async move { crate::on_menu(&app, &id).await });
        })
        .build(app)
}

/// The icon shown now: each state change (every backoff step) would otherwise write and load a
/// new icon file, and some trays blink while they swap it.
static SHOWN: Mutex<Option<Kind>> = Mutex::new(None);

/// Show `state` in the tray.
pub fn show<R: Runtime>(app: &AppHandle<R>, profile: &str, state: &LinkState) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else { return };
    let kind = icon_for(state);
    let mut shown = SHOWN.lock().unwrap_or_else(|p| p.into_inner());
    if *shown != Some(kind) {
        if let Ok(img) = icon(kind) {
            if tray.set_icon(Some(img)).is_ok() {
                *shown = Some(kind);
            }
        }
    }
    let _ = tray.set_tooltip(Some(tooltip_now(profile, state)));
}
