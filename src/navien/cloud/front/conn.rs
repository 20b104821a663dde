//! One connection of the MQTT-over-WSS [front](super): the TLS handshake, the WebSocket upgrade
//! with its verdict (path, outage, SigV4) given in tungstenite's handshake callback, then the
//! bytes copied both ways to the internal broker until either side closes or the front closes
//! the connection. [`Registration`] is the connection's place in the front's client-id registry
//! and counters, for the takeover (§3.5).

use super::connect::{connect_client_id, Peek};
use super::{Refusal, Shared, BROKER_CONNECT_TIMEOUT, BUF_SIZE, CLOSE_GRACE, HANDSHAKE_TIMEOUT, MAX_PEEK, PATH};
use crate::navien::sigv4::{verify, VerifiedKey};
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, SEC_WEBSOCKET_PROTOCOL};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use ws_stream_tungstenite::WsStream;

/// One client: handshakes, then the copy. Ends on either side's close or on `token`.
pub(super) async fn connection(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, token: CancellationToken) {
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
        verify(req.uri().query().unwrap_or(""), PATH, &header, chrono::Utc::now(), &*shared.keys)
            .map_err(|e| {
                // VerifyError's messages quote only what is safe to log: never a signature or a token.
                let r = Refusal::of(&e);
                info!(%peer, reason = r.reason(), error = %e, "upgrade refused");
                r
            })
            .and_then(|key| {
                if shared.state().deny {
                    info!(%peer, "upgrade refused: denied by the deny switch");
                    Err(Refusal::Denied)
                } else {
                    Ok(key)
                }
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
