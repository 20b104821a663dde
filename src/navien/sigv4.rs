//! AWS SigV4 query presigning for the AWS IoT WebSocket upgrade (`GET /mqtt?X-Amz-…`), and the
//! matching verifier the emulator runs before it answers 101 (shared/protocol/navien-nwp500.md,
//! sections 3.2 to 3.4 and 9).
//!
//! Hand-written rather than `aws-sigv4`: that crate needs a newer Rust than Tether's MSRV, and the
//! subset AWS IoT needs (GET, empty payload, one or two signed headers, the session token appended
//! but not signed) is small enough to pin down with the spec's reference vectors.

// Used by the Navien link and the emulator, which land next.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use ring::{digest, hmac};
use secrecy::{ExposeSecret, SecretString};

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The only region and service the Navien cloud uses; the verifier requires them in the scope.
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const SERVICE: &str = "iotdevicegateway";
const TERMINATOR: &str = "aws4_request";
/// SHA-256 of the empty payload: a WebSocket upgrade has no body.
const EMPTY_PAYLOAD_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far `X-Amz-Date` may be from the verifier's clock, either way (§3.3, rule 7).
pub(crate) const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);
/// AWS's own ceiling for `X-Amz-Expires` (seven days); larger values are refused as malformed.
const MAX_EXPIRES: u32 = 604_800;
const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

const P_ALGORITHM: &str = "X-Amz-Algorithm";
const P_CREDENTIAL: &str = "X-Amz-Credential";
const P_DATE: &str = "X-Amz-Date";
const P_EXPIRES: &str = "X-Amz-Expires";
const P_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
const P_TOKEN: &str = "X-Amz-Security-Token";
const P_SIGNATURE: &str = "X-Amz-Signature";

/// Temporary AWS credentials as the Navien REST API issues them. `Debug` shows only the key id:
/// `SecretString` redacts itself.
#[derive(Clone, Debug)]
pub(crate) struct AwsCredentials {
    pub access_key_id: String,
    pub secret_key: SecretString,
    pub session_token: SecretString,
}

/// Which headers the presign covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignedHeaders {
    /// `host` only: what Tether sends, since some WebSocket stacks rewrite `Connection`.
    Host,
    /// `connection;host` with `connection:Upgrade`, as the reference client 9.12.2 signs.
    ConnectionHost,
}

impl SignedHeaders {
    fn list(self) -> &'static str {
        match self {
            SignedHeaders::Host => "host",
            SignedHeaders::ConnectionHost => "connection;host",
        }
    }
}

/// What to presign.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Presign<'a> {
    /// The exact `Host` header value the WebSocket stack will send (with a port only if it sends one).
    pub host: &'a str,
    /// `/mqtt`.
    pub path: &'a str,
    pub region: &'a str,
    /// `iotdevicegateway`.
    pub service: &'a str,
    pub signed_headers: SignedHeaders,
    /// `X-Amz-Expires` in seconds; the reference client sends none.
    pub expires: Option<u32>,
}

