//! `tether profile add NAME --navien EMAIL` and `tether navien devices | status | set`: a Navien
//! profile's account and devices from the command line. Passwords and tokens go to the OS keychain
//! only; a sign-in is checked before anything is saved.

use super::args::{CloudEndpoints, DeviceArgs, NavienCmd, SetArgs};
use super::CliError;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tether::credentials::{account, MemoryStore, OsKeychain, SecretStore};
use tether::event::EventKind;
use tether::handle::{Link, LinkHandle};
use tether::kind::{self, Context, Device};
use tether::navien::client::{Account, AccountError};
use tether::navien::control::{Command, Features, Mode};
use tether::navien::{command, view, Request, Topics};
use tether::profiles::{NavienDevice, NavienSettings, Paths, Profile, ProfileError, ProfileKind, ProfileStore};
use tether::LinkState;
use tokio::sync::broadcast;

impl From<AccountError> for CliError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Rejected(m) => CliError::AuthRefused(m),
            AccountError::Unavailable(m) => CliError::Runtime(m),
            AccountError::Keychain(m) => CliError::NoKeychain(m),
        }
    }
}

/// The OS keychain, or exit 5: a Navien profile keeps its secrets nowhere else.
async fn keychain() -> Result<Arc<dyn SecretStore>, CliError> {
    let probe = tokio::task::spawn_blocking(OsKeychain::probe)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    probe.map_err(|e| {
        CliError::NoKeychain(format!(
            "{e}; a Navien profile keeps its password and tokens only in the OS keychain"
        ))
    })?;
    Ok(Arc::new(OsKeychain))
}

/// `profile add NAME --navien EMAIL`: sign in with the password (prompted or from stdin), list
/// the devices, then store the password and tokens in the keychain and the profile in the file.
pub(super) async fn add(
    name: &str,
    email: &str,
    cloud: CloudEndpoints,
    only: Vec<String>,
    apply: impl FnOnce(&mut Profile) -> Result<(), CliError>,
    paths: &Paths,
) -> Result<(), CliError> {
    let mut settings = NavienSettings::default();
    if let Some(u) = cloud.rest_url {
        settings.rest_url = u;
    }
    if let Some(h) = cloud.iot_host {
        settings.iot_host = h;
    }
    if let Some(p) = cloud.iot_port {
        settings.iot_port = p;
    }
    let mut p = Profile::navien(email, settings.clone())?;
    apply(&mut p)?;
    let store = ProfileStore::new(paths.profiles_file());
    if store.load()?.profiles.contains_key(name) {
        return Err(ProfileError::Exists(name.to_string()).into());
    }
    let keychain = keychain().await?;
    let password = super::read_password(&format!("Navien password for {email}: "))?;
    // Checked with the password in memory: nothing reaches the keychain before the sign-in works.
    let trial = Arc::new(MemoryStore::default());
    trial
        .set(&account(name, "password"), &password)
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let acct = Account::new(name, email, &settings, &p.tls, trial)?;
    let devices = acct.devices().await?;
    let chosen: Vec<NavienDevice> = if only.is_empty() {
        devices.clone()
    } else {
        let only: Vec<String> = only.iter().map(|m| m.to_ascii_lowercase()).collect();
        let missing: Vec<&String> = only.iter().filter(|m| !devices.iter().any(|d| &d.mac == *m)).collect();
        if !missing.is_empty() {
            return Err(CliError::Usage(format!(
                "the account has no device {missing:?} (it has {:?})",
                devices.iter().map(|d| d.mac.as_str()).collect::<Vec<_>>()
            )));
        }
        devices.into_iter().filter(|d| only.contains(&d.mac)).collect()
    };
    if let Some(n) = p.navien.as_mut() {
        n.devices = chosen.clone();
    }
    let copy = acct.clone();
    let (kc, profile) = (keychain.clone(), name.to_string());
    let copied = tokio::task::spawn_blocking(move || {
        let r = copy.copy_secrets(kc.as_ref());
        if r.is_err() {
            // Nothing half-stored: no password left behind for a profile that is not saved.
            let _ = kc.delete(&account(&profile, "password"));
            let _ = tether::navien::client::forget_tokens(kc.as_ref(), &profile);
        }
        r
    })
    .await
    .map_err(|e| CliError::Runtime(e.to_string()))?;
    copied.map_err(|e| CliError::NoKeychain(e.to_string()))?;
    let client_id = p.client_id.clone();
    store.update(|f| {
        if f.profiles.contains_key(name) {
            return Err(ProfileError::Exists(name.to_string()));
        }
        f.profiles.insert(name.to_string(), p);
        Ok(())
    })?;
    println!(
        "added Navien profile {name} ({email}, client id {client_id}) with {} device(s) to {}",
        chosen.len(),
        store.path().display()
    );
    for d in &chosen {
        println!("  {}  {}", d.mac, d.name);
    }
    Ok(())
}

