//! The emulator's accounts and the credentials it issues (shared/protocol/navien-nwp500.md §2.3,
//! §2.4 and §3.3): the `--accounts FILE` format, and the [`Registry`] that signs users in, issues
//! and checks JWTs, refresh tokens and temporary AWS keys, and carries the test switches the demo
//! and the integration tests use to push a client down each fallback path.
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

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;

use crate::navien::sigv4::IssuedKey;
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use ring::digest;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The demo account, used when no accounts file is given (matches `src/demo/device.rs`).
pub(crate) const DEMO_EMAIL: &str = "demo@tether.invalid";
pub(crate) const DEMO_PASSWORD: &str = "tether-demo";
pub(crate) const DEMO_MAC: &str = "04786332fca0";
pub(crate) const DEMO_DEVICE_NAME: &str = "Demo water heater";
#[cfg(test)]
/// What [`additional_value`] gives for [`DEMO_MAC`].
pub(crate) const DEMO_ADDITIONAL: &str = "5322";
/// What the cloud issues for both lifetimes (§2.4).
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// How long a refresh token lives when it is not rotated away first (the spec leaves it open; the
/// cloud's are long-lived).
pub(crate) const REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// A device without a `name` in the accounts file.
const DEFAULT_DEVICE_NAME: &str = "NWP500";
/// `userSeq` of the first account (the next ones count up), as in the spec's example.
const FIRST_USER_SEQ: u64 = 36283;
/// `homeSeq` of the first account's devices.
const FIRST_HOME_SEQ: u64 = 25004;

/// One water heater on an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Device {
    /// 12 lowercase hex characters.
    pub mac: String,
    /// `deviceName` in the device list.
    pub name: String,
    /// The opaque `additionalValue` clients echo in every request (see [`additional_value`]).
    pub additional_value: String,
    /// `homeSeq` of the account's home.
    pub home_seq: u64,
}

/// The `userInfo` of a sign-in reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserInfo {
    /// `userFirstName`.
    pub first_name: String,
    /// `userLastName` (may be empty).
    pub last_name: String,
    /// `userSeq`.
    pub user_seq: u64,
}

/// A user of the emulated cloud. `Debug` redacts the password.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    /// The sign-in name (`userId`), matched without regard to ASCII case.
    pub email: String,
    /// What `/user/sign-in` checks.
    pub password: SecretString,
    /// Names and sequence number for `userInfo`.
    pub user: UserInfo,
    /// The account's heaters, in the order `/device/list` pages through them.
    pub devices: Vec<Device>,
}

impl Account {
    /// An account numbered `index` (0-based) in its file: names come from the e-mail's local part
    /// (`jane.doe@…` is Jane Doe), `userSeq` and `homeSeq` count up from the spec's examples.
    pub(crate) fn new(index: usize, email: &str, password: SecretString, devices: &[(&str, &str)]) -> Account {
        let (first_name, last_name) = names_from_email(email);
        let n = index as u64;
        Account {
            email: email.to_string(),
            password,
            user: UserInfo {
                first_name,
                last_name,
                user_seq: FIRST_USER_SEQ + n,
            },
            devices: devices
                .iter()
                .map(|(mac, name)| Device {
                    mac: mac.to_ascii_lowercase(),
                    name: name.to_string(),
                    additional_value: additional_value(mac),
                    home_seq: FIRST_HOME_SEQ + n,
                })
                .collect(),
        }
    }
}

/// The account used when no `--accounts` file is given.
pub(crate) fn demo_accounts() -> Vec<Account> {
    vec![Account::new(
        0,
        DEMO_EMAIL,
        SecretString::from(DEMO_PASSWORD),
        &[(DEMO_MAC, DEMO_DEVICE_NAME)],
    )]
}

/// A stable four-digit `additionalValue` for a MAC address: FNV-1a of the lowercase MAC, folded
/// into 1000..=9999 with an offset chosen so that the demo heater gets the `5322` the demo uses.
pub(crate) fn additional_value(mac: &str) -> String {
    /// Makes [`DEMO_MAC`] come out as [`DEMO_ADDITIONAL`].
    const OFFSET: u32 = 916;
    let mut h: u32 = 0x811c_9dc5;
    for b in mac.to_ascii_lowercase().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{}", 1000 + (h % 9000 + OFFSET) % 9000)
}

fn names_from_email(email: &str) -> (String, String) {
    let local = email.split('@').next().unwrap_or_default();
    let mut parts = local.split(['.', '_', '-', '+']).filter(|p| !p.is_empty()).map(capitalize);
    let first = parts.next().unwrap_or_default();
    let last = parts.collect::<Vec<_>>().join(" ");
    (first, last)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Why an accounts file was refused. No variant quotes a password.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountsError {
    #[error("cannot read the accounts file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    #[error("the accounts file {} is not valid JSON at line {line}, column {column}: {detail}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// 1-based.
        column: usize,
        /// The parser's complaint, without the position.
        detail: String,
    },
    #[error("the accounts file {}: {at}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where: "entry 2", "entry 2, field `password`", "entry 1, device 3, field `mac`".
        at: String,
        /// What is wrong, and what was expected.
        problem: String,
    },
}

