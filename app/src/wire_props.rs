//! Property tests of the socket's line protocol: the tray process's request decoder and the
//! window's reader take any line without panic; requests and messages cross it unchanged; a line
//! the window cannot use is skipped and the next one read, so one bad line never looks like the
//! tray process going away.

use super::*;
use crate::props_support::{any_text, json};
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Encoder;

/// At most 256 cases (fewer where a case moves megabytes): each suite stays within a few seconds
/// in a debug build.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Shrunk failures are printed; no regression files are written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn value() -> BoxedStrategy<Value> {
    let key = prop_oneof![
        prop::sample::select(&["id", "cmd", "args", "t", "result", "Ok", "Err", "event", "payload"][..]).prop_map(String::from),
        any_text(8),
    ];
    json(key.boxed(), any_text(16))
}

fn ui_error() -> impl Strategy<Value = UiError> {
    (any_text(12), prop::option::of(any_text(12)), any_text(40)).prop_map(|(kind, field, message)| UiError { kind, field, message })
}

/// The column a `decode_request` error names, when the message is exactly the one promised.
fn promised_column(message: &str) -> Option<usize> {
    message
        .strip_prefix("malformed request at column ")?
        .strip_suffix(": not a command object")?
        .parse()
        .ok()
}

/// What a window might send: any text, any JSON, near-requests, and very long lines.
fn request_line() -> impl Strategy<Value = String> {
    prop_oneof![
        any_text(64),
        value().prop_map(|v| v.to_string()),
        (value(), value(), value()).prop_map(|(id, cmd, args)| serde_json::json!({"id": id, "cmd": cmd, "args": args}).to_string()),
        (any::<u64>(), any_text(12)).prop_map(|(id, cmd)| format!("{{\"id\":{id},\"cmd\":{}", serde_json::json!(cmd))),
        (0..200_000usize, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

#[test]
fn any_line_decodes_to_a_command_object_or_a_bad_request_that_never_quotes_it() {
    proptest!(config(256), |(line in request_line())| {
        match decode_request(&line) {
            Ok(req) => {
                // Only a command object is a request, and it says what the object says.
                let v: Value = serde_json::from_str(&line).expect("a request is JSON");
                prop_assert_eq!(v.get("id").and_then(Value::as_u64), Some(req.id));
                prop_assert_eq!(v.get("cmd").and_then(Value::as_str), Some(req.cmd.as_str()));
                prop_assert_eq!(v.get("args").unwrap_or(&Value::Null), &req.args);
            }
            Err(e) => {
                prop_assert_eq!(e.kind.as_str(), "bad_request");
                // The message is the fixed sentence and a column: nothing of the line (a
                // `set_secret` request carries a secret), and a place within it.
                let column = promised_column(&e.message);
                prop_assert!(column.is_some_and(|c| c <= line.len() + 1), "{}", e.message);
            }
        }
    });
}

#[test]
fn a_request_encodes_to_one_line_and_decodes_equal() {
    proptest!(config(256), |(id in any::<u64>(), cmd in any_text(40), args in value())| {
        // What `Client::call` sends.
        let line = serde_json::to_string(&Request { id, cmd: cmd.clone(), args: args.clone() }).unwrap();
        prop_assert!(!line.contains('\n'), "a request must be one line: {:?}", line);
        // Through the codec both ends use, and the tray process's decoder.
        let mut buf = BytesMut::new();
        LinesCodec::new().encode(&line, &mut buf).unwrap();
        let got = LinesCodec::new_with_max_length(MAX_LINE).decode(&mut buf).unwrap();
        prop_assert_eq!(got.as_deref(), Some(line.as_str()));
        let req = decode_request(&line).unwrap();
        prop_assert_eq!((req.id, req.cmd, req.args), (id, cmd, args));
    });
}

/// One line from the tray process.
#[derive(Debug, Clone)]
enum Frame {
    Event {
        event: String,
        payload: Value,
    },
    /// A reply to the frame's own id; `awaited`: a caller waits for it.
    Reply {
        awaited: bool,
        result: Result<Value, UiError>,
    },
    /// Text that is not a message (skipped).
    Garbage(String),
}

fn frame() -> impl Strategy<Value = Frame> {
    let garbage = prop_oneof![
        any_text(40),
        value().prop_map(|v| v.to_string()),
        (any_text(8), value()).prop_map(|(t, v)| serde_json::json!({"t": t, "event": v, "payload": v}).to_string()),
        value().prop_map(|v| serde_json::json!({"t": "reply", "id": v, "result": v}).to_string()),
    ]
    .prop_map(|g| g.replace('\n', " "))
    .prop_filter("a message", |g| serde_json::from_str::<ToWindow>(g).is_err());
    prop_oneof![
        (any_text(16), value()).prop_map(|(event, payload)| Frame::Event { event, payload }),
        (any::<bool>(), prop_oneof![value().prop_map(Ok), ui_error().prop_map(Err)])
            .prop_map(|(awaited, result)| Frame::Reply { awaited, result }),
        garbage.prop_map(Frame::Garbage),
    ]
}

fn encode(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| match f {
            Frame::Event { event, payload } => serde_json::to_string(&ToWindow::Event {
                event: event.clone(),
                payload: payload.clone(),
            })
            .unwrap(),
            Frame::Reply { result, .. } => serde_json::to_string(&ToWindow::Reply {
                id: i as u64,
                result: result.clone(),
            })
            .unwrap(),
            Frame::Garbage(g) => g.clone(),
        })
        .collect()
}

/// A caller that waits for an id no reply ever carries.
const UNANSWERED: u64 = u64::MAX;

/// What the window's reader passed on, while the pipe was open and after it closed.
struct Heard {
    events: Vec<(String, Value)>,
    replies: HashMap<u64, Result<Value, UiError>>,
    /// Whatever `push` got after the pipe closed: `Closed` only.
    after_close: Vec<String>,
    /// The caller that got no reply was failed when the pipe closed.
    unanswered_failed: bool,
}

/// Feed `bytes` to the window's reader through a pipe held open like a live socket (so nothing
/// is read only because the stream ended), wait for `events` events and the `awaited` replies,
/// then close the pipe.
fn hear(bytes: Vec<u8>, awaited: &[u64], events: usize) -> Heard {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pending: Pending = Arc::default();
        let mut waiting = HashMap::new();
        for &id in awaited.iter().chain([&UNANSWERED]) {
            let (tx, rx) = oneshot::channel();
            pending.lock().unwrap().insert(id, tx);
            waiting.insert(id, rx);
        }
        let (push, mut pushed) = mpsc::unbounded_channel();
        let (mut tray, window) = tokio::io::duplex(64 << 10);
        let (close, closing) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // The reader may stop first (a line that is not UTF-8).
            let _ = tray.write_all(&bytes).await;
            // Held open like a live socket until the test has heard everything.
            let _ = closing.await;
        });
        tokio::spawn(read_from_tray(window, pending, push));
        let within = |what: &'static str| move |_| format!("nothing heard in time: {what}");
        let bound = Duration::from_secs(20);
        let mut heard = Heard {
            events: Vec::new(),
            replies: HashMap::new(),
            after_close: Vec::new(),
            unanswered_failed: false,
        };
        while heard.events.len() < events {
            match tokio::time::timeout(bound, pushed.recv())
                .await
                .map_err(within("an event"))
                .unwrap()
            {
                Some(Pushed::Event { event, payload }) => heard.events.push((event, payload)),
                other => {
                    heard.after_close.push(format!("{other:?} before every event arrived"));
                    break;
                }
            }
        }
        for &id in awaited {
            let rx = waiting.remove(&id).unwrap();
            if let Ok(Ok(r)) = tokio::time::timeout(bound, rx).await {
                heard.replies.insert(id, r);
            }
        }
        drop(close);
        while let Some(p) = tokio::time::timeout(bound, pushed.recv()).await.map_err(within("the end")).unwrap() {
            heard.after_close.push(format!("{p:?}"));
        }
        heard.unanswered_failed = waiting.remove(&UNANSWERED).unwrap().await.is_err();
        heard
    })
}