/// The full query string for `GET <path>?…`, in the reference client's parameter order.
pub(crate) fn presign_query(creds: &AwsCredentials, p: &Presign, now: DateTime<Utc>) -> String {
    let date = now.format(DATE_FORMAT).to_string();
    let scope = format!("{}/{}/{}/{TERMINATOR}", &date[..8], p.region, p.service);
    let credential = format!("{}/{scope}", creds.access_key_id);
    let expires = p.expires.map(|e| e.to_string());
    let mut params: Vec<(&str, &str)> = vec![(P_ALGORITHM, ALGORITHM), (P_CREDENTIAL, &credential), (P_DATE, &date)];
    if let Some(e) = &expires {
        params.push((P_EXPIRES, e));
    }
    params.push((P_SIGNED_HEADERS, p.signed_headers.list()));

    let headers: &[(&str, &str)] = match p.signed_headers {
        SignedHeaders::Host => &[("host", p.host)],
        SignedHeaders::ConnectionHost => &[("connection", "Upgrade"), ("host", p.host)],
    };
    let request = canonical_request(p.path, &canonical_query(&params), headers);
    let key = signing_key(&creds.secret_key, &date[..8], p.region, p.service);
    let signature = hex(hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &key),
        string_to_sign(&date, &scope, &request).as_bytes(),
    )
    .as_ref());

    // The token goes after the signed parameters and before the signature, as the reference
    // client writes it; it is not part of the canonical query.
    let token = creds.session_token.expose_secret();
    params.push((P_TOKEN, token));
    params.push((P_SIGNATURE, &signature));
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding as SigV4 wants it: keep `A-Z a-z 0-9 - _ . ~`, write every other byte as
/// `%XX` with upper-case hex.
pub(crate) fn encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Decodes `%XX` escapes, and `+` as a space: a correct signer writes `%2B` and `%20`, so only a
/// client that did not encode is affected, and it is refused as AWS refuses it.
fn decode(s: &str) -> Result<String, VerifyError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|&b| char::from(b).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|&b| char::from(b).to_digit(16));
            match (hi, lo) {
                // Both digits are below 16, so the byte fits.
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(VerifyError::BadEscape),
            }
            i += 3;
        } else {
            // As AWS reads a query: a raw `+` is a space. A client that sends the session token
            // (which holds `+`) unencoded is then refused, as it would be by the real cloud.
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| VerifyError::BadEscape)
}

/// The canonical query from decoded `(name, value)` pairs: encoded, sorted by name (then value),
/// `k=v` joined with `&`. The caller leaves out the signature and the token.
pub(crate) fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    encoded.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// The canonical request of a `GET` with an empty body. `headers` are the signed headers, with
/// lower-case names in sorted order; their names joined by `;` are the signed-headers line.
pub(crate) fn canonical_request(path: &str, canonical_query: &str, headers: &[(&str, &str)]) -> String {
    let mut out = format!("GET\n{path}\n{canonical_query}\n");
    for (name, value) in headers {
        // Trimmed, with internal runs of spaces collapsed to one.
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&format!("{name}:{value}\n"));
    }
    let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    out.push_str(&format!("\n{}\n{EMPTY_PAYLOAD_SHA256}", names.join(";")));
    out
}

/// `AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex SHA-256 of the canonical request>`.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = digest::digest(&digest::SHA256, canonical_request.as_bytes());
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex(hash.as_ref()))
}

/// `kSigning`: the HMAC chain from `"AWS4" + secret` through the day, region, service and
/// `aws4_request`.
pub(crate) fn signing_key(secret: &SecretString, day: &str, region: &str, service: &str) -> [u8; 32] {
    let mut key = format!("AWS4{}", secret.expose_secret()).into_bytes();
    for part in [day, region, service, TERMINATOR] {
        key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes())
            .as_ref()
            .to_vec();
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&key);
    out
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [char::from(HEX[usize::from(b >> 4)]), char::from(HEX[usize::from(b & 0x0f)])])
        .collect()
}

/// A key the emulator issued: what the verifier needs to check a presign made with it.
#[derive(Clone, Debug)]
pub(crate) struct IssuedKey {
    pub secret_key: SecretString,
    pub session_token: SecretString,
    pub expires_at: DateTime<Utc>,
}

/// Who a verified upgrade belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VerifiedKey {
    pub access_key_id: String,
    /// `X-Amz-Date` of the presign.
    pub signed_at: DateTime<Utc>,
}

