//! The emulator's MQTT-over-WSS front: TLS, the WebSocket upgrade checked with SigV4, then bytes
//! copied both ways to an internal plain-MQTT rumqttd on loopback (protocol doc §3 and §9).
//!
//! Why a front at all: rumqttd's own WebSocket listener ignores the upgrade request, so it can
//! check neither the path nor the presigned query, and it cannot answer 403 before the 101 as AWS
//! IoT does. The front also does what AWS IoT does and rumqttd is not asked to: it closes the
//! older connection when a client id connects again, it can drop every connection at once (the
//! `drop` command, like AWS's ~24 h drop), simulate an outage, and close each connection a fixed
//! time after its upgrade.
//!
//! The MQTT stream is not interpreted, except that the client's first bytes are peeked until its
//! CONNECT's client id is known (for the takeover); after that the copy is plain buffered I/O.
//!
//! This file holds the front's options, counters and shared state, and the accept loop; beside it,
//! [`conn`] runs one connection (the handshakes, the SigV4 check at the upgrade, the takeover
//! registry, the copy) and [`connect`] reads a CONNECT's client id from the first bytes.

mod conn;
mod connect;

use crate::navien::sigv4::{IssuedKey, VerifyError};
use conn::connection;
use http::StatusCode;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Finds an issued key by access key id (the emulator's account store answers).
pub(crate) type KeyLookup = Arc<dyn Fn(&str) -> Option<IssuedKey> + Send + Sync>;

/// The only path MQTT is served on (§3.2).
const PATH: &str = "/mqtt";
/// Bound on the TLS handshake and, separately, on the WebSocket upgrade: a client that stalls
/// must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on connecting to the internal broker, which is on loopback and answers at once.
const BROKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing connection may take to send its WebSocket Close: a client that stopped
/// reading must not delay `stop` or a `drop`.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Copy buffer per direction: one WebSocket frame per read from the broker, so an 8 kB status
/// reply spans two frames, as the protocol allows.
const BUF_SIZE: usize = 8 * 1024;
/// Most bytes kept while looking for the CONNECT's client id; a CONNECT whose id ends later is
/// forwarded without a takeover check (MQTT 3.1.1 client ids are 23 bytes or so).
const MAX_PEEK: usize = 4096;

/// How the front behaves beyond the protocol's must-haves.
#[derive(Clone, Debug, Default)]
pub(crate) struct FrontOptions {
    /// Close each connection this long after its upgrade (AWS IoT's ~24 h); `None` = never.
    pub connection_limit: Option<Duration>,
}

/// Why an upgrade was refused, as counted in [`FrontStats::refused`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Refusal {
    /// 404: a path other than `/mqtt`.
    NotFound,
    /// 503: during [`Front::outage`].
    Outage,
    /// 403: the signature does not match.
    BadSignature,
    /// 403: no such access key.
    UnknownKey,
    /// 403: `X-Amz-Security-Token` is not the key's token.
    WrongToken,
    /// 403: `X-Amz-Date` malformed or more than 15 min off.
    BadDate,
    /// 403: past `X-Amz-Date + X-Amz-Expires`.
    ExpiredPresign,
    /// 403: the access key itself expired.
    ExpiredKey,
    /// 403: anything else wrong with the presigned query (missing or duplicate parameters, scope, …).
    Malformed,
    /// 403: a valid signature, but the account's IoT policy denies the connection (the `deny`
    /// switch: what AWS IoT answers when a policy is detached or a principal disabled).
    Denied,
}

impl Refusal {
    fn of(e: &VerifyError) -> Refusal {
        match e {
            VerifyError::BadSignature(_) => Refusal::BadSignature,
            VerifyError::UnknownKey(_) => Refusal::UnknownKey,
            VerifyError::WrongToken(_) => Refusal::WrongToken,
            VerifyError::BadDate(_) | VerifyError::StaleDate { .. } => Refusal::BadDate,
            VerifyError::ExpiredPresign(_) => Refusal::ExpiredPresign,
            VerifyError::ExpiredKey { .. } => Refusal::ExpiredKey,
            _ => Refusal::Malformed,
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Outage => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// The reply body and log reason: short, and quoting nothing the client sent.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::NotFound => "not found: MQTT is served on /mqtt",
            Refusal::Outage => "service unavailable (simulated outage)",
            Refusal::BadSignature => "forbidden: the signature does not match",
            Refusal::UnknownKey => "forbidden: unknown access key",
            Refusal::WrongToken => "forbidden: wrong security token",
            Refusal::BadDate => "forbidden: bad or stale X-Amz-Date",
            Refusal::ExpiredPresign => "forbidden: the presigned URL expired",
            Refusal::ExpiredKey => "forbidden: the access key expired",
            Refusal::Malformed => "forbidden: malformed presigned query",
            Refusal::Denied => "forbidden: the policy does not allow this connection",
        }
    }
}

