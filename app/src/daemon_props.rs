//! Property test of the tray process's end of the socket: whatever lines a window sends, each
//! gets one reply (a malformed one a `bad_request` at id 0), and a line over [`MAX_LINE`] or not
//! UTF-8 closes the connection, as `serve` documents, with the window no longer counted.

use super::*;
use crate::props_support::any_text;
use proptest::prelude::*;
use tether::credentials::MemoryStore;

/// Lines of 4 MiB in some cases: 32 cases stay within a few seconds in a debug build.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 32,
        // Shrunk failures are printed; no regression files are written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

pub(super) struct NoSink;

impl Sink for NoSink {
    fn batch(&self, _: &Batch) {}
    fn device(&self, _: &DeviceStatus) {}
    fn state(&self, _: &str, _: &LinkState) {}
    fn notify(&self, _: &Notification) {}
}

/// A line a window sends; none of them reaches the controller's state.
#[derive(Debug, Clone)]
enum Sent {
    /// Not a request.
    Garbage(String),
    Attach,
    /// A request for a command that does not exist.
    Unknown(String),
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        any_text(40)
            .prop_map(|g| g.replace('\n', " "))
            .prop_filter("a request", |g| wire::decode_request(g).is_err())
            .prop_map(Sent::Garbage),
        Just(Sent::Attach),
        any_text(60)
            .prop_filter("a command", |c| c != ATTACH && !dispatch::COMMANDS.contains(&c.as_str()))
            .prop_map(Sent::Unknown),
    ]
}

/// How the window's last line ends the connection.
#[derive(Debug, Clone)]
enum End {
    TooLong(usize),
    NotUtf8(Vec<u8>),
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        (1..(1usize << 20)).prop_map(End::TooLong),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(End::NotUtf8),
    ]
}

#[test]
fn each_line_gets_one_reply_and_a_line_too_long_or_not_utf8_closes_the_connection() {
    let home = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_dir: home.path().join("config"),
        data_dir: home.path().join("data"),
    };
    let ctl = Arc::new(Controller::new(paths, Arc::new(MemoryStore::default()), Ok(()), Arc::new(NoSink)));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let bound = Duration::from_secs(20);
    proptest!(config(), |(lines in prop::collection::vec(sent(), 0..10), end in end())| {
        rt.block_on(async {
            let hub = Arc::new(Hub::new());
            let (window, tray) = UnixStream::pair().unwrap();
            tokio::spawn(serve(ctl.clone(), hub.clone(), tray));
            let (r, mut w) = window.into_split();
            let mut replies = FramedRead::new(r, LinesCodec::new());
            let mut want = Vec::new();
            let mut text = String::new();
            for (i, l) in lines.iter().enumerate() {
                let id = i as u64 + 1;
                let (line, reply) = match l {
                    Sent::Garbage(g) => (g.clone(), (0, false)),
                    Sent::Attach => (serde_json::json!({"id": id, "cmd": ATTACH}).to_string(), (id, true)),
                    Sent::Unknown(c) => (serde_json::json!({"id": id, "cmd": c, "args": {}}).to_string(), (id, false)),
                };
                text += &line;
                text.push('\n');
                want.push(reply);
            }
            tokio::io::AsyncWriteExt::write_all(&mut w, text.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            for _ in 0..want.len() {
                let line = tokio::time::timeout(bound, replies.next()).await.expect("a reply in time");
                let line = line.expect("a reply, not the end").unwrap();
                match serde_json::from_str::<ToWindow>(&line).unwrap() {
                    ToWindow::Reply { id, result: Ok(v) } => {
                        prop_assert_eq!(v, Value::Null);
                        got.push((id, true));
                    }
                    ToWindow::Reply { id, result: Err(e) } => {
                        prop_assert_eq!(e.kind.as_str(), "bad_request");
                        let what = if id == 0 { "malformed request at column " } else { "no such command: " };
                        prop_assert!(e.message.starts_with(what), "{}", e.message);
                        got.push((id, false));
                    }
                    other => prop_assert!(false, "not a reply: {:?}", other),
                }
            }
            // Commands run on their own tasks: replies may come in any order.
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
            let attached = lines.iter().any(|l| matches!(l, Sent::Attach));
            prop_assert_eq!(hub.windows.load(Ordering::SeqCst), usize::from(attached), "one window, counted once");

            let last = match &end {
                End::TooLong(extra) => vec![b'x'; MAX_LINE + extra],
                End::NotUtf8(junk) => [&b"{\"id\":1,"[..], &[0xFF], junk].concat(),
            };
            // The tray process may stop reading (and close) before all of it is written.
            tokio::spawn(async move {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut w, &last).await;
                let _ = tokio::io::AsyncWriteExt::write_all(&mut w, b"\n{\"id\":99,\"cmd\":\"attach_window\"}\n").await;
            });
            let next = tokio::time::timeout(bound, replies.next()).await.expect("closed in time");
            // Linux may report the close as a reset (the tray left bytes unread): either way, no
            // more replies.
            prop_assert!(!matches!(next, Some(Ok(_))), "a reply after the bad line: {:?}", next);
            prop_assert_eq!(hub.windows.load(Ordering::SeqCst), 0, "a closed window is not counted");
            Ok(())
        })?;
    });
}