pub(super) async fn run(c: NavienCmd, paths: &Paths) -> Result<(), CliError> {
    match c {
        NavienCmd::Devices { name, json } => devices(&name, json, paths).await,
        NavienCmd::Status(a) => status(a, paths).await,
        NavienCmd::Set(a) => set(*a, paths).await,
        NavienCmd::SignOut { name } => sign_out(&name, paths).await,
    }
}

async fn sign_out(name: &str, paths: &Paths) -> Result<(), CliError> {
    navien_profile(name, paths)?;
    let keychain = keychain().await?;
    let profile = name.to_string();
    let deleted = tokio::task::spawn_blocking(move || tether::navien::client::forget_tokens(keychain.as_ref(), &profile))
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?
        .map_err(|e| CliError::NoKeychain(e.to_string()))?;
    println!(
        "{}",
        if deleted {
            format!("forgot the tokens of {name}; the next run signs in with the password")
        } else {
            format!("no tokens were stored for {name}")
        }
    );
    Ok(())
}

fn navien_profile(name: &str, paths: &Paths) -> Result<Profile, CliError> {
    let p = ProfileStore::new(paths.profiles_file()).get(name)?;
    if p.kind != ProfileKind::Navien {
        return Err(CliError::Usage(format!(
            "profile {name:?} is not a Navien profile (its kind is {:?})",
            p.kind
        )));
    }
    Ok(p)
}

async fn devices(name: &str, as_json: bool, paths: &Paths) -> Result<(), CliError> {
    let p = navien_profile(name, paths)?;
    let settings = p.navien.clone().unwrap_or_default();
    let email = p.email.clone().unwrap_or_default();
    let acct = Account::new(name, &email, &settings, &p.tls, keychain().await?)?;
    let list = acct.devices().await?;
    let chosen = |mac: &str| settings.devices.iter().any(|d| d.mac == mac);
    if as_json {
        let v: Vec<Value> = list
            .iter()
            .map(|d| json!({"mac": d.mac, "name": d.name, "additional_value": d.additional_value, "in_profile": chosen(&d.mac)}))
            .collect();
        println!("{}", Value::Array(v));
    } else {
        for d in &list {
            println!("{}\t{}\t{}", d.mac, d.name, if chosen(&d.mac) { "in profile" } else { "-" });
        }
    }
    Ok(())
}

/// A running link to one device of a Navien profile.
struct DeviceLink {
    handle: LinkHandle,
    events: broadcast::Receiver<tether::LinkEvent>,
    device: Device,
    topics: Topics,
    session_id: String,
}

