//! One Navien account's tokens for the life of a link: loaded from the OS keychain, renewed in
//! the protocol's order (§2.5) one renewal at a time, and stored back after every change, so a
//! restart resumes with them and the password is sent only when nothing else works.

use super::api::Api;
use crate::credentials::{account, CredentialError, SecretStore};
use crate::navien::rest::{Request, RestError, SignIn, TokenFields};
use crate::navien::tokens::{self, Need, Step, TokenSet};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// Steps in one renewal, fallbacks included: the longest chain is refresh, session refresh,
/// secured sign-in, password sign-in, then a refresh the sign-in's reply may still leave due.
const MAX_STEPS: usize = 6;

/// What the front ends show of the tokens (no token in it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TokenState {
    /// When the access token (JWT) held now expires.
    pub jwt_valid_until: Option<DateTime<Utc>>,
    /// When the AWS credentials held now expire.
    pub aws_valid_until: Option<DateTime<Utc>>,
    /// When the access token (JWT) is next renewed.
    pub jwt_renew_at: Option<DateTime<Utc>>,
    /// When the AWS credentials are next renewed.
    pub aws_renew_at: Option<DateTime<Utc>>,
    /// The last successful renewal.
    pub last_renewal: Option<DateTime<Utc>>,
    /// Successful renewal steps since the link started.
    pub renewals: u64,
    /// Sign-ins with the password since the link started (the rest use tokens).
    pub password_sign_ins: u64,
    /// Why the last renewal failed, if it did.
    pub last_error: Option<String>,
}

/// Why no usable tokens could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum SessionError {
    /// Bad credentials: fatal until the password changes (§2.1).
    #[error("the Navien cloud refused the e-mail or password ({0})")]
    Rejected(String),
    /// A password sign-in is needed and none is stored.
    #[error("no Navien password is stored for this profile")]
    NoPassword,
    /// The keychain could not be read.
    #[error(transparent)]
    Keychain(#[from] CredentialError),
    /// The cloud could not be reached or answered badly: worth trying again later.
    #[error(transparent)]
    Rest(#[from] RestError),
}

impl From<SessionError> for CredentialError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Rejected(_) | SessionError::NoPassword => CredentialError::Rejected(e.to_string()),
            SessionError::Keychain(k) => k,
            SessionError::Rest(r) => CredentialError::Refresh(r.to_string()),
        }
    }
}

/// The tokens of one account, shared by the link's credential source, its upgrade signer, its
/// renewal timer and the REST calls of the front ends.
#[derive(Clone)]
pub(crate) struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    /// The cloud's REST API.
    api: Api,
    /// The account's e-mail (its user id in every request).
    email: String,
    /// The profile name: the keychain accounts are `<profile>/password` and `<profile>/navien-tokens`.
    profile: String,
    /// The OS keychain (or memory in tests).
    secrets: Arc<dyn SecretStore>,
    /// The renewal lock: one renewal at a time, held across its REST calls (single flight).
    renewal: tokio::sync::Mutex<Renewal>,
    /// The tokens as of the last renewal, for readers that must not wait behind one.
    current: Mutex<Option<TokenSet>>,
    /// What the front ends show.
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct Renewal {
    /// Whether the keychain has been read yet (at the first need, not at construction).
    loaded: bool,
    /// The SHA-256 of a password the cloud refused: not sent again until the stored one changes.
    refused_password: Option<[u8; 32]>,
}

