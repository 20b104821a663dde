//! The demo's fault switch: a TCP proxy between the app's link and the demo broker that can drop
//! the link silently, take the "broker" down, or refuse the credentials, so a new user sees
//! backoff, `reconnection_failed`, recovery and both notifications within a minute or two.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// What the proxy does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    None,
    /// A silent dead link until then: nothing forwarded, nothing closed (found by keepalive).
    LinkDown { until: Instant },
    /// The broker is gone until then: connections reset, new ones refused.
    BrokerDown { until: Instant },
    /// CONNECTs are answered with CONNACK 4 (bad user name or password) until switched off.
    RefuseCredentials,
}

/// A handle on the proxy's fault mode.
#[derive(Clone)]
pub struct FaultSwitch {
    mode: Arc<watch::Sender<Fault>>,
    /// Bumped to cut every open connection.
    epoch: Arc<watch::Sender<u64>>,
    /// Ends the proxy with the demo.
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl FaultSwitch {
    /// Drop the link silently for `d` (the UI's "drop the link for 30 s").
    pub fn drop_link(&self, d: Duration) {
        self.mode.send_replace(Fault::LinkDown { until: Instant::now() + d });
    }

    /// Take the broker away for `d` (the UI's "broker outage for 2 min").
    pub fn broker_outage(&self, d: Duration) {
        self.mode.send_replace(Fault::BrokerDown { until: Instant::now() + d });
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Refuse the credentials (and cut the link so the next CONNECT meets the refusal).
    pub fn refuse_credentials(&self) {
        self.mode.send_replace(Fault::RefuseCredentials);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Back to normal now.
    pub fn clear(&self) {
        self.mode.send_replace(Fault::None);
    }

    /// The fault in force now (timed faults end on their own).
    pub fn current(&self) -> Fault {
        effective(*self.mode.borrow())
    }
}

impl Drop for FaultSwitch {
    fn drop(&mut self) {
        // The last handle ends the proxy.
        if Arc::strong_count(&self.task) == 1 {
            if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
                t.abort();
            }
        }
    }
}

fn effective(f: Fault) -> Fault {
    match f {
        Fault::LinkDown { until } | Fault::BrokerDown { until } if Instant::now() >= until => Fault::None,
        other => other,
    }
}

/// Start the proxy on a free loopback port in front of `upstream`; returns its port and switch.
pub async fn start(upstream: u16) -> std::io::Result<(u16, FaultSwitch)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (mode, mode_rx) = watch::channel(Fault::None);
    let (epoch, epoch_rx) = watch::channel(0u64);
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let fault = effective(*mode_rx.borrow());
            match fault {
                Fault::BrokerDown { .. } => drop(client),
                Fault::RefuseCredentials => {
                    tokio::spawn(refuse_connect(client));
                }
                _ => {
                    tokio::spawn(pipe(client, upstream, mode_rx.clone(), epoch_rx.clone()));
                }
            }
        }
    });
    let switch = FaultSwitch {
        mode: Arc::new(mode),
        epoch: Arc::new(epoch),
        task: Arc::new(Mutex::new(Some(task))),
    };
    Ok((port, switch))
}

/// Read the CONNECT, answer CONNACK with return code 4, close.
async fn refuse_connect(mut s: TcpStream) {
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    if matches!(read, Ok(Ok(n)) if n > 0) {
        let _ = s.write_all(&[0x20, 0x02, 0x00, 0x04]).await;
    }
}

async fn pipe(client: TcpStream, upstream: u16, mode: watch::Receiver<Fault>, mut epoch: watch::Receiver<u64>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    epoch.mark_unchanged();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let m2 = mode.clone();
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 || !forward(&mode, &mut sw, &buf[..n]).await {
                return;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = sr.read(&mut buf).await {
            if n == 0 || !forward(&m2, &mut cw, &buf[..n]).await {
                break;
            }
        }
        // The broker gave up on the silent client (its own keepalive): on a really dead link that
        // close would never reach the app either, so keep the app's socket open until the fault ends.
        let fault = effective(*m2.borrow());
        if let Fault::LinkDown { until } = fault {
            tokio::time::sleep_until(until).await;
        }
        drop(cw);
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = epoch.changed() => {}
    }
}

async fn forward(mode: &watch::Receiver<Fault>, w: &mut tokio::net::tcp::OwnedWriteHalf, data: &[u8]) -> bool {
    let fault = effective(*mode.borrow());
    match fault {
        // A dead link: swallow, and keep the socket open.
        Fault::LinkDown { .. } => true,
        _ => w.write_all(data).await.is_ok(),
    }
}
