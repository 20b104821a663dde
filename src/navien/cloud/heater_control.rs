//! What a request does to a simulated [`Heater`]: the command codes, the request topics a heater
//! answers, and `apply`, which checks an envelope, changes the state as the §4.5 table says and
//! says what to answer ([`Reply`]). Pure like the heater itself: the MQTT side
//! ([`super::heater_task`]) publishes the answer.

use super::heater::{Heater, DEVICE_TYPE, SETPOINT_MAX, SETPOINT_MIN};
use serde_json::Value;
use std::time::Instant;

/// Command codes (§4.3). `navien::command` has only the ones the demo needs.
#[allow(dead_code)] // The whole table; replies echo the request's code, so not all are matched on.
pub(crate) mod code {
    pub(crate) const STATUS: u32 = 16_777_219;
    pub(crate) const FEATURE: u32 = 16_777_217;
    pub(crate) const SESSION_END: u32 = 16_777_218;
    pub(crate) const POWER_OFF: u32 = 33_554_433;
    pub(crate) const POWER_ON: u32 = 33_554_434;
    pub(crate) const DHW_TEMPERATURE: u32 = 33_554_464;
    pub(crate) const DHW_MODE: u32 = 33_554_437;
    pub(crate) const GOOUT_DAY: u32 = 33_554_466;
    pub(crate) const ANTI_LEG_ON: u32 = 33_554_472;
    pub(crate) const ANTI_LEG_OFF: u32 = 33_554_471;
    pub(crate) const TOU_ON: u32 = 33_554_476;
    pub(crate) const TOU_OFF: u32 = 33_554_475;
    pub(crate) const DR_ON: u32 = 33_554_470;
    pub(crate) const DR_OFF: u32 = 33_554_469;
    pub(crate) const RECIRC_MODE: u32 = 33_554_445;
    pub(crate) const RECIRC_HOTBTN: u32 = 33_554_444;
    pub(crate) const AIR_FILTER_RESET: u32 = 33_554_473;
    pub(crate) const AIR_FILTER_LIFE: u32 = 33_554_474;
    pub(crate) const INTELLIGENT_ON: u32 = 33_554_468;
    pub(crate) const INTELLIGENT_OFF: u32 = 33_554_467;
    pub(crate) const RESERVATION_MODE: u32 = 33_554_441;
    pub(crate) const COND_FAULT_RESET: u32 = 33_554_463;
}

/// The control a command code stands for, for a control that arrives without `mode`.
fn mode_of(command: u32) -> Option<&'static str> {
    Some(match command {
        code::POWER_OFF => "power-off",
        code::POWER_ON => "power-on",
        code::DHW_TEMPERATURE => "dhw-temperature",
        code::DHW_MODE => "dhw-mode",
        code::GOOUT_DAY => "goout-day",
        code::ANTI_LEG_ON => "anti-leg-on",
        code::ANTI_LEG_OFF => "anti-leg-off",
        code::TOU_ON => "tou-on",
        code::TOU_OFF => "tou-off",
        code::DR_ON => "dr-on",
        code::DR_OFF => "dr-off",
        code::RECIRC_MODE => "recirc-mode",
        code::RECIRC_HOTBTN => "recirc-hotbtn",
        code::AIR_FILTER_RESET => "air-filter-reset",
        code::AIR_FILTER_LIFE => "air-filter-life",
        code::INTELLIGENT_ON => "intelligent-on",
        code::INTELLIGENT_OFF => "intelligent-off",
        code::RESERVATION_MODE => "reservation-mode",
        code::COND_FAULT_RESET => "cond-fault-reset",
        _ => return None,
    })
}

/// `failCode` of a control refused for arriving within the control interval (§7).
pub(crate) const FAIL_CONTROL_INTERVAL: u32 = 2;

/// What a request calls for. The topic it came on decides which kind is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// A full status with this `command` on the request's `responseTopic` (`st`, and every
    /// `ctrl`). `refused` says why a control changed nothing; it is still answered with a status.
    Status { command: u32, refused: Option<String> },
    /// The feature object (`st/did`).
    Feature { command: u32 },
    /// The control came within the control interval: only `res/ctrl-fail` with this code.
    CtrlFail { fail_code: u32 },
    /// Nothing to send (`st/end`).
    None,
    /// Not a request this heater answers: logged and dropped, state unchanged.
    Ignore(String),
}

