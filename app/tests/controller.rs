//! The command layer without a window: a bad profile file at start, profile validation by field,
//! renames that carry the secret, settings validation. (The keychain here is the in-memory store;
//! tests/keychain.rs runs the same layer against the real Secret Service.)

mod support;

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use support::*;
use tether::credentials::{account, MemoryStore, SecretStore};
use tether::profiles::Paths;
use tether_app::controller::Controller;
use tether_app::ipc::{ProfileInput, SecretStatus};

fn paths(home: &std::path::Path) -> Paths {
    Paths {
        config_dir: home.join("config"),
        data_dir: home.join("data"),
    }
}

fn input(orig: Option<&str>, name: &str, url: &str, subs: &[&str]) -> ProfileInput {
    ProfileInput {
        original_name: orig.map(str::to_string),
        name: name.into(),
        url: url.into(),
        username: Some("bob".into()),
        subscriptions: subs.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_profile_file_is_reported_never_overwritten_and_the_demo_runs() {
    let home = tempfile::tempdir().unwrap();
    let p = paths(home.path());
    std::fs::create_dir_all(&p.config_dir).unwrap();
    let bad = "[profiles.home]\nurl = \"mqtt://127.0.0.1:1883\"\nkeepalive = \"soon\"\n";
    std::fs::write(p.profiles_file(), bad).unwrap();

    let ctl = Controller::new(p.clone(), Arc::new(MemoryStore::default()), Ok(()), recorder(false));
    ctl.start().await.expect("the app comes up anyway");
    let ov = ctl.overview().await.unwrap();
    assert!(ov.demo, "the demo runs instead");
    let problem = ov.problem.expect("the problem is reported to the window");
    assert!(problem.contains("profiles.toml"), "{problem}");
    assert!(problem.contains(":3:"), "says where: {problem}");
    // Saving a profile now would overwrite the user's file: refused, file untouched.
    let e = ctl
        .save_profile(input(None, "other", "mqtt://127.0.0.1:1883", &[]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, "profiles_file", "{e:?}");
    assert_eq!(std::fs::read_to_string(p.profiles_file()).unwrap(), bad);
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_validated_by_field_and_a_rename_keeps_the_secret() {
    let home = tempfile::tempdir().unwrap();
    let keychain = Arc::new(MemoryStore::default());
    let ctl = Controller::new(paths(home.path()), keychain.clone(), Ok(()), recorder(false));
    ctl.start().await.unwrap();

    for (inp, field) in [
        (input(None, "bad name!", "mqtt://127.0.0.1:1883", &[]), "name"),
        (input(None, "demo", "mqtt://127.0.0.1:1883", &[]), "name"),
        (input(None, "home", "http://127.0.0.1", &[]), "url"),
        (
            input(None, "home", "mqtt://127.0.0.1:1883", &["ok/#", "bad/#/more"]),
            "subscriptions",
        ),
    ] {
        let e = ctl.save_profile(inp).await.unwrap_err();
        assert_eq!((e.kind.as_str(), e.field.as_deref()), ("invalid", Some(field)), "{e:?}");
    }
    assert!(ctl.list_profiles().await.unwrap().is_empty(), "nothing was written");

    let v = ctl
        .save_profile(input(None, "home", "mqtt://127.0.0.1:1883", &["a/#"]))
        .await
        .unwrap();
    assert_eq!((v.name.as_str(), v.secret, v.active), ("home", SecretStatus::None, false));
    let dup = ctl
        .save_profile(input(None, "home", "mqtt://127.0.0.1:1883", &[]))
        .await
        .unwrap_err();
    assert_eq!(dup.field.as_deref(), Some("name"));

    ctl.set_secret("home", SecretString::from("pw-1")).await.unwrap();
    let renamed = ctl
        .save_profile(input(Some("home"), "cabin", "mqtt://127.0.0.1:1884", &["a/#", "b/+"]))
        .await
        .unwrap();
    assert_eq!(renamed.name, "cabin");
    assert_eq!(renamed.secret, SecretStatus::Keychain, "the secret moved with the profile");
    assert_eq!(renamed.subscriptions, vec!["a/#", "b/+"]);
    assert_eq!(
        keychain.get(&account("cabin", "password")).unwrap().unwrap().expose_secret(),
        "pw-1"
    );
    assert!(
        keychain.get(&account("home", "password")).unwrap().is_none(),
        "no copy left under the old name"
    );
    let names: Vec<String> = ctl.list_profiles().await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["cabin"]);

    ctl.remove_profile("cabin").await.unwrap();
    assert!(ctl.list_profiles().await.unwrap().is_empty());
    assert!(
        keychain.get(&account("cabin", "password")).unwrap().is_none(),
        "removing deletes the secret"
    );
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_refused_by_field_and_nothing_changes() {
    let home = tempfile::tempdir().unwrap();
    let ctl = Controller::new(paths(home.path()), Arc::new(MemoryStore::default()), Ok(()), recorder(false));
    ctl.start().await.unwrap();
    let before = ctl.settings().await.unwrap();
    let mut s = before.clone();
    s.reconnect.max_attempts = 0;
    let e = ctl.save_settings(s).await.unwrap_err();
    assert_eq!(e.field.as_deref(), Some("reconnect.max_attempts"));
    let mut s = before.clone();
    s.recovery.multiplier = 50.0;
    let e = ctl.save_settings(s).await.unwrap_err();
    assert_eq!(e.field.as_deref(), Some("recovery.multiplier"));
    assert_eq!(ctl.settings().await.unwrap(), before);

    // A good change is saved and survives a restart of the app (notifications are app-wide).
    let mut s = before.clone();
    s.notifications.recovered = false;
    ctl.save_settings(s).await.unwrap();
    ctl.shutdown().await;
    let again = Controller::new(paths(home.path()), Arc::new(MemoryStore::default()), Ok(()), recorder(false));
    again.start().await.unwrap();
    assert!(!again.settings().await.unwrap().notifications.recovered);
    again.shutdown().await;
}

/// A keychain whose reads wait until the test lets them through (an unlock prompt).
struct Prompting {
    inner: MemoryStore,
    /// Taken by the first read, which waits on it; later reads go straight through.
    gate: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl SecretStore for Prompting {
    fn get(&self, account: &str) -> Result<Option<SecretString>, tether::credentials::CredentialError> {
        if let Some(gate) = self.gate.lock().unwrap().take() {
            let _ = gate.recv_timeout(std::time::Duration::from_secs(10));
        }
        self.inner.get(account)
    }
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), tether::credentials::CredentialError> {
        self.inner.set(account, secret)
    }
    fn delete(&self, account: &str) -> Result<bool, tether::credentials::CredentialError> {
        self.inner.delete(account)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_and_app_profile_writes_do_not_lose_each_other() {
    let home = tempfile::tempdir().unwrap();
    let p = paths(home.path());
    let (open, gate) = std::sync::mpsc::channel();
    let keychain = Arc::new(Prompting {
        inner: MemoryStore::default(),
        gate: std::sync::Mutex::new(Some(gate)),
    });
    let store = tether::profiles::ProfileStore::new(p.profiles_file());
    store
        .update(|f| {
            f.profiles
                .insert("a".into(), tether::profiles::Profile::mqtt("mqtt://127.0.0.1:1883").unwrap());
            Ok(())
        })
        .unwrap();
    let ctl = Arc::new(Controller::new(p.clone(), keychain, Ok(()), recorder(false)));
    // The app renames a -> b and waits on the keychain (copying the secret) meanwhile.
    let c = ctl.clone();
    let rename = tokio::spawn(async move { c.save_profile(input(Some("a"), "b", "mqtt://127.0.0.1:1883", &[])).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The CLI adds a profile in between.
    store
        .update(|f| {
            f.profiles
                .insert("x".into(), tether::profiles::Profile::mqtt("mqtt://127.0.0.1:1884").unwrap());
            Ok(())
        })
        .unwrap();
    open.send(()).unwrap();
    rename.await.unwrap().expect("the rename is saved");
    let names: Vec<String> = store.load().unwrap().profiles.into_keys().collect();
    assert_eq!(
        names,
        vec!["b".to_string(), "x".to_string()],
        "the CLI's profile survives the app's save"
    );
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_of_the_active_profile_that_cannot_be_saved_leaves_its_link_running() {
    let home = tempfile::tempdir().unwrap();
    let p = paths(home.path());
    let ctl = Controller::new(p.clone(), Arc::new(MemoryStore::default()), Ok(()), recorder(false));
    ctl.start().await.unwrap();
    ctl.save_profile(input(None, "home", "mqtt://127.0.0.1:1", &[])).await.unwrap();
    ctl.activate(Some("home".into())).await.unwrap();
    assert_eq!(ctl.overview().await.unwrap().profile, "home");
    // The next save cannot write its temp file (a directory has its name): as a full disk or a
    // read-only config dir would fail it, even for root.
    std::fs::create_dir(p.config_dir.join(format!(".profiles.toml.{}.tmp", std::process::id()))).unwrap();
    let e = ctl
        .save_profile(input(Some("home"), "cabin", "mqtt://127.0.0.1:1", &[]))
        .await
        .unwrap_err();
    println!("refused: {e:?}");
    let ov = ctl.overview().await.expect("the window never stays without a link");
    assert_eq!((ov.profile.as_str(), ov.demo), ("home", false));
    let names: Vec<String> = ctl.list_profiles().await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["home"]);
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_not_sent_to_a_new_host_when_the_url_is_edited() {
    let home = tempfile::tempdir().unwrap();
    let keychain = Arc::new(MemoryStore::default());
    let ctl = Controller::new(paths(home.path()), keychain.clone(), Ok(()), recorder(false));
    ctl.start().await.unwrap();
    ctl.save_profile(input(None, "home", "mqtt://127.0.0.1:1883", &[])).await.unwrap();
    ctl.set_secret("home", SecretString::from("pw-1")).await.unwrap();
    // Another port on the same host: the same broker machine, the secret stays.
    let v = ctl
        .save_profile(input(Some("home"), "home", "mqtt://127.0.0.1:8883", &[]))
        .await
        .unwrap();
    assert_eq!(v.secret, SecretStatus::Keychain);
    // Another host: the password was given for the old one; it is not sent to the new one.
    let v = ctl
        .save_profile(input(Some("home"), "home", "mqtt://broker.example:1883", &[]))
        .await
        .unwrap();
    assert_eq!(v.secret, SecretStatus::None, "enter the password again for the new host");
    assert!(keychain.get(&account("home", "password")).unwrap().is_none());
    ctl.shutdown().await;
}
