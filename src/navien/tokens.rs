// Used by the Navien link and the emulator, which land next.
#![allow(dead_code)]
//! The Navien token set and when to renew it (shared/protocol/navien-nwp500.md, §2.3–2.5): pure and
//! deterministic, every function taking `now`, so the renewal rules are tested without a clock or
//! a network.
//!
//! Times are wall-clock ([`DateTime<Utc>`]), not `Instant`: the set is kept in the OS keychain and
//! must mean the same after a restart. A wall clock can step back, so a receipt time in the future
//! makes a token count as stale (renewing is cheap; trusting a skewed clock for an hour is not).
//!
//! # How the caller runs a renewal
//!
//! Renewals are serialized by the caller: one at a time per account (single flight), so that two
//! callers neither stampede the endpoint nor present a refresh token the other just rotated. After
//! taking the lock the caller calls [`plan`] again with the set as it is now, since the renewal it
//! waited for may already have done the work. It then runs the steps in order, merging each reply
//! with [`apply`]. When a step fails it asks [`fallback`]; a fallback that succeeds ends the
//! renewal (both fallbacks are sign-ins, whose reply carries the set), and the caller may check
//! with `plan(.., Need::Connect)`, which is empty once the set is complete and fresh. A
//! [`Step::PasswordSignIn`] needs the stored password; without one, the user is asked.

use super::rest::{Endpoint, RestError, TokenFields};
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Renew this long before a lifetime ends (§2.4).
pub const RENEW_MARGIN: Duration = Duration::from_secs(300);
/// Below this lifetime the margin is half the lifetime instead (see [`stale_at`]).
pub const SHORT_LIFETIME: Duration = Duration::from_secs(600);
/// The lifetime assumed when a reply omits it: what the cloud issues. The reference client takes a
/// missing `authorizationExpiresIn` as "never expires" (§8.5 item 6), which is how it ends up
/// connecting with dead credentials.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// How far the wall clock may step back behind a receipt time before that receipt is distrusted.
const CLOCK_STEP_BACK: TimeDelta = TimeDelta::seconds(60);

/// The AWS temporary credentials that sign the MQTT WebSocket upgrade (SigV4).
#[derive(Debug, Clone)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_key: SecretString,
    pub session_token: SecretString,
}

/// Everything a sign-in gives, with when each half arrived. `Debug` prints the secrets as
/// `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// Never read by Tether (tokens are opaque); kept because the cloud issues it with the others.
    pub id_token: SecretString,
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub aws: Option<AwsKeys>,
    pub jwt_received_at: DateTime<Utc>,
    pub jwt_lifetime: Duration,
    pub aws_received_at: DateTime<Utc>,
    pub aws_lifetime: Duration,
}

/// What the renewal timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Jwt,
    /// The AWS keys (the plan refreshes the JWT first when it is stale too).
    Aws,
}

/// Why tokens are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Before a connect, stored tokens included: renew what is stale.
    Connect,
    /// The renewal timer fired: the same rule as `Connect`.
    Proactive,
    /// A REST call was answered 401: one forced refresh, then the call once more.
    Forced401,
    /// An MQTT deep reconnect: forced refresh and session refresh (§8.2).
    Deep,
}

/// One renewal call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Refresh,
    SessionRefresh,
    SecuredSignIn,
    PasswordSignIn,
}

impl Step {
    pub fn endpoint(self) -> Endpoint {
        match self {
            Step::Refresh => Endpoint::Refresh,
            Step::SessionRefresh => Endpoint::SessionRefresh,
            Step::SecuredSignIn => Endpoint::SecuredSignIn,
            Step::PasswordSignIn => Endpoint::SignIn,
        }
    }
}

/// When a token received at `received` with `lifetime` becomes stale: [`RENEW_MARGIN`] early.
/// The emulator issues lifetimes of a minute or less in tests, which a 300 s margin would make
/// stale on arrival (renewing in a loop), so lifetimes under [`SHORT_LIFETIME`] renew at half-life.
pub fn stale_at(received: DateTime<Utc>, lifetime: Duration) -> DateTime<Utc> {
    let margin = if lifetime < SHORT_LIFETIME { lifetime / 2 } else { RENEW_MARGIN };
    after(received, lifetime - margin)
}

