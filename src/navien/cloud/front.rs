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

use crate::navien::sigv4::{verify, IssuedKey, VerifiedKey, VerifyError};
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, SEC_WEBSOCKET_PROTOCOL};
use http::StatusCode;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use ws_stream_tungstenite::WsStream;

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

/// One client: handshakes, then the copy. Ends on either side's close or on `token`.
async fn connection(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, token: CancellationToken) {
    let _ = tcp.set_nodelay(true);
    let handshake = async {
        let tls = match timeout(HANDSHAKE_TIMEOUT, shared.tls.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return Err(format!("TLS: {e}")),
            Err(_) => return Err("TLS handshake timed out".to_string()),
        };
        let mut verdict: Option<Result<VerifiedKey, Refusal>> = None;
        // The Result shape is tungstenite's `Callback`, large error and all.
        #[allow(clippy::result_large_err)]
        let callback = |req: &Request, resp: Response| {
            let v = judge(&shared, req, peer);
            let reply = reply(req, resp, &v);
            verdict = Some(v);
            reply
        };
        let ws = timeout(HANDSHAKE_TIMEOUT, async_tungstenite::tokio::accept_hdr_async(tls, callback)).await;
        match (ws, verdict) {
            (Ok(Ok(ws)), Some(Ok(key))) => Ok(Some((ws, key))),
            // Refused with a status: already counted and logged by `judge`.
            (_, Some(Err(_))) => Ok(None),
            (Ok(Err(e)), _) => Err(format!("WebSocket upgrade: {e}")),
            (Err(_), _) => Err("WebSocket upgrade timed out".to_string()),
            (Ok(Ok(_)), None) => Err("upgraded without a verdict".to_string()),
        }
    };
    let (ws, key) = tokio::select! {
        biased;
        _ = token.cancelled() => return,
        r = handshake => match r {
            Ok(Some(upgraded)) => upgraded,
            Ok(None) => return,
            Err(e) => {
                debug!(%peer, error = %e, "MQTT front handshake failed");
                shared.state().stats.failed_handshakes += 1;
                return;
            }
        },
    };
    let mut conn = Registration::open(&shared, token);
    info!(%peer, conn = conn.conn, access_key = %key.access_key_id, "MQTT upgrade accepted");
    let mut ws = WsStream::new(ws);

    let connect = timeout(BROKER_CONNECT_TIMEOUT, TcpStream::connect(("127.0.0.1", shared.broker_port)));
    let connected = tokio::select! {
        biased;
        _ = conn.token.cancelled() => return,
        r = connect => r,
    };
    let broker = match connected {
        Ok(Ok(b)) => b,
        failed => {
            let error = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            warn!(conn = conn.conn, broker_port = shared.broker_port, %error, "internal broker unreachable");
            shared.state().stats.broker_unreachable += 1;
            let _ = timeout(CLOSE_GRACE, ws.shutdown()).await;
            return;
        }
    };
    let _ = broker.set_nodelay(true);
    let (mut broker_rx, mut broker_tx) = broker.into_split();
    let (mut ws_rx, mut ws_tx) = tokio::io::split(ws);
    let limit = async {
        match shared.opts.connection_limit {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let token = conn.token.clone();
    let why = tokio::select! {
        biased;
        _ = token.cancelled() => "closed by the front (drop, outage, takeover or stop)",
        _ = limit => {
            shared.state().stats.limit_closes += 1;
            "connection limit reached"
        }
        r = client_to_broker(&mut ws_rx, &mut broker_tx, &mut conn) => if r.is_ok() { "client closed" } else { "client read or broker write failed" },
        r = broker_to_client(&mut broker_rx, &mut ws_tx) => if r.is_ok() { "broker closed" } else { "broker read or client write failed" },
    };
    debug!(conn = conn.conn, why, "MQTT connection ends");
    // Out of the registry and the open count first: a closing connection is no takeover target.
    drop(conn);
    // A WebSocket Close, so the client sees an orderly end; bounded, the client may be gone.
    let mut ws = ws_rx.unsplit(ws_tx);
    let _ = timeout(CLOSE_GRACE, ws.shutdown()).await;
}

/// Decides an upgrade request (path, outage, SigV4), counting and logging a refusal.
fn judge(shared: &Shared, req: &Request, peer: SocketAddr) -> Result<VerifiedKey, Refusal> {
    let outage = shared.state().outage_until.is_some_and(|t| Instant::now() < t);
    let refusal = if outage {
        info!(%peer, "upgrade refused: simulated outage");
        Err(Refusal::Outage)
    } else if req.uri().path() != PATH {
        // The path only: the query may hold a signature and a token.
        info!(%peer, path = req.uri().path(), "upgrade refused: not found");
        Err(Refusal::NotFound)
    } else {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        verify(req.uri().query().unwrap_or(""), PATH, &header, chrono::Utc::now(), &*shared.keys).map_err(|e| {
            // VerifyError's messages quote only what is safe to log: never a signature or a token.
            let r = Refusal::of(&e);
            info!(%peer, reason = r.reason(), error = %e, "upgrade refused");
            r
        })
    };
    if let Err(r) = &refusal {
        *shared.state().stats.refused.entry(*r).or_insert(0) += 1;
    }
    refusal
}

/// The 101 with `Sec-WebSocket-Protocol: mqtt`, or the refusal's status with a plain-text reason.
#[allow(clippy::result_large_err)] // tungstenite's `Callback` returns this Result.
fn reply(req: &Request, mut resp: Response, verdict: &Result<VerifiedKey, Refusal>) -> Result<Response, ErrorResponse> {
    match verdict {
        Ok(_) => {
            // Echoed only when offered: a WebSocket client must fail on a subprotocol it did not ask for.
            let offered = req
                .headers()
                .get_all(SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.split(',').any(|p| p.trim() == "mqtt"));
            if offered {
                resp.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("mqtt"));
            }
            Ok(resp)
        }
        Err(r) => {
            let body = format!("{}\n", r.reason());
            let mut err = ErrorResponse::new(None);
            *err.status_mut() = r.status();
            let h = err.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            h.insert(CONNECTION, HeaderValue::from_static("close"));
            if *r == Refusal::Outage {
                // Soon: outages here are short, and the client's own backoff governs anyway.
                h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            *err.body_mut() = Some(body);
            Err(err)
        }
    }
}

/// An upgraded connection's place in the registry and counters; dropping it takes it out.
struct Registration {
    /// What the registry and counters live in.
    shared: Arc<Shared>,
    /// This connection's number.
    conn: u64,
    /// Cancelled to close this connection.
    token: CancellationToken,
    /// The CONNECT's client id, once seen.
    client_id: Option<String>,
}

impl Registration {
    fn open(shared: &Arc<Shared>, token: CancellationToken) -> Registration {
        let mut s = shared.state();
        s.next_conn += 1;
        s.stats.upgrades += 1;
        s.stats.open += 1;
        Registration {
            shared: shared.clone(),
            conn: s.next_conn,
            token,
            client_id: None,
        }
    }

    /// Records this connection's client id, closing an older connection that has it (§3.5).
    fn claim(&mut self, client_id: String) {
        let mut s = self.shared.state();
        if let Some((older, token)) = s.clients.insert(client_id.clone(), (self.conn, self.token.clone())) {
            token.cancel();
            s.stats.takeovers += 1;
            info!(
                client_id,
                older,
                newer = self.conn,
                "client id connected again: closing the older connection"
            );
        }
        self.client_id = Some(client_id);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut s = self.shared.state();
        s.stats.open = s.stats.open.saturating_sub(1);
        if let Some(id) = &self.client_id {
            // Only if the entry is still ours: after a takeover it belongs to the newer connection.
            if s.clients.get(id).is_some_and(|(conn, _)| *conn == self.conn) {
                s.clients.remove(id);
            }
        }
    }
}

async fn client_to_broker<R, W>(from: &mut R, to: &mut W, conn: &mut Registration) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF_SIZE];
    let mut peek: Option<Vec<u8>> = Some(Vec::new());
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(seen) = peek.as_mut() {
            seen.extend_from_slice(&buf[..n.min(MAX_PEEK - seen.len())]);
            match connect_client_id(seen) {
                Peek::NeedMore if seen.len() < MAX_PEEK => {}
                Peek::ClientId(id) => {
                    // Before forwarding the bytes that complete the id: the older connection is
                    // told to close before the broker can act on this CONNECT.
                    conn.claim(id);
                    peek = None;
                }
                _ => peek = None,
            }
        }
        to.write_all(&buf[..n]).await?;
    }
}

