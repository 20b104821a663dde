//! The profile-kind seam: the one place a profile becomes what a link needs.
//!
//! A [`Plan`] holds everything the engine and its front ends need to run a link of any kind: the
//! link configuration (with a per-attempt WebSocket upgrade signer where the kind needs one), the
//! credential source, and the devices the link talks to. The CLI and the desktop controller both
//! call [`plan`]; neither knows what a kind needs beyond it. Adding a kind means a file here, a
//! variant of [`ProfileKind`] and its fields in the profile, and its front-end forms.
//!
//! - [`mqtt`]: any broker; the password (when a user name is set) from the keychain.
//! - [`demo`]: the embedded demo, running in this process.
//! - `navien`: the Navien Smart Control cloud (REST tokens, SigV4-presigned MQTT over WSS).

pub mod demo;
pub mod mqtt;
mod navien;

use crate::config::LinkConfig;
use crate::credentials::{CredentialSource, SecretStore};
use crate::error::ConfigError;
use crate::paths::Paths;
use crate::profiles::{Profile, ProfileKind};
use std::sync::Arc;

/// What a link of some kind needs, ready for [`crate::Link::start`].
pub struct Plan {
    /// What it connects to and how it recovers; its `upgrade` signs each attempt where needed.
    pub config: LinkConfig,
    /// Where each new client's credentials come from (and how they are renewed).
    pub credentials: Arc<dyn CredentialSource>,
    /// The devices on the other end, for the front ends' device cards and commands; empty for a
    /// plain broker link.
    pub devices: Vec<Device>,
    /// The kind's tokens, for the front ends' diagnostics (`None`: a kind without tokens).
    pub tokens: Option<Arc<dyn TokenReport>>,
}

/// A kind whose credentials are tokens it renews says how they stand.
pub trait TokenReport: Send + Sync {
    fn token_state(&self) -> crate::navien::client::TokenState;
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("config", &self.config)
            .field("can_refresh", &self.credentials.can_refresh())
            .field("devices", &self.devices)
            .finish()
    }
}

/// A device a link talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The protocol its messages speak.
    pub protocol: DeviceProtocol,
    /// Its address in that protocol (an NWP500's MAC: 12 lowercase hex).
    pub mac: String,
    /// The opaque value the Navien cloud wants echoed in every request.
    pub additional_value: String,
    /// What the user calls it.
    pub name: String,
}

/// The device protocols Tether decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceProtocol {
    /// A Navien NWP500 heat-pump water heater (shared/protocol/navien-nwp500.md §4).
    Nwp500,
}

/// What planning may use besides the profile.
pub struct Context<'a> {
    /// Where each profile's outbox and diagnostics live.
    pub paths: &'a Paths,
    /// The keychain (or memory, where there is none); `None`: no secrets for this run.
    pub secrets: Option<Arc<dyn SecretStore>>,
    /// The embedded demo's ports, when it runs in this process.
    pub demo: Option<demo::Endpoint>,
}

/// Why a profile cannot become a link.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The profile itself is wrong (a field, with what is wrong with it).
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The kind needs something this process does not have.
    #[error("{0}")]
    Unavailable(String),
}

