//! The tray process's local socket (Unix): where it lives, who may use it, what crosses it, and
//! the client the window process uses.
//!
//! One JSON object per line. The window sends `{"id", "cmd", "args"}`; the tray process answers
//! `{"t":"reply","id","result":{"Ok":…}|{"Err":UiError}}` and pushes `{"t":"event","event",
//! "payload"}` (`link-update`, `device-status`, and `focus` / `quit` for the window itself).
//! The socket sits in a 0700 directory of the user's runtime dir and is 0600; the server also
//! checks the peer's uid. A secret (`set_secret`) crosses it once, like Tauri IPC, and is never logged.

use crate::ipc::UiError;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, FramedRead, FramedWrite, LinesCodec, LinesCodecError};

/// The longest line either side accepts. A UI batch is capped at `Limits::max_bytes` (1 MiB) of
/// JSON, and the envelope around it is small.
pub const MAX_LINE: usize = 4 << 20;
/// A window that sends this is counted as open (the tray's Open then focuses it).
pub const ATTACH: &str = "attach_window";
/// Events for the window process itself.
pub const FOCUS_EVENT: &str = "focus";
pub const QUIT_EVENT: &str = "quit";

#[derive(Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub cmd: String,
    #[serde(default)]
    pub args: Value,
}

/// Without the arguments: `set_secret`'s carry a password, and a `?req` in a log must not.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("cmd", &self.cmd)
            .field("args", &format_args!("<{} bytes>", self.args.to_string().len()))
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ToWindow {
    Reply { id: u64, result: Result<Value, UiError> },
    Event { event: String, payload: Value },
}

/// The current user's id (the socket's owner and the only peer let in).
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Where the socket lives: `TETHER_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/tether`, else
/// `tether/run` in the user's cache directory (`$XDG_CACHE_HOME`, `~/.cache`), and only without
/// a home a per-user directory in the temp dir (where another user could take the name first).
pub fn runtime_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    pick_runtime_dir(
        var("TETHER_RUNTIME_DIR"),
        var("XDG_RUNTIME_DIR"),
        var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache"))),
        std::env::temp_dir(),
        uid(),
    )
}

fn pick_runtime_dir(tether: Option<PathBuf>, xdg_runtime: Option<PathBuf>, cache: Option<PathBuf>, temp: PathBuf, uid: u32) -> PathBuf {
    tether
        .or_else(|| xdg_runtime.map(|d| d.join("tether")))
        .or_else(|| cache.map(|c| c.join("tether").join("run")))
        .unwrap_or_else(|| temp.join(format!("tether-{uid}")))
}

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("tether.sock")
}

/// Create `dir` as 0700, or check that an existing one is ours and nobody else's.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // Not followed if it is a symlink: one planted there would move the socket elsewhere.
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is a symbolic link; remove it", dir.display()),
        ));
    }
    if meta.uid() != uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} belongs to another user", dir.display()),
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Something the tray process pushed.
#[derive(Debug, Clone)]
pub enum Pushed {
    Event {
        event: String,
        payload: Value,
    },
    /// The tray process went away (Quit, or it died): the window has nothing left to show.
    Closed,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, UiError>>>>>;

/// The window process's end of the socket.
pub struct Client {
    next: AtomicU64,
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
}

/// Decode one request line from a window. The error says where, never what: a `set_secret`
/// request carries a secret.
pub fn decode_request(line: &str) -> Result<Request, UiError> {
    let bad = |column: usize| UiError::new("bad_request", format!("malformed request at column {column}: not a command object"));
    // serde takes a struct from a JSON array too (`[0,"cmd"]`): only an object is a request.
    if !line.trim_start().starts_with('{') {
        return Err(bad(line.len() - line.trim_start().len() + 1));
    }
    serde_json::from_str(line).map_err(|e| bad(e.column()))
}

/// Lines of at most [`MAX_LINE`], a longer one given as `None` rather than as an error:
/// `FramedRead` ends its stream after any decoder error, while the codec itself reads on from
/// the next newline.
struct SkipLong(LinesCodec);

impl Decoder for SkipLong {
    type Item = Option<String>;
    type Error = LinesCodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.0.decode(buf) {
            Err(LinesCodecError::MaxLineLengthExceeded) => Ok(Some(None)),
            other => other.map(|line| line.map(Some)),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.0.decode_eof(buf) {
            Err(LinesCodecError::MaxLineLengthExceeded) => Ok(Some(None)),
            other => other.map(|line| line.map(Some)),
        }
    }
}

/// The window's reader: replies go to their callers, events to `push`, until the tray process
/// goes away (then everything still waiting fails, and `push` gets `Closed`).
async fn read_from_tray(r: impl AsyncRead + Unpin, pending: Pending, push: mpsc::UnboundedSender<Pushed>) {
    let mut r = FramedRead::new(r, SkipLong(LinesCodec::new_with_max_length(MAX_LINE)));
    while let Some(line) = r.next().await {
        let line = match line {
            Ok(Some(line)) => line,
            // One line too long is skipped; it is not the tray process going away.
            Ok(None) => {
                tracing::warn!(max = MAX_LINE, "a message from the tray process was too long; skipped");
                continue;
            }
            Err(_) => break,
        };
        match serde_json::from_str::<ToWindow>(&line) {
            Ok(ToWindow::Reply { id, result }) => {
                if let Some(tx) = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
                    let _ = tx.send(result);
                }
            }
            Ok(ToWindow::Event { event, payload }) => {
                let _ = push.send(Pushed::Event { event, payload });
            }
            Err(e) => tracing::warn!(error = %e, "unreadable message from the tray process; skipped"),
        }
    }
    // Fail whatever is still waiting, then say the other side is gone.
    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let _ = push.send(Pushed::Closed);
}

