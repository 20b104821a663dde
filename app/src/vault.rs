//! Where the app keeps secrets: the OS keychain, or, when there is none, memory for this run only.
//! The UI sends a secret once and only ever hears back *where* it is ([`SecretStatus`]).

use crate::ipc::{KeychainStatus, SecretStatus};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use tether::credentials::{account, CredentialError, MemoryStore, SecretStore};

/// The account suffix of a profile's password or token.
const SECRET: &str = "password";

pub struct Vault {
    keychain: Arc<dyn SecretStore>,
    memory: MemoryStore,
    /// Why the keychain cannot be used (`None`: it can).
    unavailable: Mutex<Option<String>>,
}

impl Vault {
    /// `probe` tells whether the keychain answers at all (the OS keychain's probe, or a test's).
    pub fn new(keychain: Arc<dyn SecretStore>, probe: Result<(), CredentialError>) -> Self {
        let unavailable = probe.err().map(|e| e.to_string());
        if let Some(why) = &unavailable {
            tracing::warn!(reason = %why, "no keychain: secrets are kept in memory for this run");
        }
        Self {
            keychain,
            memory: MemoryStore::default(),
            unavailable: Mutex::new(unavailable),
        }
    }

    pub fn keychain_status(&self) -> KeychainStatus {
        let why = self.unavailable.lock().unwrap_or_else(|p| p.into_inner()).clone();
        KeychainStatus {
            available: why.is_none(),
            message: why,
        }
    }

    fn mark_unavailable(&self, e: &CredentialError) {
        *self.unavailable.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }

    fn keychain_usable(&self) -> bool {
        self.unavailable.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    /// Store (or replace) the secret of `profile`. A keychain that turns out to be missing moves
    /// the secret to memory; one that refuses access is an error (the user can unlock it).
    pub fn store(&self, profile: &str, secret: &SecretString) -> Result<SecretStatus, CredentialError> {
        let acct = account(profile, SECRET);
        if self.keychain_usable() {
            match self.keychain.set(&acct, secret) {
                Ok(()) => {
                    // A stale in-memory copy must not shadow the stored one.
                    self.memory.delete(&acct)?;
                    return Ok(SecretStatus::Keychain);
                }
                Err(e @ CredentialError::NoKeychain(_)) => self.mark_unavailable(&e),
                Err(e) => return Err(e),
            }
        }
        self.memory.set(&acct, secret)?;
        Ok(SecretStatus::Memory)
    }

    /// Delete the secret of `profile` wherever it is.
    pub fn delete(&self, profile: &str) -> Result<SecretStatus, CredentialError> {
        let acct = account(profile, SECRET);
        self.memory.delete(&acct)?;
        // A Navien profile's tokens (refresh token, AWS keys) go with its password.
        tether::navien::client::forget_tokens(&self.memory, profile)?;
        if self.keychain_usable() {
            self.keychain.delete(&acct)?;
            tether::navien::client::forget_tokens(self.keychain.as_ref(), profile)?;
        }
        self.status(profile)
    }

    /// Where the secret of `profile` is, without reading it out to anyone.
    pub fn status(&self, profile: &str) -> Result<SecretStatus, CredentialError> {
        let acct = account(profile, SECRET);
        if self.memory.get(&acct)?.is_some() {
            return Ok(SecretStatus::Memory);
        }
        if self.keychain_usable() && self.keychain.get(&acct)?.is_some() {
            return Ok(SecretStatus::Keychain);
        }
        Ok(SecretStatus::None)
    }
}

/// The link reads its credentials through the vault: memory first (this run's), then the keychain.
impl SecretStore for Vault {
    fn get(&self, account: &str) -> Result<Option<SecretString>, CredentialError> {
        if let Some(s) = self.memory.get(account)? {
            return Ok(Some(s));
        }
        if self.keychain_usable() {
            return self.keychain.get(account);
        }
        Ok(None)
    }

    fn set(&self, account: &str, secret: &SecretString) -> Result<(), CredentialError> {
        if self.keychain_usable() {
            return self.keychain.set(account, secret);
        }
        self.memory.set(account, secret)
    }

    fn delete(&self, account: &str) -> Result<bool, CredentialError> {
        let mem = self.memory.delete(account)?;
        let kc = if self.keychain_usable() {
            self.keychain.delete(account)?
        } else {
            false
        };
        Ok(mem || kc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// A keychain that is not there, like a Linux session without a Secret Service.
    struct NoKeychain;
    impl SecretStore for NoKeychain {
        fn get(&self, _: &str) -> Result<Option<SecretString>, CredentialError> {
            Err(CredentialError::NoKeychain("no Secret Service on the bus".into()))
        }
        fn set(&self, _: &str, _: &SecretString) -> Result<(), CredentialError> {
            Err(CredentialError::NoKeychain("no Secret Service on the bus".into()))
        }
        fn delete(&self, _: &str) -> Result<bool, CredentialError> {
            Err(CredentialError::NoKeychain("no Secret Service on the bus".into()))
        }
    }

    #[test]
    fn keychain_present_stores_there() {
        let kc = Arc::new(MemoryStore::default());
        let v = Vault::new(kc.clone(), Ok(()));
        assert_eq!(v.status("home").unwrap(), SecretStatus::None);
        assert_eq!(v.store("home", &SecretString::from("s3cret")).unwrap(), SecretStatus::Keychain);
        assert_eq!(kc.get("home/password").unwrap().unwrap().expose_secret(), "s3cret");
        assert_eq!(v.status("home").unwrap(), SecretStatus::Keychain);
        assert_eq!(v.delete("home").unwrap(), SecretStatus::None);
        assert!(kc.get("home/password").unwrap().is_none());
    }

    #[test]
    fn no_keychain_keeps_the_secret_in_memory_and_says_why() {
        let v = Vault::new(
            Arc::new(NoKeychain),
            Err(CredentialError::NoKeychain("no Secret Service on the bus".into())),
        );
        let st = v.keychain_status();
        assert!(!st.available);
        assert!(st.message.unwrap().contains("no Secret Service"));
        assert_eq!(v.store("home", &SecretString::from("x")).unwrap(), SecretStatus::Memory);
        assert_eq!(v.get("home/password").unwrap().unwrap().expose_secret(), "x");
        assert_eq!(v.delete("home").unwrap(), SecretStatus::None);
    }

    #[test]
    fn a_keychain_that_vanishes_on_store_falls_back_to_memory() {
        let v = Vault::new(Arc::new(NoKeychain), Ok(()));
        assert_eq!(v.store("home", &SecretString::from("x")).unwrap(), SecretStatus::Memory);
        assert!(!v.keychain_status().available);
    }
}
