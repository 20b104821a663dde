//! The `demo` kind: the embedded demo's broker (through its fault switch) and its water heater.

use super::{Context, Device, DeviceProtocol, Plan, PlanError};
use crate::credentials::StaticSource;
use crate::demo::{Demo, DEMO_ADDITIONAL, DEMO_MAC};
use crate::profiles::{Profile, ProfileKind};
use std::sync::Arc;
use std::time::Duration;

/// Where a running demo listens, as planning needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The port the app connects to: the fault switch in front of the broker.
    pub port: u16,
}

impl From<&Demo> for Endpoint {
    fn from(d: &Demo) -> Self {
        Self { port: d.port }
    }
}

/// The profile the demo runs under. Its settings are the demo's own (see [`plan`]); a front end
/// that lets the user change the demo's policies applies them to the plan.
pub fn profile() -> Profile {
    Profile {
        keepalive: Duration::from_secs(5),
        ..Profile::base(ProfileKind::Demo, crate::demo::DEMO_CLIENT_ID.to_string())
    }
}

/// The demo link: its short delays, the heater's topics, no credentials.
pub(super) fn plan(_name: &str, _profile: &Profile, ctx: &Context<'_>) -> Result<Plan, PlanError> {
    let Some(endpoint) = ctx.demo else {
        return Err(PlanError::Unavailable("the embedded demo is not running in this process".into()));
    };
    let config = Demo::link_config_at(endpoint.port);
    Ok(Plan {
        config,
        credentials: Arc::new(StaticSource::anonymous()),
        devices: vec![Device {
            protocol: DeviceProtocol::Nwp500,
            mac: DEMO_MAC.to_string(),
            additional_value: DEMO_ADDITIONAL.to_string(),
            name: "Demo water heater".to_string(),
        }],
        tokens: None,
    })
}
