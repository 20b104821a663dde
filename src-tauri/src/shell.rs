//! The bridge's output into Tauri when the controller runs in this process (macOS, Windows):
//! app events for the window, the tray, notifications.

use crate::tray;
use tauri::{AppHandle, Emitter, Runtime};
use tether::LinkState;
use tether_app::bridge::{Sink, DEVICE_EVENT, UPDATE_EVENT};
use tether_app::ipc::DeviceStatus;
use tether_app::notify;
use tether_app::present::batch::Batch;
use tether_app::present::notify::Notification;

pub struct TauriSink<R: Runtime>(pub AppHandle<R>);

impl<R: Runtime> Sink for TauriSink<R> {
    fn batch(&self, batch: &Batch) {
        // No window open: the event goes nowhere, which is what a tray-only app wants.
        let _ = self.0.emit(UPDATE_EVENT, batch);
    }

    fn device(&self, status: &DeviceStatus) {
        let _ = self.0.emit(DEVICE_EVENT, status);
    }

    fn state(&self, profile: &str, state: &LinkState) {
        tray::show(&self.0, profile, state);
    }

    fn notify(&self, n: &Notification) {
        notify::show(n);
    }
}
