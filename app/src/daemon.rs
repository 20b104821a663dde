//! The tray process (`tether-tray`, Linux): the links, the tray icon, notifications and the
//! keychain, with no GUI toolkit loaded, so that Tether in the tray costs a few MB instead of a
//! WebKit process's hundred. The window (`tether-desktop`) is a separate process that it starts
//! on "Open Tether" and that talks to it over the local socket ([`crate::wire`]); closing the
//! window ends that process, and WebKit with it.

use crate::bridge::{Sink, DEVICE_EVENT, UPDATE_EVENT};
use crate::controller::Controller;
use crate::dispatch;
use crate::ipc::{DeviceStatus, UiError};
use crate::present::batch::Batch;
use crate::present::menu::Action;
use crate::present::notify::Notification;
use crate::wire::{self, ToWindow, ATTACH, FOCUS_EVENT, MAX_LINE, QUIT_EVENT};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tether::credentials::OsKeychain;
use tether::pinned::Pinned;
use tether::profiles::Paths;
use tether::LinkState;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Not an error to the user: the running one keeps going.
    #[error("Tether is already running (socket {0})")]
    AlreadyRunning(PathBuf),
    #[error("cannot use the runtime directory {dir}: {source}")]
    RuntimeDir { dir: PathBuf, source: std::io::Error },
    #[error("cannot listen on {path}: {source}")]
    Listen { path: PathBuf, source: std::io::Error },
    #[error("cannot start: {0}")]
    Start(String),
}

/// The connected windows and what they are sent.
struct Hub {
    events: broadcast::Sender<Arc<str>>,
    /// Bytes of lines the broadcast holds for the slowest window.
    held: std::sync::Mutex<Pinned>,
    windows: AtomicUsize,
}

/// Requests of one window being run at once (each on its own task: a keychain prompt must not
/// hold up the others).
const MAX_IN_FLIGHT: usize = 32;
/// Replies waiting for a window to read them.
const REPLY_QUEUE: usize = 64;

/// Bytes of UI lines held for a window that does not read (its socket full): past this, lines
/// are skipped for the windows (a UI update may skip; the window shows the next).
const HUB_BUDGET: usize = 16 << 20;

impl Hub {
    fn new() -> Self {
        Self {
            events: broadcast::channel(256).0,
            held: Default::default(),
            windows: AtomicUsize::new(0),
        }
    }

    /// To every window, within [`HUB_BUDGET`] bytes held for the slowest.
    fn send(&self, line: String) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.settle(self.events.len());
        if let Some(n) = held.take_report(HUB_BUDGET) {
            tracing::warn!(
                skipped = n,
                budget = HUB_BUDGET,
                "a window fell behind by more than the budget; UI updates were skipped"
            );
        }
        let size = line.len();
        if held.admit(size, HUB_BUDGET) && self.events.send(line.into()).is_ok() {
            held.sent(size);
        }
    }

    /// Encode `payload` once, straight into the line every window gets (no JSON tree between:
    /// a batch may carry a thousand topic updates).
    fn push<T: Serialize>(&self, event: &str, payload: &T) {
        // Nobody listening (the usual case in the tray): not even the encoding is done.
        if self.events.receiver_count() == 0 {
            return;
        }
        // The same shape as `ToWindow::Event`, borrowed.
        #[derive(Serialize)]
        struct Line<'a, T> {
            t: &'static str,
            event: &'a str,
            payload: &'a T,
        }
        match serde_json::to_string(&Line {
            t: "event",
            event,
            payload,
        }) {
            Ok(line) => self.send(line),
            Err(e) => tracing::warn!(event, error = %e, "event not encodable; skipped"),
        }
    }
}

/// The bridge's output in the tray process: events to the windows, the tray, notifications.
struct DaemonSink {
    hub: Arc<Hub>,
    tray: watch::Sender<Option<(String, LinkState)>>,
}

impl Sink for DaemonSink {
    fn batch(&self, batch: &Batch) {
        self.hub.push(UPDATE_EVENT, batch);
    }
    fn device(&self, status: &DeviceStatus) {
        self.hub.push(DEVICE_EVENT, status);
    }
    fn state(&self, profile: &str, state: &LinkState) {
        self.tray.send_replace(Some((profile.to_string(), state.clone())));
    }
    fn notify(&self, n: &Notification) {
        crate::notify::show(n);
    }
}

/// Where the window program is: `TETHER_WINDOW_BIN`, else `tether-desktop` beside this program.
pub fn window_program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TETHER_WINDOW_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.with_file_name("tether-desktop"))
}

