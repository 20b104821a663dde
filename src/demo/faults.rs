//! The demo's fault switch: the [`FaultProxy`] between the app's link and the demo broker, with
//! the three faults the UI and `tether demo` offer.

use super::proxy::{FaultProxy, Mode};
use std::sync::Arc;
use std::time::Duration;

/// A handle on the demo's fault proxy.
#[derive(Clone)]
pub struct FaultSwitch {
    proxy: Arc<FaultProxy>,
}

impl FaultSwitch {
    /// Drop the link silently for `d` (the UI's "drop the link for 30 s"): found by keepalive.
    pub fn drop_link(&self, d: Duration) {
        self.proxy.set_for(Mode::Blackhole, d);
    }

    /// Take the broker away for `d` (the UI's "broker outage for 2 min").
    pub fn broker_outage(&self, d: Duration) {
        self.proxy.set_for(Mode::Refuse, d);
        self.proxy.reset_all();
    }

    /// Refuse the credentials (and cut the link so the next CONNECT meets the refusal).
    pub fn refuse_credentials(&self) {
        self.proxy.set(Mode::RefuseCredentials);
        self.proxy.reset_all();
    }

    /// Back to normal now.
    pub fn clear(&self) {
        self.proxy.set(Mode::Pass);
    }

    /// The fault in force now (timed faults end on their own).
    pub fn current(&self) -> Mode {
        self.proxy.mode()
    }
}

/// Start the proxy in front of `upstream`; returns its port and the switch.
pub async fn start(upstream: u16) -> std::io::Result<(u16, FaultSwitch)> {
    let proxy = FaultProxy::start(upstream).await?;
    Ok((proxy.port, FaultSwitch { proxy: Arc::new(proxy) }))
}
