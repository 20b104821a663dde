//! What the commands do, without Tauri: the active link (a profile or the embedded demo), the
//! profile file, secrets, settings and the demo's fault switch. The shell's commands are one-line
//! adapters onto this, and the app's integration tests drive it directly.

mod device_ops;
mod navien_form;
mod profile_form;
mod settings_ops;

use crate::bridge::{self, RecentEvents, Sink};
use crate::devices::Devices;
use crate::ipc::*;
use crate::present::notify::NotifySettings;
use crate::settings::{AppSettings, SettingsFile};
use crate::vault::Vault;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether::credentials::{CredentialError, SecretStore};
use tether::demo::Demo;
use tether::kind::{self, Context, Plan, PlanError, TokenReport};
use tether::policy::{ReconnectPolicy, RecoveryPolicy};
use tether::profiles::{Paths, ProfileError, ProfileStore};
use tether::{Link, LinkHandle};
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
    devices: Arc<Devices>,
    /// How the cloud account's tokens stand (a Navien profile, the demo).
    tokens: Option<Arc<dyn TokenReport>>,
    /// How long a command waits in the outbox while offline before it expires.
    outbox_max_age: Duration,
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
    /// A Navien account signed in by the profile form, waiting for the user to pick devices:
    /// its password and tokens are in memory until the profile is saved.
    pending_navien: Arc<Mutex<Option<navien_form::Pending>>>,
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
            pending_navien: Arc::default(),
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

    /// The link plan of `profile` (`None`: the demo), validated, before the running link is
    /// touched: a bad profile never takes the current link down.
    async fn prepare(&self, profile: Option<&str>) -> Result<Plan, UiError> {
        let secrets: Option<Arc<dyn SecretStore>> = Some(self.vault.clone());
        match profile {
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
                    demo: Some(d.endpoint()),
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
        })
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
        let plan = self.prepare(profile.as_deref()).await?;
        let mut active = self.active.lock().await;
        let previous = self.stop_active(&mut active).await;
        match Link::start_consumed(plan.config.clone(), plan.credentials.clone()) {
            Ok((h, rx)) => {
                *active = Some(self.wire(profile, h, rx, plan));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "link did not start");
                let mut fallbacks = vec![None];
                if let Some(old) = previous {
                    fallbacks.insert(0, old.profile);
                }
                for fb in fallbacks {
                    if let Ok(plan) = self.prepare(fb.as_deref()).await {
                        if let Ok((h, rx)) = Link::start_consumed(plan.config.clone(), plan.credentials.clone()) {
                            *active = Some(self.wire(fb, h, rx, plan));
                            break;
                        }
                    }
                }
                Err(UiError::new("start", e.to_string()))
            }
        }
    }

    fn wire(&self, profile: Option<String>, link: LinkHandle, rx: tether::delivery::Consumer, plan: Plan) -> Active {
        let devices = Devices::new(&plan.config.client_id, plan.devices);
        let recent: RecentEvents = Arc::default();
        let name = profile.clone().unwrap_or_else(|| DEMO.to_string());
        self.trigger_target.send_replace(Some(link.clone()));
        let bridge = bridge::spawn(
            self.sink.clone(),
            link.clone(),
            rx,
            name,
            self.notify_tx.subscribe(),
            devices.clone(),
            recent.clone(),
        );
        Active {
            profile,
            link,
            bridge,
            devices,
            tokens: plan.tokens,
            outbox_max_age: plan.config.outbox.max_age,
            recent,
            reconnect: plan.config.reconnect,
            recovery: plan.config.recovery,
        }
    }

    pub async fn overview(&self) -> Result<Overview, UiError> {
        let active = self.active.lock().await;
        let a = active.as_ref().ok_or_else(|| UiError::new("no_link", "no link is running"))?;
        let devices = a.devices.cards();
        let recent_events = a.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        Ok(Overview {
            profile: a.profile.clone().unwrap_or_else(|| DEMO.to_string()),
            demo: a.profile.is_none(),
            state: a.link.state(),
            devices,
            recent_events,
            keychain: self.vault.keychain_status(),
            problem: self.problem.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        })
    }

    async fn active_profile(&self) -> Option<String> {
        self.active.lock().await.as_ref().and_then(|a| a.profile.clone())
    }

    /// The list entry of the profile `name` (after a save: the form shows what was stored).
    async fn profile_view(&self, name: &str) -> Result<ProfileView, UiError> {
        self.list_profiles()
            .await?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| UiError::new("not_found", format!("profile {name:?} vanished after saving")))
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
                    kind: match p.kind {
                        tether::profiles::ProfileKind::Mqtt => "mqtt",
                        tether::profiles::ProfileKind::Navien => "navien",
                        tether::profiles::ProfileKind::Demo => "demo",
                    }
                    .to_string(),
                    url: p
                        .url
                        .clone()
                        .or_else(|| p.navien.as_ref().map(|n| n.rest_url.clone()))
                        .unwrap_or_default(),
                    email: p.email.clone(),
                    devices: p.navien.iter().flat_map(|n| n.devices.iter().map(|d| d.name.clone())).collect(),
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
