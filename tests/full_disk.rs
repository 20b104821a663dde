//! A full disk under the outbox: the `tether` CLI's data directory is a small tmpfs in a mount
//! namespace the test makes (needs root / CAP_SYS_ADMIN, as CI runs). A publish the disk has no
//! room for is refused clearly, and every publish that was accepted goes out once there is room
//! and a broker again: nothing accepted is lost, nothing refused is sent.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tether");

/// A mount namespace of the test's own, kept alive by a `sleep` in it, with a small tmpfs on
/// `dir`. Only commands started through [`MountNs::cmd`] see the tmpfs; the tmpfs goes with the
/// namespace when the holder is killed (on drop).
struct MountNs {
    holder: Child,
    dir: PathBuf,
}

impl MountNs {
    fn with_tmpfs(dir: &Path, size: &str) -> Self {
        let needs = "this test makes a mount namespace with a tmpfs in it and needs root (CAP_SYS_ADMIN), as CI runs it";
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{needs}: `unshare` (util-linux) does not run: {e}"));
        // `unshare` makes the namespace, then becomes `sleep` (same pid): wait for the first.
        let ours = std::fs::read_link("/proc/self/ns/mnt").expect("/proc/self/ns/mnt");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(st) = holder.try_wait().expect("wait for unshare") {
                let mut err = String::new();
                if let Some(mut e) = holder.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("{needs}: `unshare --mount` exited with {st}: {}", err.trim());
            }
            let theirs = std::fs::read_link(format!("/proc/{}/ns/mnt", holder.id()));
            if theirs.is_ok_and(|t| t != ours) {
                break;
            }
            if Instant::now() > deadline {
                let _ = holder.kill();
                let _ = holder.wait();
                panic!("{needs}: no new mount namespace within 5 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let ns = Self {
            holder,
            dir: dir.to_path_buf(),
        };
        let out = ns
            .cmd("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("nsenter runs");
        assert!(
            out.status.success(),
            "{needs}: mounting a tmpfs on {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        ns
    }

    /// `program` run inside the namespace.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.id().to_string(), "-m", "--", program]);
        c
    }

    /// Bytes free on the tmpfs.
    fn available(&self) -> u64 {
        let out = self
            .cmd("df")
            .args(["-B1", "--output=avail"])
            .arg(&self.dir)
            .output()
            .expect("df runs");
        assert!(out.status.success(), "df: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("df output: {text}"))
    }

    /// Run `program args` in the namespace; it must succeed.
    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self.cmd(program).args(args).output().expect("nsenter runs");
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A `tether` command inside the namespace, with its own config dir (outside the tmpfs) and its
/// data dir (where the outbox lives) on the tmpfs.
fn tether(ns: &MountNs, home: &Path) -> Command {
    let mut c = ns.cmd(BIN);
    c.env("TETHER_CONFIG_DIR", home.join("config"))
        .env("TETHER_DATA_DIR", &ns.dir)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("TETHER_LOG");
    c
}

fn text(o: &Output) -> (Option<i32>, String) {
    (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
}

/// A numbered payload of 1 KiB.
fn payload(i: usize) -> String {
    let mut p = format!("m{i:04}-");
    p.extend(std::iter::repeat_n('x', 1024 - p.len()));
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_outbox_refuses_clearly_and_loses_nothing_accepted() {
    let started = Instant::now();
    let broker = Broker::start(BrokerOptions::default());
    // The profile's broker is "down": the proxy in front of the real one refuses connections.
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    proxy.set(Mode::Refuse);
    let topic = unique("fulldisk");
    // Subscribed (QoS 1) before the first publish, straight to the broker: it sees everything.
    let observer = Observer::start(broker.port, &topic);

    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let ns = MountNs::with_tmpfs(&data, "512k");
    let outbox_dir = data.join("outbox");

    let out = tether(&ns, home.path())
        .args(["profile", "add", "dev", &format!("mqtt://127.0.0.1:{}", proxy.port)])
        .args(["--initial-reconnect-delay", "0.1", "--max-reconnect-delay", "0.3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);

    let publish = |p: &str| {
        let out = tether(&ns, home.path())
            .args(["pub", "--profile", "dev", &topic, p, "--timeout", "0.3"])
            .output()
            .unwrap();
        text(&out)
    };
    let queued = |code: Option<i32>, err: &str| code == Some(3) && err.contains("stay queued");
    let mut accepted: Vec<String> = Vec::new();
    let mut stderrs: Vec<String> = Vec::new();

    // A few with room to spare: the outbox file exists and holds them.
    let mut i = 0;
    while i < 3 {
        let p = payload(i);
        let (code, err) = publish(&p);
        assert!(queued(code, &err), "queued, not delivered: exit {code:?}: {err}");
        accepted.push(p);
        stderrs.push(err);
        i += 1;
    }

    // Fill the tmpfs but for a little.
    let left = 8 * 1024;
    let avail = ns.available();
    assert!(avail > left, "the tmpfs has only {avail} bytes free");
    let filler = data.join("filler");
    ns.run("fallocate", &["-l", &(avail - left).to_string(), &filler.to_string_lossy()]);
    eprintln!("free after the filler: {} bytes", ns.available());

    // Publish until the disk refuses one (bounded in count and time).
    let fill_deadline = Instant::now() + Duration::from_secs(40);
    let refusal = loop {
        assert!(
            i < 150 && Instant::now() < fill_deadline,
            "no publish was refused after {i} publishes on a full tmpfs"
        );
        let p = payload(i);
        let (code, err) = publish(&p);
        i += 1;
        if queued(code, &err) {
            accepted.push(p);
            stderrs.push(err);
            continue;
        }
        break (p, code, err);
    };
    let (refused, code, err) = refusal;
    eprintln!("refused publish #{} after {} accepted: exit {code:?}\n{err}", i - 1, accepted.len());
    assert_eq!(
        code,
        Some(1),
        "a refusal is a runtime failure (1), not 'queued' (3) nor 'bad input' (2): {err}"
    );
    assert!(!err.contains("panicked"), "a refusal, not a panic: {err}");
    assert!(!err.contains("stay queued"), "it must not claim the message was queued: {err}");
    let lower = err.to_lowercase();
    assert!(lower.contains("not queued"), "say that the message was not queued: {err}");
    assert!(
        lower.contains("no space") || lower.contains("disk is full") || lower.contains("disk full"),
        "say why (no space left): {err}"
    );
    assert!(
        err.contains("dev.redb") || err.contains("\"dev\""),
        "name the outbox file or the profile: {err}"
    );

    // Still full: another one is refused the same way, or, where redb finds a free page inside
    // its file (the layout varies from run to run), queued like any other: never anything else.
    let again = payload(i);
    i += 1;
    let (code2, err2) = publish(&again);
    eprintln!("second publish on the full disk: exit {code2:?}\n{err2}");
    let queued_after_all = code2 == Some(3) && err2.contains("stay queued");
    assert!(
        queued_after_all || (code2 == code && err2.to_lowercase().contains("not queued")),
        "refused again, clearly, or queued: {code2:?}: {err2}"
    );
    if queued_after_all {
        accepted.push(again.clone());
    }
    stderrs.push(err);
    stderrs.push(err2);

    // Room again, and the broker back: the next publish flushes the outbox first, in order.
    ns.run("rm", &[&filler.to_string_lossy()]);
    proxy.restore();
    let last = payload(i);
    let (code, err) = {
        let out = tether(&ns, home.path())
            .args(["pub", "--profile", "dev", &topic, &last, "--timeout", "10"])
            .output()
            .unwrap();
        text(&out)
    };
    assert_eq!(code, Some(0), "delivered once the broker is back: {err}");
    stderrs.push(err);
    accepted.push(last);

    let lines = observer.wait_lines(accepted.len(), Duration::from_secs(10)).await;
    // At least once, in order: drop repeats of what was already seen, then compare.
    let firsts = first_arrivals(&lines);
    let short = |v: &[String]| v.iter().map(|s| s[..5].to_string()).collect::<Vec<_>>();
    assert!(
        firsts == accepted,
        "every accepted publish, in order: got {:?} (of {} lines), want {:?}",
        short(&firsts),
        lines.len(),
        short(&accepted)
    );
    assert!(
        !lines.contains(&refused) && (queued_after_all || !lines.contains(&again)),
        "nothing refused may be sent: {:?}",
        short(&lines)
    );

    // The outbox was never taken for corrupt and set aside (the last `pub` exited 0: it is empty).
    let listing = ns.run("ls", &["-a", &outbox_dir.to_string_lossy()]);
    assert!(!listing.contains("corrupt"), "the outbox was set aside: {listing}");
    for e in &stderrs {
        assert!(
            !e.contains("set aside") && !e.contains("unreadable") && !e.contains("dropped"),
            "{e}"
        );
    }
    eprintln!("took {:?}", started.elapsed());
}

/// The same full disk under a long-running link (the desktop app's and `tether watch`'s case):
/// one process keeps the outbox open through the full disk, so a write that failed must not leave
/// it unusable once there is room again. The test process reaches the tmpfs through the holder's
/// root (`/proc/PID/root/...`), which resolves in the holder's mount namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_link_refuses_on_a_full_disk_and_queues_again_once_there_is_room() {
    let broker = Broker::start(BrokerOptions::default());
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    proxy.set(Mode::Refuse);
    let topic = unique("fulldisk-link");
    let observer = Observer::start(broker.port, &topic);

    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let ns = MountNs::with_tmpfs(&data, "512k");
    let inside = PathBuf::from(format!("/proc/{}/root", ns.holder.id())).join(data.strip_prefix("/").unwrap());
    let outbox = inside.join("outbox").join("link.redb");

    let mut cfg = fast_config(proxy.port);
    cfg.outbox_path = Some(outbox.clone());
    let (h, _events) = start(cfg);
    let mut accepted: Vec<String> = Vec::new();
    let mut i = 0;
    let push = |i: &mut usize| {
        let p = payload(*i);
        *i += 1;
        let h = h.clone();
        let topic = topic.clone();
        async move { (h.publish(&topic, p.clone().into_bytes(), 1, false).await, p) }
    };
    for _ in 0..3 {
        let (r, p) = push(&mut i).await;
        assert!(matches!(r, Ok(tether::handle::PublishOutcome::Queued { .. })), "queued: {r:?}");
        accepted.push(p);
    }
    let avail = ns.available();
    let filler = data.join("filler");
    ns.run("fallocate", &["-l", &(avail - 8 * 1024).to_string(), &filler.to_string_lossy()]);
    let refused = loop {
        assert!(i < 150, "no publish was refused on a full tmpfs");
        let (r, p) = push(&mut i).await;
        match r {
            Ok(tether::handle::PublishOutcome::Queued { .. }) => accepted.push(p),
            Ok(other) => panic!("offline, yet {other:?}"),
            Err(e) => {
                let msg = e.to_string();
                eprintln!("refused by the link: {msg}");
                assert!(matches!(e, tether::PublishError::Storage(_)), "{e:?}");
                assert!(msg.contains("not queued") && msg.to_lowercase().contains("no space"), "{msg}");
                assert!(msg.contains("link.redb"), "names the outbox file: {msg}");
                break p;
            }
        }
    };

    // Room again: the same link queues again (a failed write did not leave the outbox unusable).
    ns.run("rm", &[&filler.to_string_lossy()]);
    let (r, p) = push(&mut i).await;
    assert!(
        matches!(r, Ok(tether::handle::PublishOutcome::Queued { .. })),
        "queued again once the disk has room: {r:?}"
    );
    accepted.push(p);

    proxy.restore();
    let lines = observer.wait_lines(accepted.len(), Duration::from_secs(15)).await;
    let firsts = first_arrivals(&lines);
    let short = |v: &[String]| v.iter().map(|s| s[..5].to_string()).collect::<Vec<_>>();
    assert!(
        firsts == accepted,
        "every accepted publish, in order: got {:?}, want {:?}",
        short(&firsts),
        short(&accepted)
    );
    assert!(!lines.contains(&refused), "nothing refused may be sent");
    h.stop().await;
    let listing = ns.run("ls", &["-a", &data.join("outbox").to_string_lossy()]);
    assert!(!listing.contains("corrupt"), "the outbox was set aside: {listing}");
}
