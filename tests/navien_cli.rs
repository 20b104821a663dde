//! The Navien profile as a user meets it: `tether navien-cloud` started as a process, a profile
//! added with `tether profile add --navien` (the password on stdin, into a real Secret Service),
//! then `tether navien status`, `tether navien set` and `tether watch`, each a process of its own.
//! The second and later runs resume with the tokens in the keychain: no password sign-in.

mod common;

use common::dbus::SecretService;
use common::run_with_stdin;
use serde_json::Value;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

fn tether(home: &Path, bus: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tether"));
    c.env("TETHER_CONFIG_DIR", home.join("config"))
        .env("TETHER_DATA_DIR", home.join("data"))
        .env("DBUS_SESSION_BUS_ADDRESS", bus);
    c
}

/// `tether ARGS` with nothing on stdin.
fn tether_run(home: &Path, bus: &str, args: &[&str]) -> Output {
    let mut c = tether(home, bus);
    c.args(args);
    run_with_stdin(c, "")
}

/// `tether navien-cloud` in the background: its start line, and its stdin for commands.
struct CloudProcess {
    child: Child,
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    info: Value,
}

impl CloudProcess {
    fn start(home: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .arg("navien-cloud")
            .arg("--ca-file")
            .arg(home.join("ca.pem"))
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tether navien-cloud runs");
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(30)).expect("the start line within 30 s");
        let info: Value = serde_json::from_str(&first).expect("the start line is JSON");
        Self { child, stdin, lines, info }
    }

    /// `stats`, as JSON.
    fn stats(&mut self) -> Value {
        writeln!(self.stdin, "stats").unwrap();
        let l = self.lines.recv_timeout(Duration::from_secs(10)).expect("stats within 10 s");
        serde_json::from_str(&l).expect("stats are JSON")
    }
}

impl Drop for CloudProcess {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_navien_profile_from_the_cli_reads_and_sets_the_heater_and_resumes_with_stored_tokens() {
    let ss = SecretService::start();
    let home = tempfile::tempdir().unwrap();
    let mut cloud = CloudProcess::start(home.path(), &[]);
    let info = cloud.info.clone();
    assert!(info["rest_url"].as_str().unwrap().ends_with("/api/v2.1"), "{info}");
    assert_eq!(info["accounts"][0], "demo@tether.invalid");
    let add = |name: &str, password: &str| {
        let mut c = tether(home.path(), &ss.address);
        c.args(["profile", "add", name, "--navien", "demo@tether.invalid"])
            .args(["--rest-url", info["rest_url"].as_str().unwrap()])
            .args(["--iot-host", info["mqtt_host"].as_str().unwrap()])
            .args(["--iot-port", &info["mqtt_port"].to_string()])
            .arg("--ca-file")
            .arg(info["ca_file"].as_str().unwrap());
        run_with_stdin(c, &format!("{password}\n"))
    };

    // A wrong password: refused (exit 4), nothing saved, one sign-in.
    let bad = add("bad", "wrong-password");
    assert_eq!(bad.status.code(), Some(4), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("refused the e-mail or password"));
    let list = tether_run(home.path(), &ss.address, &["profile", "list"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("bad"), "nothing saved");

    let ok = add("home", "tether-demo");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("with 1 device(s)") && text.contains("04786332fca0"), "{text}");
    let file = std::fs::read_to_string(home.path().join("config/profiles.toml")).unwrap();
    assert!(!file.contains("tether-demo") && file.contains("kind = \"navien\""), "{file}");
    assert_eq!(cloud.stats()["password_sign_ins"], 2, "the bad one and the good one");

    // Status: one decoded status, JSON, exit 0.
    let st = tether_run(home.path(), &ss.address, &["navien", "status", "home"]);
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: Value = serde_json::from_slice(&st.stdout).expect("status is JSON");
    assert_eq!(v["device"], "04786332fca0");
    assert!(v["status"]["tank_f"].as_f64().is_some() && v["status"]["mode"].is_string(), "{v}");

    // Traced to the last line, the presigned URL (session token, signature) is not in the log.
    let mut c = tether(home.path(), &ss.address);
    c.env("TETHER_LOG", "trace").args(["navien", "status", "home"]);
    let traced = run_with_stdin(c, "");
    assert!(traced.status.success(), "{}", String::from_utf8_lossy(&traced.stderr));
    let log = String::from_utf8_lossy(&traced.stderr);
    assert!(log.len() > 1000, "trace logging is on: {log}");
    assert!(
        !log.contains("X-Amz-Signature") && !log.contains("X-Amz-Security-Token"),
        "a presigned URL in the log"
    );

    // A setpoint the heater confirms, and one outside its range.
    let set = tether_run(home.path(), &ss.address, &["navien", "set", "home", "--setpoint-f", "125"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let v: Value = serde_json::from_slice(&set.stdout).expect("set prints the confirming status");
    assert_eq!(v["status"]["setpoint_f"], 124.7, "125 °F is 103 half-°C, shown back as 124.7 °F");
    let far = tether_run(home.path(), &ss.address, &["navien", "set", "home", "--setpoint-f", "170"]);
    assert_eq!(far.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&far.stderr).contains("outside the heater's setpoint range of 105-150 °F"));

    // watch --json: a device_status line per status.
    let mut w = tether(home.path(), &ss.address)
        .args(["watch", "--profile", "home", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = w.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let l = rx.recv_timeout(Duration::from_secs(20)).expect("watch prints");
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["event"] == "device_status" {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "no device_status line");
    };
    assert_eq!(status["mac"], "04786332fca0");
    assert_eq!(status["status"]["setpoint_f"], 124.7);
    // A one-shot command beside the running watch: its own client id (the cloud would close the
    // watch's connection for one that connects again) and no claim on the profile's outbox.
    let set = tether_run(home.path(), &ss.address, &["navien", "set", "home", "--setpoint-f", "130"]);
    assert!(set.status.success(), "beside a watch: {}", String::from_utf8_lossy(&set.stderr));
    let seen_by_watch = (|| loop {
        let l = rx.recv_timeout(Duration::from_secs(20)).expect("watch prints");
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_ne!(v["event"], "connection_interrupted", "the command kicked the watch: {v}");
        if v["event"] == "device_status" && v["status"]["setpoint_f"].as_f64().is_some_and(|f| (f - 130.0).abs() < 0.5) {
            return v;
        }
    })();
    assert_eq!(seen_by_watch["mac"], "04786332fca0", "the watch saw the change too");
    let _ = Command::new("kill").arg("-INT").arg(w.id().to_string()).status();
    let _ = w.wait();
    assert_eq!(cloud.stats()["mqtt"]["takeovers"], 0, "{}", cloud.stats());
    // Its diagnostics say how the tokens stand (and hold none of them).
    let d = tether_run(home.path(), &ss.address, &["diag", "home"]);
    let v: Value = serde_json::from_slice(&d.stdout).expect("diag is JSON");
    assert!(
        v["tokens"]["jwt_renew_at"].is_string() && v["tokens"]["aws_renew_at"].is_string(),
        "{v}"
    );
    assert_eq!(v["tokens"]["password_sign_ins"], 0, "{v}");
    let text = String::from_utf8_lossy(&d.stdout);
    assert!(
        !text.contains("eyJ") && !text.contains("ASIA"),
        "no token in the diagnostics: {text}"
    );

    // Every run after `profile add` used the tokens in the Secret Service.
    assert_eq!(cloud.stats()["password_sign_ins"], 2, "{}", cloud.stats());
}
