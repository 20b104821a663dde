//! The [`Registry`] of the emulator's accounts and the credentials it issues
//! (shared/protocol/navien-nwp500.md §2.3, §2.4 and §3.3): it signs users in, issues and checks
//! JWTs, refresh tokens and temporary AWS keys, and carries the test switches the demo and the
//! integration tests use to push a client down each fallback path, and the call counters. The
//! accounts themselves (the `--accounts FILE` format, the demo account) are in [`super::accounts`].
//!
//! Written from the spec, independently of the client's `navien::rest` and `navien::tokens`, so
//! that a misreading on either side shows up when the two meet.
//!
//! # Credentials
//!
//! - Every token is random and opaque. Access, ID and refresh tokens look like JWTs (`eyJ….eyJ….…`)
//!   but carry no claims: clients must not read them.
//! - An access token lives `jwt_lifetime` (default 3600 s), an AWS key `aws_lifetime` (default
//!   3600 s); both can be set shorter. A refresh token lives [`REFRESH_LIFETIME`].
//! - `/auth/refresh` issues a new access token and ID token every time, and **rotates** the refresh
//!   token: the one presented stops working, so a client that keeps using an old refresh token is
//!   caught. Access tokens and AWS keys issued earlier stay valid until their own expiry.
//! - Session tokens always contain `+`, `/` and `=`, as real ones often do, so that a client that
//!   forgets to percent-encode `X-Amz-Security-Token` fails here rather than against the cloud.
//! - Only SHA-256 digests of tokens are kept; the AWS secret key and session token are kept (the
//!   SigV4 verifier needs them) as [`SecretString`]s.
//!
//! Time is a parameter (`now`) everywhere, so the rules are tested without sleeping.
//!
//! This file holds the vocabulary the REST server speaks with the registry ([`Endpoint`],
//! [`Step`], [`Denied`], the credential sets) and the [`Registry`] handle with its operations;
//! the state behind the lock, and how credentials are minted, are in [`state`].

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;

mod state;

use super::accounts::{Account, Device, UserInfo};
use crate::navien::sigv4::IssuedKey;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use state::{digest_of, live, same_secret, State};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// What the cloud issues for both lifetimes (§2.4).
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// How long a refresh token lives when it is not rotated away first (the spec leaves it open; the
/// cloud's are long-lived).
pub(crate) const REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// The REST endpoints the emulator serves (§2.2), for routing and the call counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    SignIn,
    Refresh,
    SessionRefresh,
    SecuredSignIn,
    DeviceList,
    DeviceInfo,
    FirmwareInfo,
}

impl Endpoint {
    pub(crate) const ALL: [Endpoint; 7] = [
        Endpoint::SignIn,
        Endpoint::Refresh,
        Endpoint::SessionRefresh,
        Endpoint::SecuredSignIn,
        Endpoint::DeviceList,
        Endpoint::DeviceInfo,
        Endpoint::FirmwareInfo,
    ];

    /// The path under the base `/api/v2.1`.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::SignIn => "/user/sign-in",
            Endpoint::Refresh => "/auth/refresh",
            Endpoint::SessionRefresh => "/auth/session/refresh",
            Endpoint::SecuredSignIn => "/user/secured-sign-in",
            Endpoint::DeviceList => "/device/list",
            Endpoint::DeviceInfo => "/device/info",
            Endpoint::FirmwareInfo => "/device/firmware/info",
        }
    }

    /// The endpoint at `path` (under the base), exactly: no trailing slash, no case folding.
    pub(crate) fn from_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.path() == path)
    }

    /// Whether the call needs `authorization: <accessToken>`.
    pub(crate) fn needs_auth(self) -> bool {
        !matches!(self, Endpoint::SignIn | Endpoint::Refresh)
    }
}

/// A renewal step the test switch [`Registry::refuse`] can turn away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    Refresh,
    SessionRefresh,
    SecuredSignIn,
}

/// Why a call was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    /// Sign-in: unknown e-mail or wrong password (not told apart).
    BadCredentials,
    /// The token is unknown, expired, revoked or rotated away.
    TokenRejected,
    /// The step is switched off with [`Registry::refuse`] (answered like [`Denied::TokenRejected`]).
    Refused,
    /// The body's `userId` names another account than the token's.
    WrongUser,
}

/// The JWT half of a sign-in or refresh reply.
#[derive(Clone, Debug)]
pub(crate) struct JwtSet {
    /// `idToken`.
    pub id_token: SecretString,
    /// `accessToken`.
    pub access_token: SecretString,
    /// `refreshToken`.
    pub refresh_token: SecretString,
    /// `authenticationExpiresIn`, seconds.
    pub expires_in: u64,
}

