//! The app side of NWP500 control (protocol doc §4.3–4.4, §5): the feature object a command is
//! gated on, commands encoded as the device wants them, and how the answering status confirms
//! one. Pure: the link sends what this builds, and hands back what arrives.

use super::{command, status::f_to_half_c, Request, Topics};
use serde_json::Value;

/// The feature object (reply to `st/did`), as far as commands need it. Missing fields read as
/// "not supported" (flags) or "unknown" (limits), never as a failure of the whole object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features {
    /// 2-4: the setpoint can be set (0.5 °C, 1 °C steps, three-stage); anything else: it cannot.
    pub dhw_temperature_setting_use: i64,
    /// The setpoint limits, raw half-°C (0: unknown).
    pub dhw_temperature_min: i64,
    pub dhw_temperature_max: i64,
    /// Capability flags, 2 = supported.
    pub power_use: bool,
    pub dhw_use: bool,
    pub holiday_use: bool,
    pub anti_legionella_setting_use: bool,
}

impl Features {
    /// The feature object in a reply: `response.feature`, `response.did`, `feature`, `did`, in
    /// that order (key presence decides, §4.4).
    pub fn from_reply(v: &Value) -> Option<Self> {
        let r = v.get("response");
        let f = [
            r.and_then(|r| r.get("feature")),
            r.and_then(|r| r.get("did")),
            v.get("feature"),
            v.get("did"),
        ]
        .into_iter()
        .flatten()
        .next()?
        .as_object()?;
        let int = |k: &str| f.get(k).and_then(Value::as_i64).unwrap_or(0);
        Some(Self {
            dhw_temperature_setting_use: int("dhwTemperatureSettingUse"),
            dhw_temperature_min: int("dhwTemperatureMin"),
            dhw_temperature_max: int("dhwTemperatureMax"),
            power_use: int("powerUse") == 2,
            dhw_use: int("dhwUse") == 2,
            holiday_use: int("holidayUse") == 2,
            anti_legionella_setting_use: int("antiLegionellaSettingUse") == 2,
        })
    }
}

/// The DHW modes a user can choose (§4.3; 5 vacation has its own command form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    HeatPump = 1,
    Electric = 2,
    EnergySaver = 3,
    HighDemand = 4,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "heat_pump" | "heatpump" => Ok(Mode::HeatPump),
            "electric" => Ok(Mode::Electric),
            "energy_saver" | "eco" => Ok(Mode::EnergySaver),
            "high_demand" => Ok(Mode::HighDemand),
            other => Err(format!(
                "unknown mode {other:?}: use heat_pump, electric, energy_saver, high_demand or vacation (with --days)"
            )),
        }
    }
}

/// A command to a heater.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// The hot-water setpoint, °F.
    SetpointF(f64),
    Mode(Mode),
    /// Vacation mode for 1-99 days.
    Vacation {
        days: u8,
    },
    Power(bool),
    /// Anti-legionella on with a period of 1-30 days, or off.
    AntiLegionella(Option<u8>),
}

/// Why a command was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the heater does not support {0} (its feature object says so)")]
    Unsupported(&'static str),
    #[error("{value} is outside the heater's setpoint range of {min}-{max} °F")]
    OutOfRange { value: String, min: String, max: String },
    #[error("{0}")]
    Invalid(String),
}

/// What goes on the wire for one command: the control code, the mode name and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub code: u32,
    pub mode: &'static str,
    pub param: Vec<i64>,
}

impl Command {
    /// The command as the device wants it, checked against its features (§4.3's gating).
    pub fn encode(&self, f: &Features) -> Result<Encoded, CommandError> {
        let e = |code, mode, param| Ok(Encoded { code, mode, param });
        match *self {
            Command::SetpointF(fahrenheit) => {
                if !(2..=4).contains(&f.dhw_temperature_setting_use) {
                    return Err(CommandError::Unsupported("setting the setpoint"));
                }
                if !fahrenheit.is_finite() {
                    return Err(CommandError::Invalid(format!("{fahrenheit} is not a temperature")));
                }
                let raw = f_to_half_c(fahrenheit);
                let (min, max) = (f.dhw_temperature_min, f.dhw_temperature_max);
                if min <= 0 || max < min {
                    return Err(CommandError::Invalid("the heater reported no setpoint range".into()));
                }
                if raw < min || raw > max {
                    let f = |raw: i64| format!("{:.0}", super::status::half_c_to_f(raw));
                    return Err(CommandError::OutOfRange {
                        value: format!("{fahrenheit} °F"),
                        min: f(min),
                        max: f(max),
                    });
                }
                e(command::SET_DHW_TEMPERATURE, "dhw-temperature", vec![raw])
            }
            Command::Mode(m) => {
                if !f.dhw_use {
                    return Err(CommandError::Unsupported("changing the mode"));
                }
                e(command::SET_DHW_MODE, "dhw-mode", vec![m as i64])
            }
            Command::Vacation { days } => {
                if !f.dhw_use {
                    return Err(CommandError::Unsupported("changing the mode"));
                }
                if !(1..=99).contains(&days) {
                    return Err(CommandError::Invalid(format!("vacation of {days} days: use 1-99")));
                }
                e(command::SET_DHW_MODE, "dhw-mode", vec![5, days.into()])
            }
            Command::Power(on) => {
                if !f.power_use {
                    return Err(CommandError::Unsupported("power on/off"));
                }
                if on {
                    e(command::POWER_ON, "power-on", vec![])
                } else {
                    e(command::POWER_OFF, "power-off", vec![])
                }
            }
            Command::AntiLegionella(period) => {
                if !f.anti_legionella_setting_use {
                    return Err(CommandError::Unsupported("anti-legionella"));
                }
                match period {
                    Some(d) if (1..=30).contains(&d) => e(command::ANTI_LEGIONELLA_ON, "anti-leg-on", vec![d.into()]),
                    Some(d) => Err(CommandError::Invalid(format!("an anti-legionella period of {d} days: use 1-30"))),
                    None => e(command::ANTI_LEGIONELLA_OFF, "anti-leg-off", vec![]),
                }
            }
        }
    }

    /// The request envelope for this command to the device `mac`.
    pub fn request(&self, f: &Features, topics: &Topics, session_id: &str, mac: &str, additional: &str) -> Result<Request, CommandError> {
        let enc = self.encode(f)?;
        Ok(Request::new(topics, topics.control(), session_id, mac, additional, enc.code).control(enc.mode, enc.param))
    }

    /// Whether `status` (the object inside a reply) shows this command done. The reply to a
    /// control carries the control's code in `response.command`; the caller checks that too.
    pub fn confirmed_by(&self, status: &Value) -> bool {
        let int = |k: &str| status.get(k).and_then(Value::as_i64);
        match *self {
            Command::SetpointF(f) => int("dhwTemperatureSetting") == Some(f_to_half_c(f)),
            Command::Mode(m) => int("dhwOperationSetting") == Some(m as i64),
            Command::Vacation { days } => int("dhwOperationSetting") == Some(5) && int("vacationDaySetting") == Some(days.into()),
            Command::Power(true) => int("dhwOperationSetting").is_some_and(|m| m != 6),
            Command::Power(false) => int("dhwOperationSetting") == Some(6),
            Command::AntiLegionella(Some(d)) => int("antiLegionellaUse") == Some(2) && int("antiLegionellaPeriod") == Some(d.into()),
            Command::AntiLegionella(None) => int("antiLegionellaUse") == Some(1),
        }
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