/// Bind the socket, unless another tray process runs. Who runs is decided by an exclusive lock
/// on `tether.lock` in the runtime directory, held for the life of the process (the kernel drops
/// it when the process ends, however it ends): two started at once cannot both pass a "nobody
/// answers on the socket" check and then replace each other's socket. Only the holder touches
/// the socket. The returned file holds the lock.
async fn listen(dir: &Path) -> Result<(UnixListener, PathBuf, std::fs::File), DaemonError> {
    wire::prepare_dir(dir).map_err(|source| DaemonError::RuntimeDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let path = wire::socket_path(dir);
    let lock_path = dir.join("tether.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| DaemonError::RuntimeDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(DaemonError::AlreadyRunning(path)),
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(DaemonError::RuntimeDir {
                dir: dir.to_path_buf(),
                source,
            })
        }
    }
    // A tray process of a version before the lock may still answer on the socket.
    if UnixStream::connect(&path).await.is_ok() {
        return Err(DaemonError::AlreadyRunning(path));
    }
    // Left by a process that died: nobody answers on it.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|source| DaemonError::Listen {
        path: path.clone(),
        source,
    })?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|source| DaemonError::Listen {
        path: path.clone(),
        source,
    })?;
    Ok((listener, path, lock))
}

/// Run the tray process until Quit (or SIGTERM / SIGINT).
pub async fn run(paths: Paths, runtime_dir: &Path) -> Result<(), DaemonError> {
    let (listener, socket, _lock) = listen(runtime_dir).await?;
    let hub = Arc::new(Hub::new());
    let (tray_tx, tray_rx) = watch::channel(None);
    let sink = Arc::new(DaemonSink {
        hub: hub.clone(),
        tray: tray_tx,
    });
    // The keychain's D-Bus client blocks on its own executor: never on a runtime thread.
    let probe = tokio::task::spawn_blocking(OsKeychain::probe)
        .await
        .map_err(|e| DaemonError::Start(format!("keychain probe failed: {e}")))?;
    let ctl = Arc::new(Controller::new(paths, Arc::new(OsKeychain), probe, sink));
    if let Err(e) = ctl.start().await {
        let _ = std::fs::remove_file(&socket);
        return Err(DaemonError::Start(e.message));
    }
    let (actions_tx, mut actions) = mpsc::unbounded_channel();
    #[cfg(target_os = "linux")]
    let _tray = crate::systray::spawn(actions_tx.clone(), tray_rx).await;
    #[cfg(not(target_os = "linux"))]
    drop(tray_rx);

    {
        let (ctl, hub) = (ctl.clone(), hub.clone());
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(ctl.clone(), hub.clone(), stream));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tracing::info!(socket = %socket.display(), "tray process ready");
    eprintln!("tether-tray: ready on {}", socket.display());
    loop {
        let action = tokio::select! {
            a = actions.recv() => a.unwrap_or(Action::Quit),
            _ = tokio::signal::ctrl_c() => Action::Quit,
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => Action::Quit,
        };
        match action {
            Action::Open => open_window(&hub),
            Action::Retry => dispatch::retry_now(&ctl).await,
            Action::TogglePause => dispatch::toggle_pause(&ctl).await,
            Action::Quit => break,
        }
    }
    tracing::info!("quitting");
    hub.push(QUIT_EVENT, &Value::Null);
    ctl.shutdown().await;
    let _ = std::fs::remove_file(&socket);
    // Let the writers flush the quit event to the windows.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

/// Focus the open window, or start the window process.
fn open_window(hub: &Hub) {
    if hub.windows.load(Ordering::SeqCst) > 0 {
        hub.push(FOCUS_EVENT, &Value::Null);
        return;
    }
    let Some(program) = window_program() else {
        tracing::error!("cannot find the window program");
        return;
    };
    match tokio::process::Command::new(&program).kill_on_drop(false).spawn() {
        Ok(mut child) => {
            // Reaped when it exits (the window closed).
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => tracing::error!(program = %program.display(), error = %e, "cannot start the window"),
    }
}

fn reply_line(id: u64, result: Result<Value, UiError>) -> String {
    serde_json::to_string(&ToWindow::Reply { id, result }).unwrap_or_else(|e| {
        format!(r#"{{"t":"reply","id":{id},"result":{{"Err":{{"kind":"internal","field":null,"message":"reply not encodable: {e}"}}}}}}"#)
    })
}

/// One window's connection: its requests in, replies and events out.
async fn serve(ctl: Arc<Controller>, hub: Arc<Hub>, stream: UnixStream) {
    match stream.peer_cred() {
        Ok(c) if c.uid() == wire::uid() => {}
        Ok(c) => {
            tracing::warn!(uid = c.uid(), "refused a connection from another user");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "refused a connection: peer unknown");
            return;
        }
    }
    let (r, w) = stream.into_split();
    // Bounded both ways: a window that sends and never reads stops being read (its requests wait
    // in its socket), instead of growing this process's memory with replies and tasks.
    let (reply_tx, mut replies) = mpsc::channel::<String>(REPLY_QUEUE);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut events = hub.events.subscribe();
    let writer = tokio::spawn(async move {
        let mut w = FramedWrite::new(w, LinesCodec::new());
        loop {
            let line: Arc<str> = tokio::select! {
                r = replies.recv() => match r { Some(l) => l.into(), None => break },
                e = events.recv() => match e {
                    Ok(l) => l,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "a window is slow; UI updates skipped");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            if w.send(&*line).await.is_err() {
                break;
            }
        }
    });
    let mut attached = false;
    let mut lines = FramedRead::new(r, LinesCodec::new_with_max_length(MAX_LINE));
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(l) => l,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                tracing::warn!(max = MAX_LINE, "request longer than the limit; connection closed");
                break;
            }
            Err(LinesCodecError::Io(_)) => break,
        };
        // The line itself is never logged: a set_secret request carries a secret.
        let req = match wire::decode_request(&line) {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(error = %err.message, "malformed request skipped");
                let _ = reply_tx.send(reply_line(0, Err(err))).await;
                continue;
            }
        };
        if req.cmd == ATTACH {
            if !attached {
                attached = true;
                hub.windows.fetch_add(1, Ordering::SeqCst);
            }
            let _ = reply_tx.send(reply_line(req.id, Ok(Value::Null))).await;
            continue;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (ctl, tx) = (ctl.clone(), reply_tx.clone());
        tokio::spawn(async move {
            let args = if req.args.is_null() { dispatch::no_args() } else { req.args };
            let result = dispatch::call(&ctl, &req.cmd, args).await;
            let _ = tx.send(reply_line(req.id, result)).await;
            drop(permit);
        });
    }
    if attached {
        hub.windows.fetch_sub(1, Ordering::SeqCst);
    }
    drop(reply_tx);
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L12: before, the tray read everything such a window sent and queued every reply.
    #[tokio::test]
    async fn a_window_that_sends_and_never_reads_is_no_longer_read() {
        let home = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_dir: home.path().join("config"),
            data_dir: home.path().join("data"),
        };
        let ctl = Arc::new(Controller::new(
            paths,
            Arc::new(tether::credentials::MemoryStore::default()),
            Ok(()),
            Arc::new(super::props::NoSink),
        ));
        let (window, tray) = UnixStream::pair().unwrap();
        tokio::spawn(serve(ctl, Arc::new(Hub::new()), tray));
        let (r, mut w) = window.into_split();
        // 20,000 requests (about 1 MB), far more than the sockets' buffers hold.
        let text: String = (1..=20_000).map(|i| format!("{{\"id\":{i},\"cmd\":\"nope\"}}\n")).collect();
        let writer = tokio::spawn(async move { tokio::io::AsyncWriteExt::write_all(&mut w, text.as_bytes()).await.map(|_| w) });
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!writer.is_finished(), "the tray kept reading a window that reads no replies");
        // Once the window reads, every request is answered.
        let mut replies = FramedRead::new(r, LinesCodec::new());
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while n < 20_000 {
                match tokio::time::timeout(Duration::from_secs(20), replies.next()).await {
                    Ok(Some(Ok(_))) => n += 1,
                    _ => break,
                }
            }
            n
        });
        assert_eq!(reader.await.unwrap(), 20_000);
        assert!(writer.await.unwrap().is_ok());
    }

    #[test]
    fn a_window_that_does_not_read_holds_at_most_the_budget() {
        let hub = Hub::new();
        let _stuck = hub.events.subscribe();
        for _ in 0..100 {
            hub.push("link-update", &"x".repeat(1 << 20));
        }
        // 100 lines of 1 MiB were pushed; before the budget, all 100 (the broadcast keeps 256).
        let held: usize = hub.held.lock().unwrap().bytes();
        assert!(held <= HUB_BUDGET, "{held} bytes held");
        assert!(hub.events.len() <= HUB_BUDGET >> 20, "{} lines held", hub.events.len());
    }
}

#[cfg(test)]
#[path = "daemon_props.rs"]
mod props;
