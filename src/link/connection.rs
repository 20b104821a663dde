//! Connection generations: one rumqttc client at a time and the task polling its event loop.
//!
//! The event loop is polled in its own task so that a slow connect is never cancelled by a
//! command arriving meanwhile; the supervisor says when to connect ([`Driver::go`]) and when to
//! drop the connection ([`Driver::drop_link`]). Each of those starts a new epoch, and
//! [`Driver::recv`] discards whatever an older attempt or client still had queued.

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Poll results queued between the poller and the supervisor. When the supervisor stops reading
/// (its consumer is behind), the poller waits here and stops reading the socket.
const POLL_CHANNEL: usize = 1024;

/// A poll result, tagged with the epoch of the `Go` it belongs to.
type Polled = (u64, Result<Event, ConnectionError>);

/// Orders to a poller task.
enum Ctl {
    /// Connect (afresh) and keep polling until an error; tag results with this epoch.
    Go(u64),
    /// Drop the connection now (dead link, stale data, pause) and wait for the next `Go`.
    Drop,
}

/// One rumqttc client and the task polling its event loop.
struct Conn {
    /// Where requests go (publish, subscribe, ack, disconnect).
    client: AsyncClient,
    /// Orders to the poller.
    ctl: mpsc::UnboundedSender<Ctl>,
    /// The poller; aborted with the client, so a replaced client's socket closes at once.
    task: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Closing the old client first: brokers kick duplicate client ids.
        self.task.abort();
    }
}

/// The current client (if any), the epoch, and both ends of the poll channel.
pub(crate) struct Driver {
    conn: Option<Conn>,
    /// Bumped by every `go` and `drop_link`: results of an older attempt or client are ignored.
    epoch: u64,
    poll_tx: mpsc::Sender<Polled>,
    poll_rx: mpsc::Receiver<Polled>,
}

impl Driver {
    pub(crate) fn new() -> Self {
        let (poll_tx, poll_rx) = mpsc::channel(POLL_CHANNEL);
        Self {
            conn: None,
            epoch: 0,
            poll_tx,
            poll_rx,
        }
    }

    /// The epoch of the current attempt (acknowledgements are tied to it).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The current client, for requests.
    pub(crate) fn client(&self) -> Option<&AsyncClient> {
        self.conn.as_ref().map(|c| &c.client)
    }

    pub(crate) fn has_client(&self) -> bool {
        self.conn.is_some()
    }

    /// Use a new client (the old one, if any, is closed first). It connects on the next `go`.
    pub(crate) fn replace(&mut self, client: AsyncClient, eventloop: EventLoop) {
        self.conn = None;
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(poller(eventloop, self.poll_tx.clone(), ctl_rx));
        self.conn = Some(Conn { client, ctl, task });
    }

    /// Close the client for good (before building one with other options, or at stop).
    pub(crate) fn close(&mut self) {
        self.conn = None;
    }

    /// Start a connection attempt under a new epoch.
    pub(crate) fn go(&mut self) {
        self.epoch += 1;
        if let Some(c) = &self.conn {
            let _ = c.ctl.send(Ctl::Go(self.epoch));
        }
    }

    /// Drop the connection without DISCONNECT; whatever it still has queued is ignored from here.
    pub(crate) fn drop_link(&mut self) {
        self.epoch += 1;
        if let Some(c) = &self.conn {
            let _ = c.ctl.send(Ctl::Drop);
        }
    }

    /// The next result of the current attempt. Never ends: the driver holds a sender itself.
    ///
    /// The poller ends only when its client is dropped; one that ended while its client lives
    /// died (a panic in rumqttc): that is an error for the current attempt, and the client is
    /// let go so the next attempt builds a new one (else the link would wait forever).
    pub(crate) async fn recv(&mut self) -> Result<Event, ConnectionError> {
        loop {
            let (rx, conn) = (&mut self.poll_rx, &mut self.conn);
            let died = async {
                match conn {
                    Some(c) => (&mut c.task).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = rx.recv() => match r {
                    Some((epoch, r)) if epoch == self.epoch => return r,
                    Some(_) => continue,
                    None => std::future::pending().await,
                },
                j = died => {
                    // Finished: never polled again.
                    self.conn = None;
                    let why = match j {
                        Err(e) if e.is_panic() => "it panicked",
                        _ => "it ended",
                    };
                    return Err(ConnectionError::Io(std::io::Error::other(format!("the connection task stopped ({why})"))));
                }
            }
        }
    }
}

/// Polls one event loop. Never cancels a connect for a command: only `Drop` (or a newer `Go`)
/// interrupts it.
async fn poller(mut el: EventLoop, tx: mpsc::Sender<Polled>, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
    let Some(mut epoch) = next_go(&mut ctl).await else { return };
    loop {
        forget_connection(&mut el);
        // Poll until the connection fails or the supervisor drops it.
        loop {
            tokio::select! {
                biased;
                c = ctl.recv() => match c {
                    Some(Ctl::Drop) => break,
                    // A new attempt while this one runs: start over under the new epoch.
                    Some(Ctl::Go(e)) => {
                        epoch = e;
                        forget_connection(&mut el);
                    }
                    None => return,
                },
                r = el.poll() => {
                    let failed = r.is_err();
                    if tx.send((epoch, r)).await.is_err() {
                        return;
                    }
                    if failed {
                        break;
                    }
                }
            }
        }
        forget_connection(&mut el);
        let Some(e) = next_go(&mut ctl).await else { return };
        epoch = e;
    }
}

/// Wait for the next attempt; `None` once the client is gone.
async fn next_go(ctl: &mut mpsc::UnboundedReceiver<Ctl>) -> Option<u64> {
    loop {
        match ctl.recv().await? {
            Ctl::Go(e) => return Some(e),
            Ctl::Drop => continue,
        }
    }
}

/// Drop the network connection and everything rumqttc keeps for it. Requests queued for a
/// connection that is gone are replayed by the supervisor from its registry and outbox after
/// CONNACK (rumqttc's copies would be duplicates, or mapped to the wrong outbox entries); buffered
/// events and a packet-id collision of the old connection must not leak into the next one.
fn forget_connection(el: &mut EventLoop) {
    el.clean();
    el.pending.clear();
    el.state.events.clear();
    el.state.collision = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::MqttOptions;

    #[tokio::test]
    async fn a_poller_that_dies_is_an_error_and_its_client_is_let_go() {
        let mut d = Driver::new();
        let (client, el) = AsyncClient::new(MqttOptions::new("t", "127.0.0.1", 1), 10);
        d.replace(client, el);
        d.go();
        // As a panic in rumqttc would end it.
        if let Some(c) = &d.conn {
            c.task.abort();
        }
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                // The refused connect of the attempt may come first.
                match d.recv().await {
                    Err(ConnectionError::Io(e)) if e.to_string().contains("connection task") => return e,
                    _ => continue,
                }
            }
        })
        .await
        .expect("reported, not waited on forever");
        assert!(r.to_string().contains("stopped"), "{r}");
        assert!(!d.has_client(), "the next attempt builds a new client");
    }
}
