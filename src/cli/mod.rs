//! The `tether` command line: a headless front end on the same core as the desktop app.
//! `main.rs` only parses arguments and calls [`run`].
//!
//! Exit codes: 0 done; 1 runtime failure (a publish the outbox could not store, e.g. on a full
//! disk, is not queued); 2 bad input (URL, topic, profile file, flags);
//! 3 a publish was not delivered in time (it stays queued in the outbox when there is one);
//! 4 the broker refused the credentials; 5 no OS keychain is available.

mod args;
mod cloud;
mod demo;
mod navien;
mod output;

pub use args::{AddArgs, Cli, Cmd, CredsCmd, ProfileCmd, PubArgs, Target, WatchArgs};

use secrecy::SecretString;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;
use std::time::Duration;
use tether::config::{LinkConfig, Subscription};
use tether::credentials::{account, CredentialError, CredentialSource, Credentials, OsKeychain, SecretStore, StaticSource};
use tether::event::EventKind;
use tether::handle::{Link, LinkHandle, StartError};
use tether::kind::{self, Context, PlanError};
use tether::profiles::{validate_name, Paths, Profile, ProfileError, ProfileKind, ProfileStore};
use tether::state::LinkState;
use tether::triggers::spawn_os_triggers;
use tokio::sync::broadcast::error::RecvError;

/// An error the CLI reports, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
    #[error("{0}")]
    NotDelivered(String),
    #[error("{0}")]
    AuthRefused(String),
    #[error("{0}")]
    NoKeychain(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Runtime(_) => 1,
            CliError::Usage(_) => 2,
            CliError::NotDelivered(_) => 3,
            CliError::AuthRefused(_) => 4,
            CliError::NoKeychain(_) => 5,
        }
    }
}

impl From<ProfileError> for CliError {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::Io { .. } | ProfileError::NoHome(_) => CliError::Runtime(e.to_string()),
            _ => CliError::Usage(e.to_string()),
        }
    }
}

impl From<PlanError> for CliError {
    fn from(e: PlanError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl From<tether::ConfigError> for CliError {
    fn from(e: tether::ConfigError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl From<StartError> for CliError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Config(c) => c.into(),
            StartError::Outbox(o) => CliError::Runtime(o.to_string()),
        }
    }
}

fn keychain_error(e: CredentialError) -> CliError {
    match e {
        CredentialError::NoKeychain(_) => CliError::NoKeychain(format!(
            "{e}. On Linux, run a Secret Service (e.g. gnome-keyring) in your session; for this run only, give the password with --password-stdin"
        )),
        other => CliError::Runtime(other.to_string()),
    }
}

/// Run one command; the caller exits with the error's code.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let paths = Paths::from_env().map_err(ProfileError::from)?;
    match cli.command {
        Cmd::Watch(a) => watch(a, &paths).await,
        Cmd::Pub(a) => publish(a, &paths).await,
        Cmd::Profile(c) => profile(c, &paths).await,
        Cmd::Creds(c) => creds(c, &paths).await,
        Cmd::Diag { profile } => diag(&profile, &paths),
        Cmd::Navien(c) => navien::run(c, &paths).await,
        Cmd::NavienCloud(a) => cloud::run(*a).await,
        Cmd::Demo { json } => demo::run(json, &paths).await,
    }
}

/// The link configuration and credentials for a URL or a profile, with the flags on top.
/// What a command runs: the link's configuration and credentials, whether it talks to devices
/// (their status replies are printed decoded), and its tokens (for the diagnostics file).
struct Resolved {
    cfg: LinkConfig,
    creds: Arc<dyn CredentialSource>,
    devices: bool,
    tokens: Option<Arc<dyn kind::TokenReport>>,
}

