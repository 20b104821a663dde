//! Profiles: a readable TOML file in the platform config dir, shared by the CLI and the desktop
//! app, without secrets (those live in the OS keychain). Written atomically (temp file + rename);
//! a malformed file is reported with its line and reason and never overwritten.

use crate::config::{generate_client_id, BrokerUrl, LinkConfig, OutboxConfig, PeriodicRequest, Subscription, TlsConfig};
use crate::error::ConfigError;
use crate::policy::{ReconnectPolicy, RecoveryPolicy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::paths::Paths;

/// The file name inside the config dir.
pub const FILE_NAME: &str = crate::paths::PROFILES_FILE;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{path}:{line}:{column}: {reason} (the file was left as it is; fix it and try again)")]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("no profile named {0:?} (see `tether profile list`)")]
    NotFound(String),
    #[error("a profile named {0:?} already exists")]
    Exists(String),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("{0}")]
    NoHome(String),
}

impl From<crate::paths::NoHome> for ProfileError {
    fn from(e: crate::paths::NoHome) -> Self {
        ProfileError::NoHome(e.to_string())
    }
}

/// What kind of link a profile is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// Any MQTT broker.
    #[default]
    Mqtt,
    /// The Navien Smart Control cloud (email here; password and tokens in the keychain).
    Navien,
    /// The embedded demo.
    Demo,
}

/// One profile as stored. Durations are seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub kind: ProfileKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Stable per profile and install: generated once, saved here.
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub clean_session: bool,
    #[serde(default = "default_keepalive", with = "crate::policy::secs_f64")]
    pub keepalive: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_packet_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub periodic: Vec<PeriodicRequest>,
    #[serde(default)]
    pub reconnect: ReconnectPolicy,
    #[serde(default)]
    pub recovery: RecoveryPolicy,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default, skip_serializing_if = "is_default_tls")]
    pub tls: TlsConfig,
    /// The Navien cloud's endpoints and the account's devices (kind `navien` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub navien: Option<NavienSettings>,
}

/// Where a Navien profile's cloud is, and which devices of the account it talks to. Defaults to
/// the real Navien Smart Control cloud; the emulator (`tether navien-cloud`) prints its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NavienSettings {
    /// The REST API's base URL, ending in `/api/v2.1`.
    #[serde(default = "default_rest_url")]
    pub rest_url: String,
    /// The AWS IoT endpoint MQTT goes to over WebSockets.
    #[serde(default = "default_iot_host")]
    pub iot_host: String,
    #[serde(default = "default_iot_port")]
    pub iot_port: u16,
    /// The account's devices this profile talks to (chosen when the profile is added).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<NavienDevice>,
}

impl Default for NavienSettings {
    fn default() -> Self {
        Self {
            rest_url: default_rest_url(),
            iot_host: default_iot_host(),
            iot_port: default_iot_port(),
            devices: Vec::new(),
        }
    }
}

/// One device of a Navien account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NavienDevice {
    /// 12 lowercase hex characters: its topics are `cmd/52/navilink-<mac>/…`.
    pub mac: String,
    /// Opaque; echoed in every request to the device.
    pub additional_value: String,
    #[serde(default)]
    pub name: String,
}

fn default_rest_url() -> String {
    "https://nlus.naviensmartcontrol.com/api/v2.1".into()
}

fn default_iot_host() -> String {
    "a1t30mldyslmuq-ats.iot.us-east-1.amazonaws.com".into()
}

fn default_iot_port() -> u16 {
    443
}

fn default_keepalive() -> Duration {
    Duration::from_secs(30)
}

fn is_default_tls(t: &TlsConfig) -> bool {
    *t == TlsConfig::default()
}

impl Profile {
    /// A new MQTT profile for `url` with the design's defaults and a fresh client id.
    pub fn mqtt(url: &str) -> Result<Self, ConfigError> {
        let parsed = BrokerUrl::parse(url)?;
        Ok(Self {
            url: Some(url.to_string()),
            username: parsed.username,
            ..Self::base(ProfileKind::Mqtt, generate_client_id())
        })
    }

    /// A profile of `kind` with the design's defaults and nothing kind-specific set.
    pub fn base(kind: ProfileKind, client_id: String) -> Self {
        Self {
            kind,
            url: None,
            client_id,
            username: None,
            email: None,
            clean_session: false,
            keepalive: default_keepalive(),
            max_packet_size: None,
            subscriptions: Vec::new(),
            periodic: Vec::new(),
            reconnect: ReconnectPolicy::default(),
            recovery: RecoveryPolicy::default(),
            outbox: OutboxConfig::default(),
            tls: TlsConfig::default(),
            navien: None,
        }
    }

