//! The demo's fault switch: what the UI and `tether demo` offer, each done where it happens for a
//! real account. A silent drop is the network's (the TCP [`FaultProxy`] in front of the cloud's WSS
//! port holds the bytes); an outage, a policy that denies, revoked tokens and a changed password
//! are the cloud's (TLS hides the MQTT stream from a TCP proxy, so a refusal must come from the
//! cloud itself, as a 403 at the WebSocket upgrade).

use super::proxy::{FaultProxy, Mode};
use super::{DEMO_EMAIL, DEMO_PASSWORD, DEMO_PROFILE};
use crate::credentials::{account, MemoryStore, SecretStore};
use crate::navien::cloud::Cloud;
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A handle on the demo's faults.
#[derive(Clone)]
pub struct FaultSwitch {
    proxy: Arc<FaultProxy>,
    cloud: Arc<Cloud>,
    /// Where the demo link reads its password (the demo's "keychain", in memory).
    secrets: Arc<MemoryStore>,
    /// The demo account's password in the cloud now.
    password: Arc<Mutex<String>>,
}

impl FaultSwitch {
    /// Drop the link silently for `d` (the UI's "drop the link for 30 s"): found by keepalive.
    pub fn drop_link(&self, d: Duration) {
        self.proxy.set_for(Mode::Blackhole, d);
    }

    /// Take the cloud away for `d` (the UI's "broker outage for 2 min"): MQTT closed and its
    /// upgrades answered 503, REST answering 503, so renewals wait it out too.
    pub fn broker_outage(&self, d: Duration) {
        self.cloud.outage(d);
    }

    /// Refuse every connection with 403 until [`clear`](Self::clear), as an IoT policy that no
    /// longer allows the client would: one forced token renewal does not help, so the link
    /// stops with `auth_rejected` rather than retry.
    pub fn refuse_credentials(&self) {
        self.cloud.deny_mqtt(true);
    }

    /// Revoke every token and AWS key and close the connection: the reconnect is refused (403),
    /// the client renews (refresh, session refresh, secured sign-in all refused now, so a
    /// password sign-in) and connects with a fresh signature.
    pub fn expire_tokens(&self) {
        self.cloud.expire();
        self.cloud.drop_connections();
    }

    /// Change the account's password in the cloud (and revoke the tokens, as a password change
    /// does): the link stops with `auth_rejected` and does not send the old password again.
    /// [`clear`](Self::clear) then stands for the user typing the new one in.
    pub fn change_password(&self) {
        let new = format!("tether-demo-{:04}", rand::random::<u16>() % 10_000);
        self.cloud.set_password(DEMO_EMAIL, &new);
        *self.password.lock().unwrap_or_else(|p| p.into_inner()) = new;
        self.expire_tokens();
    }

    /// Back to normal now: no drop, no outage, connections allowed, and the demo's stored
    /// password the account's current one. The caller then tells the link the credentials
    /// changed, so a link waiting after `auth_rejected` tries again.
    pub fn clear(&self) {
        self.proxy.set(Mode::Pass);
        self.cloud.end_outage();
        self.cloud.deny_mqtt(false);
        let current = self.password.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // A MemoryStore cannot fail; were it to, the link would report auth_rejected again.
        let _ = self.secrets.set(&account(DEMO_PROFILE, "password"), &SecretString::from(current));
    }

    /// Whether a fault of the TCP switch is in force (timed ones end on their own).
    pub fn current(&self) -> Mode {
        self.proxy.mode()
    }

    /// The password the demo account has now (the demo's own, until `change_password`). Not a
    /// secret: the demo shows it as the password a user would have typed.
    pub fn password(&self) -> String {
        self.password.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Start the proxy in front of the cloud's WSS port; returns its port and the switch.
pub(super) async fn start(cloud: Arc<Cloud>, secrets: Arc<MemoryStore>) -> std::io::Result<(u16, FaultSwitch)> {
    let proxy = FaultProxy::start(cloud.info().mqtt_port).await?;
    Ok((
        proxy.port,
        FaultSwitch {
            proxy: Arc::new(proxy),
            cloud,
            secrets,
            password: Arc::new(Mutex::new(DEMO_PASSWORD.to_string())),
        },
    ))
}