async fn resolve(url: Option<&str>, t: &Target, paths: &Paths) -> Result<Resolved, CliError> {
    let password = if t.password_stdin { Some(read_secret_line()?) } else { None };
    let (mut cfg, mut creds, username, devices, tokens) = match (&t.profile, url) {
        (Some(_), Some(_)) => return Err(CliError::Usage("give a broker URL or --profile, not both".into())),
        (None, None) => {
            return Err(CliError::Usage(
                "give a broker URL (e.g. mqtt://127.0.0.1:1883) or --profile NAME".into(),
            ))
        }
        (Some(name), None) => {
            let store = ProfileStore::new(paths.profiles_file());
            let mut p = store.get(name)?;
            if let Some(u) = &t.username {
                p.username = Some(u.clone());
            }
            // The keychain is asked only when a password may be needed and none was given.
            // A Navien profile's password and tokens live only there.
            let wants_keychain = p.username.is_some() || p.kind == ProfileKind::Navien;
            let secrets: Option<Arc<dyn SecretStore>> = if password.is_none() && wants_keychain {
                let probe = tokio::task::spawn_blocking(OsKeychain::probe)
                    .await
                    .map_err(|e| CliError::Runtime(e.to_string()))?;
                match probe {
                    Ok(()) => Some(Arc::new(OsKeychain)),
                    Err(e) => {
                        eprintln!("tether: warning: {e}; connecting without a password (give one for this run with --password-stdin)");
                        None
                    }
                }
            } else {
                None
            };
            let plan = kind::plan(
                name,
                &p,
                &Context {
                    paths,
                    secrets,
                    demo: None,
                },
            )?;
            let devices = !plan.devices.is_empty();
            (plan.config, Some(plan.credentials), p.username, devices, plan.tokens)
        }
        (None, Some(url)) => {
            let mut cfg = LinkConfig::new("url", url)?;
            if let Some(id) = &t.client_id {
                // A stable client id makes the outbox worth keeping across runs.
                cfg.outbox_path = Some(paths.url_outbox(id));
            }
            let user = t.username.clone().or(cfg.broker.username.clone());
            (cfg, None, user, false, None)
        }
    };
    if let Some(id) = &t.client_id {
        cfg.client_id = id.clone();
    }
    if t.clean_session {
        cfg.clean_session = true;
    }
    if let Some(k) = t.keepalive {
        cfg.keepalive = args::secs("keepalive", k)?;
    }
    if let Some(k) = t.connect_timeout {
        cfg.connect_timeout = args::secs("connect_timeout", k)?;
    }
    if t.ca_file.is_some() {
        cfg.tls.ca_file = t.ca_file.clone();
    }
    if t.client_cert.is_some() {
        cfg.tls.client_cert = t.client_cert.clone();
        cfg.tls.client_key = t.client_key.clone();
    }
    t.policy.apply(&mut cfg)?;
    // A password given for this run wins over the profile's source.
    if let Some(p) = password {
        creds = Some(Arc::new(StaticSource(Credentials {
            username: username.clone(),
            password: Some(p),
        })));
    }
    let creds = creds.unwrap_or_else(|| Arc::new(StaticSource(Credentials { username, password: None })));
    Ok(Resolved {
        cfg,
        creds,
        devices,
        tokens,
    })
}

/// A password: prompted (not echoed) on a terminal, else the first line of stdin. Never argv.
pub(crate) fn read_password(prompt: &str) -> Result<SecretString, CliError> {
    if !std::io::stdin().is_terminal() {
        return read_secret_line();
    }
    let p = rpassword::prompt_password(prompt).map_err(|e| CliError::Runtime(format!("reading the password: {e}")))?;
    if p.is_empty() {
        return Err(CliError::Usage("an empty password was given".into()));
    }
    Ok(SecretString::from(p))
}

fn read_secret_line() -> Result<SecretString, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Runtime(format!("reading the password from stdin: {e}")))?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        return Err(CliError::Usage("an empty password was read from stdin".into()));
    }
    Ok(SecretString::from(secret))
}