    /// A new Navien profile for the account `email`, with the cloud's own client id format and
    /// recovery that renews the tokens each cycle (an expired signature is the usual cause).
    pub fn navien(email: &str, settings: NavienSettings) -> Result<Self, ConfigError> {
        if !email.contains('@') || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new("email", format!("{email:?} is not an e-mail address")));
        }
        let recovery = RecoveryPolicy {
            strategy: crate::policy::RecoveryStrategy::RefreshAndRecreate,
            ..RecoveryPolicy::default()
        };
        Ok(Self {
            email: Some(email.to_string()),
            recovery,
            navien: Some(settings),
            ..Self::base(ProfileKind::Navien, format!("navien-client-{:08x}", rand::random::<u32>()))
        })
    }

    /// The link configuration of this profile, validated.
    pub fn link_config(&self, name: &str, paths: &Paths) -> Result<LinkConfig, ConfigError> {
        let url = match (self.kind, &self.url) {
            (ProfileKind::Mqtt, Some(u)) => u.clone(),
            (ProfileKind::Mqtt, None) => return Err(ConfigError::new("url", "an mqtt profile needs a broker URL")),
            (kind, _) => {
                return Err(ConfigError::new(
                    "kind",
                    format!("{kind:?} profiles are run by the desktop app and `tether demo`, not by this command"),
                ))
            }
        };
        let mut c = LinkConfig::new(name, &url)?;
        self.apply_common(&mut c, name, paths);
        c.validate()?;
        Ok(c)
    }

    /// The settings every kind takes from its profile: session, subscriptions, periodic
    /// requests, policies, TLS and the outbox file. The kind adds what it needs on top.
    pub(crate) fn apply_common(&self, c: &mut LinkConfig, name: &str, paths: &Paths) {
        c.client_id = self.client_id.clone();
        c.clean_session = self.clean_session;
        c.keepalive = self.keepalive;
        if let Some(m) = self.max_packet_size {
            c.max_packet_size = m;
        }
        c.subscriptions = self.subscriptions.clone();
        c.periodic = self.periodic.clone();
        c.reconnect = self.reconnect.clone();
        c.recovery = self.recovery.clone();
        c.outbox = self.outbox.clone();
        c.tls = self.tls.clone();
        c.outbox_path = Some(paths.profile_outbox(name));
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Reads and writes the profile file.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    path: PathBuf,
}

impl ProfileStore {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Load the file; a missing file is an empty one.
    pub fn load(&self) -> Result<ProfileFile, ProfileError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ProfileFile::default()),
            Err(e) => return Err(self.io(e)),
        };
        let file: ProfileFile = toml::from_str(&text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
            ProfileError::Malformed {
                path: self.path.clone(),
                line,
                column,
                reason: e.message().to_string(),
            }
        })?;
        check(&file).map_err(|(name, e)| {
            let (line, column) = find_line(&text, &name);
            ProfileError::Malformed {
                path: self.path.clone(),
                line,
                column,
                reason: format!("profile {name:?}: {e}"),
            }
        })?;
        Ok(file)
    }

    /// Write atomically: a temp file in the same directory, fsync, rename over the old one.
    ///
    /// A profile that [`load`](Self::load) would refuse is refused here, before anything is
    /// written: one bad profile would make the whole file unreadable for the CLI and the app.
    pub fn save(&self, file: &ProfileFile) -> Result<(), ProfileError> {
        check(file).map_err(|(name, e)| ConfigError::new(e.field, format!("profile {name:?}: {}", e.message)))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let text = toml::to_string_pretty(file).map_err(|e| ProfileError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(b"# Tether profiles. No secrets here: passwords live in the OS keychain.\n")?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            // Saved: a directory that will not sync only makes the rename less durable.
            if let Err(e) = crate::paths::sync_dir(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "profile file saved, but its directory could not be synced");
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io(e)
        })
    }

    /// Load, change, save: the only way to write, so a malformed file is never overwritten
    /// (loading it fails first).
    ///
    /// Under an exclusive lock on `profiles.toml.lock`, so the CLI and the app (or two CLIs) never
    /// lose each other's changes: each loads what the other saved.
    pub fn update<T>(&self, f: impl FnOnce(&mut ProfileFile) -> Result<T, ProfileError>) -> Result<T, ProfileError> {
        let _lock = self.lock()?;
        let mut file = self.load()?;
        let out = f(&mut file)?;
        self.save(&file)?;
        Ok(out)
    }

    /// The advisory lock around load-modify-save, held until dropped (released by the OS if the
    /// process dies).
    fn lock(&self) -> Result<std::fs::File, ProfileError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{FILE_NAME}.lock")))
            .map_err(|e| self.io(e))?;
        f.lock().map_err(|e| self.io(e))?;
        Ok(f)
    }

    pub fn get(&self, name: &str) -> Result<Profile, ProfileError> {
        self.load()?
            .profiles
            .remove(name)
            .ok_or_else(|| ProfileError::NotFound(name.to_string()))
    }

    fn io(&self, e: std::io::Error) -> ProfileError {
        ProfileError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }
}