/// Counters for tests and the emulator's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FrontStats {
    /// Upgrades answered with 101.
    pub upgrades: u64,
    /// Upgrades answered with 403, 404 or 503, by reason.
    pub refused: BTreeMap<Refusal, u64>,
    /// Connections that ended before an answer: TLS failures, timeouts, requests that are not a
    /// WebSocket upgrade.
    pub failed_handshakes: u64,
    /// Upgraded connections closed because the internal broker could not be reached.
    pub broker_unreachable: u64,
    /// Older connections closed because their client id connected again.
    pub takeovers: u64,
    /// Connections closed by [`FrontOptions::connection_limit`].
    pub limit_closes: u64,
    /// Upgraded connections open now.
    pub open: usize,
}

impl FrontStats {
    #[cfg(test)]
    /// Refusals for `reason` so far.
    pub(crate) fn refused(&self, reason: Refusal) -> u64 {
        self.refused.get(&reason).copied().unwrap_or(0)
    }
}

/// The running front. Dropping it stops it.
pub(crate) struct Front {
    /// The port it listens on, on 127.0.0.1.
    port: u16,
    /// What the accept loop and every connection task share.
    shared: Arc<Shared>,
}

/// State shared by the accept loop and the connection tasks.
struct Shared {
    /// TLS with the emulator's certificate.
    tls: TlsAcceptor,
    /// The internal rumqttd's plain-MQTT port on 127.0.0.1.
    broker_port: u16,
    /// The issued keys, for the verifier.
    keys: KeyLookup,
    /// Options given at start.
    opts: FrontOptions,
    /// Cancelled by `stop`: the parent of every other token.
    stop: CancellationToken,
    /// Everything that changes, behind one lock (touched per connection event, never per byte).
    state: Mutex<State>,
}

/// The mutable part of [`Shared`].
struct State {
    /// Parent of the tokens of the connections accepted since the last `drop_all`: cancelling it
    /// closes them all, including those still in their handshake.
    generation: CancellationToken,
    /// New upgrades are answered 503 until then.
    outage_until: Option<Instant>,
    /// Validly signed upgrades are answered 403 [`Refusal::Denied`] while set.
    deny: bool,
    /// Open connections by client id: (connection number, its token), for the takeover.
    clients: HashMap<String, (u64, CancellationToken)>,
    /// Numbers connections, so a registry entry can be told from its successor's.
    next_conn: u64,
    /// The counters.
    stats: FrontStats,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panicking holder; the counters and registry are still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Front {
    /// Listen on 127.0.0.1:`port` (0 = any free port), TLS with `tls`, and forward each verified
    /// connection to 127.0.0.1:`broker_port`.
    pub(crate) async fn start(
        port: u16,
        tls: Arc<rustls::ServerConfig>,
        broker_port: u16,
        keys: KeyLookup,
        opts: FrontOptions,
    ) -> std::io::Result<Front> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            tls: TlsAcceptor::from(tls),
            broker_port,
            keys,
            opts,
            state: Mutex::new(State {
                generation: stop.child_token(),
                outage_until: None,
                deny: false,
                clients: HashMap::new(),
                next_conn: 0,
                stats: FrontStats::default(),
            }),
            stop,
        });
        tokio::spawn(accept_loop(listener, shared.clone()));
        info!(port, broker_port, "MQTT WSS front listening on 127.0.0.1");
        Ok(Front { port, shared })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Close every MQTT connection now (the `drop` command), as AWS IoT's periodic drop does.
    pub(crate) fn drop_all(&self) {
        let mut s = self.shared.state();
        s.generation.cancel();
        s.generation = self.shared.stop.child_token();
        info!(open = s.stats.open, "dropping every MQTT connection");
    }

    /// For `for_`, close every connection and refuse new ones (the `outage SECS` command).
    ///
    /// New connections get TLS and then **503 before the upgrade**, not a bare TCP close: the
    /// client sees a WebSocket upgrade failure as it would from a failing cloud, a retryable
    /// status it can tell apart from 403 (which means "renew the credentials"), and the refusal
    /// is counted and logged by reason like the others.
    pub(crate) fn outage(&self, for_: Duration) {
        self.shared.state().outage_until = Some(Instant::now() + for_);
        info!(seconds = for_.as_secs_f64(), "simulated outage");
        self.drop_all();
    }

    /// While `on`, refuse every validly signed upgrade with 403 (closing the open connections
    /// when it goes on): credentials that no renewal can fix, until it goes off.
    pub(crate) fn deny(&self, on: bool) {
        self.shared.state().deny = on;
        info!(on, "deny every MQTT connection");
        if on {
            self.drop_all();
        }
    }

    /// End an [`outage`](Self::outage) now.
    pub(crate) fn end_outage(&self) {
        self.shared.state().outage_until = None;
    }

    pub(crate) fn stats(&self) -> FrontStats {
        self.shared.state().stats.clone()
    }

    /// Stop listening and close every connection; every task of the front ends within
    /// [`CLOSE_GRACE`].
    pub(crate) fn stop(&self) {
        self.shared.stop.cancel();
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // Taken now, so a `drop_all` during the handshake closes this one too.
                    let token = shared.state().generation.child_token();
                    tokio::spawn(connection(shared.clone(), tcp, peer, token));
                }
                Err(e) => {
                    // Out of descriptors and the like: pause instead of spinning.
                    warn!(error = %e, "MQTT front accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

#[cfg(test)]
#[path = "front_tests.rs"]
mod tests;
