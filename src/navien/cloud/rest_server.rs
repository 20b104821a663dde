//! The emulator's HTTPS REST API (shared/protocol/navien-nwp500.md §2): `POST` + JSON under
//! `/api/v2.1`, served with hyper 1 over tokio-rustls on 127.0.0.1, answering from a
//! [`Registry`].
//!
//! All of the behaviour is in [`handle`], a pure function of the request and `now`, so every rule
//! is unit-tested without a network; the hyper glue around it only reads the request, limits the
//! body and writes the reply. Every reply, errors and 404s included, is the JSON envelope
//! `{"code","msg","data"}` with `Content-Type: application/json`: a client that gets anything else
//! mistakes an error for a network failure (§2.1).
//!
//! Strictness, so the client's mistakes show up here rather than against the cloud: the
//! `authorization` header must be the raw access token (a `Bearer` prefix is answered 401), the
//! request's `Content-Type` must be JSON, `userId` must name the token's own account, `count` is
//! 1..=20, and `/device/info` wants the device's exact `macAddress` and `additionalValue`.
//!
//! Secrets: no token, password or body is logged or quoted in a reply's `msg`.

#[cfg(test)]
#[path = "rest_server_tests.rs"]
mod tests;

use super::accounts::{Device, UserInfo};
use super::registry::{AwsSet, Denied, Endpoint, JwtSet, Registry};
use chrono::{DateTime, Utc};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Every endpoint lives under this path: the client's REST base URL is
/// `https://127.0.0.1:<port>/api/v2.1`.
pub(crate) const BASE_PATH: &str = "/api/v2.1";
/// Largest request body accepted (the real bodies are under 200 bytes); larger is answered 413.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// Most devices one `/device/list` page may ask for (§2.3).
pub(crate) const MAX_PAGE: u64 = 20;
/// `deviceType` of an NWP500.
const DEVICE_TYPE: u64 = 52;
/// A TLS handshake must finish within this, or the connection is dropped.
const TLS_ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers must arrive within this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// At shutdown, a connection gets this long to finish the request in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running REST server. It stops when the `shutdown` token given to [`start`] is cancelled.
#[derive(Debug)]
pub(crate) struct RestServer {
    /// The port it listens on, on 127.0.0.1.
    port: u16,
    /// The accept loop.
    task: tokio::task::JoinHandle<()>,
}

impl RestServer {
    #[cfg(test)]
    /// The port it listens on, on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The REST base URL clients are configured with: `https://127.0.0.1:<port>/api/v2.1`.
    pub(crate) fn rest_url(&self) -> String {
        format!("https://127.0.0.1:{}{BASE_PATH}", self.port)
    }

    /// Waits for the accept loop to end (after the shutdown token is cancelled).
    pub(crate) async fn join(self) {
        let _ = self.task.await;
    }
}

/// Listens on 127.0.0.1:`port` (0 picks a free port) and serves HTTPS with `tls` until `shutdown`.
pub(crate) async fn start(
    port: u16,
    tls: Arc<rustls::ServerConfig>,
    registry: Registry,
    shutdown: CancellationToken,
) -> std::io::Result<RestServer> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let port = listener.local_addr()?.port();
    let acceptor = TlsAcceptor::from(tls);
    tracing::info!(port, "navien-cloud REST listening on https://127.0.0.1:{port}{BASE_PATH}");
    let task = tokio::spawn(accept_loop(listener, acceptor, registry, shutdown));
    Ok(RestServer { port, task })
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, registry: Registry, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((sock, _peer)) => {
                tokio::spawn(serve_connection(sock, acceptor.clone(), registry.clone(), shutdown.clone()));
            }
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                tracing::warn!(error = %e, "navien-cloud REST: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::debug!("navien-cloud REST stopped");
}

