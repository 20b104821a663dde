// Used by the Navien link and the emulator, which land next.
#![allow(dead_code)]
//! The Navien Smart Control REST API as data (shared/protocol/navien-nwp500.md, §2): request
//! bodies, the `{"code","msg","data"}` envelope with its body-code rule, what a 401 means on each
//! endpoint, and the replies, validated. No HTTP here: the client that sends these lands next and
//! shares this file with the emulator's tests, so the rules live in one place and are tested
//! without a network.
//!
//! Secrets: request bodies are [`SecretString`]s (the password, the refresh token and the user's
//! e-mail are inside), tokens in replies are parsed straight into [`SecretString`]s, and no error
//! message quotes request data or more than a short, redacted excerpt of a reply.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

// The reply types, in a file of their own to keep each file short.
#[path = "rest_replies.rs"]
mod replies;
#[path = "rest_scrub.rs"]
mod scrub;

pub use replies::*;
pub use scrub::decode_for;
pub(crate) use scrub::{excerpt, excerpt_str};

/// Most devices one `/device/list` page may ask for (§2.3).
pub const PAGE_SIZE: u32 = 20;
/// Pages of `/device/list` before we stop believing the server: 1000 devices on one account.
pub const MAX_PAGES: u32 = 50;
/// How much of a reply an error message quotes.
const EXCERPT_CHARS: usize = 200;
/// A run this long of token-like characters in a quoted reply is elided: JWTs, AWS secret keys and
/// session tokens are all longer, while words and numbers in an error page rarely are.
const TOKEN_RUN: usize = 24;

/// The endpoints Tether calls (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    SignIn,
    Refresh,
    SessionRefresh,
    SecuredSignIn,
    DeviceList,
    DeviceInfo,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::SignIn => "/user/sign-in",
            Endpoint::Refresh => "/auth/refresh",
            Endpoint::SessionRefresh => "/auth/session/refresh",
            Endpoint::SecuredSignIn => "/user/secured-sign-in",
            Endpoint::DeviceList => "/device/list",
            Endpoint::DeviceInfo => "/device/info",
        }
    }

    /// Whether the call carries `authorization: <accessToken>` (raw, no `Bearer`). Sign-in and
    /// refresh go without: they are how a client gets a token in the first place.
    pub fn needs_auth(self) -> bool {
        !matches!(self, Endpoint::SignIn | Endpoint::Refresh)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.path())
    }
}

/// One request, tied to its endpoint so that its reply is decoded by the same endpoint's rules.
/// `Debug` is safe: the secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    SignIn {
        user_id: &'a str,
        password: &'a SecretString,
    },
    Refresh {
        refresh_token: &'a SecretString,
    },
    SessionRefresh {
        user_id: &'a str,
    },
    SecuredSignIn {
        user_id: &'a str,
    },
    /// `count` is capped at [`PAGE_SIZE`].
    DeviceList {
        user_id: &'a str,
        offset: u32,
        count: u32,
    },
    DeviceInfo {
        user_id: &'a str,
        mac_address: &'a str,
        additional_value: &'a str,
    },
}

#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_value: Option<&'a str>,
}

impl Request<'_> {
    pub fn endpoint(&self) -> Endpoint {
        match self {
            Request::SignIn { .. } => Endpoint::SignIn,
            Request::Refresh { .. } => Endpoint::Refresh,
            Request::SessionRefresh { .. } => Endpoint::SessionRefresh,
            Request::SecuredSignIn { .. } => Endpoint::SecuredSignIn,
            Request::DeviceList { .. } => Endpoint::DeviceList,
            Request::DeviceInfo { .. } => Endpoint::DeviceInfo,
        }
    }

    /// The secrets this request carries, for taking them out of an error about its reply.
    fn secrets(&self) -> Vec<&str> {
        match *self {
            Request::SignIn { password, .. } => vec![password.expose_secret()],
            Request::Refresh { refresh_token } => vec![refresh_token.expose_secret()],
            _ => Vec::new(),
        }
    }

    /// The JSON body, built only now and handed over as a secret: the HTTP client exposes it at
    /// the moment it writes the request, and nothing else ever sees it.
    pub fn body(&self) -> SecretString {
        let mut b = Body::default();
        match *self {
            Request::SignIn { user_id, password } => (b.user_id, b.password) = (Some(user_id), Some(password.expose_secret())),
            Request::Refresh { refresh_token } => b.refresh_token = Some(refresh_token.expose_secret()),
            Request::SessionRefresh { user_id } | Request::SecuredSignIn { user_id } => b.user_id = Some(user_id),
            Request::DeviceList { user_id, offset, count } => {
                (b.offset, b.count, b.user_id) = (Some(offset), Some(count.min(PAGE_SIZE)), Some(user_id))
            }
            Request::DeviceInfo {
                user_id,
                mac_address,
                additional_value,
            } => (b.mac_address, b.additional_value, b.user_id) = (Some(mac_address), Some(additional_value), Some(user_id)),
        }
        // Serialising strings and integers into a String cannot fail; an empty body would be
        // refused by the server, never sent to the wrong place.
        SecretString::from(serde_json::to_string(&b).unwrap_or_default())
    }
}