/// A fresh AWS credential set.
#[derive(Clone, Debug)]
pub(crate) struct AwsSet {
    /// `accessKeyId`: `ASIA` and 16 upper-case letters and digits.
    pub access_key_id: String,
    /// `secretKey`.
    pub secret_key: SecretString,
    /// `sessionToken`.
    pub session_token: SecretString,
    /// `authorizationExpiresIn`, seconds.
    pub expires_in: u64,
}

/// What a password sign-in gives.
#[derive(Clone, Debug)]
pub(crate) struct SignedIn {
    /// For `userInfo`.
    pub user: UserInfo,
    /// New JWTs.
    pub jwt: JwtSet,
    /// New AWS credentials.
    pub aws: AwsSet,
}

/// What a secured sign-in (by access token) gives: new AWS credentials, the JWTs untouched.
#[derive(Clone, Debug)]
pub(crate) struct SecuredSignedIn {
    /// For `userInfo`.
    pub user: UserInfo,
    /// New AWS credentials.
    pub aws: AwsSet,
}

/// The emulator's accounts and every credential it has issued. Cheap to clone (all clones share
/// one state); the lock is never held across an `.await`.
#[derive(Clone)]
pub(crate) struct Registry {
    /// The shared state.
    inner: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry for these accounts, with both lifetimes at [`DEFAULT_LIFETIME`].
    pub(crate) fn new(accounts: Vec<Account>) -> Registry {
        Registry {
            inner: Arc::new(Mutex::new(State {
                accounts,
                jwt_secs: DEFAULT_LIFETIME.as_secs(),
                aws_secs: DEFAULT_LIFETIME.as_secs(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                aws: HashMap::new(),
                refused: HashSet::new(),
                outage_until: None,
                calls: HashMap::new(),
                password_sign_ins: 0,
                rejected_password_sign_ins: 0,
            })),
        }
    }

    #[cfg(test)]
    /// A registry with only the demo account.
    pub(crate) fn demo() -> Registry {
        Registry::new(super::accounts::demo_accounts())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent maps: keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the JWT and AWS lifetimes for credentials issued from now on, in whole seconds (at
    /// least one). Already issued credentials keep theirs.
    pub(crate) fn set_lifetimes(&self, jwt: Duration, aws: Duration) {
        let mut s = self.lock();
        s.jwt_secs = jwt.as_secs().max(1);
        s.aws_secs = aws.as_secs().max(1);
    }

    #[cfg(test)]
    /// The JWT and AWS lifetimes, as issued.
    pub(crate) fn lifetimes(&self) -> (Duration, Duration) {
        let s = self.lock();
        (Duration::from_secs(s.jwt_secs), Duration::from_secs(s.aws_secs))
    }

    /// Every account's e-mail, in file order.
    pub(crate) fn emails(&self) -> Vec<String> {
        self.lock().accounts.iter().map(|a| a.email.clone()).collect()
    }

    /// `/user/sign-in`: checks the password and issues JWTs and AWS credentials. Counts a password
    /// sign-in, right or wrong.
    pub(crate) fn sign_in(&self, email: &str, password: &str, now: DateTime<Utc>) -> Result<SignedIn, Denied> {
        let mut s = self.lock();
        s.password_sign_ins += 1;
        let account = s
            .account_index(email)
            .filter(|&i| same_secret(s.accounts[i].password.expose_secret(), password));
        let Some(account) = account else {
            s.rejected_password_sign_ins += 1;
            return Err(Denied::BadCredentials);
        };
        s.prune(now);
        let jwt = s.issue_jwt(account, now);
        let aws = s.issue_aws(account, now);
        Ok(SignedIn {
            user: s.accounts[account].user.clone(),
            jwt,
            aws,
        })
    }

    /// `/auth/refresh`: a new access token and ID token, and a new refresh token replacing the one
    /// presented (which stops working). AWS credentials are untouched.
    pub(crate) fn refresh(&self, refresh_token: &str, now: DateTime<Utc>) -> Result<JwtSet, Denied> {
        let mut s = self.lock();
        if s.refused.contains(&Step::Refresh) {
            return Err(Denied::Refused);
        }
        let key = digest_of(refresh_token);
        let account = live(s.refresh.get(&key), now).ok_or(Denied::TokenRejected)?;
        s.refresh.remove(&key);
        s.prune(now);
        Ok(s.issue_jwt(account, now))
    }

    /// `/auth/session/refresh`: a new AWS credential set for a live access token whose account is
    /// `email`. Earlier AWS keys stay valid until their own expiry.
    pub(crate) fn session_refresh(&self, access_token: &str, email: &str, now: DateTime<Utc>) -> Result<AwsSet, Denied> {
        let mut s = self.lock();
        let account = s.authorize(Step::SessionRefresh, access_token, email, now)?;
        s.prune(now);
        Ok(s.issue_aws(account, now))
    }

    /// `/user/secured-sign-in`: like [`Registry::session_refresh`], with the sign-in's `userInfo`.
    pub(crate) fn secured_sign_in(&self, access_token: &str, email: &str, now: DateTime<Utc>) -> Result<SecuredSignedIn, Denied> {
        let mut s = self.lock();
        let account = s.authorize(Step::SecuredSignIn, access_token, email, now)?;
        s.prune(now);
        let aws = s.issue_aws(account, now);
        Ok(SecuredSignedIn {
            user: s.accounts[account].user.clone(),
            aws,
        })
    }

    /// The e-mail of the account a live access token belongs to.
    pub(crate) fn account_for_access_token(&self, token: &str, now: DateTime<Utc>) -> Option<String> {
        let s = self.lock();
        live(s.access.get(&digest_of(token)), now).map(|i| s.accounts[i].email.clone())
    }

    /// The account's devices (none for an unknown e-mail).
    pub(crate) fn devices(&self, email: &str) -> Vec<Device> {
        let s = self.lock();
        s.account_index(email).map(|i| s.accounts[i].devices.clone()).unwrap_or_default()
    }

    #[cfg(test)]
    /// `userInfo` of an account.
    pub(crate) fn user_info(&self, email: &str) -> Option<UserInfo> {
        let s = self.lock();
        s.account_index(email).map(|i| s.accounts[i].user.clone())
    }

    /// The AWS key with this access key id, until it expires (for the SigV4 check at the WSS
    /// upgrade).
    pub(crate) fn aws_key(&self, access_key_id: &str, now: DateTime<Utc>) -> Option<IssuedKey> {
        let s = self.lock();
        s.aws.get(access_key_id).filter(|g| now < g.key.expires_at).map(|g| g.key.clone())
    }

    #[cfg(test)]
    /// The e-mail of the account a live AWS key was issued to.
    pub(crate) fn aws_key_owner(&self, access_key_id: &str, now: DateTime<Utc>) -> Option<String> {
        let s = self.lock();
        s.aws
            .get(access_key_id)
            .filter(|g| now < g.key.expires_at)
            .map(|g| s.accounts[g.account].email.clone())
    }

    /// Revokes every access token, refresh token and AWS key (the `expire` command). Passwords
    /// still work.
    pub(crate) fn expire_all(&self) {
        let mut s = self.lock();
        s.access.clear();
        s.refresh.clear();
        s.aws.clear();
    }

    /// Revoke every access token (JWT) only: refresh tokens and AWS keys stay good, so a client's
    /// next REST call gets 401 and its refresh works (as after a sign-in elsewhere).
    pub(crate) fn expire_access(&self) {
        self.lock().access.clear();
    }

    /// Changes an account's password (the demo's "change the password" fault): the old one stops
    /// working for sign-in; tokens already issued stay valid. False for an unknown e-mail.
    pub(crate) fn set_password(&self, email: &str, new: SecretString) -> bool {
        let mut s = self.lock();
        match s.account_index(email) {
            Some(i) => {
                s.accounts[i].password = new;
                true
            }
            None => false,
        }
    }

    /// Test switch: while on, `step` is answered 401 as if its token were rejected.
    pub(crate) fn refuse(&self, step: Step, on: bool) {
        let mut s = self.lock();
        if on {
            s.refused.insert(step);
        } else {
            s.refused.remove(&step);
        }
    }

    /// Test switch: every REST call is answered 503 until `until` (a time in the past ends it).
    pub(crate) fn outage(&self, until: DateTime<Utc>) {
        self.lock().outage_until = Some(until);
    }

    /// Whether an outage is on at `now`.
    pub(crate) fn in_outage(&self, now: DateTime<Utc>) -> bool {
        self.lock().outage_until.is_some_and(|until| now < until)
    }

    /// Counts a call to `endpoint`, whatever its answer (the REST server calls this).
    pub(crate) fn record_call(&self, endpoint: Endpoint) {
        *self.lock().calls.entry(endpoint).or_default() += 1;
    }

    /// Calls to `endpoint` so far, whatever their answer.
    pub(crate) fn calls(&self, endpoint: Endpoint) -> u64 {
        self.lock().calls.get(&endpoint).copied().unwrap_or(0)
    }

    /// Sign-ins whose password was checked, right or wrong (not those refused earlier, in an outage
    /// or for a malformed body).
    pub(crate) fn password_sign_ins(&self) -> u64 {
        self.lock().password_sign_ins
    }

    /// Sign-ins turned away for bad credentials.
    pub(crate) fn rejected_password_sign_ins(&self) -> u64 {
        self.lock().rejected_password_sign_ins
    }
}