async fn serve_connection(sock: TcpStream, acceptor: TlsAcceptor, registry: Registry, shutdown: CancellationToken) {
    let tls = match tokio::time::timeout(TLS_ACCEPT_TIMEOUT, acceptor.accept(sock)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "navien-cloud REST: TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("navien-cloud REST: TLS handshake timed out");
            return;
        }
    };
    let service = service_fn(move |req| {
        let registry = registry.clone();
        async move { Ok::<_, Infallible>(respond(&registry, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "navien-cloud REST: connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn).await;
        }
    }
}

/// Reads one request, runs [`handle`] and writes its reply.
async fn respond(registry: &Registry, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let header_str = |name: header::HeaderName| parts.headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}").to_string());
    let authorization = header_str(header::AUTHORIZATION);
    let content_type = header_str(header::CONTENT_TYPE);
    let declared_too_big = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY as u64);
    let (status, value) = if declared_too_big {
        too_big()
    } else {
        match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => handle(
                registry,
                &parts.method,
                parts.uri.path(),
                authorization.as_deref(),
                content_type.as_deref(),
                &collected.to_bytes(),
                Utc::now(),
            ),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => too_big(),
            Err(_) => error(400, "the request body could not be read"),
        }
    };
    tracing::debug!(method = %parts.method, path = parts.uri.path(), status, "navien-cloud REST");
    let bytes = serde_json::to_vec(&value).unwrap_or_else(|_| br#"{"code":500,"msg":"reply not encodable","data":null}"#.to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == 405 {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

fn too_big() -> (u16, Value) {
    error(413, &format!("the request body is larger than {MAX_BODY} bytes"))
}

/// One REST call, without HTTP: the method, the path (no query), the `authorization` and
/// `Content-Type` header values, the body, and the time. Returns the HTTP status and the JSON
/// envelope to send. Checks, in order: outage (503), path (404), method (405), content type
/// (415), authorization (401), body (400), then the endpoint's own rules.
pub(crate) fn handle(
    registry: &Registry,
    method: &Method,
    path: &str,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> (u16, Value) {
    let endpoint = path.strip_prefix(BASE_PATH).and_then(Endpoint::from_path);
    if let Some(endpoint) = endpoint {
        registry.record_call(endpoint);
    }
    if registry.in_outage(now) {
        return error(503, "Service unavailable (an outage switched on in the emulator)");
    }
    let Some(endpoint) = endpoint else {
        let shown: String = path.chars().take(100).collect();
        return error(404, &format!("no such endpoint: {shown} (endpoints are under {BASE_PATH})"));
    };
    if method != Method::POST {
        return error(405, &format!("{} takes POST, not {method}", endpoint.path()));
    }
    if !is_json(content_type) {
        return error(415, "the request's Content-Type must be application/json");
    }
    // The token, checked before the body so that a bad token is a 401 whatever the body.
    let auth = if endpoint.needs_auth() {
        let token = match authorization {
            None => return error(401, "Unauthorized: the authorization header is missing"),
            Some(v) if v.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("bearer ")) => {
                return error(401, "Unauthorized: send the raw access token in authorization, without Bearer")
            }
            Some(v) => v,
        };
        match registry.account_for_access_token(token, now) {
            Some(email) => Some((token, email)),
            None => return token_rejected(),
        }
    } else {
        None
    };
    let body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("the body is not JSON: {e}")),
    };
    let Value::Object(body) = body else {
        return error(400, "the body must be a JSON object");
    };
    match (endpoint, auth) {
        (Endpoint::SignIn, _) => sign_in(registry, &body, now),
        (Endpoint::Refresh, _) => refresh(registry, &body, now),
        (Endpoint::SessionRefresh, Some((token, email))) => session_refresh(registry, token, &email, &body, now),
        (Endpoint::SecuredSignIn, Some((token, email))) => secured_sign_in(registry, token, &email, &body, now),
        (Endpoint::DeviceList, Some((_, email))) => device_list(registry, &email, &body),
        (Endpoint::DeviceInfo, Some((_, email))) => device_info(registry, &email, &body),
        (Endpoint::FirmwareInfo, Some((_, email))) => firmware_info(registry, &email, &body),
        // Unreachable: the authenticated endpoints always have `auth` by now.
        (_, None) => token_rejected(),
    }
}

