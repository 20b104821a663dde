//! The Navien REST API over HTTPS: one POST per call with reqwest (rustls with the ring provider
//! and the same trust store as the MQTT link), each reply judged by [`rest::decode`].

use crate::config::TlsConfig;
use crate::error::ConfigError;
use crate::navien::rest::{self, Endpoint, Reply, Request, RestError};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// The reference client gives each call 30 s in total (§2.1).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Replies are small JSON documents; anything bigger is not the Navien API.
const MAX_REPLY: usize = 1 << 20;

/// A REST client for one cloud.
#[derive(Clone)]
pub(crate) struct Api {
    /// `https://…/api/v2.1`, without a trailing slash.
    base: String,
    /// Connection pooling and TLS, shared by every call.
    http: reqwest::Client,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).finish()
    }
}

impl Api {
    /// A client for the API at `base` (e.g. `https://nlus.naviensmartcontrol.com/api/v2.1`),
    /// trusting the OS store plus `tls.ca_file`.
    pub(crate) fn new(base: &str, tls: &TlsConfig) -> Result<Self, ConfigError> {
        let url = url::Url::parse(base).map_err(|e| ConfigError::new("navien.rest_url", format!("{base:?}: {e}")))?;
        // Tokens and the password travel in these requests: never in the clear, not even on loopback.
        if url.scheme() != "https" {
            return Err(ConfigError::new("navien.rest_url", format!("{base:?}: must be an https:// URL")));
        }
        let tls = crate::transport::rustls_config(tls)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("Tether/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the token somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::new("navien.rest_url", format!("the HTTP client could not be made: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The API's base URL, without a trailing `/`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// One call: POST the request's JSON body, with `authorization: <access token>` (raw, no
    /// `Bearer`) where the endpoint needs it, and judge the reply.
    pub(crate) async fn call<T: Reply>(&self, req: &Request<'_>, access_token: Option<&SecretString>) -> Result<T, RestError> {
        let endpoint = req.endpoint();
        let mut r = self
            .http
            .post(format!("{}{}", self.base, endpoint.path()))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(req.body().expose_secret().to_string());
        if endpoint.needs_auth() {
            let Some(token) = access_token else {
                return Err(RestError::Unauthorized {
                    endpoint,
                    msg: "no access token to send".into(),
                });
            };
            let mut value = reqwest::header::HeaderValue::from_str(token.expose_secret()).map_err(|_| RestError::Malformed {
                endpoint,
                detail: "the stored access token is not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            r = r.header(reqwest::header::AUTHORIZATION, value);
        }
        let reply = r.send().await.map_err(|e| transport_error(endpoint, &e))?;
        let status = reply.status().as_u16();
        let content_type = reply
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_capped(reply, endpoint).await?;
        rest::decode_for(req, status, content_type.as_deref(), &body)
    }
}

/// The reply's body, at most [`MAX_REPLY`] bytes.
async fn read_capped(mut reply: reqwest::Response, endpoint: Endpoint) -> Result<Vec<u8>, RestError> {
    let mut body = Vec::new();
    while let Some(chunk) = reply.chunk().await.map_err(|e| transport_error(endpoint, &e))? {
        if body.len() + chunk.len() > MAX_REPLY {
            return Err(RestError::Malformed {
                endpoint,
                detail: format!("the reply is over {} KiB", MAX_REPLY >> 10),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's error as ours. Its text names the URL (no secrets: they travel in headers and bodies).
fn transport_error(endpoint: Endpoint, e: &reqwest::Error) -> RestError {
    if e.is_timeout() {
        return RestError::Timeout { endpoint };
    }
    // The chain holds the useful part ("connection refused", "invalid peer certificate").
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    RestError::Network { endpoint, detail }
}