/// Profile names become keychain accounts and file names: keep them plain.
pub fn validate_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(ConfigError::new(
            "name",
            format!("{name:?}: use 1-64 letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(())
}

/// The checks a profile file passes on load and on save: the names, and each MQTT profile's link
/// settings. The failing profile's name and what is wrong.
fn check(file: &ProfileFile) -> Result<(), (String, ConfigError)> {
    let probe = Paths {
        config_dir: PathBuf::new(),
        data_dir: PathBuf::new(),
    };
    for (name, p) in &file.profiles {
        validate_name(name).map_err(|e| (name.clone(), e))?;
        if p.kind == ProfileKind::Mqtt {
            p.link_config(name, &probe).map_err(|e| (name.clone(), e))?;
        }
    }
    Ok(())
}

/// The 1-based line and column of byte `offset` in `text` (for errors that point into a file).
/// An offset inside a character counts as that character's start.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

/// Where profile `name`'s table starts (bare or quoted key), else the top of the file.
fn find_line(text: &str, name: &str) -> (usize, usize) {
    [
        format!("[profiles.{name}]"),
        format!("[profiles.\"{name}\"]"),
        format!("[profiles.'{name}']"),
    ]
    .iter()
    .find_map(|h| text.find(h.as_str()))
    .map(|o| line_col(text, o))
    .unwrap_or((1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ProfileStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = ProfileStore::new(dir.path().join(FILE_NAME));
        (dir, s)
    }

    #[test]
    fn two_writers_at_once_never_lose_each_others_change() {
        let (_d, s) = store();
        let s2 = ProfileStore::new(s.path.clone());
        let slow = std::thread::spawn(move || {
            s2.update(|f| {
                // Loaded; another writer tries meanwhile and must wait for this save.
                std::thread::sleep(Duration::from_millis(300));
                f.profiles.insert("slow".into(), Profile::mqtt("mqtt://127.0.0.1:1").unwrap());
                Ok(())
            })
        });
        std::thread::sleep(Duration::from_millis(100));
        s.update(|f| {
            f.profiles.insert("quick".into(), Profile::mqtt("mqtt://127.0.0.1:2").unwrap());
            Ok(())
        })
        .unwrap();
        slow.join().unwrap().unwrap();
        let names: Vec<String> = s.load().unwrap().profiles.into_keys().collect();
        assert_eq!(names, vec!["quick".to_string(), "slow".to_string()]);
    }

    #[test]
    fn profiles_round_trip_through_the_file() {
        let (_d, s) = store();
        let mut p = Profile::mqtt("mqtt://127.0.0.1:1883").unwrap();
        p.subscriptions.push(Subscription {
            topic: "home/#".into(),
            qos: 1,
            stale_after: Some(Duration::from_secs(600)),
        });
        p.reconnect.max_reconnect_attempts = 3;
        s.update(|f| {
            f.profiles.insert("home".into(), p.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(s.get("home").unwrap(), p);
        let text = std::fs::read_to_string(s.path()).unwrap();
        assert!(text.contains("[profiles.home]"), "{text}");
        assert!(text.contains("max_reconnect_attempts = 3"), "{text}");
    }

    #[test]
    fn a_malformed_file_is_reported_with_its_line_and_never_overwritten() {
        let (_d, s) = store();
        let bad = "[profiles.home]\nclient_id = \"tether-1\"\nurl = \"mqtt://h\"\nkeepalive = \"soon\"\n";
        std::fs::write(s.path(), bad).unwrap();
        let err = s.load().unwrap_err();
        match &err {
            ProfileError::Malformed { line, .. } => assert_eq!(*line, 4, "{err}"),
            other => panic!("{other}"),
        }
        let r = s.update(|f| {
            f.profiles.clear();
            Ok(())
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(s.path()).unwrap(), bad, "must not be overwritten");
    }

    #[test]
    fn an_invalid_profile_names_the_setting_and_the_line() {
        let (_d, s) = store();
        let text = "# mine\n\n[profiles.lab]\nclient_id = \"tether-1\"\nurl = \"mqtt://h\"\nsubscriptions = [{ topic = \"a/#/b\" }]\n";
        std::fs::write(s.path(), text).unwrap();
        let err = s.load().unwrap_err().to_string();
        assert!(err.contains(":3:") && err.contains("subscriptions[0].topic"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_not_silently_ignored() {
        let (_d, s) = store();
        std::fs::write(
            s.path(),
            "[profiles.a]\nclient_id = \"x\"\nurl = \"mqtt://h\"\npasword = \"oops\"\n",
        )
        .unwrap();
        let err = s.load().unwrap_err().to_string();
        assert!(err.contains("pasword") && err.contains(":4:"), "{err}");
        assert!(!err.contains("oops"), "values must not be echoed: {err}");
    }

    #[test]
    fn names_are_plain() {
        assert!(validate_name("home-1").is_ok());
        assert!(validate_name("../etc").is_err());
        assert!(validate_name("").is_err());
    }
}
