//! The tray process (`tether-tray`, the real program) on a private D-Bus session with a
//! StatusNotifierWatcher served by this test (the freedesktop protocol a panel speaks; no panel
//! runs here): its socket is private, a window talks to it, its tray icon and tooltip follow the
//! link, its menu opens the window, focuses an open one and quits, and a second one does not start.
//! The tray icons it shows are written to target/test-output/tray-process/sni-tray-*.png.

mod support;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::dbus::DBusSession;
use tether_app::wire::{self, Client, Pushed};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc::UnboundedReceiver;
use zbus::zvariant::OwnedValue;

#[derive(Default)]
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        self.items.lock().unwrap().push(service);
    }
    fn register_status_notifier_host(&self, _service: String) {}
    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }
    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }
    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

struct TrayProcess {
    child: Child,
    _home: tempfile::TempDir,
    runtime: PathBuf,
    marker: PathBuf,
}

impl Drop for TrayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bus: &str) -> TrayProcess {
    let home = tempfile::tempdir().unwrap();
    let runtime = home.path().join("run");
    let marker = home.path().join("window-started");
    // Stands in for the window program (tether-desktop needs a display): records that it ran.
    let fake_window = home.path().join("fake-window.sh");
    std::fs::write(&fake_window, format!("#!/bin/sh\necho started >> {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&fake_window, std::fs::Permissions::from_mode(0o755)).unwrap();
    let child = tray_command(bus, home.path(), &runtime)
        .env("TETHER_WINDOW_BIN", &fake_window)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tether-tray starts");
    TrayProcess {
        child,
        _home: home,
        runtime,
        marker,
    }
}

fn tray_command(bus: &str, home: &Path, runtime: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tether-tray"));
    c.env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("TETHER_RUNTIME_DIR", runtime)
        // No keychain on this bus: secrets would live in memory (not used here).
        .env("TETHER_LOG", "info");
    c
}

async fn connect(runtime: &Path) -> (Client, UnboundedReceiver<Pushed>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(c) = Client::connect(&wire::socket_path(runtime)).await {
            return c;
        }
        assert!(Instant::now() < deadline, "tray process not listening within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn state(c: &Client) -> String {
    let o = c.call("get_overview", json!({})).await.expect("overview");
    o["state"]["state"].as_str().unwrap_or("").to_string()
}

async fn until<F: std::future::Future<Output = bool>>(what: &str, within: Duration, mut f: impl FnMut() -> F) {
    let deadline = Instant::now() + within;
    while !f().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The payload of the next pushed `name` event (others are skipped), within 10 s.
async fn next_event(pushed: &mut UnboundedReceiver<Pushed>, name: &str) -> Value {
    let wait = async {
        loop {
            match pushed.recv().await {
                Some(Pushed::Event { event, payload }) if event == name => return payload,
                Some(_) => continue,
                None => panic!("the connection closed before a {name} event"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} event within 10 s"))
}

type Pixmaps = Vec<(i32, i32, Vec<u8>)>;

async fn item_proxy<'a>(conn: &zbus::Connection, dest: &'a str, path: &'a str, iface: &'a str) -> zbus::Proxy<'a> {
    zbus::proxy::Builder::new(conn)
        .destination(dest)
        .unwrap()
        .path(path)
        .unwrap()
        .interface(iface)
        .unwrap()
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

fn expected_icon(name: &str) -> Vec<u8> {
    let png = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../icons/tray-{name}.png"))).unwrap();
    tether_app::systray::argb(&png).unwrap().data
}

/// Save what the tray host received (ARGB32) as a PNG.
fn save_icon(pixmaps: &Pixmaps, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/tray-process");
    std::fs::create_dir_all(&dir).unwrap();
    let (w, h, data) = &pixmaps[0];
    let rgba: Vec<u8> = data.chunks_exact(4).flat_map(|p| [p[1], p[2], p[3], p[0]]).collect();
    let file = std::fs::File::create(dir.join(format!("sni-tray-{name}.png"))).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), *w as u32, *h as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(&rgba).unwrap();
}

/// The menu's items by label → id (com.canonical.dbusmenu GetLayout).
async fn menu_ids(menu: &zbus::Proxy<'_>) -> HashMap<String, i32> {
    type Node = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);
    let (_rev, (_root, _props, children)): (u32, Node) = menu
        .call("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
        .await
        .expect("menu layout");
    let mut ids = HashMap::new();
    for child in children {
        let (id, props, _): Node = child.try_into().expect("menu item");
        if let Some(label) = props.get("label") {
            if let Ok(l) = String::try_from(label.try_clone().unwrap()) {
                ids.insert(l, id);
            }
        }
    }
    ids
}

async fn click(menu: &zbus::Proxy<'_>, label: &str) {
    let ids = menu_ids(menu).await;
    let id = *ids.get(label).unwrap_or_else(|| panic!("no menu item {label:?} in {ids:?}"));
    let data = zbus::zvariant::Value::from(0i32);
    let _: () = menu.call("Event", &(id, "clicked", data, 0u32)).await.expect("menu event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_process_serves_the_window_and_shows_the_link_in_the_tray() {
    let bus = DBusSession::start();
    let watcher = Watcher::default();
    let items = watcher.items.clone();
    let conn = zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at("/StatusNotifierWatcher", watcher)
        .unwrap()
        .build()
        .await
        .expect("watcher on the private bus");

    let mut tray = start(&bus.address);
    let (client, mut pushed) = connect(&tray.runtime).await;

    // The socket is the user's alone.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&tray.runtime), 0o700);
    assert_eq!(mode(&wire::socket_path(&tray.runtime)), 0o600);

    // The demo runs in the tray process; the window gets its state and its updates.
    until("connected", Duration::from_secs(20), || async {
        state(&client).await == "connected"
    })
    .await;
    let update = next_event(&mut pushed, "link-update").await;
    assert!(update.is_object(), "{update}");

    // The tray item registered with the watcher; icon and tooltip say connected.
    until("tray registered", Duration::from_secs(10), || async {
        !items.lock().unwrap().is_empty()
    })
    .await;
    let service = items.lock().unwrap()[0].clone();
    let (dest, path) = match service.find('/') {
        Some(0) | None => (service.clone(), "/StatusNotifierItem".to_string()),
        Some(i) => (service[..i].to_string(), service[i..].to_string()),
    };
    let item = item_proxy(&conn, &dest, &path, "org.kde.StatusNotifierItem").await;
    let icon = || async { item.get_property::<Pixmaps>("IconPixmap").await.expect("IconPixmap") };
    let connected = expected_icon("connected");
    until("connected icon", Duration::from_secs(5), || async {
        icon().await[0].2 == connected
    })
    .await;
    save_icon(&icon().await, "connected");
    let (_, _, _, tip): (String, Pixmaps, String, String) = item.get_property("ToolTip").await.expect("ToolTip");
    assert!(tip.contains("demo") && tip.to_lowercase().contains("connected"), "tooltip: {tip}");

    // Drop the link: the tray turns amber while the window's state says reconnecting.
    client.call("demo_fault", json!({"fault": "drop_link"})).await.expect("fault");
    let reconnecting = expected_icon("reconnecting");
    until("reconnecting icon", Duration::from_secs(15), || async {
        icon().await[0].2 == reconnecting
    })
    .await;
    save_icon(&icon().await, "reconnecting");
    let s = state(&client).await;
    assert!(["reconnecting", "recovering", "connecting"].contains(&s.as_str()), "{s}");
    let (_, _, _, tip): (String, Pixmaps, String, String) = item.get_property("ToolTip").await.unwrap();
    assert!(
        tip.to_lowercase().contains("reconnect") || tip.to_lowercase().contains("recover"),
        "tooltip: {tip}"
    );

    // Pause from the menu: grey icon, and the menu item now says Resume.
    let menu_path: zbus::zvariant::OwnedObjectPath = item.get_property("Menu").await.expect("Menu");
    let menu = item_proxy(&conn, &dest, menu_path.as_str(), "com.canonical.dbusmenu").await;
    click(&menu, "Pause").await;
    let paused = expected_icon("paused");
    until("paused icon", Duration::from_secs(10), || async { icon().await[0].2 == paused }).await;
    save_icon(&icon().await, "paused");
    assert_eq!(state(&client).await, "paused");
    click(&menu, "Resume").await;
    until("resumed", Duration::from_secs(10), || async { state(&client).await != "paused" }).await;

    // Refused credentials: the red icon.
    client
        .call("demo_fault", json!({"fault": "refuse_credentials"}))
        .await
        .expect("fault");
    client.call("retry_now", json!({})).await.expect("retry");
    let failed = expected_icon("failed");
    until("failed icon", Duration::from_secs(40), || async { icon().await[0].2 == failed }).await;
    save_icon(&icon().await, "failed");
    client.call("demo_fault", json!({"fault": "clear"})).await.expect("clear");

    // Open Tether with no window: the window program is started.
    click(&menu, "Open Tether").await;
    until("window program started", Duration::from_secs(10), || async { tray.marker.exists() }).await;
    // With a window attached, Open focuses it instead of starting another.
    std::fs::remove_file(&tray.marker).unwrap();
    client.call(wire::ATTACH, json!({})).await.expect("attach");
    click(&menu, "Open Tether").await;
    next_event(&mut pushed, wire::FOCUS_EVENT).await;
    assert!(!tray.marker.exists(), "a second window was started");

    // A malformed line gets an error reply and the process keeps serving.
    let mut raw = tokio::net::UnixStream::connect(wire::socket_path(&tray.runtime)).await.unwrap();
    raw.write_all(b"{not json\n{\"id\":7,\"cmd\":\"no_such\"}\n").await.unwrap();
    let mut lines = BufReader::new(raw).lines();
    let first: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(first["result"]["Err"]["kind"], "bad_request", "{first}");
    let second: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(second["id"], 7);
    assert!(
        second["result"]["Err"]["message"].as_str().unwrap().contains("no such command"),
        "{second}"
    );
    assert!(!state(&client).await.is_empty());

    // A second tray process sees the first and leaves without touching its socket.
    let second = tray_command(&bus.address, tray._home.path(), &tray.runtime)
        .output()
        .expect("second tether-tray runs");
    assert!(second.status.success(), "{second:?}");
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"), "{second:?}");
    assert!(!state(&client).await.is_empty(), "the first one still answers");

    // Quit from the menu: the window is told, the process ends and removes its socket.
    click(&menu, "Quit").await;
    next_event(&mut pushed, wire::QUIT_EVENT).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = tray.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "tray process still running 10 s after Quit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");
    assert!(!wire::socket_path(&tray.runtime).exists(), "socket left behind");
}