/// How long a command may take (a keychain unlock prompt may sit in front of `set_secret`).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

fn unavailable(why: impl std::fmt::Display) -> UiError {
    UiError::new("backend_unavailable", format!("Tether's tray process is not answering: {why}"))
}

impl Client {
    /// Connect to the socket at `path`; what the tray process pushes arrives on the receiver.
    pub async fn connect(path: &Path) -> io::Result<(Client, mpsc::UnboundedReceiver<Pushed>)> {
        let stream = UnixStream::connect(path).await?;
        let (r, w) = stream.into_split();
        let pending: Pending = Arc::default();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        let (push, push_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut w = FramedWrite::new(w, LinesCodec::new());
            while let Some(line) = out_rx.recv().await {
                if w.send(line).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(read_from_tray(r, pending.clone(), push));
        Ok((
            Client {
                next: AtomicU64::new(1),
                out,
                pending,
            },
            push_rx,
        ))
    }

    /// Run `cmd` in the tray process.
    pub async fn call(&self, cmd: &str, args: Value) -> Result<Value, UiError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tx);
        let line = serde_json::to_string(&Request {
            id,
            cmd: cmd.to_string(),
            args,
        })
        .map_err(|e| UiError::new("internal", format!("request not encodable: {e}")))?;
        if self.out.send(line).is_err() {
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return Err(unavailable("the connection is closed"));
        }
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(unavailable("the connection closed")),
            Err(_) => {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                Err(unavailable(format!("no reply to {cmd} within {} s", CALL_TIMEOUT.as_secs())))
            }
        }
    }
}

#[cfg(test)]
#[path = "wire_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_runtime_dir_the_socket_goes_to_the_users_cache_not_the_shared_temp_dir() {
        let p = |t: Option<&str>, x: Option<&str>, c: Option<&str>| {
            pick_runtime_dir(
                t.map(PathBuf::from),
                x.map(PathBuf::from),
                c.map(PathBuf::from),
                "/tmp".into(),
                1000,
            )
        };
        assert_eq!(p(Some("/t"), Some("/run/user/1000"), None), PathBuf::from("/t"));
        assert_eq!(
            p(None, Some("/run/user/1000"), Some("/h/.cache")),
            PathBuf::from("/run/user/1000/tether")
        );
        assert_eq!(p(None, None, Some("/h/.cache")), PathBuf::from("/h/.cache/tether/run"));
        assert_eq!(p(None, None, None), PathBuf::from("/tmp/tether-1000"));
    }

    #[test]
    fn a_runtime_dir_that_is_a_symlink_or_another_users_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = prepare_dir(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        prepare_dir(&real).expect("our own directory");
        if uid() == 0 {
            // As root (CI) the test can make a directory that belongs to someone else.
            let theirs = t.path().join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let e = prepare_dir(&theirs).unwrap_err();
            assert!(e.to_string().contains("another user"), "{e}");
        }
    }

    #[test]
    fn a_request_in_a_log_never_shows_its_arguments() {
        let r = decode_request(r#"{"id":3,"cmd":"set_secret","args":{"profile":"home","secret":"hunter2-s3cr3t"}}"#).unwrap();
        let shown = format!("{r:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("set_secret") && shown.contains("bytes"), "{shown}");
    }
}
