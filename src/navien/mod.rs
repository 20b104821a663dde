//! The Navien NWP500 cloud protocol as far as the demo device and (later) the Navien profile need
//! it: topics, commands, request and reply envelopes, the status object and its units
//! (shared/protocol/navien-nwp500.md, sections 2 and 4).

pub mod client;
pub mod cloud;
pub mod control;
pub(crate) mod rest;
pub(crate) mod sigv4;
pub mod status;
pub(crate) mod tokens;
pub mod view;

pub use status::Status;

use serde::{Deserialize, Serialize};

/// `deviceType` of an NWP500.
pub const DEVICE_TYPE: u32 = 52;

/// Command codes (section 2, "Commands").
pub mod command {
    pub const STATUS_REQUEST: u32 = 16_777_219;
    pub const DEVICE_INFO: u32 = 16_777_217;
    pub const POWER_OFF: u32 = 33_554_433;
    pub const POWER_ON: u32 = 33_554_434;
    pub const SET_DHW_TEMPERATURE: u32 = 33_554_464;
    pub const SET_DHW_MODE: u32 = 33_554_437;
    pub const ANTI_LEGIONELLA_OFF: u32 = 33_554_471;
    pub const ANTI_LEGIONELLA_ON: u32 = 33_554_472;
    pub const SESSION_END: u32 = 16_777_218;
}

/// A session id of 32 lowercase hex, stable per client id (§4.2: one per client).
pub fn session_id(client_id: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, client_id.as_bytes());
    d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The topics of one device, for one app client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
    client_id: String,
}

impl Topics {
    pub fn new(mac: &str, client_id: &str) -> Self {
        Self {
            base: format!("cmd/{DEVICE_TYPE}/navilink-{mac}"),
            client_id: client_id.to_string(),
        }
    }

    /// Where status requests go.
    pub fn status_request(&self) -> String {
        format!("{}/st", self.base)
    }

    /// Where device-info (features) requests go.
    pub fn info_request(&self) -> String {
        format!("{}/st/did", self.base)
    }

    /// Where the session-end notice goes (no reply comes; §7).
    pub fn session_end(&self) -> String {
        format!("{}/st/end", self.base)
    }

    /// Where control commands go.
    pub fn control(&self) -> String {
        format!("{}/ctrl", self.base)
    }

    /// Where the device answers this client.
    pub fn response(&self) -> String {
        format!("{}/{}/res", self.base, self.client_id)
    }

    /// What the app subscribes to for status and feature replies.
    pub fn subscription(&self) -> String {
        format!("{}/#", self.base)
    }
}

/// The body of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestBody {
    pub command: u32,
    pub device_type: u32,
    pub mac_address: String,
    pub additional_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_str: Option<String>,
}

/// A request envelope (app → device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(rename = "sessionID")]
    pub session_id: String,
    #[serde(rename = "protocolVersion")]
    pub protocol_version: u32,
    #[serde(rename = "requestTopic")]
    pub request_topic: String,
    #[serde(rename = "responseTopic")]
    pub response_topic: String,
    pub request: RequestBody,
}

impl Request {
    /// A request for `command` to the device `mac`, answered on `topics.response()`.
    pub fn new(topics: &Topics, request_topic: String, session_id: &str, mac: &str, additional: &str, command: u32) -> Self {
        Self {
            client_id: topics.client_id.clone(),
            session_id: session_id.to_string(),
            protocol_version: 2,
            request_topic,
            response_topic: topics.response(),
            request: RequestBody {
                command,
                device_type: DEVICE_TYPE,
                mac_address: mac.to_string(),
                additional_value: additional.to_string(),
                mode: None,
                param: None,
                param_str: None,
            },
        }
    }

    /// A control command with its mode name and parameters.
    pub fn control(mut self, mode: &str, param: Vec<i64>) -> Self {
        self.request.mode = Some(mode.to_string());
        self.request.param = Some(param);
        self.request.param_str = Some(String::new());
        self
    }
}

/// The body of a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBody {
    pub command: u32,
    pub device_type: u32,
    pub mac_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

/// A reply envelope (device → app).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(rename = "sessionID")]
    pub session_id: String,
    #[serde(rename = "requestTopic")]
    pub request_topic: String,
    #[serde(rename = "responseTopic")]
    pub response_topic: String,
    pub response: ResponseBody,
}

/// Why a device message could not be read. A malformed message is reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("no status object (looked in response.status, response.st, status, st)")]
    NoStatus,
}

/// The status in a reply, looked up where the reference client looks: `response.status`, then
/// `response.st`, then top-level `status`, then `st`.
pub fn decode_status(payload: &[u8]) -> Result<Status, DecodeError> {
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| DecodeError::Json(e.to_string()))?;
    let candidates = [
        v.get("response").and_then(|r| r.get("status")),
        v.get("response").and_then(|r| r.get("st")),
        v.get("status"),
        v.get("st"),
    ];
    let found = candidates.into_iter().flatten().next().ok_or(DecodeError::NoStatus)?;
    serde_json::from_value(found.clone()).map_err(|e| DecodeError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_navilink_scheme() {
        let t = Topics::new("04786332fca0", "navien-client-1a2b3c4d");
        assert_eq!(t.status_request(), "cmd/52/navilink-04786332fca0/st");
        assert_eq!(t.control(), "cmd/52/navilink-04786332fca0/ctrl");
        assert_eq!(t.response(), "cmd/52/navilink-04786332fca0/navien-client-1a2b3c4d/res");
        assert_eq!(t.subscription(), "cmd/52/navilink-04786332fca0/#");
    }

    #[test]
    fn a_control_request_serialises_like_the_reference_client() {
        let t = Topics::new("04786332fca0", "navien-client-1a2b3c4d");
        let r =
            Request::new(&t, t.control(), "s", "04786332fca0", "5322", command::SET_DHW_TEMPERATURE).control("dhw-temperature", vec![120]);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["clientID"], "navien-client-1a2b3c4d");
        assert_eq!(v["protocolVersion"], 2);
        assert_eq!(v["request"]["command"], 33554464);
        assert_eq!(v["request"]["mode"], "dhw-temperature");
        assert_eq!(v["request"]["param"][0], 120);
        assert_eq!(v["request"]["additionalValue"], "5322");
    }

    #[test]
    fn status_is_found_where_the_reference_client_looks() {
        let s = serde_json::to_value(Status::demo()).unwrap();
        for wrapped in [
            serde_json::json!({"response": {"status": s.clone()}}),
            serde_json::json!({"response": {"st": s.clone()}}),
            serde_json::json!({"status": s.clone()}),
            serde_json::json!({"st": s.clone()}),
        ] {
            let got = decode_status(wrapped.to_string().as_bytes()).unwrap();
            assert_eq!(got, Status::demo());
        }
        assert_eq!(decode_status(b"{\"response\":{}}"), Err(DecodeError::NoStatus));
        assert!(matches!(decode_status(b"not json"), Err(DecodeError::Json(_))));
    }
}
