//! The Navien Smart Control cloud client: REST sign-in and renewals ([`api`], [`session`]), and
//! what a link needs of them ([`source`]: the credential source, the per-attempt SigV4 presign
//! and the renewal timer). The device protocol over MQTT is in [`crate::navien`].

pub(crate) mod api;
pub(crate) mod session;
pub(crate) mod source;
pub(crate) mod stored;

pub use session::TokenState;
pub use stored::{forget as forget_tokens, TOKENS_SECRET};

use crate::config::TlsConfig;
use crate::credentials::{account, CredentialError, SecretStore};
use crate::error::ConfigError;
use crate::navien::rest::{DeviceEntry, Pager, Request, PAGE_SIZE};
use crate::navien::tokens::Need;
use crate::profiles::{NavienDevice, NavienSettings};
use secrecy::SecretString;
use std::sync::Arc;

/// A Navien account, for what front ends do outside a link: check a sign-in, list the devices,
/// show the token state. Its secrets come from (and go to) `secrets` under the profile's name.
#[derive(Clone)]
pub struct Account {
    session: session::Session,
    profile: String,
    secrets: Arc<dyn SecretStore>,
}

/// Why an account call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AccountError {
    /// The e-mail or password was refused, or none is stored: the user must act.
    #[error("{0}")]
    Rejected(String),
    /// The cloud could not be reached or answered badly: trying again later may work.
    #[error("{0}")]
    Unavailable(String),
    /// The keychain could not be used.
    #[error("{0}")]
    Keychain(String),
}

impl From<session::SessionError> for AccountError {
    fn from(e: session::SessionError) -> Self {
        use session::SessionError as S;
        match e {
            S::Rejected(_) | S::NoPassword => AccountError::Rejected(e.to_string()),
            S::Keychain(k) => AccountError::Keychain(k.to_string()),
            S::Rest(r) => AccountError::Unavailable(r.to_string()),
        }
    }
}

impl Account {
    /// The account `email` of the profile `profile`, on the cloud `settings` points at.
    pub fn new(
        profile: &str,
        email: &str,
        settings: &NavienSettings,
        tls: &TlsConfig,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Self, ConfigError> {
        let api = api::Api::new(&settings.rest_url, tls)?;
        Ok(Self {
            session: session::Session::new(api, email, profile, secrets.clone()),
            profile: profile.to_string(),
            secrets,
        })
    }

    /// Sign in (or use the stored tokens) and list every device of the account, page by page.
    pub async fn devices(&self) -> Result<Vec<NavienDevice>, AccountError> {
        let mut pager = Pager::new();
        let mut out = Vec::new();
        while let Some(offset) = pager.offset() {
            let page: Vec<DeviceEntry> = self
                .session
                .call(&Request::DeviceList {
                    user_id: self.session.email(),
                    offset,
                    count: PAGE_SIZE,
                })
                .await?;
            pager.record(page.len()).map_err(|e| AccountError::Unavailable(e.to_string()))?;
            out.extend(page.into_iter().map(|e| NavienDevice {
                mac: e.device_info.mac_address,
                additional_value: e.device_info.additional_value,
                name: e.device_info.device_name,
            }));
        }
        Ok(out)
    }

    /// Make sure the tokens are usable, signing in if they are not.
    pub async fn sign_in(&self) -> Result<(), AccountError> {
        self.session.ensure(Need::Connect).await?;
        Ok(())
    }

    /// How the tokens stand.
    pub fn token_state(&self) -> TokenState {
        self.session.state()
    }

    /// Copy this account's password and tokens into `to` (e.g. from the memory store a new
    /// profile was checked with into the OS keychain, once the sign-in worked).
    pub fn copy_secrets(&self, to: &dyn SecretStore) -> Result<(), CredentialError> {
        let password = account(&self.profile, "password");
        if let Some(p) = self.secrets.get(&password)? {
            to.set(&password, &p)?;
        }
        if let Some(t) = self.session.current() {
            let blob: SecretString = t.to_keychain_json(&self.session.issuer());
            stored::save(to, &self.profile, &blob)?;
        }
        Ok(())
    }
}
