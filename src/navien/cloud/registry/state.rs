//! The [`Registry`](super::Registry)'s state behind its lock: the accounts, every grant issued
//! (only digests of tokens; the AWS secret and session token in full, for the SigV4 verifier),
//! the switches and the counters, with the rules for checking and minting credentials. Kept apart
//! from the handle so that the registry's operations read as one list; the fields are visible to
//! the registry module only.

use super::{AwsSet, Denied, Endpoint, JwtSet, Step, REFRESH_LIFETIME};
use crate::navien::cloud::accounts::Account;
use crate::navien::sigv4::IssuedKey;
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use ring::digest;
use secrecy::SecretString;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

pub(super) type Digest = [u8; 32];

/// A token's owner and end.
#[derive(Clone, Copy, Debug)]
pub(super) struct Grant {
    /// Index into `State::accounts`.
    account: usize,
    expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub(super) struct AwsGrant {
    /// Whose key it is (read by the tests' owner lookup).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) account: usize,
    pub(super) key: IssuedKey,
}

pub(super) struct State {
    pub(super) accounts: Vec<Account>,
    pub(super) jwt_secs: u64,
    pub(super) aws_secs: u64,
    /// Access tokens by digest.
    pub(super) access: HashMap<Digest, Grant>,
    /// Refresh tokens by digest.
    pub(super) refresh: HashMap<Digest, Grant>,
    /// AWS keys by access key id.
    pub(super) aws: HashMap<String, AwsGrant>,
    pub(super) refused: HashSet<Step>,
    pub(super) outage_until: Option<DateTime<Utc>>,
    pub(super) calls: HashMap<Endpoint, u64>,
    pub(super) password_sign_ins: u64,
    pub(super) rejected_password_sign_ins: u64,
}

impl State {
    pub(super) fn account_index(&self, email: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.email.eq_ignore_ascii_case(email))
    }

    /// The account of a live access token, for a step that may be refused and must name the
    /// token's own account.
    pub(super) fn authorize(&self, step: Step, access_token: &str, email: &str, now: DateTime<Utc>) -> Result<usize, Denied> {
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
    pub(super) fn prune(&mut self, now: DateTime<Utc>) {
        self.access.retain(|_, g| now < g.expires_at);
        self.refresh.retain(|_, g| now < g.expires_at);
        self.aws.retain(|_, g| now < g.key.expires_at);
    }

    pub(super) fn issue_jwt(&mut self, account: usize, now: DateTime<Utc>) -> JwtSet {
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

    pub(super) fn issue_aws(&mut self, account: usize, now: DateTime<Utc>) -> AwsSet {
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
pub(super) fn live(grant: Option<&Grant>, now: DateTime<Utc>) -> Option<usize> {
    grant.filter(|g| now < g.expires_at).map(|g| g.account)
}

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(super) fn digest_of(token: &str) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// Compares digests, so the time taken says nothing about where the strings differ.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
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
