//! The replies of the Navien REST API (§2.3), validated: what must be present is checked here, so
//! that the link and the emulator's tests agree on one reading. Every parser takes `data` already
//! out of the envelope ([`super::decode`] did that) and says what was wrong without quoting secrets.

use super::{excerpt_str, kind, Endpoint, Reply};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// The token fields of a sign-in, refresh or session refresh reply, every one optional: which are
/// present decides what a merge changes (`tokens::TokenSet`). An empty string counts as absent.
#[derive(Debug, Clone, Default)]
pub struct TokenFields {
    pub id_token: Option<SecretString>,
    pub access_token: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
    /// JWT lifetime, seconds.
    pub authentication_expires_in: Option<u64>,
    /// Not a secret on its own (it names the key), so plain.
    pub access_key_id: Option<String>,
    pub secret_key: Option<SecretString>,
    pub session_token: Option<SecretString>,
    /// AWS credential lifetime, seconds.
    pub authorization_expires_in: Option<u64>,
}

impl TokenFields {
    /// Read by hand rather than by serde, whose errors quote the offending value: a token where a
    /// number belongs would end up in the message.
    fn from_object(map: Map<String, Value>) -> Result<Self, String> {
        let mut f = TokenFields::default();
        for (key, v) in map {
            match key.as_str() {
                "idToken" => f.id_token = text(&key, v)?.map(SecretString::from),
                "accessToken" => f.access_token = text(&key, v)?.map(SecretString::from),
                "refreshToken" => f.refresh_token = text(&key, v)?.map(SecretString::from),
                "authenticationExpiresIn" => f.authentication_expires_in = seconds(&key, &v)?,
                "accessKeyId" => f.access_key_id = text(&key, v)?,
                "secretKey" => f.secret_key = text(&key, v)?.map(SecretString::from),
                "sessionToken" => f.session_token = text(&key, v)?.map(SecretString::from),
                "authorizationExpiresIn" => f.authorization_expires_in = seconds(&key, &v)?,
                _ => {}
            }
        }
        Ok(f)
    }

    pub fn has_jwt(&self) -> bool {
        self.id_token.is_some() || self.access_token.is_some() || self.refresh_token.is_some()
    }

    pub fn has_aws_key(&self) -> bool {
        self.access_key_id.is_some() || self.secret_key.is_some() || self.session_token.is_some()
    }
}

fn text(key: &str, v: Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(format!("{key} is {}, not a string", kind(&other))),
    }
}

fn seconds(key: &str, v: &Value) -> Result<Option<u64>, String> {
    let n = match v {
        Value::Null => return Ok(None),
        // Whole seconds; a fraction is dropped (renewing a moment early is harmless).
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.map(Some)
        .ok_or_else(|| format!("{key} is {}, not a whole number of seconds", kind(v)))
}

/// `/auth/refresh` needs an access token; `/auth/session/refresh` at least one AWS key (§2.3).
impl Reply for TokenFields {
    fn from_data(endpoint: Endpoint, data: Value) -> Result<Self, String> {
        let Value::Object(map) = data else {
            return Err(format!("data is {}, not an object", kind(&data)));
        };
        let f = TokenFields::from_object(map)?;
        match endpoint {
            Endpoint::Refresh if f.access_token.is_none() => Err("the refresh reply has no accessToken".into()),
            Endpoint::SessionRefresh if !f.has_aws_key() => {
                Err("the session refresh reply has none of accessKeyId, secretKey, sessionToken".into())
            }
            _ => Ok(f),
        }
    }
}

/// `data.userInfo`: required as an object, every field optional (§2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub user_type: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub status: Option<String>,
    pub user_seq: Option<i64>,
}

/// A sign-in or secured sign-in reply.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub user_info: UserInfo,
    pub token: TokenFields,
    pub legal: Option<Value>,
}

impl Reply for SignIn {
    fn from_data(endpoint: Endpoint, data: Value) -> Result<Self, String> {
        let Value::Object(mut data) = data else {
            return Err(format!("data is {}, not an object", kind(&data)));
        };
        let user_info = match data.remove("userInfo") {
            Some(Value::Object(u)) => {
                let s = |k: &str| u.get(k).and_then(Value::as_str).map(str::to_string);
                let (user_type, first_name, last_name, status) = (s("userType"), s("userFirstName"), s("userLastName"), s("userStatus"));
                UserInfo {
                    user_type,
                    first_name,
                    last_name,
                    status,
                    user_seq: u.get("userSeq").and_then(Value::as_i64),
                }
            }
            None | Some(Value::Null) => return Err("data.userInfo is missing or null".into()),
            Some(other) => return Err(format!("data.userInfo is {}, not an object", kind(&other))),
        };
        // The reference client also accepts `tokens`.
        let token = match data.remove("token").filter(|t| !t.is_null()).or_else(|| data.remove("tokens")) {
            Some(Value::Object(t)) => TokenFields::from_object(t)?,
            None | Some(Value::Null) => return Err("data has neither token nor tokens".into()),
            Some(other) => return Err(format!("data.token is {}, not an object", kind(&other))),
        };
        match endpoint {
            // Without these two there is nothing to call or renew with.
            Endpoint::SignIn if token.access_token.is_none() || token.refresh_token.is_none() => {
                Err("the sign-in reply lacks accessToken or refreshToken".into())
            }
            Endpoint::SecuredSignIn if !token.has_jwt() && !token.has_aws_key() => {
                Err("the secured sign-in reply has no token field".into())
            }
            _ => Ok(SignIn {
                user_info,
                token,
                legal: data.remove("legal").filter(|l| !l.is_null()),
            }),
        }
    }
}