async fn connect(a: &DeviceArgs, paths: &Paths) -> Result<DeviceLink, CliError> {
    let p = navien_profile(&a.name, paths)?;
    let ctx = Context {
        paths,
        secrets: Some(keychain().await?),
        demo: None,
    };
    let mut plan = kind::plan(&a.name, &p, &ctx)?;
    let device = match &a.device {
        Some(mac) => plan.devices.iter().find(|d| d.mac.eq_ignore_ascii_case(mac)).cloned(),
        None => plan.devices.first().cloned(),
    }
    .ok_or_else(|| {
        CliError::Usage(format!(
            "profile {:?} has no device {}",
            a.name,
            a.device.as_deref().unwrap_or("at all")
        ))
    })?;
    // A one-shot command is a client of its own (one id per client, §3.5): the app or a `watch`
    // on this profile keeps its connection (the cloud would close the older one), and the
    // profile's outbox stays theirs; nothing of this run outlives it.
    let client_id = format!("navien-client-{:08x}", rand::random::<u32>());
    let topics = Topics::new(&device.mac, &client_id);
    let session_id = tether::navien::session_id(&client_id);
    plan.config.client_id = client_id.clone();
    plan.config.outbox_path = None;
    plan.config.periodic.clear();
    plan.config.farewell.clear();
    let mut end = Request::new(
        &topics,
        topics.session_end(),
        &session_id,
        &device.mac,
        &device.additional_value,
        command::SESSION_END,
    );
    end.response_topic = format!("cmd/{}/{client_id}/res/end", tether::navien::DEVICE_TYPE);
    plan.config.farewell.push((
        topics.session_end(),
        serde_json::to_string(&end).map_err(|e| CliError::Runtime(e.to_string()))?,
    ));
    let (handle, events) = Link::start_subscribed(plan.config, plan.credentials)?;
    Ok(DeviceLink {
        handle,
        events,
        topics,
        session_id,
        device,
    })
}

impl DeviceLink {
    /// The next reply from this device that `pick` takes, within `wait`; the link's own verdicts
    /// (credentials refused, given up) end the wait with their reason.
    async fn next<T>(&mut self, wait: Duration, mut pick: impl FnMut(&Value) -> Option<T>) -> Result<Option<T>, CliError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut states = self.handle.watch_state();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
                _ = states.changed() => match self.handle.state() {
                    LinkState::AuthRejected { reason } => return Err(CliError::AuthRefused(reason)),
                    LinkState::GaveUp { reason } => return Err(CliError::Runtime(reason)),
                    _ => {}
                },
                ev = self.events.recv() => match ev {
                    Ok(ev) => {
                        let EventKind::Message { payload, .. } = &ev.kind else { continue };
                        let Ok(v) = serde_json::from_slice::<Value>(payload) else { continue };
                        // Our own requests come back on the device wildcard (§3.5): not answers.
                        let Some(r) = v.get("response") else { continue };
                        if r.get("macAddress").and_then(Value::as_str).is_some_and(|m| m != self.device.mac) {
                            continue;
                        }
                        if let Some(t) = pick(&v) {
                            return Ok(Some(t));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return Err(CliError::Runtime("the link stopped".into())),
                },
            }
        }
    }

    async fn request(&self, topic: String, code: u32) -> Result<(), CliError> {
        let d = &self.device;
        let r = Request::new(&self.topics, topic.clone(), &self.session_id, &d.mac, &d.additional_value, code);
        self.send(&topic, &r).await
    }

    async fn send(&self, topic: &str, r: &Request) -> Result<(), CliError> {
        let payload = serde_json::to_string(r).map_err(|e| CliError::Runtime(e.to_string()))?;
        self.handle
            .publish(topic, payload, 1, false)
            .await
            .map(|_| ())
            .map_err(|e| CliError::Runtime(e.to_string()))
    }
}

fn status_of(v: &Value) -> Option<Value> {
    let r = v.get("response")?;
    [r.get("status"), r.get("st")].into_iter().flatten().next().cloned()
}

fn print_status(d: &Device, status: &Value) {
    println!("{}", json!({"device": d.mac, "name": d.name, "status": view::decode(status)}));
}