/// Reads an accounts file: `[{"email","password","devices":[{"mac","name"}]}]`.
pub(crate) fn load_accounts(path: &Path) -> Result<Vec<Account>, AccountsError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_accounts(&text, path)
}

/// Parses an accounts file's text; `path` is for the messages. Rules: a non-empty array of
/// objects; `email` (a string with an `@`, unique without regard to case) and `password` (a
/// non-empty string) required; `devices` optional (an array of `{"mac","name"}`, `mac` 12 hex
/// digits without separators, stored lowercase and unique across the file, `name` optional).
/// Unknown keys are errors, so a misspelt `pasword` is not silently ignored.
pub(crate) fn parse_accounts(text: &str, path: &Path) -> Result<Vec<Account>, AccountsError> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let full = e.to_string();
        AccountsError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            detail: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
        }
    })?;
    let invalid = |at: String, problem: &str| AccountsError::Invalid {
        path: path.to_path_buf(),
        at,
        problem: problem.to_string(),
    };
    let Value::Array(entries) = root else {
        return Err(invalid("the top level".into(), "must be an array of accounts"));
    };
    if entries.is_empty() {
        return Err(invalid("the top level".into(), "has no accounts"));
    }
    let mut accounts = Vec::with_capacity(entries.len());
    let mut emails: Vec<String> = Vec::new();
    let mut macs: HashMap<String, String> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("entry {}", i + 1);
        let field = |name: &str| format!("{at}, field `{name}`");
        let Value::Object(obj) = entry else {
            return Err(invalid(at, "must be an object with email, password and devices"));
        };
        check_keys(obj, &["email", "password", "devices"])
            .map_err(|k| invalid(field(&k), "is not a known key (email, password, devices)"))?;
        let email = required_string(obj, "email").map_err(|p| invalid(field("email"), p))?;
        if !email.contains('@') || email.trim() != email {
            return Err(invalid(field("email"), "must be an e-mail address, without spaces around it"));
        }
        let lower = email.to_ascii_lowercase();
        if let Some(first) = emails.iter().position(|e| *e == lower) {
            return Err(invalid(
                field("email"),
                &format!("is the same as entry {}'s (e-mails are compared without case)", first + 1),
            ));
        }
        emails.push(lower);
        let password = required_string(obj, "password").map_err(|p| invalid(field("password"), p))?;
        let mut devices: Vec<(String, String)> = Vec::new();
        match obj.get("devices") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (j, dev) in list.iter().enumerate() {
                    let at = format!("{at}, device {}", j + 1);
                    let dfield = |name: &str| format!("{at}, field `{name}`");
                    let Value::Object(d) = dev else {
                        return Err(invalid(at, "must be an object with mac and name"));
                    };
                    check_keys(d, &["mac", "name"]).map_err(|k| invalid(dfield(&k), "is not a known key (mac, name)"))?;
                    let mac = required_string(d, "mac").map_err(|p| invalid(dfield("mac"), p))?;
                    if mac.len() != 12 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(invalid(
                            dfield("mac"),
                            "must be 12 hexadecimal digits, without separators (like 04786332fca0)",
                        ));
                    }
                    let mac = mac.to_ascii_lowercase();
                    let name = match d.get("name") {
                        None | Some(Value::Null) => DEFAULT_DEVICE_NAME.to_string(),
                        Some(Value::String(s)) if !s.is_empty() => s.clone(),
                        Some(_) => return Err(invalid(dfield("name"), "must be a non-empty string")),
                    };
                    if let Some(other) = macs.insert(mac.clone(), at.clone()) {
                        return Err(invalid(dfield("mac"), &format!("is already used by {other}")));
                    }
                    devices.push((mac, name));
                }
            }
            Some(_) => return Err(invalid(field("devices"), "must be an array of {\"mac\",\"name\"} objects")),
        }
        let devices: Vec<(&str, &str)> = devices.iter().map(|(m, n)| (m.as_str(), n.as_str())).collect();
        accounts.push(Account::new(i, &email, SecretString::from(password), &devices));
    }
    Ok(accounts)
}

/// The first key of `obj` not in `known`.
fn check_keys(obj: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(k.clone()),
        None => Ok(()),
    }
}

fn required_string(obj: &Map<String, Value>, key: &str) -> Result<String, &'static str> {
    match obj.get(key) {
        None | Some(Value::Null) => Err("is missing"),
        Some(Value::String(s)) if s.is_empty() => Err("is empty"),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err("must be a string"),
    }
}

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

