//! M4: two tray processes started at the same moment (autostart and a user's click, a double
//! click) leave exactly one running, and it is the one the socket reaches.

use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tether_app::wire::{self, Client};

fn tray(home: &std::path::Path, runtime: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tether-tray"))
        .env("HOME", home)
        .env("TETHER_CONFIG_DIR", home.join("config"))
        .env("TETHER_DATA_DIR", home.join("data"))
        .env("TETHER_LOG_DIR", home.join("logs"))
        .env("TETHER_RUNTIME_DIR", runtime)
        // No session bus: no tray icon or keychain, which this test does not need.
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tether-tray starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tray_processes_started_together_leave_exactly_one() {
    for round in 0..10 {
        let home = tempfile::tempdir().unwrap();
        let runtime = home.path().join("run");
        let mut a = tray(home.path(), &runtime);
        let mut b = tray(home.path(), &runtime);
        // The loser sees the winner and leaves at once, with success.
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut winner, loser_status) = loop {
            if let Some(st) = a.try_wait().unwrap() {
                break (b, st);
            }
            if let Some(st) = b.try_wait().unwrap() {
                break (a, st);
            }
            assert!(Instant::now() < deadline, "round {round}: both tray processes still run after 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(loser_status.success(), "round {round}: {loser_status}");
        // The one left answers on the socket.
        let deadline = Instant::now() + Duration::from_secs(20);
        let (client, _pushed) = loop {
            if let Ok(c) = Client::connect(&wire::socket_path(&runtime)).await {
                break c;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the remaining tray process does not answer"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let o = client.call("get_overview", json!({})).await.expect("overview");
        assert!(o["state"].is_object(), "round {round}: {o}");
        assert!(winner.try_wait().unwrap().is_none(), "round {round}: the answering one is alive");
        let _ = winner.kill();
        let _ = winner.wait();
    }
}
