//! The Navien profile form: sign in at once (the password in memory, each error by its field),
//! list the account's devices, then save the profile with the devices picked: the password and
//! tokens go to the keychain first, the profile file after, and the new profile becomes active.

use super::{profiles_error, Controller, DEMO};
use crate::ipc::{NavienAccountView, NavienDeviceView, NavienProfileInput, NavienSignIn, ProfileView, UiError};
use secrecy::ExposeSecret;
use std::sync::Arc;
use tether::credentials::{account, MemoryStore, SecretStore};
use tether::navien::client::{Account, AccountError};
use tether::profiles::{validate_name, NavienDevice, NavienSettings, Profile, ProfileError};

/// How long a signed-in account waits for its devices to be picked: then its password and
/// tokens, held in memory only for the form, are forgotten.
const PENDING_FOR: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Numbers the sign-ins.
static NEXT_SIGN_IN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A signed-in account waiting for the user to pick its devices.
pub(super) struct Pending {
    /// Tells this sign-in from a later one (the expiry forgets only its own).
    id: u64,
    name: String,
    email: String,
    settings: NavienSettings,
    tls: tether::config::TlsConfig,
    account: Account,
    devices: Vec<NavienDevice>,
}

/// A core config error by the form's field (`navien.rest_url` is the form's `rest_url`).
fn field_error(e: tether::error::ConfigError) -> UiError {
    let field = e.field.rsplit('.').next().unwrap_or("").to_string();
    UiError::invalid(field, e.message)
}

impl Controller {
    /// Sign in to the account and list its devices; nothing is stored yet.
    pub async fn navien_sign_in(&self, input: NavienSignIn) -> Result<NavienAccountView, UiError> {
        let name = input.name.trim().to_string();
        validate_name(&name).map_err(UiError::from)?;
        if name.eq_ignore_ascii_case(DEMO) {
            return Err(UiError::invalid("name", "\"demo\" is the embedded demo's name; choose another"));
        }
        let email = input.email.trim().to_string();
        if input.password.expose_secret().is_empty() {
            return Err(UiError::invalid("password", "enter the account's password"));
        }
        let mut settings = NavienSettings::default();
        let given = |o: &Option<String>| o.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(u) = given(&input.rest_url) {
            settings.rest_url = u;
        }
        if let Some(h) = given(&input.iot_host) {
            settings.iot_host = h;
        }
        if let Some(p) = input.iot_port {
            settings.iot_port = p;
        }
        let mut profile = Profile::navien(&email, settings.clone()).map_err(field_error)?;
        profile.tls.ca_file = given(&input.ca_file).map(Into::into);
        // Every other field as the core checks it (the CA file, the URLs), before the network.
        let trial = Arc::new(MemoryStore::default());
        let check = tether::kind::Context {
            paths: &self.paths,
            secrets: Some(trial.clone()),
            demo: None,
        };
        tether::kind::plan(&name, &profile, &check).map_err(|e| match e {
            tether::kind::PlanError::Invalid(c) => field_error(c),
            tether::kind::PlanError::Unavailable(m) => UiError::new("unsupported", m),
        })?;
        trial
            .set(&account(&name, "password"), &input.password)
            .map_err(|e| UiError::new("internal", e.to_string()))?;
        let acct = Account::new(&name, &email, &settings, &profile.tls, trial).map_err(field_error)?;
        let devices = acct.devices().await.map_err(|e| match e {
            AccountError::Rejected(m) => UiError::invalid("password", m),
            AccountError::Unavailable(m) => UiError::invalid("sign_in", format!("the Navien cloud could not be reached: {m}")),
            AccountError::Keychain(m) => UiError::new("keychain", m),
        })?;
        if devices.is_empty() {
            return Err(UiError::invalid("sign_in", "signed in, but the account has no devices"));
        }
        let view = NavienAccountView {
            email: email.clone(),
            devices: devices
                .iter()
                .map(|d| NavienDeviceView {
                    mac: d.mac.clone(),
                    name: d.name.clone(),
                })
                .collect(),
        };
        let id = NEXT_SIGN_IN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.pending_navien.lock().unwrap_or_else(|p| p.into_inner()) = Some(Pending {
            id,
            name,
            email,
            settings,
            tls: profile.tls,
            account: acct,
            devices,
        });
        let pending = self.pending_navien.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PENDING_FOR).await;
            let mut p = pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.as_ref().is_some_and(|p| p.id == id) {
                *p = None;
            }
        });
        Ok(view)
    }

    /// Save the signed-in account as a profile with the devices picked, and make it active.
    pub async fn save_navien_profile(&self, input: NavienProfileInput) -> Result<ProfileView, UiError> {
        let _op = self.ops.lock().await;
        let name = input.name.trim().to_string();
        // Before the sign-in is taken: a name in use is fixed without signing in again.
        if self.store.load().map_err(profiles_error)?.profiles.contains_key(&name) {
            return Err(UiError::invalid("name", format!("a profile named {name:?} already exists")));
        }
        let pending = self
            .pending_navien
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|p| p.name == name)
            .ok_or_else(|| UiError::invalid("sign_in", "sign in first (with this profile name)"))?;
        let chosen: Vec<NavienDevice> = pending
            .devices
            .iter()
            .filter(|d| input.devices.iter().any(|m| m.eq_ignore_ascii_case(&d.mac)))
            .cloned()
            .collect();
        if chosen.is_empty() {
            // Kept: the user picks again without signing in again.
            let devices = pending.devices.len();
            *self.pending_navien.lock().unwrap_or_else(|p| p.into_inner()) = Some(pending);
            return Err(UiError::invalid(
                "devices",
                format!("pick at least one of the account's {devices} device(s)"),
            ));
        }
        let mut settings = pending.settings.clone();
        settings.devices = chosen;
        let mut profile = Profile::navien(&pending.email, settings).map_err(field_error)?;
        profile.tls = pending.tls.clone();
        // The secrets first: a profile in the file without its password would only fail.
        let acct = pending.account.clone();
        self.vault(move |v| acct.copy_secrets(v)).await?;
        let saved = self.store.update(|f| {
            if f.profiles.contains_key(&name) {
                return Err(ProfileError::Exists(name.clone()));
            }
            f.profiles.insert(name.clone(), profile);
            Ok(())
        });
        if let Err(e) = saved {
            let n = name.clone();
            // Nothing half-stored: no password left behind for a profile that is not saved.
            let _ = self.vault(move |v| v.delete(&n)).await;
            return Err(match e {
                ProfileError::Exists(_) => UiError::invalid("name", format!("a profile named {name:?} already exists")),
                other => profiles_error(other),
            });
        }
        self.activate_locked(Some(name.clone())).await?;
        drop(_op);
        self.profile_view(&name).await
    }
}