/// `connected`: 1 offline, 2 online; nothing else (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connected {
    Offline,
    Online,
}

impl<'de> Deserialize<'de> for Connected {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Connected::Offline),
            Value::Number(n) if n.as_i64() == Some(2) => Ok(Connected::Online),
            other => Err(serde::de::Error::custom(format!(
                "connected must be 1 (offline) or 2 (online), got {}",
                excerpt_str(&other.to_string())
            ))),
        }
    }
}

/// `installType`: "R" or "C" (residential or commercial, we assume). Anything else is kept as sent
/// rather than failing the list over a field nothing depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallType {
    Residential,
    Commercial,
    Other(String),
}

impl<'de> Deserialize<'de> for InstallType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "R" => InstallType::Residential,
            "C" => InstallType::Commercial,
            other => InstallType::Other(other.to_string()),
        })
    }
}

/// null and a missing key both give the default.
fn or_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A value of the wrong type gives `None` instead of failing the list (fields nothing depends on).
fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// `additionalValue` is echoed verbatim in every MQTT request; a number is taken as its digits.
fn opaque<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "additionalValue is {}, not a string",
            kind(&other)
        ))),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// 12 lowercase hex characters (checked): used in every topic.
    #[serde(default, deserialize_with = "or_default")]
    pub mac_address: String,
    #[serde(default, deserialize_with = "opaque")]
    pub additional_value: String,
    #[serde(default, deserialize_with = "or_default")]
    pub device_type: u32,
    #[serde(default, deserialize_with = "or_default")]
    pub device_name: String,
    pub connected: Connected,
    #[serde(default, deserialize_with = "lenient")]
    pub install_type: Option<InstallType>,
    #[serde(default)]
    pub model_type_code: Option<Value>,
    #[serde(default)]
    pub installer_id: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Location {
    #[serde(deserialize_with = "lenient")]
    pub state: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub city: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub address: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub latitude: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub longitude: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub altitude: Option<f64>,
}

/// One device of `/device/list`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceEntry {
    pub device_info: DeviceInfo,
    pub location: Location,
    /// `{errorCode, errorOccuredTime}` (spelled that way), as sent.
    pub error: Option<Value>,
    pub descaling: Option<Value>,
}

impl DeviceEntry {
    /// `which` names the entry in errors ("entry 3").
    fn from_object(which: &str, mut entry: Map<String, Value>) -> Result<Self, String> {
        let mut object = |key: &str| match entry.remove(key) {
            Some(v @ Value::Object(_)) => Ok(v),
            None => Err(format!("{which} has no {key}")),
            Some(other) => Err(format!("{which}: {key} is {}, not an object", kind(&other))),
        };
        let (info, location) = (object("deviceInfo")?, object("location")?);
        let device_info: DeviceInfo = serde_json::from_value(info).map_err(|e| format!("{which}: deviceInfo: {e}"))?;
        let location = serde_json::from_value(location).map_err(|e| format!("{which}: location: {e}"))?;
        let mac = &device_info.mac_address;
        if mac.len() != 12 || !mac.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "{which}: macAddress {:?} is not 12 lowercase hex characters",
                excerpt_str(mac)
            ));
        }
        let mut extra = |key: &str| entry.remove(key).filter(|v| !v.is_null());
        Ok(DeviceEntry {
            device_info,
            location,
            error: extra("error"),
            descaling: extra("descaling"),
        })
    }
}

/// Each entry needs both objects; one bad entry fails the list, naming it (§2.3).
impl Reply for Vec<DeviceEntry> {
    fn from_data(_: Endpoint, data: Value) -> Result<Self, String> {
        let Value::Array(entries) = data else {
            return Err(format!("data is {}, not an array of devices", kind(&data)));
        };
        let parse = |(i, e)| match e {
            Value::Object(m) => DeviceEntry::from_object(&format!("entry {i}"), m),
            other => Err(format!("entry {i} is {}, not an object", kind(&other))),
        };
        entries.into_iter().enumerate().map(parse).collect()
    }
}

/// `alarmInfo` of `/device/info`: 1 on, 2 off (the reverse of the device's flags), else unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlarmInfo {
    pub error: Option<bool>,
    pub descaling: Option<bool>,
    pub etc: Option<bool>,
}

/// A `/device/info` reply: one entry (its `descaling` in the entry) plus the extras, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceDetails {
    pub entry: DeviceEntry,
    pub installer: Option<Value>,
    pub alarm_info: Option<AlarmInfo>,
}

impl Reply for DeviceDetails {
    fn from_data(_: Endpoint, data: Value) -> Result<Self, String> {
        let Value::Object(mut data) = data else {
            return Err(format!("data is {}, not an object", kind(&data)));
        };
        let installer = data.remove("installer").filter(|v| !v.is_null());
        let alarm_info = data.remove("alarmInfo").filter(Value::is_object).map(|a| {
            let flag = |k: &str| match a.get(k).and_then(Value::as_i64) {
                Some(1) => Some(true),
                Some(2) => Some(false),
                _ => None,
            };
            AlarmInfo {
                error: flag("isErrorAlarm"),
                descaling: flag("isDescalingAlarm"),
                etc: flag("isEtcAlarm"),
            }
        });
        Ok(DeviceDetails {
            entry: DeviceEntry::from_object("the device", data)?,
            installer,
            alarm_info,
        })
    }
}