/// The request topics a heater answers, after `cmd/52/navilink-{mac}/`.
pub(crate) const SUFFIXES: [&str; 4] = ["st", "st/did", "st/end", "ctrl"];

impl Heater {
    /// The request topic prefix, `cmd/52/navilink-{mac}/`.
    pub(crate) fn topic_base(&self) -> String {
        format!("cmd/{DEVICE_TYPE}/navilink-{}/", self.mac)
    }

    /// The topics this heater subscribes to (not the `#` wildcard: that would bring it its own replies).
    pub(crate) fn request_topics(&self) -> Vec<String> {
        SUFFIXES.iter().map(|s| format!("{}{s}", self.topic_base())).collect()
    }

    // ---- requests ----

    /// `apply_at` with the current time (the MQTT side passes its own, for the same reason tests do).
    #[cfg(test)]
    pub(crate) fn apply(&mut self, topic: &str, envelope: &Value) -> Reply {
        self.apply_at(topic, envelope, Instant::now())
    }

    /// Take one request envelope that arrived on `topic`: check it is one for this heater, change
    /// the state as §4.5 says, and say what to answer. Never panics on any input.
    pub(crate) fn apply_at(&mut self, topic: &str, envelope: &Value, now: Instant) -> Reply {
        let Some(env) = envelope.as_object() else {
            return Reply::Ignore("not a JSON object".into());
        };
        if env.contains_key("response") && !env.contains_key("request") {
            // Our own replies and other devices' come back on the wildcard some clients use.
            return Reply::Ignore("a reply, not a request".into());
        }
        let Some(req) = env.get("request") else {
            return Reply::Ignore("no `request`".into());
        };
        let Some(req) = req.as_object() else {
            return Reply::Ignore("`request` is not an object".into());
        };
        let Some(command) = req.get("command").and_then(Value::as_u64).and_then(|c| u32::try_from(c).ok()) else {
            return Reply::Ignore("no `request.command` (a non-negative 32-bit integer)".into());
        };
        match req.get("macAddress").and_then(Value::as_str) {
            Some(m) if m.eq_ignore_ascii_case(&self.mac) => {}
            Some(m) => return Reply::Ignore(format!("for device {m}, not {}", self.mac)),
            None => return Reply::Ignore("no `request.macAddress`".into()),
        }
        if let Some(t) = req.get("deviceType") {
            if t.as_u64() != Some(u64::from(DEVICE_TYPE)) {
                return Reply::Ignore(format!("deviceType {t}, not {DEVICE_TYPE}"));
            }
        }
        let base = self.topic_base();
        let Some(suffix) = topic.strip_prefix(base.as_str()) else {
            return Reply::Ignore(format!("topic {topic} is not under {base}"));
        };
        if suffix == "st/end" {
            return Reply::None;
        }
        if !SUFFIXES.contains(&suffix) {
            return Reply::Ignore(format!("this heater does not answer {suffix}"));
        }
        // Without a topic to answer on, a request is not taken: the client would never learn of it.
        if let Err(reason) = response_topic(envelope) {
            return Reply::Ignore(reason);
        }
        match suffix {
            "st" => Reply::Status { command, refused: None },
            "st/did" => Reply::Feature { command },
            _ => {
                if let (Some(interval), Some(last)) = (self.control_interval, self.last_control) {
                    if now.saturating_duration_since(last) < interval {
                        return Reply::CtrlFail {
                            fail_code: FAIL_CONTROL_INTERVAL,
                        };
                    }
                }
                // Only kept when it matters, so a heater without an interval compares equal before
                // and after a control that changed nothing.
                if self.control_interval.is_some() {
                    self.last_control = Some(now);
                }
                let refused = self.control(command, req).err();
                Reply::Status { command, refused }
            }
        }
    }

