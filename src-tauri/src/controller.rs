//! What the commands do, without Tauri: the active link (a profile or the embedded demo), the
//! profile file, secrets, settings and the demo's fault switch. The shell's commands are one-line
//! adapters onto this, and the app's integration tests drive it directly.

use crate::bridge::{self, DeviceSlot, RecentEvents, Sink};
use crate::ipc::*;
use crate::settings::{AppSettings, SettingsFile};
use crate::vault::Vault;
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether::config::{validate_filter, BrokerUrl, Subscription};
use tether::credentials::{CredentialError, CredentialSource, KeychainSource, SecretStore, StaticSource};
use tether::demo::Demo;
use tether::diagnostics::Diagnostics;
use tether::handle::{PublishOutcome, Trigger};
use tether::policy::{ReconnectPolicy, RecoveryPolicy};
use tether::present::notify::NotifySettings;
use tether::profiles::{validate_name, Paths, Profile, ProfileError, ProfileStore};
use tether::{Link, LinkConfig, LinkHandle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The name the UI shows for the embedded demo.
pub const DEMO: &str = "demo";
/// The demo fault switch's durations (the design's).
const DROP_FOR: Duration = Duration::from_secs(30);
const OUTAGE_FOR: Duration = Duration::from_secs(120);

/// The link the window and the tray show.
struct Active {
    /// `None`: the embedded demo.
    profile: Option<String>,
    link: LinkHandle,
    bridge: JoinHandle<()>,
    device: DeviceSlot,
    recent: RecentEvents,
    reconnect: ReconnectPolicy,
    recovery: RecoveryPolicy,
}

pub struct Controller {
    paths: Paths,
    store: ProfileStore,
    vault: Arc<Vault>,
    settings_file: SettingsFile,
    settings: Mutex<AppSettings>,
    notify_tx: watch::Sender<NotifySettings>,
    sink: Arc<dyn Sink>,
    active: tokio::sync::Mutex<Option<Active>>,
    /// The embedded demo while it runs (kept across policy changes of the demo link).
    demo: tokio::sync::Mutex<Option<Demo>>,
    /// The user's policy for the demo link (it has no profile to be saved in).
    demo_policy: Mutex<Option<(ReconnectPolicy, RecoveryPolicy)>>,
}

fn profiles_error(e: ProfileError) -> UiError {
    match e {
        ProfileError::Invalid(c) => c.into(),
        ProfileError::NotFound(_) => UiError::new("not_found", e.to_string()),
        ProfileError::Exists(_) => UiError::invalid("name", e.to_string()),
        other => UiError::new("profiles_file", other.to_string()),
    }
}

fn keychain_error(e: CredentialError) -> UiError {
    UiError {
        kind: "keychain".into(),
        field: Some("secret".into()),
        message: e.to_string(),
    }
}

impl Controller {
    pub fn new(paths: Paths, keychain: Arc<dyn SecretStore>, probe: Result<(), CredentialError>, sink: Arc<dyn Sink>) -> Self {
        let store = ProfileStore::new(paths.profiles_file());
        let (settings_file, settings) = SettingsFile::load(paths.config_dir.join("settings.toml"));
        let (notify_tx, _) = watch::channel(settings.notifications);
        Self {
            paths,
            store,
            vault: Arc::new(Vault::new(keychain, probe)),
            settings_file,
            settings: Mutex::new(settings),
            notify_tx,
            sink,
            active: tokio::sync::Mutex::new(None),
            demo: tokio::sync::Mutex::new(None),
            demo_policy: Mutex::new(None),
        }
    }

    /// Start on the first profile, or the embedded demo when there is none. A profile that
    /// cannot start is reported and the demo runs instead, so the window always has a link.
    pub async fn start(&self) -> Result<(), UiError> {
        let first = self.store.load().map_err(profiles_error)?.profiles.into_keys().next();
        if let Some(name) = first {
            match self.activate(Some(name.clone())).await {
                Ok(()) => return Ok(()),
                Err(e) => tracing::error!(profile = %name, error = %e.message, "profile could not start; running the demo"),
            }
        }
        self.activate(None).await
    }

    /// The link now active (for the tray menu).
    pub async fn link(&self) -> Option<LinkHandle> {
        self.active.lock().await.as_ref().map(|a| a.link.clone())
    }

    /// The link config and credentials of `profile` (`None`: the demo), validated, before the
    /// running link is touched: a bad profile never takes the current link down.
    async fn prepare(&self, profile: Option<&str>) -> Result<(LinkConfig, Arc<dyn CredentialSource>), UiError> {
        match profile {
            Some(name) => {
                let p = self.store.get(name).map_err(profiles_error)?;
                let cfg = p
                    .link_config(name, &self.paths)
                    .map_err(|e| UiError::new("unsupported", e.message))?;
                let creds: Arc<dyn CredentialSource> = Arc::new(KeychainSource {
                    store: self.vault.clone(),
                    profile: name.to_string(),
                    username: p.username.clone(),
                });
                Ok((cfg, creds))
            }
            None => {
                let mut demo = self.demo.lock().await;
                if demo.is_none() {
                    *demo = Some(Demo::start().await.map_err(|e| UiError::new("demo", e.to_string()))?);
                }
                let Some(d) = demo.as_ref() else {
                    return Err(UiError::new("demo", "the demo did not start"));
                };
                let mut cfg = d.link_config();
                if let Some((rc, rv)) = self.demo_policy.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                    cfg.reconnect = rc;
                    cfg.recovery = rv;
                }
                Ok((cfg, Arc::new(StaticSource::anonymous())))
            }
        }
    }

    /// Make `profile` (`None`: the demo) the active link.
    pub async fn activate(&self, profile: Option<String>) -> Result<(), UiError> {
        let (cfg, creds) = self.prepare(profile.as_deref()).await?;
        let mut active = self.active.lock().await;
        let previous = active.take();
        if let Some(old) = &previous {
            // One link per profile: the old one lets go of its outbox before the new one opens it.
            old.link.stop().await;
            old.bridge.abort();
        }
        let started = match Link::start_subscribed(cfg.clone(), creds) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "link did not start");
                if let Some(old) = previous {
                    // Put the previous link back rather than leave the window with none.
                    let back = self.prepare(old.profile.as_deref()).await;
                    if let Ok((c, cr)) = back {
                        if let Ok((h, rx)) = Link::start_subscribed(c, cr) {
                            *active = Some(self.wire(old.profile, h, rx, old.reconnect, old.recovery));
                        }
                    }
                }
                return Err(UiError::new("start", e.to_string()));
            }
        };
        if profile.is_some() {
            // Leaving the demo: its broker and heater stop with it.
            if let Some(d) = self.demo.lock().await.take() {
                d.stop().await;
            }
        }
        let (h, rx) = started;
        *active = Some(self.wire(profile, h, rx, cfg.reconnect, cfg.recovery));
        Ok(())
    }

    fn wire(
        &self,
        profile: Option<String>,
        link: LinkHandle,
        rx: tokio::sync::broadcast::Receiver<tether::LinkEvent>,
        reconnect: ReconnectPolicy,
        recovery: RecoveryPolicy,
    ) -> Active {
        let device: DeviceSlot = Arc::default();
        let recent: RecentEvents = Arc::default();
        let name = profile.clone().unwrap_or_else(|| DEMO.to_string());
        let bridge = bridge::spawn(
            self.sink.clone(),
            link.clone(),
            rx,
            name,
            self.notify_tx.subscribe(),
            device.clone(),
            recent.clone(),
        );
        Active {
            profile,
            link,
            bridge,
            device,
            recent,
            reconnect,
            recovery,
        }
    }

    pub async fn overview(&self) -> Result<Overview, UiError> {
        let active = self.active.lock().await;
        let a = active.as_ref().ok_or_else(|| UiError::new("no_link", "no link is running"))?;
        let device = a.device.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let recent_events = a.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        Ok(Overview {
            profile: a.profile.clone().unwrap_or_else(|| DEMO.to_string()),
            demo: a.profile.is_none(),
            state: a.link.state(),
            device,
            recent_events,
            keychain: self.vault.keychain_status(),
        })
    }

    async fn active_profile(&self) -> Option<String> {
        self.active.lock().await.as_ref().and_then(|a| a.profile.clone())
    }

    pub async fn list_profiles(&self) -> Result<Vec<ProfileView>, UiError> {
        let active = self.active_profile().await;
        let file = self.store.load().map_err(profiles_error)?;
        let mut out = Vec::new();
        for (name, p) in file.profiles {
            out.push(ProfileView {
                active: active.as_deref() == Some(name.as_str()),
                secret: self.vault.status(&name).map_err(keychain_error)?,
                url: p.url.clone().unwrap_or_default(),
                username: p.username.clone(),
                client_id: p.client_id.clone(),
                subscriptions: p.subscriptions.iter().map(|s| s.topic.clone()).collect(),
                name,
            });
        }
        Ok(out)
    }

    /// Add or edit a profile; each bad field is reported by name, and nothing is written then.
    pub async fn save_profile(&self, input: ProfileInput) -> Result<ProfileView, UiError> {
        let name = input.name.trim().to_string();
        validate_name(&name).map_err(UiError::from)?;
        let url = input.url.trim().to_string();
        BrokerUrl::parse(&url).map_err(|e| UiError::invalid("url", e.message))?;
        let username = input
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        let mut subscriptions = Vec::new();
        for (i, line) in input.subscriptions.iter().map(|s| s.trim()).enumerate() {
            if line.is_empty() {
                continue;
            }
            validate_filter(line).map_err(|e| UiError::invalid("subscriptions", format!("line {}: {e}", i + 1)))?;
            subscriptions.push(Subscription {
                topic: line.to_string(),
                qos: 1,
                stale_after: None,
            });
        }

        let mut file = self.store.load().map_err(profiles_error)?;
        let mut profile = match &input.original_name {
            Some(orig) => file
                .profiles
                .remove(orig)
                .ok_or_else(|| UiError::new("not_found", format!("no profile named {orig:?}")))?,
            None => Profile::mqtt(&url).map_err(UiError::from)?,
        };
        if file.profiles.contains_key(&name) {
            return Err(UiError::invalid("name", format!("a profile named {name:?} already exists")));
        }
        profile.url = Some(url);
        profile.username = username;
        profile.subscriptions = subscriptions;
        // Everything else the core checks (TLS files, policy numbers), before anything is written.
        profile.link_config(&name, &self.paths).map_err(UiError::from)?;
        file.profiles.insert(name.clone(), profile);
        self.store.save(&file).map_err(profiles_error)?;

        if let Some(orig) = input.original_name.as_deref().filter(|o| *o != name) {
            // A renamed profile keeps its secret under its new name.
            let acct = tether::credentials::account(orig, "password");
            if let Some(secret) = self.vault.get(&acct).map_err(keychain_error)? {
                self.vault.store(&name, &secret).map_err(keychain_error)?;
                self.vault.delete(orig).map_err(keychain_error)?;
            }
        }
        let active = self.active_profile().await;
        if active.is_some() && (active == input.original_name || active.as_deref() == Some(&name)) {
            self.activate(Some(name.clone())).await?;
        }
        self.list_profiles()
            .await?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| UiError::new("not_found", format!("profile {name:?} vanished after saving")))
    }

    pub async fn remove_profile(&self, name: &str) -> Result<(), UiError> {
        self.store
            .update(|f| {
                f.profiles
                    .remove(name)
                    .map(|_| ())
                    .ok_or_else(|| ProfileError::NotFound(name.to_string()))
            })
            .map_err(profiles_error)?;
        self.vault.delete(name).map_err(keychain_error)?;
        if self.active_profile().await.as_deref() == Some(name) {
            let next = self.store.load().map_err(profiles_error)?.profiles.into_keys().next();
            self.activate(next).await?;
        }
        Ok(())
    }

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
            if app.start_at_login != old_app.start_at_login {
                crate::login::set(app.start_at_login).map_err(|m| UiError::invalid("start_at_login", m))?;
            }
            self.settings_file
                .save(&app)
                .map_err(|e| UiError::new("settings_file", e.to_string()))?;
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
            self.activate(profile).await?;
        }
        self.settings().await
    }

    /// Store or replace a profile's password or token. It goes to the keychain (or memory when
    /// there is none) and never comes back; the active link retries with it at once.
    pub async fn set_secret(&self, profile: &str, secret: SecretString) -> Result<SecretStatus, UiError> {
        use secrecy::ExposeSecret;
        if secret.expose_secret().is_empty() {
            return Err(UiError::invalid("secret", "enter a password or token"));
        }
        self.store.get(profile).map_err(profiles_error)?;
        let st = self.vault.store(profile, &secret).map_err(keychain_error)?;
        self.after_credentials_changed(profile).await;
        Ok(st)
    }

    pub async fn delete_secret(&self, profile: &str) -> Result<SecretStatus, UiError> {
        let st = self.vault.delete(profile).map_err(keychain_error)?;
        self.after_credentials_changed(profile).await;
        Ok(st)
    }

    async fn after_credentials_changed(&self, profile: &str) {
        let active = self.active.lock().await;
        if let Some(a) = active.as_ref().filter(|a| a.profile.as_deref() == Some(profile)) {
            a.link.trigger(Trigger::CredentialsChanged).await;
        }
    }

    pub async fn demo_fault(&self, fault: Fault) -> Result<(), UiError> {
        let demo = self.demo.lock().await;
        let d = demo
            .as_ref()
            .ok_or_else(|| UiError::new("not_demo", "the fault switch only exists in the embedded demo"))?;
        match fault {
            Fault::DropLink => d.faults.drop_link(DROP_FOR),
            Fault::BrokerOutage => d.faults.broker_outage(OUTAGE_FOR),
            Fault::RefuseCredentials => d.faults.refuse_credentials(),
            Fault::Clear => d.faults.clear(),
        }
        Ok(())
    }

    /// Send the water heater a new setpoint (°F). Offline, the command waits in the outbox.
    pub async fn set_setpoint(&self, fahrenheit: f64) -> Result<(), UiError> {
        let active = self.active.lock().await;
        let a = active.as_ref().ok_or_else(|| UiError::new("no_link", "no link is running"))?;
        if a.profile.is_some() {
            return Err(UiError::new("no_device", "this profile has no water heater to control"));
        }
        let range = a
            .device
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|d| (d.setpoint_min_f, d.setpoint_max_f))
            .unwrap_or_else(|| tether::navien::status::Status::demo().setpoint_range_f());
        let f = check_setpoint(fahrenheit, range)?;
        let (topic, payload) = Demo::set_setpoint(f);
        match a.link.publish(&topic, payload, 1, false).await {
            Ok(PublishOutcome::Sent) => Ok(()),
            Ok(PublishOutcome::Queued { .. }) => Ok(()),
            Err(e) => Err(UiError {
                kind: "publish".into(),
                field: Some("setpoint".into()),
                message: format!("the setpoint was not sent: {e}"),
            }),
        }
    }

    pub async fn diagnostics(&self) -> Option<Diagnostics> {
        let link = self.link().await?;
        link.diagnostics().await
    }

    /// Stop the link (DISCONNECT) and the demo, for Quit.
    pub async fn shutdown(&self) {
        if let Some(a) = self.active.lock().await.take() {
            a.link.stop().await;
            a.bridge.abort();
        }
        if let Some(d) = self.demo.lock().await.take() {
            d.stop().await;
        }
    }
}
