//! The app tests' rig: the core's D-Bus and Mosquitto helpers (shared files, not copies), a sink
//! that records what the bridge sends, and bounded waits.
#![allow(dead_code)] // each test binary uses a different part

#[path = "../../../tests/common/broker.rs"]
pub mod broker;
#[path = "../../../tests/common/dbus.rs"]
pub mod dbus;
#[path = "../../../tests/common/netns.rs"]
pub mod netns;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tether::LinkState;
use tether_app::bridge::Sink;
use tether_app::controller::Controller;
use tether_app::ipc::DeviceStatus;
use tether_app::present::batch::Batch;
use tether_app::present::notify::Notification;

/// Records the bridge's output; `show_notifications` also sends them to the desktop, through
/// the same function the app uses.
#[derive(Default)]
pub struct Recorder {
    pub states: Mutex<Vec<LinkState>>,
    pub notifications: Mutex<Vec<Notification>>,
    pub devices: Mutex<Vec<DeviceStatus>>,
    pub batches: Mutex<usize>,
    pub show_notifications: bool,
}

impl Sink for Recorder {
    fn batch(&self, _: &Batch) {
        *self.batches.lock().unwrap() += 1;
    }
    fn device(&self, s: &DeviceStatus) {
        self.devices.lock().unwrap().push(s.clone());
    }
    fn state(&self, _: &str, s: &LinkState) {
        self.states.lock().unwrap().push(s.clone());
    }
    fn notify(&self, n: &Notification) {
        self.notifications.lock().unwrap().push(n.clone());
        if self.show_notifications {
            tether_app::notify::show(n);
        }
    }
}

/// Wait (bounded) until the controller's link is connected.
pub async fn wait_connected(ctl: &Controller, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let st = ctl.overview().await.expect("overview").state;
        if st.is_connected() {
            return;
        }
        assert!(Instant::now() < deadline, "not connected within {within:?}: {st:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait (bounded) until `f` holds.
pub async fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn recorder(show: bool) -> Arc<Recorder> {
    Arc::new(Recorder {
        show_notifications: show,
        ..Default::default()
    })
}
