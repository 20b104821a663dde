//! Where the window's commands go. On Linux the links live in the tray process (`tether-tray`)
//! and this window is its client over the local socket; on macOS and Windows the controller runs
//! in this process (their trays are not GTK, so the split would save little there).

use serde_json::Value;
use std::sync::Arc;
use tether_app::controller::Controller;
use tether_app::dispatch;
use tether_app::ipc::UiError;

pub enum Backend {
    /// The controller in this process.
    Local(Arc<Controller>),
    /// The tray process, over its socket.
    #[cfg(unix)]
    Remote(tether_app::wire::Client),
}

impl Backend {
    pub async fn call(&self, cmd: &str, args: Value) -> Result<Value, UiError> {
        match self {
            Backend::Local(ctl) => dispatch::call(ctl, cmd, args).await,
            #[cfg(unix)]
            Backend::Remote(client) => client.call(cmd, args).await,
        }
    }
}

/// The tray process: reach it, starting it when it is not running.
#[cfg(unix)]
pub mod tray_process {
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    use tether_app::wire::{self, Client, Pushed};
    use tokio::sync::mpsc::UnboundedReceiver;

    /// How long the tray process may take to come up (it starts the demo broker first).
    const START_WAIT: Duration = Duration::from_secs(20);

    /// `TETHER_TRAY_BIN`, else `tether-tray` beside this program.
    fn program() -> Result<PathBuf, String> {
        if let Some(p) = std::env::var_os("TETHER_TRAY_BIN") {
            return Ok(PathBuf::from(p));
        }
        let exe = std::env::current_exe().map_err(|e| format!("cannot find Tether's program file: {e}"))?;
        Ok(exe.with_file_name("tether-tray"))
    }

    /// Connect to the running tray process, or start one and connect once it listens.
    pub async fn connect() -> Result<(Client, UnboundedReceiver<Pushed>), String> {
        let dir = wire::runtime_dir();
        let socket = wire::socket_path(&dir);
        if let Ok(c) = Client::connect(&socket).await {
            return Ok(c);
        }
        let program = program()?;
        let mut child = Command::new(&program)
            .stdin(Stdio::null())
            // It logs to its file; holding this window's pipes would keep them open after it ends.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: it outlives this window (and a terminal's Ctrl+C on it).
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(c) = Client::connect(&socket).await {
                // Reaped whenever it ends (Quit), so it never lingers as a zombie of this window.
                std::thread::spawn(move || child.wait());
                return Ok(c);
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Lost a race with another launch that started one: use that one.
                if let Ok(c) = Client::connect(&socket).await {
                    return Ok(c);
                }
                return Err(format!(
                    "{} exited ({status}) before listening on {}",
                    program.display(),
                    socket.display()
                ));
            }
            if started.elapsed() > START_WAIT {
                return Err(format!(
                    "{} is not listening on {} after {} s",
                    program.display(),
                    socket.display(),
                    START_WAIT.as_secs()
                ));
            }
        }
    }

    /// For `--minimized`: make sure the tray process runs, and leave.
    pub async fn ensure_running() -> Result<(), String> {
        connect().await.map(|_| ())
    }
}