async fn status(a: DeviceArgs, paths: &Paths) -> Result<(), CliError> {
    let wait = super::args::secs("timeout", a.timeout)?;
    let mut link = connect(&a, paths).await?;
    // The link asks at connect; asking once more covers a reply that raced the subscription.
    let _ = link.request(link.topics.status_request(), command::STATUS_REQUEST).await;
    let got = link.next(wait, status_of).await;
    link.handle.stop().await;
    match got? {
        Some(s) => {
            print_status(&link.device, &s);
            Ok(())
        }
        None => Err(CliError::Runtime(format!(
            "no status from {} within {} s",
            link.device.mac, a.timeout
        ))),
    }
}

fn parse_command(a: &SetArgs) -> Result<Command, CliError> {
    if let Some(f) = a.setpoint_f {
        return Ok(Command::SetpointF(f));
    }
    if let Some(m) = &a.mode {
        if m.eq_ignore_ascii_case("vacation") {
            let days = a
                .days
                .ok_or_else(|| CliError::Usage("--mode vacation needs --days N (1-99)".into()))?;
            return Ok(Command::Vacation { days });
        }
        return m.parse::<Mode>().map(Command::Mode).map_err(CliError::Usage);
    }
    if let Some(p) = &a.power {
        return match p.to_ascii_lowercase().as_str() {
            "on" => Ok(Command::Power(true)),
            "off" => Ok(Command::Power(false)),
            other => Err(CliError::Usage(format!("--power {other:?}: use on or off"))),
        };
    }
    if let Some(al) = &a.anti_legionella {
        if al.eq_ignore_ascii_case("off") {
            return Ok(Command::AntiLegionella(None));
        }
        let d = al
            .parse::<u8>()
            .map_err(|_| CliError::Usage(format!("--anti-legionella {al:?}: a period in days (1-30) or off")))?;
        return Ok(Command::AntiLegionella(Some(d)));
    }
    Err(CliError::Usage(
        "say what to change: --setpoint-f, --mode, --power or --anti-legionella".into(),
    ))
}

/// How long a command waits for the status that confirms it.
const CONFIRM_WAIT: Duration = Duration::from_secs(20);

async fn set(a: SetArgs, paths: &Paths) -> Result<(), CliError> {
    let cmd = parse_command(&a)?;
    let wait = super::args::secs("timeout", a.device.timeout)?;
    let mut link = connect(&a.device, paths).await?;
    let result = async {
        // Every control is gated on the device's features (§4.3): asked for first.
        link.request(link.topics.info_request(), command::DEVICE_INFO).await?;
        let features = link.next(wait, Features::from_reply).await?.ok_or_else(|| {
            CliError::Runtime(format!(
                "no feature reply from {} within {} s: nothing was sent",
                link.device.mac, a.device.timeout
            ))
        })?;
        let d = link.device.clone();
        let req = cmd
            .request(&features, &link.topics, &link.session_id, &d.mac, &d.additional_value)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let code = req.request.command;
        link.send(&link.topics.control(), &req).await?;
        let answer = link
            .next(CONFIRM_WAIT, |v| {
                if v.get("response").and_then(|r| r.get("failCode")).is_some() {
                    return Some(Err(v["response"]["failCode"].as_i64().unwrap_or(0)));
                }
                let s = status_of(v)?;
                let answers = v["response"]["command"].as_u64() == Some(code.into());
                (answers && cmd.confirmed_by(&s)).then_some(Ok(s))
            })
            .await?;
        match answer {
            Some(Ok(s)) => {
                print_status(&d, &s);
                Ok(())
            }
            Some(Err(fail)) => Err(CliError::NotDelivered(format!(
                "the heater refused the command (failCode {fail}{})",
                if fail == 2 {
                    ": controls too close together; wait and try again"
                } else {
                    ""
                }
            ))),
            None => Err(CliError::NotDelivered(format!(
                "not confirmed: no status from {} showing the change within {} s",
                d.mac,
                CONFIRM_WAIT.as_secs()
            ))),
        }
    }
    .await;
    link.handle.stop().await;
    result
}