async fn broker_to_client<R, W>(from: &mut R, to: &mut W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        // Each write is one binary frame; the flush sends it now (a PINGRESP must not wait).
        to.write_all(&buf[..n]).await?;
        to.flush().await?;
    }
}

/// What the client's first bytes say about its CONNECT's client id.
#[derive(Debug, PartialEq, Eq)]
enum Peek {
    /// Not enough bytes yet.
    NeedMore,
    /// A CONNECT with this non-empty client id.
    ClientId(String),
    /// Not a 3.1/3.1.1 CONNECT, malformed, or an empty or non-UTF-8 id: forward, no takeover.
    NoClientId,
}

/// Reads the client id of a CONNECT at the start of `b`: fixed header 0x10, remaining length,
/// protocol name, level, flags, keep-alive, then the id as a length-prefixed string.
fn connect_client_id(b: &[u8]) -> Peek {
    let Some(&first) = b.first() else { return Peek::NeedMore };
    if first != 0x10 {
        return Peek::NoClientId;
    }
    // The remaining length: up to four 7-bit groups, least significant first.
    let mut remaining = 0usize;
    let mut body = None;
    for i in 0..4 {
        let Some(&byte) = b.get(1 + i) else { return Peek::NeedMore };
        remaining |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            body = Some(2 + i);
            break;
        }
    }
    let Some(start) = body else { return Peek::NoClientId };
    let end = start + remaining;
    let u16_at = |at: usize| -> Option<usize> { Some(usize::from(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))) };

    let Some(name_len) = u16_at(start) else { return Peek::NeedMore };
    let level_at = start + 2 + name_len;
    // Level (1 byte), flags (1), keep-alive (2), then the id's length (2).
    let id_len_at = level_at + 4;
    if id_len_at + 2 > end {
        return Peek::NoClientId;
    }
    let Some(&level) = b.get(level_at) else { return Peek::NeedMore };
    if level == 5 {
        // MQTT 5 puts properties before the id; the internal broker speaks 3.1.1 and refuses it.
        return Peek::NoClientId;
    }
    let Some(id_len) = u16_at(id_len_at) else { return Peek::NeedMore };
    let id_at = id_len_at + 2;
    if id_at + id_len > end {
        return Peek::NoClientId;
    }
    let Some(id) = b.get(id_at..id_at + id_len) else {
        return Peek::NeedMore;
    };
    match std::str::from_utf8(id) {
        Ok(id) if !id.is_empty() => Peek::ClientId(id.to_string()),
        _ => Peek::NoClientId,
    }
}

#[cfg(test)]
#[path = "front_tests.rs"]
mod tests;