async fn watch(a: WatchArgs, paths: &Paths) -> Result<(), CliError> {
    let Resolved {
        mut cfg,
        creds,
        devices,
        tokens,
    } = resolve(a.url.as_deref(), &a.target, paths).await?;
    for topic in &a.subs {
        tether::config::validate_filter(topic).map_err(CliError::Usage)?;
        cfg.subscriptions.retain(|s| &s.topic != topic);
        cfg.subscriptions.push(Subscription {
            topic: topic.clone(),
            qos: a.qos,
            stale_after: None,
        });
    }
    // At least once to whoever reads stdout: a QoS 1 message is acknowledged to the broker only
    // once its line is written, and a slow reader slows the link instead of losing messages.
    let (h, consumer) = Link::start_consumed(cfg, creds)?;
    spawn_os_triggers(vec![h.clone()], h.cancellation());
    let diag_path = a.target.profile.as_ref().map(|p| paths.diagnostics(p));
    let json = a.json;
    let mut writer = tokio::task::spawn_blocking(move || output::write_all(consumer, json, devices));
    let mut writer_done = false;
    let mut states = h.watch_state();
    let mut diag_tick = tokio::time::interval(Duration::from_secs(2));
    let mut stop = Box::pin(shutdown_signal());
    let mut verdict = Ok(());
    loop {
        tokio::select! {
            _ = &mut stop => break,
            // Stdout closed (piped into `head`, the reader gone): nobody to deliver to.
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            changed = states.changed() => {
                if changed.is_err() {
                    break;
                }
                if let Some(e) = exit_verdict(&h, &a.target) {
                    verdict = Err(e);
                    break;
                }
                // `tether diag` shows the state the link is in, not the one of the last tick.
                write_diag(&h, diag_path.as_deref(), tokens.as_deref()).await;
            }
            _ = diag_tick.tick(), if diag_path.is_some() => write_diag(&h, diag_path.as_deref(), tokens.as_deref()).await,
        }
    }
    write_diag(&h, diag_path.as_deref(), tokens.as_deref()).await;
    h.stop().await;
    if !writer_done {
        // The link has stopped: the writer prints what is left (the last events) and returns.
        // Bounded: a reader that never reads again must not keep us from exiting.
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    }
    verdict
}

/// Credentials refused or an unusable configuration end the CLI: there is nobody to fix them.
fn exit_verdict(h: &LinkHandle, t: &Target) -> Option<CliError> {
    match h.state() {
        LinkState::AuthRejected { reason } => Some(CliError::AuthRefused(match &t.profile {
            Some(p) => format!("{reason}; store the right password with `tether creds set {p}`"),
            None => format!("{reason}; check --username and --password-stdin"),
        })),
        LinkState::GaveUp { reason } if reason.contains("invalid configuration") => Some(CliError::Usage(reason)),
        _ => None,
    }
}

