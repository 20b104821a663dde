//! A real Mosquitto (Debian's) per test, on an ephemeral port, stoppable and restartable.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Default, Clone)]
pub struct BrokerOptions {
    /// Keep sessions and queued messages across a restart (on disk, in the test's temp dir).
    pub persistence: bool,
    /// Require this user and password (a mosquitto password file).
    pub user: Option<(String, String)>,
    /// More mosquitto.conf lines (benchmarks lift queue limits).
    pub extra: String,
}

pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A free port on loopback (bound then released; the broker takes it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Set `user`'s password in a mosquitto password file (`create`: start a new file).
fn passwd(file: &std::path::Path, user: &str, password: &str, create: bool) {
    let mut c = Command::new("mosquitto_passwd");
    c.arg("-b");
    if create {
        c.arg("-c");
    }
    let st = c
        .arg(file)
        .args([user, password])
        .stdout(Stdio::null())
        .status()
        .expect("mosquitto_passwd runs");
    assert!(st.success());
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

impl Broker {
    pub fn start(opts: BrokerOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut conf = format!(
            "listener {port} 127.0.0.1\nlog_dest file {}\n",
            dir.path().join("mosquitto.log").display()
        );
        if is_root() {
            // As root, mosquitto drops to the `mosquitto` user and then cannot write our temp dir.
            conf.push_str("user root\n");
        }
        if opts.persistence {
            conf.push_str(&format!(
                "persistence true\npersistence_location {}/\nautosave_interval 1\n",
                dir.path().display()
            ));
        }
        match &opts.user {
            None => conf.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let pw = dir.path().join("passwd");
                passwd(&pw, user, password, true);
                conf.push_str(&format!("allow_anonymous false\npassword_file {}\n", pw.display()));
            }
        }
        conf.push_str(&opts.extra);
        std::fs::write(dir.path().join("mosquitto.conf"), conf).expect("write conf");
        let mut b = Self { port, dir, child: None };
        b.restart();
        b
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    /// (Re)start on the same port and wait until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.conf())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (apt-get install mosquitto)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start on {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop gracefully (SIGTERM: mosquitto saves its persistence file) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.wait();
        }
    }

    /// Change (or add) a user's password and have the running broker reload it (SIGHUP).
    pub fn set_password(&self, user: &str, password: &str) {
        passwd(&self.dir.path().join("passwd"), user, password, false);
        if let Some(c) = &self.child {
            let _ = Command::new("kill").arg("-HUP").arg(c.id().to_string()).status();
        }
        // Mosquitto reloads on its next loop turn.
        std::thread::sleep(Duration::from_millis(300));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
