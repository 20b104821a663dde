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
    pub(crate) async fn recv(&mut self) -> Result<Event, ConnectionError> {
        loop {
            match self.poll_rx.recv().await {
                Some((epoch, r)) if epoch == self.epoch => return r,
                Some(_) => continue,
                None => std::future::pending().await,
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
