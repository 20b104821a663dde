//! The bridge's output into Tauri: app events for the window, the tray, notifications.

use crate::bridge::Sink;
use crate::ipc::DeviceStatus;
use crate::{notify, tray};
use tauri::{AppHandle, Emitter, Runtime};
use tether::present::batch::Batch;
use tether::present::notify::Notification;
use tether::LinkState;

/// App event with a [`Batch`], at most ~10 a second.
pub const UPDATE_EVENT: &str = "link-update";
/// App event with a [`DeviceStatus`], when the water heater replies.
pub const DEVICE_EVENT: &str = "device-status";

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
