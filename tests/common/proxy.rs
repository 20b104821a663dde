//! A fault proxy between the client and the broker: pass, refuse, blackhole (no RST, nothing
//! forwarded), reset (existing connections torn down with RST), delay; it counts connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// New connections are accepted and reset at once (as a refusal, but countable).
    Refuse,
    /// Connections stay open but nothing is forwarded, and nothing is closed: a dead link.
    Blackhole,
    /// Forward with this extra delay per chunk.
    Delay(Duration),
}

pub struct FaultProxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Bumped to tear down every existing connection.
    epoch: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
    /// Accept times, for counting attempts inside a window.
    times: Arc<Mutex<Vec<std::time::Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        let (epoch, epoch_rx) = watch::channel(0u64);
        let accepted = Arc::new(AtomicUsize::new(0));
        let times = Arc::new(Mutex::new(Vec::new()));
        let (a, t) = (accepted.clone(), times.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                t.lock().unwrap().push(std::time::Instant::now());
                let mode = *mode_rx.borrow();
                if mode == Mode::Refuse {
                    reset(client);
                    continue;
                }
                tokio::spawn(pipe(client, upstream, mode_rx.clone(), epoch_rx.clone()));
            }
        });
        Self {
            port,
            mode,
            epoch,
            accepted,
            times,
            task,
        }
    }

    pub fn set(&self, m: Mode) {
        self.mode.send_replace(m);
    }

    /// Tear down every open connection with RST.
    pub fn reset_all(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Cut the link: existing connections reset, new ones refused.
    pub fn cut(&self) {
        self.set(Mode::Refuse);
        self.reset_all();
    }

    pub fn restore(&self) {
        self.set(Mode::Pass);
    }

    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn connections_since(&self, t: std::time::Instant) -> usize {
        self.times.lock().unwrap().iter().filter(|x| **x >= t).count()
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

async fn pipe(client: TcpStream, upstream: u16, mode: watch::Receiver<Mode>, mut epoch: watch::Receiver<u64>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        reset(client);
        return;
    };
    epoch.mark_unchanged();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (m1, m2) = (mode.clone(), mode);
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if !forward(&m1, &mut sw, &buf[..n]).await {
                return;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if !forward(&m2, &mut cw, &buf[..n]).await {
                return;
            }
        }
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = epoch.changed() => {}
    }
    // Dropping the halves here closes both sockets; a reset was asked for by the epoch bump,
    // and the client sees its connection die either way.
}

async fn forward(mode: &watch::Receiver<Mode>, w: &mut tokio::net::tcp::OwnedWriteHalf, data: &[u8]) -> bool {
    let m = *mode.borrow();
    match m {
        // Swallow: the peer hears nothing, and no FIN or RST is sent.
        Mode::Blackhole => true,
        Mode::Delay(d) => {
            tokio::time::sleep(d).await;
            w.write_all(data).await.is_ok()
        }
        Mode::Pass | Mode::Refuse => w.write_all(data).await.is_ok(),
    }
}
