//! A running `tether watch --json` as a child process, its stdout parsed line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `tether watch --json`, its stdout lines collected as JSON values.
pub struct Watch {
    child: Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    pub fn spawn(cmd: Command) -> Self {
        Self::spawn_stalling(cmd, None)
    }

    /// Like [`spawn`](Self::spawn), but once a line with event `after` is read, stdout is left
    /// unread for `stall` (a slow consumer at the other end of the pipe), then read on.
    pub fn spawn_stalling(mut cmd: Command, stall: Option<(&'static str, Duration)>) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("tether runs");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let reader = std::thread::spawn(move || {
            let mut stall = stall;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                let hold = stall.filter(|(after, _)| v["event"] == *after).map(|(_, d)| d);
                l.lock().unwrap().push(v);
                if let Some(d) = hold {
                    stall = None;
                    std::thread::sleep(d);
                }
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// `kill -9`, then every line it had written before it died.
    pub fn kill9(mut self) -> Vec<serde_json::Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.events()
    }

    /// Type a line on its stdin (spawned with `Stdio::piped()` stdin).
    pub fn type_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("spawned with a piped stdin");
        writeln!(stdin, "{line}").expect("write to tether's stdin");
        stdin.flush().expect("flush");
    }

    /// Wait (bounded) for the process to exit by itself; its exit code.
    pub fn wait_exit(mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "tether did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().clone()
    }

    pub fn names(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|v| v["event"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    pub fn wait(&self, what: &str, limit: Duration, pred: impl Fn(&[serde_json::Value]) -> bool) {
        let deadline = Instant::now() + limit;
        while !pred(&self.events()) {
            assert!(Instant::now() < deadline, "no {what} within {limit:?}: {:?}", self.names());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_event(&self, name: &str, limit: Duration) {
        self.wait(name, limit, |v| v.iter().any(|e| e["event"] == name));
    }

    /// SIGTERM (as Ctrl-C would) and the exit code.
    pub fn stop(mut self) -> i32 {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tether did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    /// A failed test must not leave its `tether` behind (`stop` has already reaped it otherwise).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
