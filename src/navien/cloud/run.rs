//! The emulator as one thing: its certificates, the internal broker, the heaters, REST and the
//! WSS front, started together and driven by the commands `tether navien-cloud` reads on stdin.

use super::accounts;
use super::front::{Front, FrontOptions, KeyLookup};
use super::heater::Heater;
use super::heater_task::{self, HeaterHandles};
use super::registry::{self, Registry, Step};
use super::{pki, rest_server};
use chrono::Utc;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct CloudOptions {
    /// Accounts and devices (JSON); `None`: the demo account.
    pub accounts: Option<PathBuf>,
    /// Where the CA certificate is written; `None`: a file in the temp dir.
    pub ca_file: Option<PathBuf>,
    /// 0: any free port.
    pub rest_port: u16,
    pub mqtt_port: u16,
    pub jwt_lifetime: Duration,
    pub aws_lifetime: Duration,
    /// Close each MQTT connection this long after its upgrade (AWS IoT: about 24 h).
    pub connection_limit: Option<Duration>,
}

impl Default for CloudOptions {
    fn default() -> Self {
        Self {
            accounts: None,
            ca_file: None,
            rest_port: 0,
            mqtt_port: 0,
            jwt_lifetime: Duration::from_secs(3600),
            aws_lifetime: Duration::from_secs(3600),
            connection_limit: None,
        }
    }
}

/// What a client needs to know, printed as one JSON line at start.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CloudInfo {
    /// `https://127.0.0.1:PORT/api/v2.1`.
    pub rest_url: String,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    /// The CA to trust, PEM.
    pub ca_file: PathBuf,
    /// The accounts' e-mails.
    pub accounts: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The accounts file is wrong (what and where).
    #[error("{0}")]
    Accounts(String),
    #[error("{0}")]
    Start(String),
}

/// A running emulator. Dropping it without [`stop`](Self::stop) leaves its broker thread running
/// (rumqttd has no stop) but closes everything clients see.
pub struct Cloud {
    info: CloudInfo,
    registry: Registry,
    front: Front,
    rest: rest_server::RestServer,
    heaters: HeaterHandles,
    shutdown: CancellationToken,
}

