//! A local emulator of the Navien Smart Control cloud (`tether navien-cloud`, and the embedded
//! demo): HTTPS REST, MQTT over WSS checked with SigV4 at the upgrade, and simulated heaters, on
//! 127.0.0.1, behaving as shared/protocol/navien-nwp500.md says the real cloud does.
//!
//! - [`pki`]: the CA and server certificate it makes at start.
//! - [`heater`]: the simulated NWP500 heaters (state and physics), [`heater_control`] what each
//!   request does to them, [`heater_status`] the status and feature JSON they send,
//!   [`heater_task`] their MQTT clients on the internal broker.
//! - [`accounts`]: the accounts file and the demo account; [`registry`] the registry issuing and
//!   checking JWTs, refresh tokens and AWS keys, with the test switches (refuse a step, outage,
//!   expire all, change a password).
//! - [`rest_server`]: the HTTPS REST API under `/api/v2.1`, on hyper over tokio-rustls.
//! - [`front`]: MQTT over WSS: TLS, the SigV4-checked upgrade, then bytes to and from an internal rumqttd.
//! - [`run`]: all of it started together ([`Cloud`]), and the commands that drive it.

pub(crate) mod accounts;
pub(crate) mod front;
pub(crate) mod heater;
pub(crate) mod heater_control;
pub(crate) mod heater_status;
pub(crate) mod heater_task;
pub(crate) mod pki;
pub(crate) mod registry;
pub(crate) mod rest_server;
pub mod run;

pub use run::{Cloud, CloudError, CloudInfo, CloudOptions};
