//! The `demo` kind: the demo account on the embedded Navien cloud emulator, planned exactly as a
//! `navien` profile is ([`super::navien`]), with the demo's short delays and its password in memory.

use super::{Context, Plan, PlanError};
use crate::credentials::MemoryStore;
use crate::demo::{DEMO_ADDITIONAL, DEMO_CLIENT_ID, DEMO_DEVICE_NAME, DEMO_EMAIL, DEMO_MAC};
use crate::policy::{ReconnectPolicy, RecoveryPolicy, RecoveryStrategy};
use crate::profiles::{NavienDevice, NavienSettings, Profile, ProfileKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where a running demo listens, as planning needs it.
#[derive(Clone)]
pub struct Endpoint {
    /// The emulator's REST base URL (`https://127.0.0.1:PORT/api/v2.1`).
    pub rest_url: String,
    /// The port the link's `wss://` connects to: the fault switch in front of the cloud.
    pub iot_port: u16,
    /// The emulator's CA (PEM).
    pub ca_file: PathBuf,
    /// The demo's password and tokens: memory only.
    pub secrets: Arc<MemoryStore>,
}

/// The profile the demo runs under: a dead link is found in ~7 s, tier 1 gives up after 4
/// attempts (~15-30 s), recovery cycles start 10 s apart and, backing off, renew the tokens every
/// third cycle. A front end that lets the user change the demo's policies applies them to the plan.
pub fn profile() -> Profile {
    let reconnect = ReconnectPolicy {
        initial_reconnect_delay: Duration::from_secs(1),
        max_reconnect_delay: Duration::from_secs(8),
        max_reconnect_attempts: 4,
        // Short, so a new user sees `recovered` (and its notification) a few seconds after the
        // link is back; long enough that a link dying right after CONNACK still escalates.
        stable_after: Duration::from_secs(3),
        ..ReconnectPolicy::default()
    };
    let recovery = RecoveryPolicy {
        strategy: RecoveryStrategy::Backoff,
        initial_recovery_delay: Duration::from_secs(10),
        max_recovery_delay: Duration::from_secs(30),
        max_recovery_attempts: 6,
        ..RecoveryPolicy::default()
    };
    Profile {
        keepalive: Duration::from_secs(5),
        email: Some(DEMO_EMAIL.to_string()),
        reconnect,
        recovery,
        ..Profile::base(ProfileKind::Demo, DEMO_CLIENT_ID.to_string())
    }
}

/// The demo link: the Navien plan of the demo account on the running demo's cloud.
pub(super) fn plan(name: &str, profile: &Profile, ctx: &Context<'_>) -> Result<Plan, PlanError> {
    let Some(endpoint) = &ctx.demo else {
        return Err(PlanError::Unavailable("the embedded demo is not running in this process".into()));
    };
    let mut p = profile.clone();
    p.email = Some(DEMO_EMAIL.to_string());
    p.tls.ca_file = Some(endpoint.ca_file.clone());
    p.navien = Some(NavienSettings {
        rest_url: endpoint.rest_url.clone(),
        iot_host: "127.0.0.1".into(),
        iot_port: endpoint.iot_port,
        devices: vec![NavienDevice {
            mac: DEMO_MAC.to_string(),
            additional_value: DEMO_ADDITIONAL.to_string(),
            name: DEMO_DEVICE_NAME.to_string(),
        }],
    });
    let secrets: Arc<dyn crate::credentials::SecretStore> = endpoint.secrets.clone();
    let navien_ctx = Context {
        paths: ctx.paths,
        secrets: Some(secrets),
        demo: None,
    };
    let mut plan = super::navien::plan(name, &p, &navien_ctx)?;
    // A loopback cloud answers at once: a connect that takes longer is a fault being shown.
    plan.config.connect_timeout = Duration::from_secs(3);
    // The demo's cloud lives as long as the process: its outbox does too (memory, no file).
    plan.config.outbox_path = None;
    Ok(plan)
}
