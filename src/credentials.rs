//! Where credentials come from. Secrets are `SecretString`s: never written to disk outside the OS
//! keychain, never logged (their `Debug` prints `[REDACTED]`), never passed on a command line.
//!
//! - [`StaticSource`]: a user name and password given for this run.
//! - [`KeychainSource`]: the password of a profile, read from the OS keychain (service `Tether`,
//!   one entry per profile and secret) through a [`SecretStore`].
//! - Token sources (the Navien cloud) implement [`CredentialSource::refresh`].

use secrecy::SecretString;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// The keychain service name all of Tether's entries live under.
pub const KEYCHAIN_SERVICE: &str = "Tether";

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a connect needs to authenticate.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("no OS keychain is available ({0}); the secret can only be kept in memory for this run")]
    NoKeychain(String),
    #[error("the keychain refused access: {0}")]
    Access(String),
    #[error("this credential source cannot refresh its credentials")]
    CannotRefresh,
    #[error("refreshing the credentials failed: {0}")]
    Refresh(String),
    /// The account refused them (a wrong password): retrying cannot help until the user acts.
    #[error("{0}")]
    Rejected(String),
}

impl CredentialError {
    /// A locked keychain may unlock; a missing one will not appear by retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CredentialError::Access(_) | CredentialError::Refresh(_))
    }
}

/// A source of credentials for one link.
pub trait CredentialSource: Send + Sync {
    /// The credentials for the next connect.
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>>;

    /// Whether [`refresh`](Self::refresh) can produce new credentials (token sources can).
    fn can_refresh(&self) -> bool {
        false
    }

    /// Fetch new credentials (e.g. a new token) before the next connect.
    fn refresh(&self) -> BoxFuture<'_, Result<(), CredentialError>> {
        Box::pin(async { Err(CredentialError::CannotRefresh) })
    }

    /// Renewals the source makes on its own (a token timer): the count goes up with each, and
    /// the link tells each as `token_refreshed`. `None`: the source never renews by itself.
    fn renewals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// Fixed credentials (or none) for this run.
#[derive(Debug, Clone, Default)]
pub struct StaticSource(pub Credentials);

impl StaticSource {
    pub fn anonymous() -> Self {
        Self(Credentials::default())
    }
}

impl CredentialSource for StaticSource {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        let c = self.0.clone();
        Box::pin(async move { Ok(c) })
    }
}

/// Where secrets are kept: the OS keychain, or memory (unit tests, or no keychain on this machine).
pub trait SecretStore: Send + Sync {
    fn get(&self, account: &str) -> Result<Option<SecretString>, CredentialError>;
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), CredentialError>;
    /// Returns whether something was deleted.
    fn delete(&self, account: &str) -> Result<bool, CredentialError>;
}

/// The account name of a profile's secret in the keychain.
pub fn account(profile: &str, secret: &str) -> String {
    format!("{profile}/{secret}")
}

/// The OS keychain through `keyring` 4: Secret Service on Linux, Keychain on macOS, Credential
/// Manager on Windows. Only the Linux path is tested here (against gnome-keyring); the macOS and
/// Windows stores share this code but cannot run on this CI.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsKeychain;

impl OsKeychain {
    fn entry(account: &str) -> Result<keyring::Entry, CredentialError> {
        keyring::Entry::new(KEYCHAIN_SERVICE, account).map_err(map_keyring)
    }

    /// Whether a keychain is reachable at all, with the reason when it is not.
    pub fn probe() -> Result<(), CredentialError> {
        Self.get(&account("__tether_probe__", "none")).map(|_| ())
    }
}

fn map_keyring(e: keyring::Error) -> CredentialError {
    use keyring::Error as K;
    match e {
        K::NoStorageAccess(inner) => CredentialError::Access(inner.to_string()),
        K::NoDefaultStore => CredentialError::NoKeychain("no default credential store".into()),
        K::PlatformFailure(inner) => CredentialError::NoKeychain(inner.to_string()),
        other => CredentialError::Access(other.to_string()),
    }
}

impl SecretStore for OsKeychain {
    fn get(&self, account: &str) -> Result<Option<SecretString>, CredentialError> {
        match Self::entry(account)?.get_password() {
            Ok(p) => Ok(Some(SecretString::from(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn set(&self, account: &str, secret: &SecretString) -> Result<(), CredentialError> {
        use secrecy::ExposeSecret;
        Self::entry(account)?.set_password(secret.expose_secret()).map_err(map_keyring)
    }

    fn delete(&self, account: &str) -> Result<bool, CredentialError> {
        match Self::entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_keyring(e)),
        }
    }
}

/// Secrets in memory only: for unit tests, and for this run when no keychain is available.
#[derive(Default)]
pub struct MemoryStore(Mutex<HashMap<String, SecretString>>);

impl SecretStore for MemoryStore {
    fn get(&self, account: &str) -> Result<Option<SecretString>, CredentialError> {
        // No lock is held across an await here: these calls are synchronous.
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).get(account).cloned())
    }

    fn set(&self, account: &str, secret: &SecretString) -> Result<(), CredentialError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.to_string(), secret.clone());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<bool, CredentialError> {
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(account).is_some())
    }
}

/// A profile's user name (from the profile) and password (from a [`SecretStore`]).
#[derive(Clone)]
pub struct KeychainSource {
    pub store: Arc<dyn SecretStore>,
    pub profile: String,
    pub username: Option<String>,
}

impl CredentialSource for KeychainSource {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        Box::pin(async move {
            let store = self.store.clone();
            let acct = account(&self.profile, "password");
            // Secret Service calls block on D-Bus; keep them off the async workers.
            let password = tokio::task::spawn_blocking(move || store.get(&acct))
                .await
                .map_err(|e| CredentialError::Access(e.to_string()))??;
            Ok(Credentials {
                username: self.username.clone(),
                password,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn keychain_source_reads_the_profile_password_from_its_store() {
        let store = Arc::new(MemoryStore::default());
        store.set(&account("home", "password"), &SecretString::from("s3cret")).unwrap();
        let src = KeychainSource {
            store: store.clone(),
            profile: "home".into(),
            username: Some("alice".into()),
        };
        let c = src.credentials().await.unwrap();
        assert_eq!(c.username.as_deref(), Some("alice"));
        assert_eq!(
            c.password.as_ref().map(|p| p.expose_secret().to_string()).as_deref(),
            Some("s3cret")
        );
        assert!(!format!("{c:?}").contains("s3cret"), "Debug must not show the secret");
        assert!(store.delete(&account("home", "password")).unwrap());
        assert!(src.credentials().await.unwrap().password.is_none());
        assert!(!src.can_refresh());
    }
}
