//! Tether's desktop back end, with no GUI toolkit: everything the desktop app does except
//! drawing the window, tested without one.
//!
//! - [`controller`]: what the commands do (active link or demo, profiles, secrets, settings,
//!   fault switch, setpoint); [`dispatch`]: those commands by name, with JSON arguments;
//! - [`bridge`]: core state and events → batched UI updates, device status, tray, notifications;
//! - [`devices`]: the active link's devices: last status and features, commands and their
//!   confirmation;
//! - [`present`]: what those show, pure: notification policy, UI batching, tray mapping;
//! - [`ipc`]: the types crossing IPC, their validation, and the TypeScript they generate
//!   ([`ipc_device`]: the device cards and commands);
//! - [`vault`]: secrets in the OS keychain, or in memory when there is none;
//! - [`settings`]: app-wide settings file; [`login`]: start at login; [`logging`]: rotated,
//!   redacted log file; [`notify`]: desktop notifications (notify-rust).
//!
//! On Linux the links live in a small tray process (`tether-tray`: [`daemon`], [`systray`]) and
//! the window (`tether-desktop`, Tauri) is a client of it over a local socket ([`wire`]), so
//! that closing the window ends WebKit and the tray costs a few MB. On macOS and Windows the
//! window process runs the [`controller`] itself (see `src-tauri`).

pub mod bridge;
pub mod controller;
#[cfg(unix)]
pub mod daemon;
pub mod devices;
pub mod dispatch;
pub mod ipc;
pub mod ipc_device;
pub mod logging;
pub mod login;
pub mod notify;
pub mod present;
#[cfg(test)]
mod props_support;
pub mod settings;
#[cfg(target_os = "linux")]
pub mod systray;
pub mod vault;
#[cfg(unix)]
pub mod wire;

/// The argument the login item starts Tether with: the tray only, no window.
pub const MINIMIZED: &str = "--minimized";