type Digest = [u8; 32];

/// A token's owner and end.
#[derive(Clone, Copy, Debug)]
struct Grant {
    /// Index into `State::accounts`.
    account: usize,
    expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
struct AwsGrant {
    /// Whose key it is (read by the tests' owner lookup).
    #[cfg_attr(not(test), allow(dead_code))]
    account: usize,
    key: IssuedKey,
}

struct State {
    accounts: Vec<Account>,
    jwt_secs: u64,
    aws_secs: u64,
    /// Access tokens by digest.
    access: HashMap<Digest, Grant>,
    /// Refresh tokens by digest.
    refresh: HashMap<Digest, Grant>,
    /// AWS keys by access key id.
    aws: HashMap<String, AwsGrant>,
    refused: HashSet<Step>,
    outage_until: Option<DateTime<Utc>>,
    calls: HashMap<Endpoint, u64>,
    password_sign_ins: u64,
    rejected_password_sign_ins: u64,
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
        Registry::new(demo_accounts())
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

impl State {
    fn account_index(&self, email: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.email.eq_ignore_ascii_case(email))
    }

    /// The account of a live access token, for a step that may be refused and must name the
    /// token's own account.
    fn authorize(&self, step: Step, access_token: &str, email: &str, now: DateTime<Utc>) -> Result<usize, Denied> {
        if self.refused.contains(&step) {
            return Err(Denied::Refused);
        }
        let account = live(self.access.get(&digest_of(access_token)), now).ok_or(Denied::TokenRejected)?;
        if !self.accounts[account].email.eq_ignore_ascii_case(email) {
            return Err(Denied::WrongUser);
        }
        Ok(account)
    }

    /// Forgets expired credentials, so a long run does not grow without bound.
    fn prune(&mut self, now: DateTime<Utc>) {
        self.access.retain(|_, g| now < g.expires_at);
        self.refresh.retain(|_, g| now < g.expires_at);
        self.aws.retain(|_, g| now < g.key.expires_at);
    }

    fn issue_jwt(&mut self, account: usize, now: DateTime<Utc>) -> JwtSet {
        let expires_at = after(now, Duration::from_secs(self.jwt_secs));
        let access = unique(jwt_like, |t| self.access.contains_key(&digest_of(t)));
        self.access.insert(digest_of(&access), Grant { account, expires_at });
        let refresh = unique(jwt_like, |t| self.refresh.contains_key(&digest_of(t)));
        self.refresh.insert(
            digest_of(&refresh),
            Grant {
                account,
                expires_at: after(now, REFRESH_LIFETIME),
            },
        );
        JwtSet {
            id_token: SecretString::from(jwt_like()),
            access_token: SecretString::from(access),
            refresh_token: SecretString::from(refresh),
            expires_in: self.jwt_secs,
        }
    }

    fn issue_aws(&mut self, account: usize, now: DateTime<Utc>) -> AwsSet {
        let akid = unique(|| format!("ASIA{}", random_from(UPPER_ALNUM, 16)), |k| self.aws.contains_key(k));
        let secret = random_from(BASE64, 40);
        let session = format!(
            "IQoJb3JpZ2luX2VjE{}+{}/{}==",
            random_from(BASE64, 120),
            random_from(BASE64, 120),
            random_from(BASE64, 120)
        );
        let key = IssuedKey {
            secret_key: SecretString::from(secret.clone()),
            session_token: SecretString::from(session.clone()),
            expires_at: after(now, Duration::from_secs(self.aws_secs)),
        };
        self.aws.insert(akid.clone(), AwsGrant { account, key });
        AwsSet {
            access_key_id: akid,
            secret_key: SecretString::from(secret),
            session_token: SecretString::from(session),
            expires_in: self.aws_secs,
        }
    }
}

/// The account of a grant that is still live at `now`.
fn live(grant: Option<&Grant>, now: DateTime<Utc>) -> Option<usize> {
    grant.filter(|g| now < g.expires_at).map(|g| g.account)
}

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn digest_of(token: &str) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// Compares digests, so the time taken says nothing about where the strings differ.
fn same_secret(a: &str, b: &str) -> bool {
    digest_of(a) == digest_of(b)
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn random_from(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

/// Three base64url parts, like a JWT, but random.
fn jwt_like() -> String {
    format!(
        "eyJ{}.eyJ{}.{}",
        random_from(BASE64URL, 33),
        random_from(BASE64URL, 117),
        random_from(BASE64URL, 43)
    )
}

/// A fresh value not yet `taken` (a clash is astronomically unlikely; this makes it impossible).
fn unique(mut make: impl FnMut() -> String, taken: impl Fn(&str) -> bool) -> String {
    loop {
        let v = make();
        if !taken(&v) {
            return v;
        }
    }
}