impl Session {
    pub(crate) fn new(api: Api, email: &str, profile: &str, secrets: Arc<dyn SecretStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                api,
                email: email.to_string(),
                profile: profile.to_string(),
                secrets,
                renewal: tokio::sync::Mutex::new(Renewal::default()),
                current: Mutex::new(None),
                state: Mutex::new(TokenState::default()),
            }),
        }
    }

    /// The cloud and account the stored tokens must come from.
    pub(crate) fn issuer(&self) -> String {
        crate::navien::tokens::issuer(self.inner.api.base(), &self.inner.email)
    }

    pub(crate) fn email(&self) -> &str {
        &self.inner.email
    }

    /// What the front ends show.
    pub(crate) fn state(&self) -> TokenState {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The tokens as of now, without renewing.
    pub(crate) fn current(&self) -> Option<TokenSet> {
        self.inner.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// When the timer should next renew, if anything is held.
    pub(crate) fn next_renewal(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.current().and_then(|t| t.next_renewal(now)).map(|(at, _)| at)
    }

    /// Tokens good for `need`, renewing as the protocol says. Renewals are serialized; a caller
    /// that waited for another's renewal re-plans and usually finds nothing left to do.
    pub(crate) async fn ensure(&self, need: Need) -> Result<TokenSet, SessionError> {
        let mut renewal = self.inner.renewal.lock().await;
        self.ensure_locked(&mut renewal, need).await
    }

    /// The renewal timer's: renew what is due, and say whether a step was taken by this call
    /// (counted under the renewal lock: a connect's renewal the timer waited for is not its own).
    pub(crate) async fn renew_due(&self) -> Result<bool, SessionError> {
        let mut renewal = self.inner.renewal.lock().await;
        let before = self.state().renewals;
        self.ensure_locked(&mut renewal, Need::Proactive).await?;
        Ok(self.state().renewals > before)
    }

    /// After a 401 to a call made with `used`: one forced renewal, unless another caller's has
    /// already replaced that token meanwhile (two calls refused together renew once).
    pub(crate) async fn renew_after_401(&self, used: &SecretString) -> Result<TokenSet, SessionError> {
        let mut renewal = self.inner.renewal.lock().await;
        if let Some(t) = self.current().filter(|t| t.access_token.expose_secret() != used.expose_secret()) {
            return Ok(t);
        }
        self.ensure_locked(&mut renewal, Need::Forced401).await
    }

    async fn ensure_locked(&self, renewal: &mut Renewal, need: Need) -> Result<TokenSet, SessionError> {
        if !renewal.loaded {
            let stored = self.load().await;
            *self.inner.current.lock().unwrap_or_else(|p| p.into_inner()) = stored;
            renewal.loaded = true;
        }
        let result = self.renew(renewal, need).await;
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(t) => {
                state.jwt_renew_at = Some(t.jwt_stale_at());
                state.aws_renew_at = t.aws_stale_at();
                state.jwt_valid_until = Some(t.jwt_expires_at());
                state.aws_valid_until = t.aws_expires_at();
                state.last_error = None;
            }
            Err(e) => state.last_error = Some(e.to_string()),
        }
        result
    }

    async fn renew(&self, renewal: &mut Renewal, mut need: Need) -> Result<TokenSet, SessionError> {
        let mut set = self.current();
        let mut steps = tokens::plan(set.as_ref(), Utc::now(), need);
        if !steps.is_empty() && renewal.loaded {
            // Another process of this profile (a `tether navien` command beside the app) may
            // have renewed meanwhile, and a cloud that rotates refresh tokens has then revoked
            // ours: newer stored tokens are taken over before anything is sent.
            if let Some(stored) = self.load().await.filter(|s| newer(s, set.as_ref())) {
                *self.inner.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored.clone());
                set = Some(stored);
                steps = tokens::plan(set.as_ref(), Utc::now(), need);
            }
        }
        let mut taken = 0;
        let outcome = loop {
            let Some(step) = steps.first().copied() else { break Ok(()) };
            steps.remove(0);
            taken += 1;
            if taken > MAX_STEPS {
                break Err(SessionError::Rest(RestError::Malformed {
                    endpoint: step.endpoint(),
                    detail: "the renewal did not settle after six calls".into(),
                }));
            }
            let now = Utc::now();
            let reply = self.call_step(renewal, step, set.as_ref()).await;
            let merged = match reply {
                Ok(fields) => tokens::apply(set.clone(), step, fields, now).map_err(SessionError::Rest),
                Err(e) => Err(e),
            };
            match merged {
                Ok(new) => {
                    // Kept at once, in memory and in the keychain: if this renewal is cancelled
                    // later in its chain, a refresh token the cloud just rotated is not lost.
                    *self.inner.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(new.clone());
                    self.store(&new).await;
                    set = Some(new);
                    self.count_renewal(step);
                    if matches!(step, Step::SecuredSignIn | Step::PasswordSignIn) {
                        // A sign-in ends the renewal (it replaced what the failed step was for);
                        // whatever it left due is planned afresh, as for a connect: re-planning
                        // a deep renewal would force the refresh that just failed again.
                        steps = tokens::plan(set.as_ref(), Utc::now(), Need::Connect);
                        need = Need::Connect;
                    }
                }
                Err(SessionError::Rest(e)) => match tokens::fallback(need, step, &e, set.as_ref(), Utc::now()) {
                    Some(next) => steps = vec![next],
                    None => break Err(SessionError::Rest(e)),
                },
                Err(other) => break Err(other),
            }
        };
        outcome?;
        set.ok_or(SessionError::NoPassword)
    }

    /// One REST call of a renewal.
    async fn call_step(&self, renewal: &mut Renewal, step: Step, set: Option<&TokenSet>) -> Result<TokenFields, SessionError> {
        let email = self.inner.email.as_str();
        let api = &self.inner.api;
        let access = set.map(|s| &s.access_token);
        match step {
            Step::Refresh => {
                let Some(s) = set else { return Err(SessionError::NoPassword) };
                Ok(api
                    .call(
                        &Request::Refresh {
                            refresh_token: &s.refresh_token,
                        },
                        None,
                    )
                    .await?)
            }
            Step::SessionRefresh => Ok(api.call(&Request::SessionRefresh { user_id: email }, access).await?),
            Step::SecuredSignIn => Ok(api.call::<SignIn>(&Request::SecuredSignIn { user_id: email }, access).await?.token),
            Step::PasswordSignIn => {
                let password = self.password().await?.ok_or(SessionError::NoPassword)?;
                let digest = sha256(password.expose_secret());
                if renewal.refused_password == Some(digest) {
                    return Err(SessionError::Rejected(
                        "the stored password was refused before; store the right one".into(),
                    ));
                }
                self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).password_sign_ins += 1;
                match api
                    .call::<SignIn>(
                        &Request::SignIn {
                            user_id: email,
                            password: &password,
                        },
                        None,
                    )
                    .await
                {
                    Ok(r) => {
                        renewal.refused_password = None;
                        Ok(r.token)
                    }
                    Err(RestError::BadCredentials { msg, .. }) => {
                        renewal.refused_password = Some(digest);
                        Err(SessionError::Rejected(msg))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    fn count_renewal(&self, _step: Step) {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state.renewals += 1;
        state.last_renewal = Some(Utc::now());
    }

    async fn password(&self) -> Result<Option<SecretString>, SessionError> {
        let store = self.inner.secrets.clone();
        let acct = account(&self.inner.profile, "password");
        Ok(keychain(move || store.get(&acct)).await?)
    }

    /// The stored tokens; unreadable or absent ones mean a sign-in (said in the log, not fatal).
    async fn load(&self) -> Option<TokenSet> {
        let store = self.inner.secrets.clone();
        let profile = self.inner.profile.clone();
        match keychain(move || super::stored::load(store.as_ref(), &profile)).await {
            Ok(Some(blob)) => match TokenSet::from_keychain_json(&blob, &self.issuer()) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(profile = %self.inner.profile, error = %e, "stored Navien tokens ignored");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(profile = %self.inner.profile, error = %e, "the keychain could not be read for the Navien tokens");
                None
            }
        }
    }

    /// Keep the tokens for the next start. A failure costs a sign-in then, nothing now.
    async fn store(&self, set: &TokenSet) {
        let store = self.inner.secrets.clone();
        let profile = self.inner.profile.clone();
        let blob = set.to_keychain_json(&self.issuer());
        if let Err(e) = keychain(move || super::stored::save(store.as_ref(), &profile, &blob)).await {
            tracing::warn!(profile = %self.inner.profile, error = %e, "the Navien tokens could not be stored; the next start signs in again");
        }
    }

    /// An authenticated REST call with the §2.5 rule: a 401 gets one forced refresh and one retry;
    /// if that refresh fails, the original 401 is reported.
    pub(crate) async fn call<T: crate::navien::rest::Reply>(&self, req: &Request<'_>) -> Result<T, SessionError> {
        let t = self.ensure(Need::Connect).await?;
        match self.inner.api.call::<T>(req, Some(&t.access_token)).await {
            Err(first @ RestError::Unauthorized { .. }) => {
                let Ok(t) = self.renew_after_401(&t.access_token).await else {
                    return Err(first.into());
                };
                Ok(self.inner.api.call::<T>(req, Some(&t.access_token)).await?)
            }
            other => Ok(other?),
        }
    }
}

/// Whether `stored` was received after `held` (either half).
fn newer(stored: &TokenSet, held: Option<&TokenSet>) -> bool {
    held.is_none_or(|h| stored.jwt_received_at > h.jwt_received_at || stored.aws_received_at > h.aws_received_at)
}

/// How long one keychain call may take: an unlock prompt nobody answers must not hold the
/// renewal lock (and every connect behind it) for ever.
const KEYCHAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A keychain call, off the async workers (Secret Service calls block on D-Bus), bounded.
async fn keychain<T: Send + 'static>(f: impl FnOnce() -> Result<T, CredentialError> + Send + 'static) -> Result<T, CredentialError> {
    match tokio::time::timeout(KEYCHAIN_WAIT, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(CredentialError::Access(e.to_string())),
        Err(_) => Err(CredentialError::Access(format!(
            "the keychain did not answer within {} s",
            KEYCHAIN_WAIT.as_secs()
        ))),
    }
}

fn sha256(s: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl crate::kind::TokenReport for Session {
    fn token_state(&self) -> TokenState {
        self.state()
    }
}