fn sign_in(registry: &Registry, body: &Map<String, Value>, now: DateTime<Utc>) -> (u16, Value) {
    let (user_id, password) = match (string_field(body, "userId"), string_field(body, "password")) {
        (Ok(u), Ok(p)) => (u, p),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    match registry.sign_in(user_id, password, now) {
        Ok(s) => ok(json!({
            "userInfo": user_info(&s.user),
            "token": token_object(Some(&s.jwt), &s.aws),
            "legal": [],
        })),
        // HTTP 200 with body code 401: the spec allows 401 or 200, and 200 is the harder case for
        // clients, which must then read the body code rather than trust the status.
        Err(_) => reply(200, 401, "Invalid credentials", Value::Null),
    }
}

fn refresh(registry: &Registry, body: &Map<String, Value>, now: DateTime<Utc>) -> (u16, Value) {
    let token = match string_field(body, "refreshToken") {
        Ok(t) => t,
        Err(reply) => return reply,
    };
    match registry.refresh(token, now) {
        Ok(jwt) => ok(jwt_fields(&jwt).into()),
        Err(denied) => denied_reply(denied),
    }
}

fn session_refresh(registry: &Registry, token: &str, email: &str, body: &Map<String, Value>, now: DateTime<Utc>) -> (u16, Value) {
    if let Err(reply) = check_user(body, email) {
        return reply;
    }
    match registry.session_refresh(token, email, now) {
        Ok(aws) => ok(aws_fields(&aws).into()),
        Err(denied) => denied_reply(denied),
    }
}

fn secured_sign_in(registry: &Registry, token: &str, email: &str, body: &Map<String, Value>, now: DateTime<Utc>) -> (u16, Value) {
    if let Err(reply) = check_user(body, email) {
        return reply;
    }
    match registry.secured_sign_in(token, email, now) {
        // The token object carries only the new AWS credentials: as the spec says of the cloud,
        // the JWTs are kept, and a client that replaces its whole token set instead of merging
        // the fields present is caught.
        Ok(s) => ok(json!({
            "userInfo": user_info(&s.user),
            "token": token_object(None, &s.aws),
            "legal": [],
        })),
        Err(denied) => denied_reply(denied),
    }
}

fn device_list(registry: &Registry, email: &str, body: &Map<String, Value>) -> (u16, Value) {
    if let Err(reply) = check_user(body, email) {
        return reply;
    }
    let offset = match count_field(body, "offset", 0) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let count = match count_field(body, "count", MAX_PAGE) {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
        Ok(_) => return error(400, &format!("count must be between 1 and {MAX_PAGE}")),
        Err(reply) => return reply,
    };
    let devices = registry.devices(email);
    let page: Vec<Value> = devices
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(usize::MAX))
        .map(device_entry)
        .collect();
    ok(Value::Array(page))
}

fn device_info(registry: &Registry, email: &str, body: &Map<String, Value>) -> (u16, Value) {
    let device = match find_device(registry, email, body) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    let mut entry = device_entry(&device);
    if let Value::Object(map) = &mut entry {
        map.insert(
            "installer".into(),
            json!({"installerId": null, "installerName": null, "installerPhone": null, "installerEmail": null, "companyName": null}),
        );
        // 1 is on and 2 is off here, the reverse of the device's own flags (§2.3).
        map.insert(
            "alarmInfo".into(),
            json!({"isErrorAlarm": 2, "isDescalingAlarm": 2, "isEtcAlarm": 2}),
        );
        map.insert("descaling".into(), json!({"descalingUse": 2, "descalingStatus": null}));
    }
    ok(entry)
}

fn firmware_info(registry: &Registry, email: &str, body: &Map<String, Value>) -> (u16, Value) {
    let device = match find_device(registry, email, body) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    ok(json!({"firmwares": [{
        "macAddress": device.mac,
        "additionalValue": device.additional_value,
        "deviceType": DEVICE_TYPE,
        "curSwCode": 1,
        "curVersion": 184,
        "downloadedVersion": 184,
        "deviceGroup": "NWP500",
    }]}))
}

