//! The devices of the active link, as the window shows and drives them: each one's last status
//! and feature object (the link asks for both at every connect), and commands built from the
//! feature object and confirmed by the status that answers them. GUI-free; the bridge feeds it
//! the link's messages, the controller sends what it builds.

use crate::ipc::UiError;
use crate::ipc_device::{Controls, DeviceCard, DeviceStatus};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tether::kind::Device;
use tether::navien::control::{Command, Features};
use tether::navien::{decode_status, view, Topics};
use tokio::sync::broadcast;

/// A device's answer: a status (with the command it answers, 0 for none, and the raw object),
/// or a refusal (`failCode`, e.g. 2: controls too close together). `to_us`: it answers a
/// request of this client (its `clientID` is ours); the device topics are shared by every app of
/// the account, so another app's refusal or confirmation comes by too.
#[derive(Debug, Clone)]
pub enum Answer {
    Status {
        mac: String,
        command: u32,
        to_us: bool,
        status: Value,
        card: Box<DeviceStatus>,
    },
    Refused {
        mac: String,
        to_us: bool,
        fail_code: i64,
    },
}

/// What a message from the link was, for the bridge.
#[derive(Debug)]
pub enum Seen {
    Status(DeviceStatus),
    Features,
    /// A device's reply that does not decode: reported and skipped.
    Bad(String),
    /// Not a reply from one of our devices (our own requests come back on the wildcard too).
    Other,
}

#[derive(Default)]
struct Entry {
    status: Option<DeviceStatus>,
    features: Option<Features>,
}

/// The devices of one link.
pub struct Devices {
    client_id: String,
    list: Vec<Device>,
    state: Mutex<HashMap<String, Entry>>,
    answers: broadcast::Sender<Answer>,
}

/// The MAC in `cmd/52/navilink-<mac>/…`, where every device's messages are.
fn mac_of(topic: &str) -> Option<&str> {
    topic.split('/').nth(2)?.strip_prefix("navilink-")
}

