//! The settings view and the credentials: the active link's policy and the app-wide settings
//! (saved, then the link restarts on a new policy), and a profile's secret, stored or deleted,
//! after which the active link retries with it at once.

use super::{profiles_error, Controller};
use crate::ipc::{ReconnectSettings, RecoverySettings, SecretStatus, Settings, UiError};
use crate::settings::AppSettings;
use secrecy::SecretString;
use tether::handle::Trigger;
use tether::profiles::ProfileError;

impl Controller {
    pub async fn settings(&self) -> Result<Settings, UiError> {
        let active = self.active.lock().await;
        let a = active.as_ref().ok_or_else(|| UiError::new("no_link", "no link is running"))?;
        let app = *self.settings.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Settings {
            reconnect: ReconnectSettings::from_policy(&a.reconnect),
            recovery: RecoverySettings::from_policy(&a.recovery),
            notifications: app.notifications,
            start_at_login: app.start_at_login,
        })
    }

    /// Save the settings: field errors first, then the files, then the link restarts on a new policy.
    pub async fn save_settings(&self, s: Settings) -> Result<Settings, UiError> {
        let _op = self.ops.lock().await;
        let (profile, mut reconnect, mut recovery) = {
            let active = self.active.lock().await;
            let a = active.as_ref().ok_or_else(|| UiError::new("no_link", "no link is running"))?;
            (a.profile.clone(), a.reconnect.clone(), a.recovery.clone())
        };
        let before = (reconnect.clone(), recovery.clone());
        s.reconnect.apply(&mut reconnect)?;
        s.recovery.apply(&mut recovery)?;

        let app = AppSettings {
            notifications: s.notifications,
            start_at_login: s.start_at_login,
        };
        let old_app = *self.settings.lock().unwrap_or_else(|p| p.into_inner());
        if app != old_app {
            if let Some(e) = self.settings_file.problem() {
                return Err(UiError::new("settings_file", e.to_string()));
            }
            let login_changed = app.start_at_login != old_app.start_at_login;
            if login_changed {
                let on = app.start_at_login;
                tokio::task::spawn_blocking(move || crate::login::set(on))
                    .await
                    .map_err(|e| UiError::new("internal", e.to_string()))?
                    .map_err(|m| UiError::invalid("start_at_login", m))?;
            }
            if let Err(e) = self.settings_file.save(&app) {
                if login_changed {
                    // The OS must not start Tether at login while the setting says otherwise.
                    let _ = crate::login::set(old_app.start_at_login);
                }
                return Err(UiError::new("settings_file", e.to_string()));
            }
            *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = app;
            self.notify_tx.send_replace(app.notifications);
        }

        if (reconnect.clone(), recovery.clone()) != before {
            match &profile {
                Some(name) => self
                    .store
                    .update(|f| {
                        let p = f.profiles.get_mut(name).ok_or_else(|| ProfileError::NotFound(name.clone()))?;
                        p.reconnect = reconnect.clone();
                        p.recovery = recovery.clone();
                        Ok(())
                    })
                    .map_err(profiles_error)?,
                None => *self.demo_policy.lock().unwrap_or_else(|p| p.into_inner()) = Some((reconnect, recovery)),
            }
            self.activate_locked(profile).await?;
        }
        drop(_op);
        self.settings().await
    }

    /// Store or replace a profile's password or token. It goes to the keychain (or memory when
    /// there is none) and never comes back; the active link retries with it at once.
    pub async fn set_secret(&self, profile: &str, secret: SecretString) -> Result<SecretStatus, UiError> {
        use secrecy::ExposeSecret;
        let _op = self.ops.lock().await;
        if secret.expose_secret().is_empty() {
            return Err(UiError::invalid("secret", "enter a password or token"));
        }
        self.store.get(profile).map_err(profiles_error)?;
        let p = profile.to_string();
        let st = self.vault(move |v| v.store(&p, &secret)).await?;
        self.after_credentials_changed(profile).await;
        Ok(st)
    }

    pub async fn delete_secret(&self, profile: &str) -> Result<SecretStatus, UiError> {
        let _op = self.ops.lock().await;
        let p = profile.to_string();
        let st = self.vault(move |v| v.delete(&p)).await?;
        self.after_credentials_changed(profile).await;
        Ok(st)
    }

    async fn after_credentials_changed(&self, profile: &str) {
        let link = {
            let active = self.active.lock().await;
            active
                .as_ref()
                .filter(|a| a.profile.as_deref() == Some(profile))
                .map(|a| a.link.clone())
        };
        if let Some(l) = link {
            l.trigger(Trigger::CredentialsChanged).await;
        }
    }
}
