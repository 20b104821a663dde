//! Desktop notifications reach a real D-Bus notification server: this test serves
//! org.freedesktop.Notifications on a private session bus (a small session-bus listener, as the
//! freedesktop spec defines it), drives the embedded demo through a broker outage, and checks that
//! `reconnection_failed` and `recovered` arrive with the expected text, sent by notify-rust through
//! the same function the app uses. (macOS and Windows notifications cannot run here.)

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::dbus::DBusSession;
use support::*;
use tether::credentials::MemoryStore;
use tether::profiles::Paths;
use tether_app::controller::Controller;
use tether_app::ipc::Fault;

#[derive(Debug, Clone)]
struct Received {
    app: String,
    summary: String,
    body: String,
}

struct NotificationServer {
    got: Arc<Mutex<Vec<Received>>>,
    next_id: Mutex<u32>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl NotificationServer {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        self.got.lock().unwrap().push(Received {
            app: app_name,
            summary,
            body,
        });
        let mut id = self.next_id.lock().unwrap();
        *id += 1;
        *id
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("tether-test".into(), "tether".into(), "1".into(), "1.2".into())
    }

    fn close_notification(&self, _id: u32) {}
}

fn has(got: &Arc<Mutex<Vec<Received>>>, summary: &str) -> Option<Received> {
    got.lock().unwrap().iter().find(|r| r.summary == summary).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_and_recovery_notify_through_a_real_notification_server() {
    let bus = DBusSession::start();
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    let got = Arc::new(Mutex::new(Vec::new()));
    let _server = zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at(
            "/org/freedesktop/Notifications",
            NotificationServer {
                got: got.clone(),
                next_id: Mutex::new(0),
            },
        )
        .unwrap()
        .build()
        .await
        .expect("notification server on the test bus");

    let home = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_dir: home.path().join("config"),
        data_dir: home.path().join("data"),
    };
    let rec = recorder(true);
    let ctl = Controller::new(paths, Arc::new(MemoryStore::default()), Ok(()), rec.clone());
    ctl.start().await.expect("the demo starts");
    wait_connected(&ctl, Duration::from_secs(15)).await;

    // A quicker demo policy (saved through the settings command): tier 1 gives up after two
    // quick attempts, recovery cycles a second apart.
    let mut s = ctl.settings().await.unwrap();
    s.reconnect.max_attempts = 2;
    s.reconnect.initial_delay_s = 0.2;
    s.reconnect.max_delay_s = 0.4;
    s.recovery.initial_delay_s = 1.0;
    s.recovery.max_delay_s = 2.0;
    ctl.save_settings(s).await.expect("settings saved");
    wait_connected(&ctl, Duration::from_secs(15)).await;

    // A short blip that recovers within tier 1 notifies nobody: checked by the policy's unit
    // tests; here, the real outage.
    ctl.demo_fault(Fault::BrokerOutage).await.unwrap();
    wait_for("reconnection_failed notification", Duration::from_secs(30), || {
        has(&got, "demo: connection lost").is_some()
    })
    .await;
    let failed = has(&got, "demo: connection lost").unwrap();
    assert_eq!(failed.app, "Tether");
    assert!(failed.body.starts_with("2 reconnection attempts failed"), "{}", failed.body);
    assert!(has(&got, "demo: connected again").is_none(), "no recovery while the broker is away");

    ctl.demo_fault(Fault::Clear).await.unwrap();
    wait_for("recovered notification", Duration::from_secs(30), || {
        has(&got, "demo: connected again").is_some()
    })
    .await;
    let back = has(&got, "demo: connected again").unwrap();
    assert!(back.body.starts_with("Back after "), "{}", back.body);
    wait_connected(&ctl, Duration::from_secs(5)).await;
    // Exactly the two, each once.
    assert_eq!(got.lock().unwrap().len(), 2, "{:?}", got.lock().unwrap());
    ctl.shutdown().await;
}