/// `at + d`, saturating: a lifetime beyond chrono's range means "not in our lifetime".
fn after(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn lifetime(secs: Option<u64>) -> Duration {
    secs.map_or(DEFAULT_LIFETIME, Duration::from_secs)
}

fn incomplete(endpoint: Endpoint, what: &str) -> RestError {
    RestError::Malformed {
        endpoint,
        detail: format!("the reply leaves no usable token set: no {what}"),
    }
}

impl TokenSet {
    /// A password sign-in sets everything. The AWS keys stay unset unless all three came; the
    /// plan then asks for a session refresh.
    pub fn from_sign_in(mut f: TokenFields, now: DateTime<Utc>) -> Result<TokenSet, RestError> {
        let e = Endpoint::SignIn;
        let mut set = TokenSet {
            access_token: f.access_token.take().ok_or_else(|| incomplete(e, "accessToken"))?,
            refresh_token: f.refresh_token.take().ok_or_else(|| incomplete(e, "refreshToken"))?,
            id_token: f.id_token.take().unwrap_or_else(|| SecretString::from("")),
            aws: None,
            jwt_received_at: now,
            jwt_lifetime: lifetime(f.authentication_expires_in),
            aws_received_at: now,
            aws_lifetime: lifetime(f.authorization_expires_in),
        };
        if let (Some(access_key_id), Some(secret_key), Some(session_token)) = (f.access_key_id, f.secret_key, f.session_token) {
            set.aws = Some(AwsKeys {
                access_key_id,
                secret_key,
                session_token,
            });
        }
        Ok(set)
    }

    /// `/auth/refresh`: the JWT fields present replace ours, the rest are carried forward, and the
    /// JWT clock restarts. The AWS keys and their expiry change only if AWS fields came too.
    pub fn merge_refresh(&mut self, f: TokenFields, now: DateTime<Utc>) -> Result<(), RestError> {
        if f.access_token.is_none() {
            return Err(incomplete(Endpoint::Refresh, "accessToken"));
        }
        self.merge(Endpoint::Refresh, f, now)
    }

    /// `/auth/session/refresh`: the AWS keys present replace ours and the AWS clock restarts; the
    /// JWT is untouched.
    pub fn merge_session_refresh(&mut self, f: TokenFields, now: DateTime<Utc>) -> Result<(), RestError> {
        if !f.has_aws_key() {
            return Err(incomplete(Endpoint::SessionRefresh, "AWS key"));
        }
        let f = TokenFields {
            id_token: None,
            access_token: None,
            refresh_token: None,
            authentication_expires_in: None,
            ..f
        };
        self.merge(Endpoint::SessionRefresh, f, now)
    }

    /// `/user/secured-sign-in`: the token fields present replace ours (in practice the AWS keys).
    pub fn merge_secured_sign_in(&mut self, f: TokenFields, now: DateTime<Utc>) -> Result<(), RestError> {
        self.merge(Endpoint::SecuredSignIn, f, now)
    }

    /// Each half that has a field in `f` takes the fields present and restarts its clock. Checked
    /// before anything changes, so a failed merge leaves the set as it was.
    fn merge(&mut self, endpoint: Endpoint, f: TokenFields, now: DateTime<Utc>) -> Result<(), RestError> {
        let aws = if f.has_aws_key() {
            let old = self.aws.as_ref();
            Some(AwsKeys {
                access_key_id: f
                    .access_key_id
                    .or_else(|| old.map(|k| k.access_key_id.clone()))
                    .ok_or_else(|| incomplete(endpoint, "accessKeyId"))?,
                secret_key: f
                    .secret_key
                    .or_else(|| old.map(|k| k.secret_key.clone()))
                    .ok_or_else(|| incomplete(endpoint, "secretKey"))?,
                session_token: f
                    .session_token
                    .or_else(|| old.map(|k| k.session_token.clone()))
                    .ok_or_else(|| incomplete(endpoint, "sessionToken"))?,
            })
        } else {
            None
        };
        if f.id_token.is_some() || f.access_token.is_some() || f.refresh_token.is_some() {
            self.id_token = f.id_token.unwrap_or_else(|| self.id_token.clone());
            self.access_token = f.access_token.unwrap_or_else(|| self.access_token.clone());
            self.refresh_token = f.refresh_token.unwrap_or_else(|| self.refresh_token.clone());
            self.jwt_received_at = now;
            self.jwt_lifetime = f.authentication_expires_in.map_or(self.jwt_lifetime, Duration::from_secs);
        }
        if aws.is_some() {
            self.aws = aws;
            self.aws_received_at = now;
            self.aws_lifetime = lifetime(f.authorization_expires_in);
        }
        Ok(())
    }

    /// When the access token expires (the cloud refuses it from then on).
    pub fn jwt_expires_at(&self) -> DateTime<Utc> {
        after(self.jwt_received_at, self.jwt_lifetime)
    }

    /// When the AWS credentials expire; `None` without them.
    pub fn aws_expires_at(&self) -> Option<DateTime<Utc>> {
        self.aws.as_ref().map(|_| after(self.aws_received_at, self.aws_lifetime))
    }

    pub fn jwt_stale_at(&self) -> DateTime<Utc> {
        stale_at(self.jwt_received_at, self.jwt_lifetime)
    }

    /// `None` without AWS keys.
    pub fn aws_stale_at(&self) -> Option<DateTime<Utc>> {
        self.aws.as_ref().map(|_| stale_at(self.aws_received_at, self.aws_lifetime))
    }

    pub fn jwt_fresh(&self, now: DateTime<Utc>) -> bool {
        now >= self.jwt_received_at - CLOCK_STEP_BACK && now < self.jwt_stale_at()
    }

    pub fn aws_fresh(&self, now: DateTime<Utc>) -> bool {
        self.aws_stale_at()
            .is_some_and(|stale| now >= self.aws_received_at - CLOCK_STEP_BACK && now < stale)
    }

    /// Whether the access token is still within its lifetime (stale is earlier): what a secured
    /// sign-in needs.
    pub fn jwt_live(&self, now: DateTime<Utc>) -> bool {
        now >= self.jwt_received_at - CLOCK_STEP_BACK && now < after(self.jwt_received_at, self.jwt_lifetime)
    }

    /// Whether the AWS keys are held and not yet expired (stale ones still sign a connect: the
    /// cloud takes them until their expiry, and a renewal that fails must not keep MQTT down).
    pub fn aws_live(&self, now: DateTime<Utc>) -> bool {
        self.aws.is_some() && now >= self.aws_received_at - CLOCK_STEP_BACK && now < after(self.aws_received_at, self.aws_lifetime)
    }

    /// When the renewal timer should fire and for what: the earlier half, never before `now`.
    /// `None` when nothing is ever due (lifetimes beyond the calendar).
    pub fn next_renewal(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Renewal)> {
        let jwt = if self.jwt_fresh(now) { self.jwt_stale_at() } else { now };
        let aws = if self.aws_fresh(now) {
            self.aws_stale_at().unwrap_or(now)
        } else {
            now
        };
        // On a tie, Aws: its plan refreshes a stale JWT first anyway.
        let next = if aws <= jwt { (aws, Renewal::Aws) } else { (jwt, Renewal::Jwt) };
        (next.0 < DateTime::<Utc>::MAX_UTC).then_some(next)
    }

    /// The whole set as one JSON string for the OS keychain: all of it is secret. `issuer` says
    /// which cloud and account it came from (see [`issuer`]).
    pub fn to_keychain_json(&self, issuer: &str) -> SecretString {
        let stored = Stored {
            v: STORED_VERSION,
            issuer,
            id_token: self.id_token.expose_secret(),
            access_token: self.access_token.expose_secret(),
            refresh_token: self.refresh_token.expose_secret(),
            aws: self.aws.as_ref().map(|k| StoredAws {
                access_key_id: k.access_key_id.as_str(),
                secret_key: k.secret_key.expose_secret(),
                session_token: k.session_token.expose_secret(),
            }),
            jwt_received_at: self.jwt_received_at,
            jwt_lifetime_secs: self.jwt_lifetime.as_secs(),
            aws_received_at: self.aws_received_at,
            aws_lifetime_secs: self.aws_lifetime.as_secs(),
        };
        // Strings, numbers and RFC 3339 times cannot fail to serialise; an empty blob would read
        // back as unreadable, and the caller signs in with the password.
        SecretString::from(serde_json::to_string(&stored).unwrap_or_default())
    }

    /// Read back what [`to_keychain_json`](Self::to_keychain_json) wrote, for the same `issuer`
    /// only: tokens of another cloud or account are never sent to this one.
    pub fn from_keychain_json(blob: &SecretString, issuer: &str) -> Result<TokenSet, TokenError> {
        // serde's message can quote a value (a token); only its category and position are kept.
        let s: Stored<String> = serde_json::from_str(blob.expose_secret())
            .map_err(|e| TokenError::Unreadable(format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column())))?;
        if s.v != STORED_VERSION {
            return Err(TokenError::Unreadable(format!(
                "stored by format version {}, this build reads {STORED_VERSION}",
                s.v
            )));
        }
        if s.issuer != issuer {
            return Err(TokenError::OtherIssuer);
        }
        Ok(TokenSet {
            id_token: s.id_token.into(),
            access_token: s.access_token.into(),
            refresh_token: s.refresh_token.into(),
            aws: s.aws.map(|k| AwsKeys {
                access_key_id: k.access_key_id,
                secret_key: k.secret_key.into(),
                session_token: k.session_token.into(),
            }),
            jwt_received_at: s.jwt_received_at,
            jwt_lifetime: Duration::from_secs(s.jwt_lifetime_secs),
            aws_received_at: s.aws_received_at,
            aws_lifetime: Duration::from_secs(s.aws_lifetime_secs),
        })
    }
}

