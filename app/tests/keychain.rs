//! Credentials through the app's command layer against the real Secret Service (gnome-keyring in
//! a private D-Bus session this test starts): store, read back, replace, delete; a broker that
//! only accepts the stored password proves the link reads it; and no secret appears in the profile
//! file, the log file, or anything the commands send back to the UI.
//!
//! macOS Keychain and Windows Credential Manager share the keyring code path; they cannot run here.

mod support;

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use support::broker::{Broker, BrokerOptions};
use support::dbus::SecretService;
use support::*;
use tether::credentials::{account, OsKeychain, SecretStore};
use tether::profiles::Paths;
use tether_app::controller::Controller;
use tether_app::ipc::{ProfileInput, SecretStatus};

const FIRST: &str = "first-s3cret-Qx7";
const SECOND: &str = "second-s3cret-Zr4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_live_in_the_real_keychain_and_nowhere_else() {
    let ss = SecretService::start();
    // keyring and zbus read the bus address from the environment when they connect.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &ss.address);
    // Everything logged, rumqttc's packet traces included, goes to the app's log file.
    std::env::set_var("TETHER_LOG", "trace");
    let home = tempfile::tempdir().unwrap();
    let log_dir = home.path().join("logs");
    let guard = tether_app::logging::init(&log_dir, "tether").expect("log file");
    let paths = Paths {
        config_dir: home.path().join("config"),
        data_dir: home.path().join("data"),
    };
    let broker = Broker::start(BrokerOptions {
        user: Some(("bob".into(), FIRST.into())),
        ..Default::default()
    });

    let rec = recorder(false);
    let ctl = Controller::new(paths.clone(), Arc::new(OsKeychain), OsKeychain::probe(), rec.clone());
    assert!(ctl.overview().await.is_err(), "nothing runs before start");
    ctl.start().await.expect("starts (the demo: no profile yet)");
    let ov = ctl.overview().await.unwrap();
    assert!(ov.demo);
    assert!(ov.keychain.available, "gnome-keyring answers: {:?}", ov.keychain.message);

    let view = ctl
        .save_profile(ProfileInput {
            original_name: None,
            name: "kc".into(),
            url: format!("mqtt://127.0.0.1:{}", broker.port),
            username: Some("bob".into()),
            subscriptions: vec!["tether/test/#".into()],
        })
        .await
        .expect("profile saved");
    assert_eq!(view.secret, SecretStatus::None);

    // Store, and read back from the keychain itself.
    let st = ctl.set_secret("kc", SecretString::from(FIRST)).await.expect("stored");
    assert_eq!(st, SecretStatus::Keychain);
    let got = OsKeychain.get(&account("kc", "password")).unwrap().expect("in the keychain");
    assert_eq!(got.expose_secret(), FIRST);
    assert_eq!(ctl.list_profiles().await.unwrap()[0].secret, SecretStatus::Keychain);

    // The link reads it: the broker accepts only this password.
    ctl.activate(Some("kc".into())).await.expect("switched to kc");
    wait_connected(&ctl, Duration::from_secs(15)).await;
    assert!(!ctl.overview().await.unwrap().demo);

    // Replace.
    ctl.set_secret("kc", SecretString::from(SECOND)).await.expect("replaced");
    let got = OsKeychain.get(&account("kc", "password")).unwrap().expect("still there");
    assert_eq!(got.expose_secret(), SECOND);

    // An empty secret is refused by its field.
    let e = ctl.set_secret("kc", SecretString::from("")).await.unwrap_err();
    assert_eq!((e.kind.as_str(), e.field.as_deref()), ("invalid", Some("secret")));

    // Delete.
    assert_eq!(ctl.delete_secret("kc").await.unwrap(), SecretStatus::None);
    assert!(OsKeychain.get(&account("kc", "password")).unwrap().is_none());
    assert_eq!(ctl.list_profiles().await.unwrap()[0].secret, SecretStatus::None);

    // What the UI got back never holds a secret.
    let replies = format!(
        "{}{}{}",
        serde_json::to_string(&ctl.list_profiles().await.unwrap()).unwrap(),
        serde_json::to_string(&ctl.overview().await.unwrap()).unwrap(),
        serde_json::to_string(&ctl.settings().await.unwrap()).unwrap()
    );
    ctl.shutdown().await;
    drop(guard); // flushes the log file

    let profiles = std::fs::read_to_string(paths.profiles_file()).unwrap();
    assert!(profiles.contains("[profiles.kc]"), "{profiles}");
    let mut logs = String::new();
    for e in std::fs::read_dir(&log_dir).unwrap() {
        logs.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    assert!(logs.contains("kc"), "the log file has the session's lines");
    for secret in [FIRST, SECOND] {
        assert!(!profiles.contains(secret), "secret in profiles.toml");
        assert!(!logs.contains(secret), "secret in the log file");
        assert!(!replies.contains(secret), "secret in a command reply");
    }
}
