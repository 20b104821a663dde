//! What an error about a REST reply may quote: a short excerpt of the reply, control characters
//! escaped and token-like runs elided, and never a secret the request carried.

use super::{decode, Reply, Request, RestError, EXCERPT_CHARS, TOKEN_RUN};

/// [`decode`] the reply to `req`, with whatever secret `req` carried (the password, the refresh
/// token) kept out of the error: an error page may echo the request, and a short password is no
/// token-like run the excerpt would elide. The secrets are taken out of the reply before the
/// excerpt is cut (a secret straddling the cut would otherwise leave its first half), and only
/// for an error: a good reply (a refresh answering with the same refresh token) is untouched.
pub fn decode_for<T: Reply>(req: &Request<'_>, http_status: u16, content_type: Option<&str>, body: &[u8]) -> Result<T, RestError> {
    let secrets = req.secrets();
    match decode(req.endpoint(), http_status, content_type, body) {
        Ok(v) => Ok(v),
        Err(e) if secrets.is_empty() => Err(e),
        Err(e) => match decode::<T>(req.endpoint(), http_status, content_type, &scrub(body, &secrets)) {
            Err(clean) => Err(clean.without(&secrets)),
            // Only the secret made it fail: say so without quoting anything of it.
            Ok(_) => Err(RestError::Malformed {
                endpoint: e.endpoint(),
                detail: "a reply that echoed a secret of the request (not quoted)".into(),
            }),
        },
    }
}

/// Every occurrence of each secret (as sent, and JSON-escaped) in `text` as `[secret]`.
fn scrub_str(mut text: String, secrets: &[&str]) -> String {
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        let escaped = serde_json::to_string(s).unwrap_or_default();
        for form in [*s, escaped.trim_matches('"')] {
            if !form.is_empty() {
                text = text.replace(form, "[secret]");
            }
        }
    }
    text
}

fn scrub(body: &[u8], secrets: &[&str]) -> Vec<u8> {
    scrub_str(String::from_utf8_lossy(body).into_owned(), secrets).into_bytes()
}

impl RestError {
    /// This error with every occurrence of each of `secrets` (as sent, and JSON-escaped)
    /// replaced by `[secret]`.
    pub(crate) fn without(self, secrets: &[&str]) -> RestError {
        let scrub = |text: String| scrub_str(text, secrets);
        match self {
            RestError::BadCredentials { endpoint, msg } => RestError::BadCredentials { endpoint, msg: scrub(msg) },
            RestError::TokenRejected { endpoint, msg } => RestError::TokenRejected { endpoint, msg: scrub(msg) },
            RestError::Unauthorized { endpoint, msg } => RestError::Unauthorized { endpoint, msg: scrub(msg) },
            RestError::Server { endpoint, code, msg } => RestError::Server {
                endpoint,
                code,
                msg: scrub(msg),
            },
            RestError::Refused { endpoint, code, msg } => RestError::Refused {
                endpoint,
                code,
                msg: scrub(msg),
            },
            RestError::Malformed { endpoint, detail } => RestError::Malformed {
                endpoint,
                detail: scrub(detail),
            },
            RestError::Network { endpoint, detail } => RestError::Network {
                endpoint,
                detail: scrub(detail),
            },
            t @ RestError::Timeout { .. } => t,
        }
    }
}

/// At most [`EXCERPT_CHARS`] characters of a reply, for an error message: control characters
/// escaped (a message can end up on a terminal) and token-like runs elided (an error page might
/// echo what it was sent).
pub(crate) fn excerpt(body: &[u8]) -> String {
    // Only the start is quoted; looking further would only cost time on a large page.
    excerpt_str(&String::from_utf8_lossy(&body[..body.len().min(4096)]))
}

pub(crate) fn excerpt_str(text: &str) -> String {
    let tokenish = |c: char| c.is_ascii_alphanumeric() || "+/=_.-".contains(c);
    let (mut out, mut run) = (String::new(), String::new());
    let flush = |run: &mut String, out: &mut String| {
        out.push_str(if run.chars().count() >= TOKEN_RUN { "[…]" } else { run });
        run.clear();
    };
    for c in text.chars() {
        if tokenish(c) {
            run.push(c);
            continue;
        }
        flush(&mut run, &mut out);
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    match out.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &out[..cut]),
        None => out,
    }
}