    /// One control (§4.5 table). `Err` says why it changed nothing.
    fn control(&mut self, command: u32, req: &serde_json::Map<String, Value>) -> Result<(), String> {
        let mode = match req.get("mode").and_then(Value::as_str) {
            Some(m) => m,
            None => mode_of(command).ok_or_else(|| format!("control {command} has no `mode` and is not one this heater knows"))?,
        };
        let params: Vec<i64> = match req.get("param") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(Value::as_i64)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{mode}: `param` is not a list of integers"))?,
            Some(_) => return Err(format!("{mode}: `param` is not a list")),
        };
        let first = params.first().copied();
        match mode {
            "power-off" => self.power_off(),
            "power-on" => {
                if self.mode == 6 {
                    self.mode = self.mode_before_off;
                }
            }
            "dhw-temperature" => match first {
                Some(v) if (SETPOINT_MIN..=SETPOINT_MAX).contains(&v) => self.setpoint = v,
                _ => return Err(format!("setpoint {params:?} outside {SETPOINT_MIN}..={SETPOINT_MAX} (half-°C)")),
            },
            "dhw-mode" => match params.as_slice() {
                [6, ..] => self.power_off(),
                [m @ 1..=4, ..] => self.mode = *m,
                [5, d, ..] if (1..=99).contains(d) => {
                    if (1..=4).contains(&self.mode) {
                        self.mode_before_vacation = self.mode;
                    }
                    self.mode = 5;
                    self.vacation_days = *d;
                    self.vacation_elapsed = 0;
                    self.vacation_secs = 0.0;
                }
                _ => return Err(format!("dhw-mode {params:?} is not [1-4], [6] or [5, 1-99]")),
            },
            "goout-day" => match first {
                Some(d) if (1..=99).contains(&d) => self.vacation_days = d,
                _ => return Err(format!("goout-day {params:?} is not [1-99]")),
            },
            "anti-leg-on" => match first {
                Some(d) if (1..=30).contains(&d) => {
                    self.anti_legionella_use = 2;
                    self.anti_legionella_period = d;
                }
                _ => return Err(format!("anti-leg-on {params:?} is not [1-30]")),
            },
            "anti-leg-off" => self.anti_legionella_use = 1,
            "tou-on" => self.tou_status = 1,
            "tou-off" => self.tou_status = 0,
            "recirc-mode" => match first {
                Some(m) if (1..=4).contains(&m) => self.recirc_mode = m,
                _ => return Err(format!("recirc-mode {params:?} is not [1-4]")),
            },
            "air-filter-life" => match first {
                Some(n) if n == 0 || (2..=20).contains(&n) => self.air_filter_period = n * 500,
                _ => return Err(format!("air-filter-life {params:?} is not [0] or [2-20]")),
            },
            "air-filter-reset" => self.fan_secs = 0.0,
            // Accepted with no visible effect (§4.5 "other controls").
            "dr-on" | "dr-off" | "recirc-hotbtn" | "intelligent-on" | "intelligent-off" | "reservation-mode" | "cond-fault-reset" => {}
            other => return Err(format!("unknown control {other:?}")),
        }
        Ok(())
    }

    fn power_off(&mut self) {
        if self.mode != 6 {
            self.mode_before_off = self.mode;
            self.mode = 6;
        }
    }
}

/// The request's `responseTopic`, if it is one a reply can be published to: a non-empty string
/// without wildcards or NUL, within MQTT's 65535 bytes.
pub(crate) fn response_topic(envelope: &Value) -> Result<&str, String> {
    let topic = envelope
        .get("responseTopic")
        .and_then(Value::as_str)
        .ok_or_else(|| "no `responseTopic` string".to_string())?;
    if topic.is_empty() || topic.len() > 65_535 || topic.contains(['+', '#', '\0']) {
        return Err(format!("`responseTopic` {topic:?} is not a topic name"));
    }
    Ok(topic)
}

/// A request envelope as the reference client sends it (§4.2), for the tests of this module's
/// siblings: `control` adds `mode`, `param` and `paramStr`. Returns the topic and the envelope.
#[cfg(test)]
pub(crate) fn test_request(mac: &str, suffix: &str, command: u32, control: Option<(&str, &[i64])>) -> (String, Value) {
    let topic = format!("cmd/52/navilink-{mac}/{suffix}");
    let mut request = serde_json::json!({"command": command, "deviceType": 52, "macAddress": mac, "additionalValue": "5322"});
    if let Some((mode, param)) = control {
        request["mode"] = mode.into();
        request["param"] = param.into();
        request["paramStr"] = "".into();
    }
    let envelope = serde_json::json!({
        "clientID": "navien-client-1a2b3c4d",
        "sessionID": "0123456789abcdef0123456789abcdef",
        "protocolVersion": 2,
        "requestTopic": topic,
        "responseTopic": format!("cmd/52/navilink-{mac}/navien-client-1a2b3c4d/res"),
        "request": request,
    });
    (topic, envelope)
}