fn check(frames: &[Frame], heard: &Heard) -> Result<(), TestCaseError> {
    let events: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Event { event, payload } => Some((event.clone(), payload.clone())),
            _ => None,
        })
        .collect();
    prop_assert_eq!(&heard.events, &events, "every event, in order");
    for (i, f) in frames.iter().enumerate() {
        if let Frame::Reply { awaited: true, result } = f {
            prop_assert_eq!(heard.replies.get(&(i as u64)), Some(result), "the reply to {}", i);
        }
    }
    prop_assert_eq!(&heard.after_close, &vec!["Closed".to_string()], "closed once, at the end");
    prop_assert!(heard.unanswered_failed, "a caller still waiting fails when the tray goes");
    Ok(())
}

fn awaited(frames: &[Frame]) -> Vec<u64> {
    (0..frames.len() as u64)
        .filter(|&i| matches!(frames[i as usize], Frame::Reply { awaited: true, .. }))
        .collect()
}

#[test]
fn what_the_tray_sends_reaches_the_window_in_order_past_lines_it_cannot_read() {
    proptest!(config(128), |(frames in prop::collection::vec(frame(), 0..12), crlf in any::<bool>())| {
        let nl = if crlf { "\r\n" } else { "\n" };
        let bytes = encode(&frames).iter().map(|l| format!("{l}{nl}")).collect::<String>().into_bytes();
        let events = frames.iter().filter(|f| matches!(f, Frame::Event { .. })).count();
        check(&frames, &hear(bytes, &awaited(&frames), events))?;
    });
}

