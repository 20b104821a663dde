//! Tether's core: a resilient MQTT link engine, with no GUI dependency.
//!
//! One supervisor task per profile owns one rumqttc `EventLoop` and drives it. rumqttc gives no
//! backoff, never restores subscriptions and drops unacked publishes when a session is not
//! resumed: the supervisor owns all of that, with a two-tier recovery model (tier 1: reconnection
//! with exponential backoff; tier 2: a recovery strategy once tier 1 is exhausted).
//!
//! # Layout
//!
//! - [`policy`]: the tier 1 and tier 2 numbers, their defaults and the backoff formula (pure).
//! - [`machine`]: what to do after a failure or a trigger (pure, deterministic).
//! - [`state`] / [`event`]: what the link is doing now (`watch`) and what happened (`broadcast`).
//! - [`error`]: errors per layer, each saying whether it is retryable.
//! - [`config`]: a validated link configuration: URL, transport, session, subscriptions.
//! - [`transport`]: turning a [`config::LinkConfig`] into rumqttc options (TCP, TLS, WebSockets).
//! - `link`: one link: the supervisor task that drives the event loop (its connection driver,
//!   session bookkeeping and watchdogs beside it), and [`handle`], its cloneable front.
//! - [`delivery`]: at least once to the consumer: ordered hand-over, acks after it, back-pressure.
//! - [`outbox`]: the persisted queue of publishes made while offline.
//! - [`pinned`]: a byte budget for what a broadcast holds for its slowest receiver.
//! - [`diagnostics`]: counters and timings, exportable as JSON.
//! - [`credentials`]: the `CredentialSource` trait, static and OS-keychain sources.
//! - [`kind`]: the profile-kind seam: the one place a profile (MQTT broker, demo, Navien cloud)
//!   becomes a link plan (configuration, credential source, devices).
//! - [`profiles`]: the profile file shared by the CLI and the desktop app; [`paths`]: where its
//!   files and each profile's outbox live.
//! - [`triggers`]: OS signals that beat any timer: network back, wake from sleep.
//! - [`navien`]: the Navien NWP500 message shapes (topics, commands, envelopes, status).
//! - [`demo`]: the embedded demo: the Navien cloud emulator with its demo account and heater,
//!   and a fault switch (the cloud's own switches, and [`demo::proxy`], a TCP proxy that
//!   misbehaves on demand, which the tests use too).

pub mod config;
pub mod credentials;
pub mod delivery;
pub mod demo;
pub mod diagnostics;
pub mod error;
pub mod event;
pub mod kind;
mod link;
pub mod machine;
pub mod navien;
pub mod outbox;
pub mod paths;
pub mod pinned;
pub mod policy;
pub mod profiles;
pub mod state;
pub mod transport;
pub mod triggers;

pub use config::LinkConfig;

/// Log targets silenced whatever `TETHER_LOG` asks for: tungstenite traces the WebSocket upgrade
/// request line, and a Navien link's presigned URL carries the AWS session token and a signature
/// that can be replayed for 15 minutes.
pub const SILENCED_LOG_TARGETS: &[&str] = &["tungstenite", "async_tungstenite", "ws_stream_tungstenite"];
pub use error::{ConfigError, LinkError, PublishError};
pub use event::{EventKind, LinkEvent};
pub use link::handle;
pub use link::handle::{Link, LinkHandle};
pub use state::LinkState;