/// Why a REST call failed. Messages name the endpoint and never quote a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// The sign-in was refused: fatal, never retried with the same password (§2.1).
    #[error("{endpoint}: the user name or password was refused ({msg})")]
    BadCredentials { endpoint: Endpoint, msg: String },
    /// A refresh, session refresh or secured sign-in was answered 401: the token we presented is
    /// no good, and the caller falls back (`tokens::fallback`).
    #[error("{endpoint}: the token was rejected ({msg})")]
    TokenRejected { endpoint: Endpoint, msg: String },
    /// Any other authenticated call answered 401: one forced refresh, then one retry (§2.5).
    #[error("{endpoint}: the access token was not accepted ({msg})")]
    Unauthorized { endpoint: Endpoint, msg: String },
    /// 5xx, body code 500, or 429: the server's trouble, worth retrying later.
    #[error("{endpoint}: server error {code} ({msg})")]
    Server { endpoint: Endpoint, code: i64, msg: String },
    /// 400, 403, 404 and other 4xx: the same request will be refused again.
    #[error("{endpoint}: refused with code {code} ({msg})")]
    Refused { endpoint: Endpoint, code: i64, msg: String },
    /// Not JSON, not the envelope, or a reply missing what it must carry. Often a proxy or an
    /// outage page, so retryable.
    #[error("{endpoint}: unexpected reply: {detail}")]
    Malformed { endpoint: Endpoint, detail: String },
    /// For the HTTP client: the request did not reach the server or its answer did not arrive.
    #[error("{endpoint}: network: {detail}")]
    Network { endpoint: Endpoint, detail: String },
    /// For the HTTP client: no complete answer within the call's time limit.
    #[error("{endpoint}: timed out")]
    Timeout { endpoint: Endpoint },
}

impl RestError {
    /// Whether trying the same call again later can help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RestError::Server { .. } | RestError::Malformed { .. } | RestError::Network { .. } | RestError::Timeout { .. }
        )
    }

    pub fn endpoint(&self) -> Endpoint {
        match self {
            RestError::BadCredentials { endpoint, .. }
            | RestError::TokenRejected { endpoint, .. }
            | RestError::Unauthorized { endpoint, .. }
            | RestError::Server { endpoint, .. }
            | RestError::Refused { endpoint, .. }
            | RestError::Malformed { endpoint, .. }
            | RestError::Network { endpoint, .. }
            | RestError::Timeout { endpoint } => *endpoint,
        }
    }
}

/// What a 401 means depends on where it came from (§2.1).
fn unauthorized(endpoint: Endpoint, msg: String) -> RestError {
    match endpoint {
        Endpoint::SignIn => RestError::BadCredentials { endpoint, msg },
        Endpoint::Refresh | Endpoint::SessionRefresh | Endpoint::SecuredSignIn => RestError::TokenRejected { endpoint, msg },
        Endpoint::DeviceList | Endpoint::DeviceInfo => RestError::Unauthorized { endpoint, msg },
    }
}

/// A failed call's effective code, classified.
fn failure(endpoint: Endpoint, code: i64, msg: String) -> RestError {
    // 429 asks us to come back later, like a 5xx.
    let server_side = code == 429 || (500..=599).contains(&code);
    let lower = msg.to_lowercase();
    // The reference client's bad-credentials test (§2.1), kept off server errors: a 500 saying
    // "invalid state" must not stop the link for good.
    if endpoint == Endpoint::SignIn && !server_side && (lower.contains("invalid") || lower.contains("unauthorized")) {
        return RestError::BadCredentials { endpoint, msg };
    }
    match code {
        401 => unauthorized(endpoint, msg),
        _ if server_side => RestError::Server { endpoint, code, msg },
        400..=499 => RestError::Refused { endpoint, code, msg },
        _ => RestError::Malformed {
            endpoint,
            detail: format!("failure code {code} ({msg})"),
        },
    }
}