impl Devices {
    pub fn new(client_id: &str, list: Vec<Device>) -> Arc<Self> {
        Arc::new(Self {
            client_id: client_id.to_string(),
            list,
            state: Mutex::default(),
            answers: broadcast::channel(64).0,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// A message from the link.
    pub fn on_message(&self, topic: &str, payload: &[u8], at: chrono::DateTime<chrono::Utc>) -> Seen {
        let Some(mac) = mac_of(topic).filter(|m| self.list.iter().any(|d| d.mac == *m)) else {
            return Seen::Other;
        };
        let Ok(v) = serde_json::from_slice::<Value>(payload) else {
            return Seen::Bad(format!("not JSON on {topic}"));
        };
        let Some(response) = v.get("response") else {
            return Seen::Other;
        };
        // A reply names its device; one that names another is not this device's (§4.1).
        if response.get("macAddress").and_then(Value::as_str).is_some_and(|m| m != mac) {
            return Seen::Other;
        }
        let to_us = v.get("clientID").and_then(Value::as_str) == Some(self.client_id.as_str());
        if let Some(fail_code) = response.get("failCode").and_then(Value::as_i64) {
            let _ = self.answers.send(Answer::Refused {
                mac: mac.to_string(),
                to_us,
                fail_code,
            });
            return Seen::Other;
        }
        if let Some(f) = Features::from_reply(&v) {
            self.state().entry(mac.to_string()).or_default().features = Some(f);
            return Seen::Features;
        }
        let Some((_, command, raw)) = view::status_in_reply(payload) else {
            return Seen::Other;
        };
        match decode_status(payload) {
            Ok(s) => {
                let card = DeviceStatus::from_status(mac, &s, &raw, at);
                // The slot first: a window that asks for the overview after this event went
                // out must find the status there.
                self.state().entry(mac.to_string()).or_default().status = Some(card.clone());
                let _ = self.answers.send(Answer::Status {
                    mac: mac.to_string(),
                    command,
                    to_us,
                    status: raw,
                    card: Box::new(card.clone()),
                });
                Seen::Status(card)
            }
            Err(e) => Seen::Bad(e.to_string()),
        }
    }

    /// One card per device, in the profile's order.
    pub fn cards(&self) -> Vec<DeviceCard> {
        let state = self.state();
        self.list
            .iter()
            .map(|d| {
                let e = state.get(&d.mac);
                DeviceCard {
                    mac: d.mac.clone(),
                    name: d.name.clone(),
                    status: e.and_then(|e| e.status.clone()),
                    controls: Controls::from_features(e.and_then(|e| e.features.as_ref())),
                }
            })
            .collect()
    }

    /// The statuses from now on (to wait for the one that confirms a command).
    pub fn answers(&self) -> broadcast::Receiver<Answer> {
        self.answers.subscribe()
    }

    /// Topic, payload and control code of `cmd` to `mac`, checked against its feature object.
    pub fn request(&self, mac: &str, cmd: &Command, field: &str) -> Result<(String, String, u32), UiError> {
        let d = self
            .list
            .iter()
            .find(|d| d.mac == mac)
            .ok_or_else(|| UiError::new("no_device", format!("this link has no device {mac:?}")))?;
        let features = self.state().get(mac).and_then(|e| e.features.clone()).ok_or_else(|| {
            UiError::invalid(
                field,
                "the heater's features have not arrived yet (they come at connect); try again in a moment",
            )
        })?;
        let topics = Topics::new(&d.mac, &self.client_id);
        let req = cmd
            .request(
                &features,
                &topics,
                &tether::navien::session_id(&self.client_id),
                &d.mac,
                &d.additional_value,
            )
            .map_err(|e| UiError::invalid(field, e.to_string()))?;
        let code = req.request.command;
        let payload = serde_json::to_string(&req).map_err(|e| UiError::new("internal", e.to_string()))?;
        Ok((topics.control(), payload, code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether::kind::DeviceProtocol;

    const MAC: &str = "04786332fca0";

    fn devices() -> Arc<Devices> {
        Devices::new(
            "navien-client-test",
            vec![Device {
                protocol: DeviceProtocol::Nwp500,
                mac: MAC.into(),
                additional_value: "5322".into(),
                name: "Kitchen".into(),
            }],
        )
    }

    fn status_reply(setting: i64) -> Vec<u8> {
        let mut s = serde_json::to_value(tether::navien::status::Status::demo()).unwrap();
        s["dhwTemperatureSetting"] = setting.into();
        serde_json::to_vec(
            &serde_json::json!({"clientID": "navien-client-test", "response": {"command": 33554433, "macAddress": MAC, "status": s}}),
        )
        .unwrap()
    }

    #[test]
    fn statuses_and_features_fill_the_card_and_commands_wait_for_the_features() {
        let d = devices();
        let topic = format!("cmd/52/navilink-{MAC}/navien-client-test/res");
        assert!(d.cards()[0].status.is_none() && !d.cards()[0].controls.known);
        let e = d.request(MAC, &Command::SetpointF(120.0), "setpoint").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("setpoint"), "{}", e.message);
        let mut answers = d.answers();
        assert!(matches!(
            d.on_message(&topic, &status_reply(100), chrono::Utc::now()),
            Seen::Status(_)
        ));
        assert!(matches!(answers.try_recv().unwrap(), Answer::Status { mac, to_us: true, .. } if mac == MAC));
        let features = serde_json::json!({"response": {"feature": {
            "dhwTemperatureSettingUse": 2, "dhwTemperatureMin": 81, "dhwTemperatureMax": 131,
            "powerUse": 2, "dhwUse": 2, "holidayUse": 2, "antiLegionellaSettingUse": 2}}});
        let topic_did = format!("{topic}/did");
        assert!(matches!(
            d.on_message(&topic_did, features.to_string().as_bytes(), chrono::Utc::now()),
            Seen::Features
        ));
        let card = &d.cards()[0];
        assert_eq!(card.name, "Kitchen");
        assert!(card.controls.known && card.controls.vacation);
        assert_eq!(card.status.as_ref().unwrap().setpoint_f, tether::navien::status::half_c_to_f(100));
        let (t, payload, _) = d.request(MAC, &Command::SetpointF(120.0), "setpoint").unwrap();
        assert_eq!(t, format!("cmd/52/navilink-{MAC}/ctrl"));
        assert!(payload.contains("navien-client-test"), "{payload}");
        let e = d.request(MAC, &Command::SetpointF(180.0), "setpoint").unwrap_err();
        assert!(e.message.contains("range"), "{}", e.message);
        assert_eq!(
            d.request("000000000000", &Command::Power(true), "power").unwrap_err().kind,
            "no_device"
        );
    }

    #[test]
    fn other_devices_our_own_requests_and_garbage_are_told_apart() {
        let d = devices();
        let mut answers = d.answers();
        let refused = |client: &str| serde_json::json!({"clientID": client, "response": {"macAddress": MAC, "failCode": 2}});
        let fail_topic = format!("cmd/52/navilink-{MAC}/res/ctrl-fail");
        d.on_message(
            &fail_topic,
            refused("navien-client-test").to_string().as_bytes(),
            chrono::Utc::now(),
        );
        assert!(matches!(
            answers.try_recv().unwrap(),
            Answer::Refused {
                fail_code: 2,
                to_us: true,
                ..
            }
        ));
        // Another app of the account was refused: not our command.
        d.on_message(
            &fail_topic,
            refused("navien-client-phone").to_string().as_bytes(),
            chrono::Utc::now(),
        );
        assert!(matches!(answers.try_recv().unwrap(), Answer::Refused { to_us: false, .. }));
        // A reply on this device's topic that names another device is not this device's.
        let mut other = serde_json::from_slice::<Value>(&status_reply(100)).unwrap();
        other["response"]["macAddress"] = "ffffffffffff".into();
        assert!(matches!(
            d.on_message(
                &format!("cmd/52/navilink-{MAC}/x/res"),
                other.to_string().as_bytes(),
                chrono::Utc::now()
            ),
            Seen::Other
        ));
        let req = serde_json::json!({"clientID": "x", "request": {"command": 16777219}});
        assert!(matches!(
            d.on_message(&format!("cmd/52/navilink-{MAC}/st"), req.to_string().as_bytes(), chrono::Utc::now()),
            Seen::Other
        ));
        assert!(matches!(
            d.on_message("cmd/52/navilink-ffffffffffff/x/res", &status_reply(100), chrono::Utc::now()),
            Seen::Other
        ));
        assert!(matches!(
            d.on_message(&format!("cmd/52/navilink-{MAC}/x/res"), b"{not json", chrono::Utc::now()),
            Seen::Bad(_)
        ));
        let bad = serde_json::json!({"response": {"status": "not an object"}});
        assert!(matches!(
            d.on_message(
                &format!("cmd/52/navilink-{MAC}/x/res"),
                bad.to_string().as_bytes(),
                chrono::Utc::now()
            ),
            Seen::Bad(_)
        ));
    }
}
