//! One link: its cloneable [`handle`], the [`supervisor`] task behind it, and the parts the
//! supervisor orchestrates: the connection driver, the session bookkeeping, the watchdogs.

mod coalesce;
mod connection;
pub mod handle;
mod protocol;
mod session;
mod supervisor;
mod takeover;
mod watchdog;
