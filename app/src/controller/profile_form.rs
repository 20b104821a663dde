//! The MQTT profile form: add or edit a broker profile, each bad field reported by name, the
//! secret moved with a rename and dropped when the broker host changes.

use super::{profiles_error, Controller, DEMO};
use crate::ipc::{ProfileInput, ProfileView, UiError};
use tether::config::{validate_filter, BrokerUrl, Subscription};
use tether::credentials::SecretStore;
use tether::profiles::{validate_name, Profile};

impl Controller {
    /// Add or edit a profile; each bad field is reported by name, and nothing is written then.
    pub async fn save_profile(&self, input: ProfileInput) -> Result<ProfileView, UiError> {
        let _op = self.ops.lock().await;
        let name = input.name.trim().to_string();
        validate_name(&name).map_err(UiError::from)?;
        if name.eq_ignore_ascii_case(DEMO) {
            return Err(UiError::invalid("name", "\"demo\" is the embedded demo's name; choose another"));
        }
        let url = input.url.trim().to_string();
        BrokerUrl::parse(&url).map_err(|e| UiError::invalid("url", e.message))?;
        let username = input
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        let topics: Vec<(usize, &str)> = input
            .subscriptions
            .iter()
            .map(|s| s.trim())
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .collect();
        for (i, t) in &topics {
            validate_filter(t).map_err(|e| UiError::invalid("subscriptions", format!("{t:?} (entry {}): {e}", i + 1)))?;
        }

        let mut file = self.store.load().map_err(profiles_error)?;
        let orig = input.original_name.clone();
        let mut profile = match &orig {
            Some(o) => file
                .profiles
                .remove(o)
                .ok_or_else(|| UiError::new("not_found", format!("no profile named {o:?}")))?,
            None => Profile::mqtt(&url).map_err(UiError::from)?,
        };
        if file.profiles.contains_key(&name) {
            return Err(UiError::invalid("name", format!("a profile named {name:?} already exists")));
        }
        // A topic kept from before keeps its settings (QoS, stale watchdog set with the CLI).
        let before = std::mem::take(&mut profile.subscriptions);
        profile.subscriptions = topics
            .iter()
            .map(|(_, t)| {
                before.iter().find(|s| s.topic == *t).cloned().unwrap_or(Subscription {
                    topic: t.to_string(),
                    qos: 1,
                    stale_after: None,
                })
            })
            .collect();
        // A password is given for a broker: one edited to another host must not get it (a
        // profile file changed by another local process would otherwise redirect it too).
        let host_of = |u: &str| BrokerUrl::parse(u).ok().map(|b| b.host.to_ascii_lowercase());
        let new_host = orig.is_some() && profile.url.as_deref().and_then(host_of) != host_of(&url);
        profile.url = Some(url);
        profile.username = username;
        // Everything else the core checks (TLS files, policy numbers), before anything is written.
        profile.link_config(&name, &self.paths).map_err(UiError::from)?;

        let renamed = orig.as_deref().filter(|o| *o != name).map(str::to_string);
        // Whether a copy of the secret was made under the new name (never over one already there:
        // a profile of that name the CLI adds meanwhile keeps its own).
        let mut copied = false;
        if let Some(o) = &renamed {
            // The secret is copied to the new name before the file says so, and the old copy
            // deleted only after: a keychain failure never leaves a profile without its secret.
            let (o2, n2) = (o.clone(), name.clone());
            copied = self
                .vault(move |v| {
                    let account = |p: &str| tether::credentials::account(p, "password");
                    match v.get(&account(&o2))? {
                        Some(secret) if v.get(&account(&n2))?.is_none() => {
                            v.store(&n2, &secret)?;
                            Ok(true)
                        }
                        _ => Ok(false),
                    }
                })
                .await?;
        }
        let was_active = self.active_profile().await;
        let touches_active = was_active.is_some() && (was_active == orig || was_active.as_deref() == Some(&name));
        let stopped = renamed.is_some() && touches_active;
        if stopped {
            // Its outbox file moves with it, so the running link lets go of it first.
            let mut active = self.active.lock().await;
            self.stop_active(&mut active).await;
        }
        // Loaded again under the file's lock and the change applied to that: a profile the CLI
        // added or changed while we waited on the keychain is kept.
        let taken = self
            .store
            .update(|f| {
                if f.profiles.contains_key(&name) && orig.as_deref() != Some(name.as_str()) {
                    return Ok(true);
                }
                if let Some(o) = &orig {
                    f.profiles.remove(o);
                }
                f.profiles.insert(name.clone(), profile);
                Ok(false)
            })
            .map_err(profiles_error);
        let refused = match taken {
            Err(e) => Some(e),
            Ok(true) => Some(UiError::invalid("name", format!("a profile named {name:?} already exists"))),
            Ok(false) => None,
        };
        if refused.is_some() && copied {
            // Nothing was saved under the new name: the copy made for it goes.
            let n2 = name.clone();
            let _ = self.vault(move |v| v.delete(&n2)).await;
        }
        if let Some(e) = refused {
            if stopped {
                // Nothing was saved: the profile runs again as it was (the window never stays
                // without a link).
                if let Err(again) = self.activate_locked(was_active.clone()).await {
                    tracing::warn!(error = %again.message, "the profile could not be started again after a failed save");
                }
            }
            return Err(e);
        }
        if let Some(o) = &renamed {
            self.move_outbox(o, Some(&name));
            let o2 = o.clone();
            if let Err(e) = self.vault(move |v| v.delete(&o2)).await {
                tracing::warn!(profile = %o, error = %e.message, "old secret not deleted after a rename");
            }
        }
        if new_host {
            let n2 = name.clone();
            if let Err(e) = self.vault(move |v| v.delete(&n2)).await {
                // Not started with it: the password would go to the new host. The demo runs
                // meanwhile (the window never stays without a link).
                tracing::warn!(profile = %name, error = %e.message, "broker host changed, but its stored secret could not be deleted");
                if touches_active {
                    let _ = self.activate_locked(None).await;
                }
                return Err(UiError::new(
                    "keychain",
                    format!(
                        "{name:?} was saved with its new broker, but its stored password could not be deleted ({}); it was not started, so the password is not sent to the new host: delete it under Credentials",
                        e.message
                    ),
                ));
            }
            tracing::info!(profile = %name, "broker host changed: its stored secret was deleted; enter it again");
        }
        if touches_active {
            self.activate_locked(Some(name.clone())).await?;
        }
        drop(_op);
        self.profile_view(&name).await
    }
}