impl Cloud {
    pub async fn start(opts: CloudOptions) -> Result<Self, CloudError> {
        let accounts = match &opts.accounts {
            Some(path) => accounts::load_accounts(path).map_err(|e| CloudError::Accounts(e.to_string()))?,
            None => accounts::demo_accounts(),
        };
        let heaters: Vec<Heater> = accounts
            .iter()
            .flat_map(|a| a.devices.iter().map(|d| Heater::new(&d.mac, &d.additional_value, &d.name)))
            .collect();
        let registry = Registry::new(accounts);
        registry.set_lifetimes(opts.jwt_lifetime, opts.aws_lifetime);
        let pki = tokio::task::spawn_blocking(pki::generate)
            .await
            .map_err(|e| CloudError::Start(e.to_string()))?
            .map_err(|e| CloudError::Start(e.to_string()))?;
        let ca_file = opts
            .ca_file
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("tether-navien-cloud-{}-ca.pem", std::process::id())));
        std::fs::write(&ca_file, &pki.ca_pem).map_err(|e| CloudError::Start(format!("{}: {e}", ca_file.display())))?;
        let broker_port = tokio::task::spawn_blocking(crate::demo::broker::start)
            .await
            .map_err(|e| CloudError::Start(e.to_string()))?
            .map_err(CloudError::Start)?;
        let shutdown = CancellationToken::new();
        let heaters = heater_task::spawn(broker_port, heaters, shutdown.child_token());
        let rest = rest_server::start(opts.rest_port, pki.server.clone(), registry.clone(), shutdown.child_token())
            .await
            .map_err(|e| CloudError::Start(format!("REST on 127.0.0.1:{}: {e}", opts.rest_port)))?;
        let keys: KeyLookup = {
            let r = registry.clone();
            Arc::new(move |akid: &str| r.aws_key(akid, Utc::now()))
        };
        let front = Front::start(
            opts.mqtt_port,
            pki.server.clone(),
            broker_port,
            keys,
            FrontOptions {
                connection_limit: opts.connection_limit,
            },
        )
        .await
        .map_err(|e| CloudError::Start(format!("MQTT on 127.0.0.1:{}: {e}", opts.mqtt_port)))?;
        // A request before the heaters listen would reach no one: "ready" means they do.
        if !heaters.wait_subscribed(Duration::from_secs(10)).await {
            return Err(CloudError::Start("the simulated heaters did not subscribe within 10 s".into()));
        }
        let info = CloudInfo {
            rest_url: rest.rest_url(),
            mqtt_host: "127.0.0.1".into(),
            mqtt_port: front.port(),
            ca_file,
            accounts: registry.emails(),
        };
        Ok(Self {
            info,
            registry,
            front,
            rest,
            heaters,
            shutdown,
        })
    }

    pub fn info(&self) -> &CloudInfo {
        &self.info
    }

    /// `drop`: close every MQTT connection (AWS IoT's daily disconnect, at once).
    pub fn drop_connections(&self) {
        self.front.drop_all();
    }

    /// `outage SECS`: REST answers 503 and MQTT is closed and refused for `d`.
    pub fn outage(&self, d: Duration) {
        self.registry
            .outage(Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
        self.front.outage(d);
    }

    /// End an outage now (the demo's "back to normal").
    pub fn end_outage(&self) {
        self.registry.outage(Utc::now());
        self.front.end_outage();
    }

    /// `expire`: revoke every token and AWS key (passwords still work).
    pub fn expire(&self) {
        self.registry.expire_all();
    }

    /// `expire access`: revoke the access tokens (JWTs) only; refresh tokens still work.
    pub fn expire_access(&self) {
        self.registry.expire_access();
    }

    /// `refuse STEP on|off`: make one renewal step answer 401, so a client's fallback runs.
    pub fn refuse(&self, step: &str, on: bool) -> Result<(), String> {
        let step = match step {
            "refresh" => Step::Refresh,
            "session" | "session_refresh" => Step::SessionRefresh,
            "secured" | "secured_sign_in" => Step::SecuredSignIn,
            other => return Err(format!("unknown step {other:?}: use refresh, session or secured")),
        };
        self.registry.refuse(step, on);
        Ok(())
    }

    /// `deny on|off`: refuse every validly signed MQTT upgrade with 403 (an IoT policy that no
    /// longer allows the client), closing the open connections when it goes on.
    pub fn deny_mqtt(&self, on: bool) {
        self.front.deny(on);
    }

    /// `password EMAIL NEW`: what the account's sign-in accepts from now on.
    pub fn set_password(&self, email: &str, new: &str) -> bool {
        self.registry.set_password(email, secrecy::SecretString::from(new.to_string()))
    }

    /// Counters, for tests and the curious: calls per endpoint, password sign-ins, the front's.
    pub fn stats(&self) -> serde_json::Value {
        let calls: serde_json::Map<String, serde_json::Value> = registry::Endpoint::ALL
            .iter()
            .map(|e| (e.path().to_string(), self.registry.calls(*e).into()))
            .collect();
        let f = self.front.stats();
        serde_json::json!({
            "calls": calls,
            "password_sign_ins": self.registry.password_sign_ins(),
            "rejected_password_sign_ins": self.registry.rejected_password_sign_ins(),
            "mqtt": {
                "upgrades": f.upgrades,
                "refused": f.refused.values().sum::<u64>(),
                "takeovers": f.takeovers,
                "limit_closes": f.limit_closes,
                "open": f.open,
            },
        })
    }

    /// The heater `mac`'s setpoint now, raw half-°C (for tests).
    pub fn heater_setpoint(&self, mac: &str) -> Option<i64> {
        self.heaters.snapshot(mac).map(|h| h.setpoint)
    }

    /// Close what clients see (REST, MQTT, the heaters) without waiting for the tasks to end:
    /// for a holder that cannot give up the emulator to [`stop`](Self::stop).
    pub fn close(&self) {
        self.front.stop();
        self.shutdown.cancel();
    }

    pub async fn stop(self) {
        self.front.stop();
        self.shutdown.cancel();
        self.rest.join().await;
        self.heaters.join().await;
    }
}
