//! The embedded demo: everything a new user needs to watch Tether work, inside the app.
//!
//! - [`broker`]: rumqttd on 127.0.0.1;
//! - [`device`]: a simulated NWP500 water heater speaking the Navien message shapes;
//! - [`faults`]: the fault switch between the app and the broker (drop the link, broker outage,
//!   refuse credentials), on [`proxy`], the TCP fault proxy the integration tests use too;
//! - [`Demo::link_config`]: the demo profile, with short delays so backoff, `reconnection_failed`
//!   and recovery all happen within a minute or two.

pub mod broker;
pub mod device;
pub mod faults;
pub mod proxy;

use crate::config::{LinkConfig, PeriodicRequest, Subscription};
use crate::navien::{command, status::f_to_half_c, Request, Topics};
use crate::policy::RecoveryStrategy;
use std::time::Duration;

pub use device::{DEMO_ADDITIONAL, DEMO_MAC};
pub use faults::FaultSwitch;

/// The app's MQTT client id in the demo (the Navien cloud uses `navien-client-xxxxxxxx`).
pub const DEMO_CLIENT_ID: &str = "navien-client-tetherdemo";

/// A running demo.
pub struct Demo {
    /// The broker's own port (the device connects here directly).
    pub broker_port: u16,
    /// The port the app connects to: through the fault switch.
    pub port: u16,
    pub faults: FaultSwitch,
    device: device::Device,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo broker could not start: {0}")]
    Broker(String),
    #[error("the demo fault switch could not start: {0}")]
    Proxy(std::io::Error),
    #[error("the demo device could not start: {0}")]
    Device(#[from] crate::handle::StartError),
}

impl Demo {
    pub async fn start() -> Result<Self, DemoError> {
        let broker_port = tokio::task::spawn_blocking(broker::start)
            .await
            .map_err(|e| DemoError::Broker(e.to_string()))?
            .map_err(DemoError::Broker)?;
        let (port, faults) = faults::start(broker_port).await.map_err(DemoError::Proxy)?;
        let device = device::Device::start(broker_port).await?;
        Ok(Self {
            broker_port,
            port,
            faults,
            device,
        })
    }

    /// The topics between the app and the demo heater.
    pub fn topics() -> Topics {
        Topics::new(DEMO_MAC, DEMO_CLIENT_ID)
    }

    /// The demo profile: the heater's topics, a status request every 30 s (and at every
    /// reconnect), and short delays: a dead link is found in ~7 s, tier 1 gives up after 4
    /// attempts (~15-30 s), recovery cycles start 10 s apart.
    pub fn link_config(&self) -> LinkConfig {
        Self::link_config_at(self.port)
    }

    /// [`link_config`](Self::link_config) for a demo whose fault switch listens on `port`.
    pub fn link_config_at(port: u16) -> LinkConfig {
        let topics = Self::topics();
        let mut c = LinkConfig::new("demo", &format!("mqtt://127.0.0.1:{port}")).expect("a loopback URL is valid");
        c.client_id = DEMO_CLIENT_ID.to_string();
        c.keepalive = Duration::from_secs(5);
        c.connect_timeout = Duration::from_secs(3);
        c.reconnect.initial_reconnect_delay = Duration::from_secs(1);
        c.reconnect.max_reconnect_delay = Duration::from_secs(8);
        c.reconnect.max_reconnect_attempts = 4;
        // Short, so a new user sees `recovered` (and its notification) a few seconds after the
        // link is back; long enough that a link dying right after CONNACK still escalates.
        c.reconnect.stable_after = Duration::from_secs(3);
        c.recovery.strategy = RecoveryStrategy::Backoff;
        c.recovery.initial_recovery_delay = Duration::from_secs(10);
        c.recovery.max_recovery_delay = Duration::from_secs(30);
        c.recovery.max_recovery_attempts = 6;
        c.subscriptions.push(Subscription {
            topic: topics.response(),
            qos: 1,
            stale_after: None,
        });
        c.periodic.push(PeriodicRequest {
            topic: topics.status_request(),
            payload: Self::status_request(),
            qos: 1,
            interval: Duration::from_secs(30),
        });
        c
    }

    /// A status request from the demo app, as JSON.
    pub fn status_request() -> String {
        let t = Self::topics();
        let r = Request::new(
            &t,
            t.status_request(),
            "tetherdemo",
            DEMO_MAC,
            DEMO_ADDITIONAL,
            command::STATUS_REQUEST,
        );
        serde_json::to_string(&r).unwrap_or_default()
    }

    /// A setpoint command (°F) from the demo app: topic and JSON payload.
    pub fn set_setpoint(fahrenheit: f64) -> (String, String) {
        let t = Self::topics();
        let r = Request::new(
            &t,
            t.control(),
            "tetherdemo",
            DEMO_MAC,
            DEMO_ADDITIONAL,
            command::SET_DHW_TEMPERATURE,
        )
        .control("dhw-temperature", vec![f_to_half_c(fahrenheit)]);
        (t.control(), serde_json::to_string(&r).unwrap_or_default())
    }

    pub async fn stop(self) {
        self.device.stop().await;
    }
}