/// The link plan of the profile `name`.
pub fn plan(name: &str, profile: &Profile, ctx: &Context<'_>) -> Result<Plan, PlanError> {
    match profile.kind {
        ProfileKind::Mqtt => mqtt::plan(name, profile, ctx),
        ProfileKind::Demo => demo::plan(name, profile, ctx),
        ProfileKind::Navien => navien::plan(name, profile, ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{account, MemoryStore};
    use secrecy::{ExposeSecret, SecretString};

    fn paths() -> Paths {
        Paths {
            config_dir: "/nonexistent/config".into(),
            data_dir: "/nonexistent/data".into(),
        }
    }

    #[tokio::test]
    async fn an_mqtt_profile_with_a_user_name_reads_its_password_from_the_keychain() {
        let store = Arc::new(MemoryStore::default());
        store.set(&account("lab", "password"), &SecretString::from("pw")).unwrap();
        let mut p = Profile::mqtt("mqtts://broker.example:8883").unwrap();
        p.username = Some("ops".into());
        let paths = paths();
        let ctx = Context {
            paths: &paths,
            secrets: Some(store),
            demo: None,
        };
        let plan = plan("lab", &p, &ctx).unwrap();
        assert_eq!(plan.config.broker.host, "broker.example");
        assert_eq!(plan.config.outbox_path, Some(paths.profile_outbox("lab")));
        let c = plan.credentials.credentials().await.unwrap();
        assert_eq!(c.username.as_deref(), Some("ops"));
        assert_eq!(c.password.as_ref().map(|p| p.expose_secret().to_string()).as_deref(), Some("pw"));
        assert!(plan.devices.is_empty());
        assert!(plan.config.upgrade.is_none());
    }

    #[tokio::test]
    async fn an_mqtt_profile_without_a_user_name_connects_anonymously() {
        let store = Arc::new(MemoryStore::default());
        store.set(&account("lab", "password"), &SecretString::from("pw")).unwrap();
        let p = Profile::mqtt("mqtt://127.0.0.1:1883").unwrap();
        let paths = paths();
        let ctx = Context {
            paths: &paths,
            secrets: Some(store),
            demo: None,
        };
        let c = plan("lab", &p, &ctx).unwrap().credentials.credentials().await.unwrap();
        assert!(c.username.is_none() && c.password.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_is_a_navien_link_to_the_running_demo_cloud() {
        let paths = paths();
        let none = Context {
            paths: &paths,
            secrets: None,
            demo: None,
        };
        let e = plan("demo", &demo::profile(), &none).unwrap_err();
        assert!(matches!(e, PlanError::Unavailable(ref m) if m.contains("not running")), "{e}");
        let d = crate::demo::Demo::start().await.unwrap();
        let running = Context {
            paths: &paths,
            secrets: None,
            demo: Some(d.endpoint()),
        };
        let plan = plan("demo", &demo::profile(), &running).unwrap();
        // Through the fault switch, presigned, with the token renewals of a real account.
        assert_eq!(plan.config.broker.display(), format!("wss://127.0.0.1:{}/mqtt", d.port));
        assert!(plan.config.upgrade.is_some());
        assert!(plan.credentials.can_refresh());
        assert!(plan.tokens.is_some());
        assert_eq!(plan.config.client_id, crate::demo::DEMO_CLIENT_ID);
        assert_eq!(plan.config.keepalive, std::time::Duration::from_secs(5));
        assert_eq!(plan.config.recovery.strategy, crate::policy::RecoveryStrategy::Backoff);
        assert_eq!(plan.config.outbox_path, None);
        assert_eq!(plan.devices.len(), 1);
        assert_eq!(plan.devices[0].mac, crate::demo::DEMO_MAC);
        assert_eq!(plan.devices[0].protocol, DeviceProtocol::Nwp500);
        d.stop().await;
    }

    #[tokio::test]
    async fn a_navien_profile_plans_a_presigned_wss_link_to_its_devices() {
        let settings = crate::profiles::NavienSettings {
            rest_url: "https://127.0.0.1:9/api/v2.1".into(),
            iot_host: "127.0.0.1".into(),
            iot_port: 18443,
            devices: vec![crate::profiles::NavienDevice {
                mac: "04786332fca0".into(),
                additional_value: "5322".into(),
                name: "Heater".into(),
            }],
        };
        let p = Profile::navien("owner@example.com", settings).unwrap();
        assert!(
            p.client_id.starts_with("navien-client-") && p.client_id.len() == 22,
            "{}",
            p.client_id
        );
        let paths = paths();
        let none = Context {
            paths: &paths,
            secrets: None,
            demo: None,
        };
        let e = plan("home", &p, &none).unwrap_err();
        assert!(e.to_string().contains("keychain"), "{e}");
        let ctx = Context {
            paths: &paths,
            secrets: Some(Arc::new(MemoryStore::default())),
            demo: None,
        };
        let plan = plan("home", &p, &ctx).unwrap();
        assert_eq!(plan.config.broker.display(), "wss://127.0.0.1:18443/mqtt");
        assert!(plan.config.upgrade.is_some());
        assert_eq!(plan.config.subscriptions[0].topic, "cmd/52/navilink-04786332fca0/#");
        assert_eq!(plan.config.periodic[0].topic, "cmd/52/navilink-04786332fca0/st");
        assert!(plan.config.periodic[0].payload.contains(&format!("{}/res", p.client_id)));
        // The feature object too, at connect and every half hour: commands are gated on it.
        assert_eq!(plan.config.periodic[1].topic, "cmd/52/navilink-04786332fca0/st/did");
        assert_eq!(plan.config.periodic[1].interval, std::time::Duration::from_secs(1800));
        assert!(plan.config.outbox.max_age <= std::time::Duration::from_secs(300));
        assert!(plan.credentials.can_refresh());
        assert_eq!(plan.devices[0].mac, "04786332fca0");
        assert!(plan.tokens.is_some());
    }

    #[test]
    fn a_navien_profile_without_an_email_or_with_a_plain_http_cloud_is_refused() {
        let mut p = Profile::navien("owner@example.com", Default::default()).unwrap();
        p.email = None;
        let paths = paths();
        let ctx = Context {
            paths: &paths,
            secrets: Some(Arc::new(MemoryStore::default())),
            demo: None,
        };
        assert!(plan("home", &p, &ctx).unwrap_err().to_string().contains("email"));
        let mut p = Profile::navien("owner@example.com", Default::default()).unwrap();
        p.navien.as_mut().unwrap().rest_url = "http://127.0.0.1:1/api/v2.1".into();
        let e = plan("home", &p, &ctx).unwrap_err().to_string();
        assert!(e.contains("navien.rest_url") && e.contains("https"), "{e}");
        assert!(Profile::navien("not an email", Default::default()).is_err());
    }
}
