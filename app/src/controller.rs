//! What the commands do, without Tauri: the active link (a profile or the embedded demo), the
//! profile file, secrets, settings and the demo's fault switch. The shell's commands are one-line
//! adapters onto this, and the app's integration tests drive it directly.

use crate::bridge::{self, DeviceSlot, RecentEvents, Sink};
use crate::ipc::*;
use crate::present::notify::NotifySettings;
use crate::settings::{AppSettings, SettingsFile};
use crate::vault::Vault;
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether::config::{validate_filter, BrokerUrl, Subscription};
use tether::credentials::{CredentialError, CredentialSource, SecretStore};
use tether::demo::Demo;
use tether::diagnostics::Diagnostics;
use tether::handle::{PublishOutcome, Trigger};
use tether::kind::{self, Context, PlanError};
use tether::policy::{ReconnectPolicy, RecoveryPolicy};
use tether::profiles::{validate_name, Paths, Profile, ProfileError, ProfileStore};
use tether::{Link, LinkConfig, LinkHandle};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
    /// Held for the whole of every command that changes the active link, the profile file or a
    /// secret: Tauri runs commands concurrently, and two interleaved switches or saves would
    /// leave the wrong link running or lose a write.
    ops: tokio::sync::Mutex<()>,
    /// What went wrong at start (a malformed profile file, a profile that could not start): the
    /// window shows it, the demo runs meanwhile.
    problem: Mutex<Option<String>>,
    /// The link the OS triggers (network back, wake) go to: the active one, which changes with
    /// the profile, while the trigger source lives as long as the process.
    trigger_target: watch::Sender<Option<LinkHandle>>,
    /// Stops the OS trigger source (at shutdown, or when the controller goes).
    triggers: CancellationToken,
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.triggers.cancel();
    }
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
            ops: tokio::sync::Mutex::new(()),
            problem: Mutex::new(None),
            trigger_target: watch::channel(None).0,
            triggers: CancellationToken::new(),
        }
    }

    /// Forward the OS triggers to whichever link is active when each arrives. Once per process
    /// (the tray process's, or the in-process app's), from [`start`](Self::start).
    fn spawn_os_triggers(&self) {
        let mut rx = tether::triggers::os_triggers(self.triggers.clone());
        let target = self.trigger_target.subscribe();
        tokio::spawn(async move {
            while let Some(t) = rx.recv().await {
                let link = target.borrow().clone();
                if let Some(link) = link {
                    link.trigger(t).await;
                }
            }
        });
    }

    /// Start on the first profile, or the embedded demo when there is none. A profile file that
    /// does not load or a profile that cannot start is reported in the window (and the log) and
    /// the demo runs instead, so the app always comes up. Fails only when the demo cannot start.
    pub async fn start(&self) -> Result<(), UiError> {
        let _op = self.ops.lock().await;
        self.spawn_os_triggers();
        match self.store.load() {
            Ok(file) => {
                if let Some(name) = file.profiles.into_keys().next() {
                    match self.activate_locked(Some(name.clone())).await {
                        Ok(()) => return Ok(()),
                        Err(e) => self.report(format!("profile {name:?} could not start: {}; the demo runs instead", e.message)),
                    }
                }
            }
            Err(e) => self.report(format!("{e}; the demo runs instead")),
        }
        self.activate_locked(None).await
    }

    fn report(&self, problem: String) {
        tracing::error!(%problem, "at start");
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(problem);
    }

    /// The link now active (for the tray menu).
    pub async fn link(&self) -> Option<LinkHandle> {
        self.active.lock().await.as_ref().map(|a| a.link.clone())
    }

    /// The link config and credentials of `profile` (`None`: the demo), validated, before the
    /// running link is touched: a bad profile never takes the current link down.
    async fn prepare(&self, profile: Option<&str>) -> Result<(LinkConfig, Arc<dyn CredentialSource>), UiError> {
        let secrets: Option<Arc<dyn SecretStore>> = Some(self.vault.clone());
        let plan = match profile {
            Some(name) => {
                let p = self.store.get(name).map_err(profiles_error)?;
                kind::plan(
                    name,
                    &p,
                    &Context {
                        paths: &self.paths,
                        secrets,
                        demo: None,
                    },
                )
            }
            None => {
                let mut demo = self.demo.lock().await;
                if demo.is_none() {
                    *demo = Some(Demo::start().await.map_err(|e| UiError::new("demo", e.to_string()))?);
                }
                let Some(d) = demo.as_ref() else {
                    return Err(UiError::new("demo", "the demo did not start"));
                };
                let ctx = Context {
                    paths: &self.paths,
                    secrets,
                    demo: Some(d.into()),
                };
                kind::plan(DEMO, &kind::demo::profile(), &ctx).map(|mut plan| {
                    if let Some((rc, rv)) = self.demo_policy.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                        plan.config.reconnect = rc;
                        plan.config.recovery = rv;
                    }
                    plan
                })
            }
        }
        .map_err(|e| match e {
            PlanError::Invalid(e) => UiError::new("unsupported", e.message),
            PlanError::Unavailable(m) => UiError::new("unsupported", m),
        })?;
        Ok((plan.config, plan.credentials))
    }

    /// Make `profile` (`None`: the demo) the active link.
    pub async fn activate(&self, profile: Option<String>) -> Result<(), UiError> {
        let _op = self.ops.lock().await;
        self.activate_locked(profile).await
    }

    /// Stop the active link (DISCONNECT; its outbox file is closed when this returns).
    async fn stop_active(&self, active: &mut Option<Active>) -> Option<Active> {
        let old = active.take()?;
        self.trigger_target.send_replace(None);
        old.link.stop().await;
        old.bridge.abort();
        Some(old)
    }

    /// [`activate`](Self::activate) with `ops` held. If the new link cannot start, the previous
    /// one comes back, or else the demo: the window never stays without a link.
    async fn activate_locked(&self, profile: Option<String>) -> Result<(), UiError> {
        let (cfg, creds) = self.prepare(profile.as_deref()).await?;
        let mut active = self.active.lock().await;
        let previous = self.stop_active(&mut active).await;
        match Link::start_consumed(cfg.clone(), creds) {
            Ok((h, rx)) => {
                *active = Some(self.wire(profile, h, rx, cfg.reconnect, cfg.recovery));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "link did not start");
                let mut fallbacks = vec![None];
                if let Some(old) = previous {
                    fallbacks.insert(0, old.profile);
                }
                for fb in fallbacks {
                    if let Ok((c, cr)) = self.prepare(fb.as_deref()).await {
                        if let Ok((h, rx)) = Link::start_consumed(c.clone(), cr) {
                            *active = Some(self.wire(fb, h, rx, c.reconnect, c.recovery));
                            break;
                        }
                    }
                }
                Err(UiError::new("start", e.to_string()))
            }
        }
    }

    fn wire(
        &self,
        profile: Option<String>,
        link: LinkHandle,
        rx: tether::delivery::Consumer,
        reconnect: ReconnectPolicy,
        recovery: RecoveryPolicy,
    ) -> Active {
        let device: DeviceSlot = Arc::default();
        let recent: RecentEvents = Arc::default();
        let name = profile.clone().unwrap_or_else(|| DEMO.to_string());
        self.trigger_target.send_replace(Some(link.clone()));
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
            problem: self.problem.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        })
    }

    async fn active_profile(&self) -> Option<String> {
        self.active.lock().await.as_ref().and_then(|a| a.profile.clone())
    }

    pub async fn list_profiles(&self) -> Result<Vec<ProfileView>, UiError> {
        let active = self.active_profile().await;
        let file = self.store.load().map_err(profiles_error)?;
        let vault = self.vault.clone();
        // Keychain lookups are blocking D-Bus calls (and may wait on an unlock prompt).
        let views = tokio::task::spawn_blocking(move || {
            file.profiles
                .into_iter()
                .map(|(name, p)| ProfileView {
                    active: active.as_deref() == Some(name.as_str()),
                    // One locked or refusing keychain entry must not hide the whole list.
                    secret: vault.status(&name).unwrap_or_else(|e| {
                        tracing::warn!(profile = %name, error = %e, "cannot tell where the secret is");
                        SecretStatus::Unknown
                    }),
                    url: p.url.clone().unwrap_or_default(),
                    username: p.username.clone(),
                    client_id: p.client_id.clone(),
                    subscriptions: p.subscriptions.iter().map(|s| s.topic.clone()).collect(),
                    name,
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| UiError::new("internal", e.to_string()))?;
        Ok(views)
    }

    /// Run a vault call off the async workers.
    async fn vault<T: Send + 'static>(&self, f: impl FnOnce(&Vault) -> Result<T, CredentialError> + Send + 'static) -> Result<T, UiError> {
        let vault = self.vault.clone();
        tokio::task::spawn_blocking(move || f(&vault))
            .await
            .map_err(|e| UiError::new("internal", e.to_string()))?
            .map_err(keychain_error)
    }

    /// Move (or, with `to: None`, delete) a profile's outbox file; its link must be stopped.
    fn move_outbox(&self, from: &str, to: Option<&str>) {
        let old = self.paths.profile_outbox(from);
        let r = match to {
            Some(_) if !old.exists() => return,
            Some(to) => std::fs::rename(&old, self.paths.outbox(to)),
            None => self.paths.remove_profile_files(from).map(|_| ()),
        };
        if let Err(e) = r {
            tracing::warn!(path = %old.display(), error = %e, "outbox file not moved");
        }
    }

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
        self.list_profiles()
            .await?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| UiError::new("not_found", format!("profile {name:?} vanished after saving")))
    }

    pub async fn remove_profile(&self, name: &str) -> Result<(), UiError> {
        let _op = self.ops.lock().await;
        self.store
            .update(|f| {
                f.profiles
                    .remove(name)
                    .map(|_| ())
                    .ok_or_else(|| ProfileError::NotFound(name.to_string()))
            })
            .map_err(profiles_error)?;
        if self.active_profile().await.as_deref() == Some(name) {
            let next = self.store.load().ok().and_then(|f| f.profiles.into_keys().next());
            if self.activate_locked(next).await.is_err() {
                self.activate_locked(None).await?;
            }
        }
        self.move_outbox(name, None);
        let n = name.to_string();
        self.vault(move |v| v.delete(&n)).await?;
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

    pub async fn demo_fault(&self, fault: Fault) -> Result<(), UiError> {
        if self.active_profile().await.is_some() {
            return Err(UiError::new("not_demo", "the fault switch only exists in the embedded demo"));
        }
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
        let (link, range) = {
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
            (a.link.clone(), range)
        };
        let f = check_setpoint(fahrenheit, range)?;
        let (topic, payload) = Demo::set_setpoint(f);
        match link.publish(&topic, payload, 1, false).await {
            Ok(PublishOutcome::Sent) | Ok(PublishOutcome::Queued { .. }) => Ok(()),
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
        self.triggers.cancel();
        self.trigger_target.send_replace(None);
        if let Some(a) = self.active.lock().await.take() {
            a.link.stop().await;
            a.bridge.abort();
        }
        if let Some(d) = self.demo.lock().await.take() {
            d.stop().await;
        }
    }
}