/// 2: with the issuer (version 1 blobs are read as unreadable: one password sign-in).
const STORED_VERSION: u32 = 2;

/// Who issued a token set: the REST base URL and the account's e-mail (lowercase).
pub fn issuer(rest_url: &str, email: &str) -> String {
    format!("{} {}", rest_url.trim_end_matches('/'), email.to_ascii_lowercase())
}

/// The keychain form: `&str` to write, `String` to read.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored<S> {
    v: u32,
    /// Not secret: the cloud's URL and the account's e-mail.
    issuer: S,
    id_token: S,
    access_token: S,
    refresh_token: S,
    aws: Option<StoredAws<S>>,
    jwt_received_at: DateTime<Utc>,
    jwt_lifetime_secs: u64,
    aws_received_at: DateTime<Utc>,
    aws_lifetime_secs: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredAws<S> {
    access_key_id: S,
    secret_key: S,
    session_token: S,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the stored Navien tokens cannot be read ({0}); signing in with the password instead")]
    Unreadable(String),
    #[error("the stored Navien tokens were issued by another cloud or account than this profile's; signing in with the password instead")]
    OtherIssuer,
}

/// Merge the reply of `step` into `set` (a password sign-in replaces it).
pub fn apply(set: Option<TokenSet>, step: Step, f: TokenFields, now: DateTime<Utc>) -> Result<TokenSet, RestError> {
    let Some(mut set) = set.filter(|_| step != Step::PasswordSignIn) else {
        return TokenSet::from_sign_in(f, now);
    };
    match step {
        Step::Refresh => set.merge_refresh(f, now)?,
        Step::SessionRefresh => set.merge_session_refresh(f, now)?,
        Step::SecuredSignIn | Step::PasswordSignIn => set.merge_secured_sign_in(f, now)?,
    }
    Ok(set)
}