/// A reply's `data`, validated by the rules of the endpoint it came from.
pub trait Reply: Sized {
    /// `Err` says what is missing or wrong, without quoting secrets.
    fn from_data(endpoint: Endpoint, data: Value) -> Result<Self, String>;
}

/// Decode a reply: the envelope, the body-code rule (2xx **and** code 200; without a code the
/// HTTP status stands in), then `data` as `T`.
pub fn decode<T: Reply>(endpoint: Endpoint, http_status: u16, content_type: Option<&str>, body: &[u8]) -> Result<T, RestError> {
    // A missing content type is tolerated when the body is JSON; a wrong one is not (§2.1).
    let json = match content_type {
        Some(ct) if !is_json_type(ct) => None,
        _ => serde_json::from_slice::<Value>(body).ok(),
    };
    let Some(Value::Object(mut envelope)) = json else {
        let got = format!(
            "HTTP {http_status}, content type {}, body: {}",
            content_type.map_or("(none)".into(), excerpt_str),
            excerpt(body)
        );
        // A 401 says what it says even without JSON: the reference client reports a non-JSON
        // sign-in refusal as a network error (§8.5 item 6).
        if http_status == 401 {
            return Err(unauthorized(endpoint, format!("HTTP 401 without a JSON reply; {got}")));
        }
        return Err(RestError::Malformed {
            endpoint,
            detail: format!("expected a JSON envelope, got {got}"),
        });
    };
    let code = match envelope.get("code") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    if envelope.get("code").is_some_and(|c| !c.is_null()) && code.is_none() {
        return Err(RestError::Malformed {
            endpoint,
            detail: format!("the body code is not a number (HTTP {http_status})"),
        });
    }
    let msg = match envelope.get("msg") {
        Some(Value::String(s)) => excerpt_str(s),
        None | Some(Value::Null) => String::new(),
        Some(other) => excerpt_str(&other.to_string()),
    };
    let http_ok = (200..300).contains(&http_status);
    match code {
        Some(200) | None if http_ok => {}
        Some(200) | None => return Err(failure(endpoint, i64::from(http_status), msg)),
        Some(c) => return Err(failure(endpoint, c, msg)),
    }
    let data = envelope.remove("data").unwrap_or(Value::Null);
    T::from_data(endpoint, data).map_err(|detail| RestError::Malformed { endpoint, detail })
}

fn is_json_type(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// What a value is, for an error message that must not quote it.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The offset of the page after one at `offset` that brought `got` entries, or `None` when that
/// was the last page (fewer than [`PAGE_SIZE`] came back).
pub fn next_page(offset: u32, got: usize) -> Option<u32> {
    if got < PAGE_SIZE as usize {
        return None;
    }
    offset.checked_add(u32::try_from(got).ok()?)
}

/// Walks `/device/list`, and stops a server that would page forever after [`MAX_PAGES`].
#[derive(Debug, Clone)]
pub struct Pager {
    next: Option<u32>,
    pages: u32,
}

impl Default for Pager {
    fn default() -> Self {
        Self::new()
    }
}

impl Pager {
    pub fn new() -> Self {
        Pager { next: Some(0), pages: 0 }
    }

    /// Where the next page starts, or `None` when the list is complete.
    pub fn offset(&self) -> Option<u32> {
        self.next
    }

    /// Record the page just fetched, which brought `got` entries.
    pub fn record(&mut self, got: usize) -> Result<(), RestError> {
        self.pages += 1;
        self.next = self.next.and_then(|offset| next_page(offset, got));
        if self.next.is_some() && self.pages >= MAX_PAGES {
            self.next = None;
            let detail = format!("still full pages after {MAX_PAGES} pages of {PAGE_SIZE}: the server seems to page forever");
            return Err(RestError::Malformed {
                endpoint: Endpoint::DeviceList,
                detail,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "rest_tests.rs"]
mod tests;