/// An event line of exactly `len` bytes (its payload padded).
fn event_of_len(len: usize) -> String {
    let bare = serde_json::to_string(&ToWindow::Event {
        event: "big".into(),
        payload: Value::String(String::new()),
    })
    .unwrap();
    let line = serde_json::to_string(&ToWindow::Event {
        event: "big".into(),
        payload: Value::String("x".repeat(len - bare.len())),
    })
    .unwrap();
    assert_eq!(line.len(), len);
    line
}

#[test]
fn a_line_over_max_line_is_skipped_and_the_next_one_read() {
    // Lines of 4 MiB: few cases, each at or just past the limit, or well past it.
    let len = prop_oneof![MAX_LINE - 2..=MAX_LINE + 2, MAX_LINE + 3..MAX_LINE + (3 << 20)];
    proptest!(config(12), |(len in len, before in prop::collection::vec(frame(), 0..3), after in prop::collection::vec(frame(), 1..4))| {
        let mut frames = before;
        let big = frames.len();
        frames.push(Frame::Garbage(String::new()));
        frames.extend(after);
        let mut lines = encode(&frames);
        lines[big] = event_of_len(len);
        if len <= MAX_LINE {
            frames[big] = Frame::Event { event: "big".into(), payload: serde_json::from_str::<Value>(&lines[big]).unwrap()["payload"].clone() };
        }
        let bytes = lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes();
        let events = frames.iter().filter(|f| matches!(f, Frame::Event { .. })).count();
        check(&frames, &hear(bytes, &awaited(&frames), events))?;
    });
}

#[test]
fn a_line_that_is_not_utf8_ends_the_connection_without_panic() {
    // The tray process only writes JSON from serde: such a line means the stream is not ours
    // any more, and the window is told the tray is gone (its callers fail) instead of guessing.
    let junk = (
        any_text(8),
        prop::collection::vec(any::<u8>().prop_filter("a newline", |&b| b != b'\n'), 0..8),
    );
    proptest!(config(64), |(frames in prop::collection::vec(frame(), 0..6), (text, junk) in junk, after in frame())| {
        let mut bytes = encode(&frames).iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes();
        // 0xFF is never UTF-8, wherever it stands.
        bytes.extend_from_slice(text.replace('\n', " ").as_bytes());
        bytes.push(0xFF);
        bytes.extend_from_slice(&junk);
        bytes.extend_from_slice(format!("\n{}\n", encode(&[after])[0]).as_bytes());
        let events = frames.iter().filter(|f| matches!(f, Frame::Event { .. })).count();
        let heard = hear(bytes, &[], events);
        let want: Vec<_> = frames.iter().filter_map(|f| match f {
            Frame::Event { event, payload } => Some((event.clone(), payload.clone())),
            _ => None,
        }).collect();
        prop_assert_eq!(&heard.events, &want);
        prop_assert_eq!(&heard.after_close, &vec!["Closed".to_string()]);
        prop_assert!(heard.unanswered_failed);
    });
}

/// Found by `a_line_over_max_line_is_skipped_and_the_next_one_read`: after a line over the limit
/// the reader ended as if the tray process had gone, so the window showed it gone while it ran.
#[test]
fn a_reply_after_a_line_over_max_line_still_arrives() {
    let long = format!("{{\"t\":\"event\",\"event\":\"big\",\"payload\":\"{}\"}}\n", "x".repeat(MAX_LINE));
    let reply = serde_json::to_string(&ToWindow::Reply {
        id: 7,
        result: Ok(Value::Bool(true)),
    })
    .unwrap();
    let heard = hear(format!("{long}{reply}\n").into_bytes(), &[7], 0);
    assert_eq!(heard.replies.get(&7), Some(&Ok(Value::Bool(true))));
    assert_eq!(heard.after_close, ["Closed"]);
}