/// The calls that give usable tokens for `need` (§2.5), in order. Empty: use the set as it is.
pub fn plan(set: Option<&TokenSet>, now: DateTime<Utc>, need: Need) -> Vec<Step> {
    let Some(set) = set else { return vec![Step::PasswordSignIn] };
    match need {
        Need::Forced401 => vec![Step::Refresh],
        Need::Deep => vec![Step::Refresh, Step::SessionRefresh],
        Need::Connect | Need::Proactive => {
            let mut steps = Vec::new();
            // Session refresh needs a live access token, so a stale JWT is refreshed first.
            if !set.jwt_fresh(now) {
                steps.push(Step::Refresh);
            }
            if !set.aws_fresh(now) {
                steps.push(Step::SessionRefresh);
            }
            steps
        }
    }
}

/// What to try after `failed` failed with `err`, or `None`: report `err` (§2.5).
///
/// The reference client falls back only when restoring tokens and in deep reconnects; Tether
/// falls back on the timer too, since the alternative is a link that dies at the next connect. It
/// does not escalate over a network that is down ([`RestError::Network`], [`RestError::Timeout`]):
/// the next call would fail the same way, and the caller retries the plan with its backoff.
pub fn fallback(need: Need, failed: Step, err: &RestError, set: Option<&TokenSet>, now: DateTime<Utc>) -> Option<Step> {
    match err {
        // Fatal: never retried with the same password (§2.1).
        RestError::BadCredentials { .. } => return None,
        RestError::Network { .. } | RestError::Timeout { .. } => return None,
        // The server's trouble (5xx, 429): the password would fare no better, and sending it
        // again and again through an outage is what a storm looks like. Retried later.
        RestError::Server { .. } => return None,
        _ => {}
    }
    let secured_first = if set.is_some_and(|s| s.jwt_live(now)) {
        Step::SecuredSignIn
    } else {
        Step::PasswordSignIn
    };
    match (need, failed) {
        // §2.5: if the forced refresh fails, the original 401 is what the caller reports.
        (Need::Forced401, Step::Refresh) => None,
        (Need::Deep, Step::Refresh) | (_, Step::SessionRefresh) => Some(secured_first),
        (_, Step::Refresh) | (_, Step::SecuredSignIn) => Some(Step::PasswordSignIn),
        (_, Step::PasswordSignIn) => None,
    }
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