async fn write_diag(h: &LinkHandle, path: Option<&std::path::Path>, tokens: Option<&dyn kind::TokenReport>) {
    let Some(path) = path else { return };
    let Some(d) = h.diagnostics().await else { return };
    let Ok(mut v) = serde_json::to_value(&d) else { return };
    // A token kind adds how its tokens stand: renewal times, last renewal, counts (no token).
    if let (Some(t), Some(m)) = (tokens, v.as_object_mut()) {
        if let Ok(t) = serde_json::to_value(t.token_state()) {
            m.insert("tokens".into(), t);
        }
    }
    let Ok(json) = serde_json::to_string_pretty(&v) else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = path.with_extension("json.tmp");
    if std::fs::write(&tmp, json).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn publish(a: PubArgs, paths: &Paths) -> Result<(), CliError> {
    let (url, topic, payload) = match (a.target.profile.is_some(), a.args.as_slice()) {
        (true, [t, p]) => (None, t.clone(), p.clone()),
        (false, [u, t, p]) => (Some(u.clone()), t.clone(), p.clone()),
        (true, _) => return Err(CliError::Usage("with --profile, give TOPIC PAYLOAD".into())),
        (false, _) => return Err(CliError::Usage("give URL TOPIC PAYLOAD (or --profile NAME TOPIC PAYLOAD)".into())),
    };
    tether::config::validate_topic(&topic).map_err(CliError::Usage)?;
    let Resolved { cfg, creds, .. } = resolve(url.as_deref(), &a.target, paths).await?;
    let cfg = publisher_config(cfg);
    let persisted = cfg.outbox_path.is_some();
    let profile = cfg.profile_id.clone();
    let max_age = cfg.outbox.max_age;
    let (h, mut events) = Link::start_subscribed(cfg, creds)?;
    // Nothing may be dropped or expired without a word: the outbox's verdicts go to stderr.
    let reporter = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(ev) => match &ev.kind {
                    EventKind::OutboxDropped { .. } | EventKind::OutboxExpired { .. } => {
                        eprintln!("tether: {}", output::human(&ev))
                    }
                    _ => {}
                },
                Err(RecvError::Lagged(n)) => eprintln!("tether: {n} link events were not shown"),
                Err(RecvError::Closed) => return,
            }
        }
    });
    let result = async {
        h.publish(&topic, payload.into_bytes(), a.qos, a.retain).await.map_err(|e| match e {
            // Not the user's input: the disk under the outbox (full, say), or the link itself.
            tether::PublishError::Storage(_) | tether::PublishError::Stopped => CliError::Runtime(e.to_string()),
            _ => CliError::Usage(e.to_string()),
        })?;
        let mut len = h.outbox_len();
        let mut state = h.watch_state();
        let deadline = tokio::time::sleep(args::secs("timeout", a.timeout)?.min(tether::config::MAX_SETTING));
        tokio::pin!(deadline);
        loop {
            if *len.borrow_and_update() == 0 {
                return Ok(());
            }
            if let Some(e) = exit_verdict(&h, &a.target) {
                return Err(e);
            }
            tokio::select! {
                _ = len.changed() => {}
                _ = state.changed() => {}
                _ = &mut deadline => {
                    let n = *len.borrow();
                    return Err(CliError::NotDelivered(if persisted {
                        format!(
                            "not delivered within {}s: {n} message(s) stay queued in the outbox of {profile:?} and go out, in order, on its next `tether watch` or `tether pub`, if that starts within {}s (the outbox's max_age; older ones are expired and reported then)",
                            a.timeout,
                            max_age.as_secs()
                        )
                    } else {
                        format!("not delivered within {}s, and without --profile or --client-id there is no outbox to keep it: the message was not sent", a.timeout)
                    }));
                }
            }
        }
    }
    .await;
    h.stop().await;
    // The link's last events (an expiry at stop, say) are printed before we exit.
    let _ = tokio::time::timeout(Duration::from_secs(1), reporter).await;
    result
}

/// `pub` runs beside the profile's consumers, never as one: a persistent session would make the
/// broker hand it the QoS 1 messages queued for the next `watch` (or the app), which rumqttc
/// acknowledges and `pub` never reads. So it connects with a clean session under a client id of
/// its own (random suffix: two `pub`s at once must not kick each other), subscribes to nothing and
/// sends no periodic requests; it keeps the profile's outbox, so what it cannot deliver stays queued
/// for the profile.
fn publisher_config(mut cfg: LinkConfig) -> LinkConfig {
    if !cfg.clean_session {
        cfg.client_id = format!("{}-pub-{:06x}", cfg.client_id, rand::random::<u32>() & 0xff_ffff);
        cfg.clean_session = true;
    }
    cfg.subscriptions.clear();
    cfg.periodic.clear();
    cfg
}

