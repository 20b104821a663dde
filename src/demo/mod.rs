//! The embedded demo: everything a new user needs to watch Tether work, inside the app, on the
//! same path a real Navien account takes.
//!
//! - the Navien cloud emulator ([`crate::navien::cloud`]) on 127.0.0.1 with the demo account and
//!   its simulated NWP500, and short token lifetimes, so a token renewal shows within minutes;
//! - [`faults`]: the fault switch: the TCP [`proxy`] between the app's link and the cloud's WSS
//!   port (a silent drop), and the cloud's own switches (outage, a policy that denies, revoked
//!   tokens, a changed password);
//! - [`Demo::plan`]: the demo profile, planned like any Navien profile (REST sign-in with the
//!   demo password held in memory, SigV4-presigned `wss://` through the fault switch), with short
//!   delays so backoff, `reconnection_failed` and recovery all happen within a minute or two.
//!
//! [`broker`] is the emulator's internal rumqttd.

pub mod broker;
pub mod faults;
pub mod proxy;

use crate::credentials::{account, MemoryStore, SecretStore};
use crate::kind::{self, Context, Plan, PlanError};
use crate::navien::cloud::{Cloud, CloudOptions};
use crate::paths::Paths;
use secrecy::SecretString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::navien::cloud::accounts::{DEMO_ADDITIONAL, DEMO_DEVICE_NAME, DEMO_EMAIL, DEMO_MAC, DEMO_PASSWORD};
pub use faults::FaultSwitch;

/// The app's MQTT client id in the demo, in the cloud's own `navien-client-…` format.
pub const DEMO_CLIENT_ID: &str = "navien-client-tetherdemo";
/// The profile name the demo's secrets are kept under (in memory only).
pub(crate) const DEMO_PROFILE: &str = "demo";
/// Token lifetimes in the demo: short, so Diagnostics shows renewals within a few minutes (the
/// client renews at half the lifetime when it is under 10 min). The real cloud's are about an hour.
pub const DEMO_JWT_LIFETIME: Duration = Duration::from_secs(240);
pub const DEMO_AWS_LIFETIME: Duration = Duration::from_secs(180);
/// The demo cloud closes each connection after this long, as AWS IoT does after about 24 h: the
/// link reconnects at once with a fresh signature and says nothing.
pub const DEMO_CONNECTION_LIMIT: Duration = Duration::from_secs(15 * 60);

/// A running demo.
pub struct Demo {
    /// The port the app's MQTT connects to: the fault switch in front of the cloud's WSS port.
    pub port: u16,
    pub faults: FaultSwitch,
    cloud: Arc<Cloud>,
    /// The demo's secrets: its password, and the tokens the session stores. Memory only.
    secrets: Arc<MemoryStore>,
    ca_file: CaFile,
}

/// The emulator's CA file in the temp dir, removed when the demo goes however it goes (a demo
/// that failed to start, or one dropped without `stop`, must not leave one per launch behind).
struct CaFile(PathBuf);

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo cloud could not start: {0}")]
    Cloud(#[from] crate::navien::cloud::CloudError),
    #[error("the demo fault switch could not start: {0}")]
    Proxy(std::io::Error),
    #[error("the demo could not keep its password: {0}")]
    Secrets(#[from] crate::credentials::CredentialError),
}

impl Demo {
    pub async fn start() -> Result<Self, DemoError> {
        // One CA file per demo: tests run several demos in one process, each with its own CA.
        let ca_file = CaFile(std::env::temp_dir().join(format!("tether-demo-{}-{:08x}-ca.pem", std::process::id(), rand::random::<u32>())));
        let cloud = Arc::new(
            Cloud::start(CloudOptions {
                ca_file: Some(ca_file.0.clone()),
                jwt_lifetime: DEMO_JWT_LIFETIME,
                aws_lifetime: DEMO_AWS_LIFETIME,
                connection_limit: Some(DEMO_CONNECTION_LIMIT),
                ..CloudOptions::default()
            })
            .await?,
        );
        let secrets = Arc::new(MemoryStore::default());
        secrets.set(&account(DEMO_PROFILE, "password"), &SecretString::from(DEMO_PASSWORD.to_string()))?;
        let (port, faults) = faults::start(cloud.clone(), secrets.clone()).await.map_err(DemoError::Proxy)?;
        Ok(Self {
            port,
            faults,
            cloud,
            secrets,
            ca_file,
        })
    }

    /// Where this demo listens, as planning needs it.
    pub fn endpoint(&self) -> kind::demo::Endpoint {
        let info = self.cloud.info();
        kind::demo::Endpoint {
            rest_url: info.rest_url.clone(),
            iot_port: self.port,
            ca_file: self.ca_file.0.clone(),
            secrets: self.secrets.clone(),
        }
    }

    /// The demo link as the app and `tether demo` run it.
    pub fn plan(&self, paths: &Paths) -> Result<Plan, PlanError> {
        let ctx = Context {
            paths,
            secrets: None,
            demo: Some(self.endpoint()),
        };
        kind::plan(DEMO_PROFILE, &kind::demo::profile(), &ctx)
    }

    /// The emulated cloud behind the demo (its counters, and the heater's setpoint, for tests).
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    pub async fn stop(self) {
        drop(self.faults);
        match Arc::try_unwrap(self.cloud) {
            Ok(cloud) => cloud.stop().await,
            // A fault switch clone is still out there: what clients see is closed all the same.
            Err(cloud) => cloud.close(),
        }
        drop(self.ca_file);
    }
}