/// Why a presigned upgrade was refused (the emulator answers 403). Messages quote only what the
/// client sent, never a secret, a token or a computed signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VerifyError {
    #[error("the presigned query has no {0} parameter")]
    MissingParameter(&'static str),
    #[error("the presigned query has {0} more than once")]
    DuplicateParameter(&'static str),
    #[error("the query has a malformed percent escape (expected %XX with two hex digits, decoding to UTF-8)")]
    BadEscape,
    #[error("unsupported X-Amz-Algorithm {0:?} (expected AWS4-HMAC-SHA256)")]
    UnsupportedAlgorithm(String),
    #[error("malformed X-Amz-Credential {0:?} (expected <access key>/<yyyymmdd>/<region>/<service>/aws4_request)")]
    MalformedCredential(String),
    #[error("wrong credential scope {0:?} (expected <yyyymmdd>/us-east-1/iotdevicegateway/aws4_request)")]
    WrongScope(String),
    #[error("bad X-Amz-Date {0:?} (expected yyyymmddTHHMMSSZ in UTC, on the credential scope's day)")]
    BadDate(String),
    #[error("stale X-Amz-Date {date}: {skew_seconds} s from the server's clock, more than the 900 s allowed")]
    StaleDate { date: String, skew_seconds: i64 },
    #[error("bad X-Amz-Expires {0:?} (expected whole seconds, 1 to 604800)")]
    BadExpires(String),
    #[error("the presigned URL expired at {0} (X-Amz-Date plus X-Amz-Expires)")]
    ExpiredPresign(DateTime<Utc>),
    #[error("bad X-Amz-SignedHeaders {0:?} (expected sorted lower-case header names joined by ';', including host)")]
    BadSignedHeaders(String),
    #[error("the request lacks the signed header {0:?}")]
    MissingHeader(String),
    #[error("malformed X-Amz-Signature (expected 64 lower-case hex characters)")]
    MalformedSignature,
    #[error("unknown access key {0:?}")]
    UnknownKey(String),
    #[error("access key {access_key_id:?} expired at {expired_at}")]
    ExpiredKey { access_key_id: String, expired_at: DateTime<Utc> },
    #[error("bad signature for access key {0:?} (the canonical request or the secret differs)")]
    BadSignature(String),
    #[error("wrong X-Amz-Security-Token for access key {0:?}")]
    WrongToken(String),
}

/// Verifies a presigned upgrade as §3.3 "What the emulator's verifier must do" lists.
///
/// `query` is the raw query string (after `?`), `path` the request path that was signed (the
/// caller checks it is `/mqtt`), `header` returns a request header's value by lower-case name,
/// and `keys` finds an issued key by access key id.
pub(crate) fn verify(
    query: &str,
    path: &str,
    header: &dyn Fn(&str) -> Option<String>,
    now: DateTime<Utc>,
    keys: &dyn Fn(&str) -> Option<IssuedKey>,
) -> Result<VerifiedKey, VerifyError> {
    // 1. Parameters in any order, percent-decoded.
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((decode(k)?, decode(v)?));
    }
    let one = |name: &'static str| -> Result<Option<&str>, VerifyError> {
        let mut found = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = found.next();
        match found.next() {
            Some(_) => Err(VerifyError::DuplicateParameter(name)),
            None => Ok(first),
        }
    };
    let required = |name: &'static str| one(name)?.ok_or(VerifyError::MissingParameter(name));

    let algorithm = required(P_ALGORITHM)?;
    if algorithm != ALGORITHM {
        return Err(VerifyError::UnsupportedAlgorithm(algorithm.to_string()));
    }
    let credential = required(P_CREDENTIAL)?;
    let amz_date = required(P_DATE)?;
    let signed_headers = required(P_SIGNED_HEADERS)?;
    let token = required(P_TOKEN)?;
    let signature = required(P_SIGNATURE)?;
    let expires = one(P_EXPIRES)?;

    // 4 (first half). The scope: <akid>/<day>/us-east-1/iotdevicegateway/aws4_request.
    let (access_key_id, scope) = credential
        .split_once('/')
        .ok_or_else(|| VerifyError::MalformedCredential(credential.to_string()))?;
    let parts: Vec<&str> = scope.split('/').collect();
    let [day, region, service, terminator] = parts[..] else {
        return Err(VerifyError::MalformedCredential(credential.to_string()));
    };
    if access_key_id.is_empty() {
        return Err(VerifyError::MalformedCredential(credential.to_string()));
    }
    if region != REGION || service != SERVICE || terminator != TERMINATOR {
        return Err(VerifyError::WrongScope(scope.to_string()));
    }

    // 7 (dates). Re-formatting the parsed date must give back what was sent, which refuses
    // the lenient forms the parser would otherwise accept.
    let signed_at = NaiveDateTime::parse_from_str(amz_date, DATE_FORMAT)
        .ok()
        .map(|d| d.and_utc())
        .filter(|d| d.format(DATE_FORMAT).to_string() == amz_date && amz_date.starts_with(day))
        .ok_or_else(|| VerifyError::BadDate(amz_date.to_string()))?;
    let skew = now - signed_at;
    if skew.abs() > MAX_CLOCK_SKEW {
        return Err(VerifyError::StaleDate {
            date: amz_date.to_string(),
            skew_seconds: skew.num_seconds(),
        });
    }
    if let Some(e) = expires {
        let seconds = Some(e)
            .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|e| e.parse::<u32>().ok())
            .filter(|s| (1..=MAX_EXPIRES).contains(s))
            .ok_or_else(|| VerifyError::BadExpires(e.to_string()))?;
        let expired_at = signed_at + TimeDelta::seconds(i64::from(seconds));
        if now > expired_at {
            return Err(VerifyError::ExpiredPresign(expired_at));
        }
    }

    // 3. Exactly the listed headers, with this request's values. Requiring `host` is what makes
    // the presign bound to a host; requiring sorted names keeps one canonical form.
    let names: Vec<&str> = signed_headers.split(';').collect();
    let well_formed = names
        .iter()
        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase()))
        && names.windows(2).all(|w| w[0] < w[1])
        && names.contains(&"host");
    if !well_formed {
        return Err(VerifyError::BadSignedHeaders(signed_headers.to_string()));
    }
    let mut values = Vec::with_capacity(names.len());
    for name in &names {
        values.push(header(name).ok_or_else(|| VerifyError::MissingHeader(name.to_string()))?);
    }
    let headers: Vec<(&str, &str)> = names.iter().copied().zip(values.iter().map(String::as_str)).collect();

    // The client's signature as bytes, for ring's constant-time comparison.
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(VerifyError::MalformedSignature);
    }
    let tag: Vec<u8> = signature
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            pair.iter()
                .fold(0u8, |acc, &b| acc * 16 + char::from(b).to_digit(16).map_or(0, |d| d as u8))
        })
        .collect();

    // 4 (second half), and the key's own lifetime (7).
    let key = keys(access_key_id).ok_or_else(|| VerifyError::UnknownKey(access_key_id.to_string()))?;
    if now >= key.expires_at {
        return Err(VerifyError::ExpiredKey {
            access_key_id: access_key_id.to_string(),
            expired_at: key.expires_at,
        });
    }

    // 2. The canonical query from what was received, minus the signature and the token.
    let signed: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != P_SIGNATURE && k != P_TOKEN)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = canonical_request(path, &canonical_query(&signed), &headers);
    let k_signing = signing_key(&key.secret_key, day, region, service);

    // 5. `hmac::verify` recomputes the tag and compares it in constant time, so response timing
    // says nothing about how many leading bytes of a forged signature were right.
    let to_sign = string_to_sign(amz_date, scope, &request);
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &k_signing), to_sign.as_bytes(), &tag)
        .map_err(|_| VerifyError::BadSignature(access_key_id.to_string()))?;

    // 6. The token is unsigned, so it is checked on its own, also in constant time.
    if !constant_time_eq(token.as_bytes(), key.session_token.expose_secret().as_bytes()) {
        return Err(VerifyError::WrongToken(access_key_id.to_string()));
    }
    Ok(VerifiedKey {
        access_key_id: access_key_id.to_string(),
        signed_at,
    })
}

/// Equality that looks at every byte whatever the first difference, so timing does not reveal a
/// secret's prefix (only its length, which is not secret here).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
