//! A TCP fault proxy between a client and a broker, on loopback. The demo's fault switch is built
//! on it, and so is the integration-test rig: one implementation of "the link misbehaves".
//!
//! Modes: pass; refuse (accepted and reset at once, so attempts can be counted); blackhole (open
//! connections stay open but nothing is forwarded and nothing is closed: a dead link, even when
//! the broker itself gives up on the silent client); delay; refuse credentials (CONNECT answered
//! with CONNACK 4); unavailable (CONNACK 3, a refusal worth retrying). A mode can be set for a
//! while and then ends on its own. Every accepted connection is counted with its time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// New connections are accepted and reset at once (as a refusal, but countable).
    Refuse,
    /// Nothing forwarded, nothing closed: a dead link.
    Blackhole,
    /// Forward with this extra delay per chunk.
    Delay(Duration),
    /// Answer every CONNECT with CONNACK 4 (bad user name or password), then close.
    RefuseCredentials,
    /// Answer every CONNECT with CONNACK 3 (server unavailable, worth retrying), then close.
    Unavailable,
}

/// The mode and, for a timed fault, when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Setting {
    mode: Mode,
    until: Option<Instant>,
}

impl Setting {
    fn effective(self) -> Mode {
        match self.until {
            Some(t) if Instant::now() >= t => Mode::Pass,
            _ => self.mode,
        }
    }
}

pub struct FaultProxy {
    pub port: u16,
    setting: watch::Sender<Setting>,
    /// Bumped to tear down every open connection.
    epoch: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
    /// Accept times, for counting attempts inside a window.
    times: Arc<Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on a free loopback port, forwarding to `upstream` on loopback.
    pub async fn start(upstream: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (setting, setting_rx) = watch::channel(Setting {
            mode: Mode::Pass,
            until: None,
        });
        let (epoch, epoch_rx) = watch::channel(0u64);
        let accepted = Arc::new(AtomicUsize::new(0));
        let times = Arc::new(Mutex::new(Vec::new()));
        let (a, t) = (accepted.clone(), times.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                // A poisoned lock only means a panicking reader; the counts are still good.
                t.lock().unwrap_or_else(|p| p.into_inner()).push(Instant::now());
                let mode = setting_rx.borrow().effective();
                match mode {
                    Mode::Refuse => reset(client),
                    Mode::RefuseCredentials => {
                        tokio::spawn(refuse_connect(client, 4));
                    }
                    Mode::Unavailable => {
                        tokio::spawn(refuse_connect(client, 3));
                    }
                    _ => {
                        tokio::spawn(pipe(client, upstream, setting_rx.clone(), epoch_rx.clone()));
                    }
                }
            }
        });
        Ok(Self {
            port,
            setting,
            epoch,
            accepted,
            times,
            task,
        })
    }

    /// Set the mode until changed.
    pub fn set(&self, mode: Mode) {
        self.setting.send_replace(Setting { mode, until: None });
    }

    /// Set the mode for `d`, then back to pass.
    pub fn set_for(&self, mode: Mode, d: Duration) {
        self.setting.send_replace(Setting {
            mode,
            until: Some(Instant::now() + d),
        });
    }

    /// The mode in force now (a timed one ends on its own).
    pub fn mode(&self) -> Mode {
        self.setting.borrow().effective()
    }

    /// Tear down every open connection.
    pub fn reset_all(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Cut the link: open connections reset, new ones refused.
    pub fn cut(&self) {
        self.set(Mode::Refuse);
        self.reset_all();
    }

    pub fn restore(&self) {
        self.set(Mode::Pass);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connections accepted since `t`.
    pub fn connections_since(&self, t: Instant) -> usize {
        self.times
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|x| **x >= t)
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.reset_all();
    }
}

fn reset(s: TcpStream) {
    // Linger 0: close with RST, as a refusing peer would. (Zero linger never blocks on drop,
    // which is what the deprecation warns about.)
    #[allow(deprecated)]
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Read the CONNECT, answer CONNACK with return `code`, close.
async fn refuse_connect(mut s: TcpStream, code: u8) {
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    if matches!(read, Ok(Ok(n)) if n > 0) {
        let _ = s.write_all(&[0x20, 0x02, 0x00, code]).await;
    }
}

async fn pipe(client: TcpStream, upstream: u16, setting: watch::Receiver<Setting>, mut epoch: watch::Receiver<u64>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        reset(client);
        return;
    };
    epoch.mark_unchanged();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let s2 = setting.clone();
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 || !forward(&setting, &mut sw, &buf[..n]).await {
                return;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = sr.read(&mut buf).await {
            if n == 0 || !forward(&s2, &mut cw, &buf[..n]).await {
                break;
            }
        }
        // The broker gave up on the silent client (its own keepalive): on a really dead link that
        // close would never reach the client either, so keep the client's socket open as long as
        // the blackhole lasts.
        loop {
            let now = *s2.borrow();
            match (now.effective(), now.until) {
                (Mode::Blackhole, Some(until)) => tokio::time::sleep_until(until).await,
                (Mode::Blackhole, None) => tokio::time::sleep(Duration::from_millis(200)).await,
                _ => break,
            }
        }
        drop(cw);
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = epoch.changed() => {}
    }
}

async fn forward(setting: &watch::Receiver<Setting>, w: &mut tokio::net::tcp::OwnedWriteHalf, data: &[u8]) -> bool {
    let mode = setting.borrow().effective();
    match mode {
        // Swallow: the peer hears nothing, and no FIN or RST is sent.
        Mode::Blackhole => true,
        Mode::Delay(d) => {
            tokio::time::sleep(d).await;
            w.write_all(data).await.is_ok()
        }
        _ => w.write_all(data).await.is_ok(),
    }
}
