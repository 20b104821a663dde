//! The OS keychain for real: a private D-Bus session with gnome-keyring's Secret Service, started
//! by this test, and Tether storing, reading, replacing and deleting a secret through it — in the
//! library and through the CLI, with a broker that only accepts the stored password.
//!
//! macOS Keychain and Windows Credential Manager share the same `keyring` code path but cannot run
//! on this Linux CI; they are not tested here.

mod common;

use common::dbus::SecretService;
use common::*;
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use std::process::Command;
use tether::credentials::{account, OsKeychain, SecretStore};

fn tether(home: &Path, bus: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tether"));
    c.env("TETHER_CONFIG_DIR", home.join("config"))
        .env("TETHER_DATA_DIR", home.join("data"))
        .env("DBUS_SESSION_BUS_ADDRESS", bus);
    c
}

#[test]
fn secrets_live_in_the_real_secret_service_and_nowhere_else() {
    let ss = SecretService::start();
    // The keyring crate reads the bus address once, at first use, in this process.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &ss.address);

    // The library: store, read back, replace, delete.
    let acct = account(&unique("lib"), "password");
    let kc = OsKeychain;
    assert!(kc.get(&acct).expect("keychain reachable").is_none());
    kc.set(&acct, &SecretString::from("first-secret")).expect("store");
    assert_eq!(kc.get(&acct).unwrap().unwrap().expose_secret(), "first-secret");
    kc.set(&acct, &SecretString::from("second-secret")).expect("replace");
    assert_eq!(kc.get(&acct).unwrap().unwrap().expose_secret(), "second-secret");
    assert!(kc.delete(&acct).unwrap());
    assert!(kc.get(&acct).unwrap().is_none());
    assert!(!kc.delete(&acct).unwrap(), "deleting twice says nothing was there");

    // The CLI against a broker that only takes the stored password.
    let password = "correct-horse-battery";
    let broker = Broker::start(BrokerOptions {
        user: Some(("alice".into(), password.into())),
        ..Default::default()
    });
    let home = tempfile::tempdir().unwrap();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let add = tether(home.path(), &ss.address)
        .args(["profile", "add", "kc", &url, "-u", "alice"])
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let set = run_with_stdin(
        {
            let mut c = tether(home.path(), &ss.address);
            c.args(["creds", "set", "kc"]);
            c
        },
        &format!("{password}\n"),
    );
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let topic = unique("kc");
    // `pub` exits 0 only once the broker acknowledged the message (QoS 1).
    let publish = tether(home.path(), &ss.address)
        .args(["pub", "--profile", "kc", &topic, "hello", "--timeout", "10"])
        .output()
        .unwrap();
    assert_eq!(
        publish.status.code(),
        Some(0),
        "the password from the keychain is accepted: {}",
        String::from_utf8_lossy(&publish.stderr)
    );
    let show = tether(home.path(), &ss.address).args(["profile", "show", "kc"]).output().unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("stored in the OS keychain"));

    // Replace with a wrong one: the broker refuses, the CLI says so with exit code 4.
    let replaced = run_with_stdin(
        {
            let mut c = tether(home.path(), &ss.address);
            c.args(["creds", "set", "kc"]);
            c
        },
        "not-the-password\n",
    );
    assert!(replaced.status.success());
    let refused = tether(home.path(), &ss.address)
        .args(["pub", "--profile", "kc", &topic, "x", "--timeout", "10"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(4), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("tether creds set kc"));

    let del = tether(home.path(), &ss.address).args(["creds", "delete", "kc"]).output().unwrap();
    assert!(String::from_utf8_lossy(&del.stdout).contains("deleted"));

    // No secret in any file Tether wrote, nor in anything it printed.
    for entry in walk(home.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(password) && !text.contains("not-the-password"),
            "secret found in {}",
            entry.display()
        );
    }
    for out in [&add, &set, &publish, &show, &replaced, &refused, &del] {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(
            !all.contains(password) && !all.contains("not-the-password"),
            "secret printed: {all}"
        );
    }

    // No keychain at all: a clear message and exit code 5.
    let none = run_with_stdin(
        {
            let mut c = tether(home.path(), "unix:path=/nonexistent/bus");
            c.args(["creds", "set", "kc"]);
            c
        },
        "whatever\n",
    );
    assert_eq!(none.status.code(), Some(5), "{}", String::from_utf8_lossy(&none.stderr));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("keychain"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