async fn profile(c: ProfileCmd, paths: &Paths) -> Result<(), CliError> {
    let store = ProfileStore::new(paths.profiles_file());
    match c {
        ProfileCmd::Add(a) => {
            let AddArgs {
                name,
                url,
                username,
                navien: navien_email,
                cloud,
                devices,
                subs,
                qos,
                client_id,
                clean_session,
                keepalive,
                ca_file,
                policy,
            } = *a;
            validate_name(&name)?;
            // What every kind takes from the flags.
            let common = move |p: &mut Profile| -> Result<(), CliError> {
                if let Some(id) = client_id {
                    p.client_id = id;
                }
                p.clean_session = clean_session;
                if let Some(k) = keepalive {
                    p.keepalive = args::secs("keepalive", k)?;
                }
                p.tls.ca_file = ca_file;
                for topic in subs {
                    p.subscriptions.push(Subscription {
                        topic,
                        qos,
                        stale_after: None,
                    });
                }
                policy.apply_to(&mut p.reconnect, &mut p.recovery, &mut p.outbox)?;
                Ok(())
            };
            if let Some(email) = navien_email {
                return navien::add(&name, &email, cloud, devices, common, paths).await;
            }
            let url = url.ok_or_else(|| CliError::Usage("give a broker URL, or --navien EMAIL".into()))?;
            let mut p = Profile::mqtt(&url)?;
            if username.is_some() {
                p.username = username;
            }
            common(&mut p)?;
            p.link_config(&name, paths)?;
            let client_id = p.client_id.clone();
            store.update(|f| {
                if f.profiles.contains_key(&name) {
                    return Err(ProfileError::Exists(name.clone()));
                }
                f.profiles.insert(name.clone(), p);
                Ok(())
            })?;
            println!("added profile {name} (client id {client_id}) to {}", store.path().display());
            Ok(())
        }
        ProfileCmd::List => {
            let f = store.load()?;
            if f.profiles.is_empty() {
                println!(
                    "no profiles in {} (add one with `tether profile add NAME URL`)",
                    store.path().display()
                );
            }
            for (name, p) in f.profiles {
                let user = p.username.map(|u| format!(" user {u}")).unwrap_or_default();
                println!(
                    "{name}\t{}\t{}{user}",
                    p.url.unwrap_or_else(|| format!("({:?})", p.kind)),
                    p.client_id
                );
            }
            Ok(())
        }
        ProfileCmd::Show { name } => {
            let p = store.get(&name)?;
            let text = toml::to_string_pretty(&p).map_err(|e| CliError::Runtime(e.to_string()))?;
            println!("# profile {name} in {}\n{text}", store.path().display());
            let acct = account(&name, "password");
            let stored = tokio::task::spawn_blocking(move || OsKeychain.get(&acct).map(|s| s.is_some()))
                .await
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            match stored {
                Ok(true) => println!("# password: stored in the OS keychain"),
                Ok(false) => println!("# password: none stored"),
                Err(e) => println!("# password: unknown ({e})"),
            }
            Ok(())
        }
        ProfileCmd::Remove { name } => {
            store.update(|f| {
                f.profiles
                    .remove(&name)
                    .map(|_| ())
                    .ok_or_else(|| ProfileError::NotFound(name.clone()))
            })?;
            let (acct, profile) = (account(&name, "password"), name.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let _ = OsKeychain.delete(&acct);
                // A Navien profile's tokens go with it (refresh token, AWS keys).
                let _ = tether::navien::client::forget_tokens(&OsKeychain, &profile);
            })
            .await;
            match paths.remove_profile_files(&name) {
                Ok(true) => println!("removed profile {name}, and its outbox (publishes still queued for its broker)"),
                Ok(false) => println!("removed profile {name}"),
                Err(e) => {
                    return Err(CliError::Runtime(format!(
                        "removed profile {name}, but its outbox {} could not be deleted: {e}; delete it before adding a profile of the same name",
                        paths.outbox(&name).display()
                    )))
                }
            }
            Ok(())
        }
    }
}

async fn creds(c: CredsCmd, paths: &Paths) -> Result<(), CliError> {
    let store = ProfileStore::new(paths.profiles_file());
    match c {
        CredsCmd::Set { profile } => {
            store.get(&profile)?;
            let secret = read_password(&format!("Password for profile {profile}: "))?;
            let acct = account(&profile, "password");
            tokio::task::spawn_blocking(move || OsKeychain.set(&acct, &secret))
                .await
                .map_err(|e| CliError::Runtime(e.to_string()))?
                .map_err(keychain_error)?;
            println!("stored the password of {profile} in the OS keychain (service Tether)");
            Ok(())
        }
        CredsCmd::Delete { profile } => {
            let acct = account(&profile, "password");
            let deleted = tokio::task::spawn_blocking(move || OsKeychain.delete(&acct))
                .await
                .map_err(|e| CliError::Runtime(e.to_string()))?
                .map_err(keychain_error)?;
            println!(
                "{}",
                if deleted {
                    format!("deleted the password of {profile}")
                } else {
                    format!("no password was stored for {profile}")
                }
            );
            Ok(())
        }
    }
}

fn diag(profile: &str, paths: &Paths) -> Result<(), CliError> {
    let path = paths.diagnostics(profile);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            println!("{text}");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CliError::Runtime(format!(
            "no diagnostics for {profile}: they are written while `tether watch --profile {profile}` runs"
        ))),
        Err(e) => Err(CliError::Runtime(format!("{}: {e}", path.display()))),
    }
}
