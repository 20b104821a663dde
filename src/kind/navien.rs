//! The `navien` kind: the Navien Smart Control cloud. REST sign-in and renewals (tokens and the
//! password only in the keychain), MQTT 3.1.1 over `wss://` to AWS IoT presigned afresh for each
//! connect attempt, every device of the profile subscribed and asked for its status at every
//! (re)connect and then every minute.

use super::{Context, Device, DeviceProtocol, Plan, PlanError};
use crate::config::{LinkConfig, PeriodicRequest, Subscription};
use crate::navien::client::api::Api;
use crate::navien::client::session::Session;
use crate::navien::client::source::{NavienSource, Presigner};
use crate::navien::{command, Request, Topics};
use crate::profiles::{NavienSettings, Profile};
use std::sync::Arc;
use std::time::Duration;

/// Status requests while connected (the reference client's monitor asks every 30 s, its default
/// is 300 s): often enough that a card is never more than a minute old.
pub(crate) const STATUS_EVERY: Duration = Duration::from_secs(60);
/// The longest a command waits in the outbox while offline.
pub(crate) const CONTROL_MAX_AGE: Duration = Duration::from_secs(300);
/// The feature object (setpoint range, supported controls) is asked for at every (re)connect and
/// then this often: it changes only with the firmware, and a front end keeps the last one.
pub(crate) const FEATURES_EVERY: Duration = Duration::from_secs(30 * 60);

/// The Navien link of the profile `name`.
pub(super) fn plan(name: &str, profile: &Profile, ctx: &Context<'_>) -> Result<Plan, PlanError> {
    let email = profile
        .email
        .as_deref()
        .ok_or_else(|| crate::ConfigError::new("email", "a Navien profile needs the account's e-mail"))?;
    let Some(secrets) = ctx.secrets.clone() else {
        return Err(PlanError::Unavailable(
            "no OS keychain: a Navien profile keeps its password and tokens only there".into(),
        ));
    };
    let settings = profile.navien.clone().unwrap_or_default();
    let api = Api::new(&settings.rest_url, &profile.tls)?;
    let session = Session::new(api, email, name, secrets);
    let config = link_config(name, profile, &settings, &session, ctx)?;
    let devices = settings
        .devices
        .iter()
        .map(|d| Device {
            protocol: DeviceProtocol::Nwp500,
            mac: d.mac.clone(),
            additional_value: d.additional_value.clone(),
            name: d.name.clone(),
        })
        .collect();
    Ok(Plan {
        config,
        credentials: Arc::new(NavienSource::new(session.clone())),
        devices,
        tokens: Some(Arc::new(session)),
    })
}

fn link_config(name: &str, profile: &Profile, s: &NavienSettings, session: &Session, ctx: &Context<'_>) -> Result<LinkConfig, PlanError> {
    let mut c = LinkConfig::new(name, &format!("wss://{}:{}/mqtt", s.iot_host, s.iot_port))?;
    profile.apply_common(&mut c, name, ctx.paths);
    // Clean sessions, as the reference client and AWS IoT's answer (session-present 0) have it:
    // statuses are asked for again at every connect, and a control must not be replayed from a
    // broker-side session past the outbox's age limit.
    c.clean_session = true;
    // AWS IoT allows at most 1200 s.
    c.keepalive = c.keepalive.min(Duration::from_secs(1200));
    // A status reply is ~2.9 kB; well within the default, said here because AWS IoT's is 128 KiB.
    c.max_packet_size = c.max_packet_size.min(128 * 1024);
    for d in &s.devices {
        let topics = Topics::new(&d.mac, &profile.client_id);
        // One subscription per device carries status, features and the replies to us (§4.1).
        c.subscriptions.push(Subscription {
            topic: topics.subscription(),
            qos: 1,
            stale_after: None,
        });
        let req = Request::new(
            &topics,
            topics.status_request(),
            &crate::navien::session_id(&profile.client_id),
            &d.mac,
            &d.additional_value,
            command::STATUS_REQUEST,
        );
        // The reference client ends its session with each device on disconnect (§7).
        let mut end = Request::new(
            &topics,
            topics.session_end(),
            &crate::navien::session_id(&profile.client_id),
            &d.mac,
            &d.additional_value,
            command::SESSION_END,
        );
        end.response_topic = format!("cmd/{}/{}/res/end", crate::navien::DEVICE_TYPE, profile.client_id);
        c.farewell.push((
            topics.session_end(),
            serde_json::to_string(&end).map_err(|e| PlanError::Unavailable(e.to_string()))?,
        ));
        c.periodic.push(PeriodicRequest {
            topic: topics.status_request(),
            payload: serde_json::to_string(&req).map_err(|e| PlanError::Unavailable(e.to_string()))?,
            qos: 1,
            interval: STATUS_EVERY,
        });
        let info = Request::new(
            &topics,
            topics.info_request(),
            &crate::navien::session_id(&profile.client_id),
            &d.mac,
            &d.additional_value,
            command::DEVICE_INFO,
        );
        c.periodic.push(PeriodicRequest {
            topic: topics.info_request(),
            payload: serde_json::to_string(&info).map_err(|e| PlanError::Unavailable(e.to_string()))?,
            qos: 1,
            interval: FEATURES_EVERY,
        });
    }
    // A control queued while offline must not fire hours later (a setpoint for this morning's
    // shower, sent tonight): at most 5 min in the outbox, then it is reported expired.
    c.outbox.max_age = c.outbox.max_age.min(CONTROL_MAX_AGE);
    c.upgrade = Some(Arc::new(Presigner { session: session.clone() }));
    // AWS IoT closes the older connection of a client id that connects again (§3.5).
    c.exclusive_client_id = true;
    c.validate()?;
    Ok(c)
}
