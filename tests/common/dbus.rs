//! Private D-Bus session buses for tests, torn down on drop: a bare one (the notification test
//! serves org.freedesktop.Notifications on it) and one with an unlocked gnome-keyring Secret
//! Service (the keychain tests). Shared by the core's and the desktop app's tests.

use std::process::{Command, Stdio};

/// A private session bus: `dbus-daemon` with a session bus's rules but no service directories.
/// The system's session config would D-Bus-activate services on first call, and a call to
/// `org.freedesktop.secrets` made before our gnome-keyring had claimed the name then started a
/// second one, with the real HOME and no unlocked keyring (CI failed on it twice: "result not
/// returned from SS API", then "no collection/login"). Here nothing is activated: whoever the
/// test starts is who answers.
pub struct DBusSession {
    pid: u32,
    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    _conf: tempfile::TempDir,
}

const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

impl DBusSession {
    pub fn start() -> Self {
        let conf = tempfile::tempdir().expect("temp dir");
        let file = conf.path().join("session.conf");
        std::fs::write(&file, BUS_CONFIG).expect("bus config");
        let out = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", file.display()))
            .args(["--fork", "--print-address=1", "--print-pid=1"])
            .output()
            .expect("dbus-daemon runs (apt-get install dbus)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut it = text.lines();
        let address = it.next().expect("address").trim().to_string();
        let pid: u32 = it.next().expect("pid").trim().parse().expect("pid number");
        Self { pid, address, _conf: conf }
    }
}

impl Drop for DBusSession {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

/// A session bus with gnome-keyring's Secret Service, its `login` keyring unlocked, in a temp home.
pub struct SecretService {
    pub bus: DBusSession,
    pub address: String,
    _home: tempfile::TempDir,
}

impl SecretService {
    pub fn start() -> Self {
        let home = tempfile::tempdir().expect("temp home");
        let runtime = home.path().join("run");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        let bus = DBusSession::start();
        // gnome-keyring creates and unlocks a `login` keyring with this password in our temp home.
        let mut gk = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon runs (apt-get install gnome-keyring)");
        {
            use std::io::Write;
            let mut stdin = gk.stdin.take().expect("stdin");
            stdin.write_all(b"keyring-test-unlock").expect("unlock password written");
        }
        let _ = gk.wait();
        // The daemon forks, and claims its bus name and unlocks the login keyring a moment later:
        // wait until the default collection says it is unlocked (no activation can answer first).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let out = Command::new("dbus-send")
                .args(["--session", "--print-reply", "--dest=org.freedesktop.secrets"])
                .args(["/org/freedesktop/secrets/aliases/default", "org.freedesktop.DBus.Properties.Get"])
                .args(["string:org.freedesktop.Secret.Collection", "string:Locked"])
                .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
                .output()
                .expect("dbus-send runs (apt-get install dbus)");
            if String::from_utf8_lossy(&out.stdout).contains("boolean false") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gnome-keyring's login keyring is not unlocked after 20 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Self {
            address: bus.address.clone(),
            bus,
            _home: home,
        }
    }
}