/// The account's device named by the body's `macAddress` and `additionalValue`.
fn find_device(registry: &Registry, email: &str, body: &Map<String, Value>) -> Result<Device, (u16, Value)> {
    check_user(body, email)?;
    let mac = string_field(body, "macAddress")?;
    let additional = string_field(body, "additionalValue")?;
    let device = registry
        .devices(email)
        .into_iter()
        .find(|d| d.mac == mac)
        .ok_or_else(|| error(404, "no device with that macAddress (12 lowercase hex digits) on this account"))?;
    if device.additional_value != additional {
        return Err(error(
            400,
            "additionalValue does not match the device's (echo the one /device/list gave)",
        ));
    }
    Ok(device)
}

/// The body's `userId` must be the token's account (compared without case).
fn check_user(body: &Map<String, Value>, email: &str) -> Result<(), (u16, Value)> {
    let user_id = string_field(body, "userId")?;
    if user_id.eq_ignore_ascii_case(email) {
        Ok(())
    } else {
        Err(error(403, "userId does not match the access token's account"))
    }
}

fn string_field<'a>(body: &'a Map<String, Value>, key: &str) -> Result<&'a str, (u16, Value)> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(error(400, &format!("{key} is empty"))),
        None | Some(Value::Null) => Err(error(400, &format!("{key} is missing"))),
        Some(_) => Err(error(400, &format!("{key} must be a string"))),
    }
}

/// A non-negative integer field, `default` when absent.
fn count_field(body: &Map<String, Value>, key: &str, default: u64) -> Result<u64, (u16, Value)> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| error(400, &format!("{key} must be a non-negative integer"))),
    }
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn user_info(u: &UserInfo) -> Value {
    json!({
        "userType": "O",
        "userFirstName": u.first_name,
        "userLastName": u.last_name,
        "userStatus": "NORMAL",
        "userSeq": u.user_seq,
    })
}

fn jwt_fields(jwt: &JwtSet) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("idToken".into(), jwt.id_token.expose_secret().into());
    m.insert("accessToken".into(), jwt.access_token.expose_secret().into());
    m.insert("refreshToken".into(), jwt.refresh_token.expose_secret().into());
    m.insert("authenticationExpiresIn".into(), jwt.expires_in.into());
    m
}

fn aws_fields(aws: &AwsSet) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("accessKeyId".into(), aws.access_key_id.clone().into());
    m.insert("secretKey".into(), aws.secret_key.expose_secret().into());
    m.insert("sessionToken".into(), aws.session_token.expose_secret().into());
    m.insert("authorizationExpiresIn".into(), aws.expires_in.into());
    m
}

/// The `token` object of a sign-in reply: the JWT fields when given, then the AWS fields.
fn token_object(jwt: Option<&JwtSet>, aws: &AwsSet) -> Value {
    let mut m = jwt.map(jwt_fields).unwrap_or_default();
    m.extend(aws_fields(aws));
    Value::Object(m)
}

fn device_entry(d: &Device) -> Value {
    json!({
        "deviceInfo": {
            "homeSeq": d.home_seq,
            "macAddress": d.mac,
            "additionalValue": d.additional_value,
            "deviceType": DEVICE_TYPE,
            "deviceName": d.name,
            "connected": 2,
            "installType": "R",
        },
        "location": {
            "state": "CA",
            "city": "Anytown",
            "address": "1 Main St",
            "latitude": 37.7,
            "longitude": -122.4,
            "altitude": null,
        },
    })
}

fn denied_reply(denied: Denied) -> (u16, Value) {
    match denied {
        Denied::BadCredentials => reply(200, 401, "Invalid credentials", Value::Null),
        Denied::TokenRejected => token_rejected(),
        Denied::Refused => error(401, "Unauthorized: the token was rejected (a refusal switched on in the emulator)"),
        Denied::WrongUser => error(403, "userId does not match the access token's account"),
    }
}

fn token_rejected() -> (u16, Value) {
    error(401, "Unauthorized: the token is unknown, expired or revoked")
}

fn ok(data: Value) -> (u16, Value) {
    reply(200, 200, "SUCCESS", data)
}

/// An error whose body code is its HTTP status.
fn error(status: u16, msg: &str) -> (u16, Value) {
    reply(status, status, msg, Value::Null)
}

fn reply(status: u16, code: u16, msg: &str, data: Value) -> (u16, Value) {
    (status, json!({"code": code, "msg": msg, "data": data}))
}
