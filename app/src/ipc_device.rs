//! What crosses IPC about devices: a card per device of the active link (its last status and the
//! controls its feature object allows), the commands the card sends, and what became of one; and
//! the Navien profile form (sign in, then pick the account's devices).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tether::navien::control::{Command, Features, Mode};
use tether::navien::status::{half_c_to_f, Status};
use ts_rs::TS;

/// A device's last status, as its card shows it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct DeviceStatus {
    pub mac: String,
    /// When the status arrived (RFC 3339).
    pub at: String,
    pub tank_f: f64,
    pub setpoint_f: f64,
    pub setpoint_min_f: f64,
    pub setpoint_max_f: f64,
    /// The mode as shown ("heat pump", "vacation", "off", …).
    pub mode: String,
    /// The mode's code: 1 heat pump, 2 electric, 3 energy saver, 4 high demand, 5 vacation, 6 off.
    pub mode_code: i64,
    pub power_on: bool,
    /// Vacation days set (in vacation mode).
    pub vacation_days: Option<i64>,
    /// The anti-legionella period in days, `None` when it is off.
    pub anti_legionella_days: Option<i64>,
    pub power_w: f64,
    pub charge_percent: f64,
    pub heating: bool,
    /// `E799`-style code and its meaning, `None` without an error.
    pub error: Option<String>,
}

impl DeviceStatus {
    /// From the decoded status and the raw object (for the fields the typed one leaves out).
    pub fn from_status(mac: &str, s: &Status, raw: &Value, at: chrono::DateTime<chrono::Utc>) -> Self {
        let (min, max) = s.setpoint_range_f();
        let int = |k: &str| raw.get(k).and_then(Value::as_i64);
        let error = s.error().map(|code| match tether::navien::view::error_meaning(s.error_code) {
            Some(meaning) => format!("{code}: {meaning}"),
            None => format!("{code}: unknown error code"),
        });
        Self {
            mac: mac.to_string(),
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            tank_f: s.tank_f(),
            setpoint_f: s.setpoint_f(),
            setpoint_min_f: min,
            setpoint_max_f: max,
            mode: s.mode_name().to_string(),
            mode_code: s.dhw_operation_setting,
            power_on: s.dhw_operation_setting != 6,
            vacation_days: (s.dhw_operation_setting == 5).then_some(s.vacation_day_setting),
            anti_legionella_days: (s.anti_legionella_use == 2).then(|| int("antiLegionellaPeriod").unwrap_or(0)),
            power_w: s.current_inst_power as f64,
            charge_percent: s.dhw_charge_per.clamp(0, 100) as f64,
            heating: s.operation_mode != 0,
            error,
        }
    }
}

/// The controls a device's feature object allows (none until it has arrived).
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
pub struct Controls {
    /// Whether the feature object has arrived: until then no command is sent.
    pub known: bool,
    pub setpoint: bool,
    pub setpoint_min_f: f64,
    pub setpoint_max_f: f64,
    pub modes: bool,
    pub vacation: bool,
    pub power: bool,
    pub anti_legionella: bool,
}

impl Controls {
    pub fn from_features(f: Option<&Features>) -> Self {
        let Some(f) = f else { return Self::default() };
        let range = |raw: i64| half_c_to_f(raw).round();
        let known_range = f.dhw_temperature_min > 0 && f.dhw_temperature_max > f.dhw_temperature_min;
        Self {
            known: true,
            setpoint: (2..=4).contains(&f.dhw_temperature_setting_use) && known_range,
            setpoint_min_f: if known_range { range(f.dhw_temperature_min) } else { 0.0 },
            setpoint_max_f: if known_range { range(f.dhw_temperature_max) } else { 0.0 },
            modes: f.dhw_use,
            vacation: f.holiday_use,
            power: f.power_use,
            anti_legionella: f.anti_legionella_setting_use,
        }
    }
}

/// One device of the active link, as its card shows it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct DeviceCard {
    pub mac: String,
    pub name: String,
    pub status: Option<DeviceStatus>,
    pub controls: Controls,
}

/// A command from a card.
#[derive(Debug, Clone, PartialEq, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeviceCommand {
    Setpoint {
        fahrenheit: f64,
    },
    /// `heat_pump`, `electric`, `energy_saver` or `high_demand`.
    Mode {
        mode: String,
    },
    /// Vacation mode for 1-99 days.
    Vacation {
        days: u8,
    },
    Power {
        on: bool,
    },
    /// On with a period of 1-30 days, or off (`None`).
    AntiLegionella {
        period_days: Option<u8>,
    },
}

impl DeviceCommand {
    /// The core's command; a mode that is not one is refused by field.
    pub fn to_command(&self) -> Result<Command, crate::ipc::UiError> {
        Ok(match self {
            DeviceCommand::Setpoint { fahrenheit } => Command::SetpointF(*fahrenheit),
            DeviceCommand::Mode { mode } => Command::Mode(mode.parse::<Mode>().map_err(|e| crate::ipc::UiError::invalid("mode", e))?),
            DeviceCommand::Vacation { days } => Command::Vacation { days: *days },
            DeviceCommand::Power { on } => Command::Power(*on),
            DeviceCommand::AntiLegionella { period_days } => Command::AntiLegionella(*period_days),
        })
    }

    /// The form field an error about this command belongs to.
    pub fn field(&self) -> &'static str {
        match self {
            DeviceCommand::Setpoint { .. } => "setpoint",
            DeviceCommand::Mode { .. } => "mode",
            DeviceCommand::Vacation { .. } => "vacation",
            DeviceCommand::Power { .. } => "power",
            DeviceCommand::AntiLegionella { .. } => "anti_legionella",
        }
    }
}

/// What became of a command.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum CommandOutcome {
    /// The device's answering status shows the change.
    Confirmed { status: DeviceStatus },
    /// Sent, but no status showing the change came within the wait.
    NotConfirmed { message: String },
    /// Offline: it waits in the outbox, and expires unsent after `expires_after_s`.
    Queued { expires_after_s: f64 },
}

/// The Navien form's sign-in: checked at once against the cloud; the password stays in memory
/// until the profile is saved, then goes to the keychain. It never comes back.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct NavienSignIn {
    /// The profile's name (its secrets are kept under it).
    pub name: String,
    pub email: String,
    #[ts(type = "string")]
    pub password: secrecy::SecretString,
    /// Another cloud than Navien's (the emulator): its REST base URL, IoT host and port, CA file.
    pub rest_url: Option<String>,
    pub iot_host: Option<String>,
    pub iot_port: Option<u16>,
    pub ca_file: Option<String>,
}

/// One device of a signed-in account.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct NavienDeviceView {
    pub mac: String,
    pub name: String,
}

/// A signed-in account, for the form to pick devices from.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct NavienAccountView {
    pub email: String,
    pub devices: Vec<NavienDeviceView>,
}

/// The Navien form's save: the devices picked from the signed-in account.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct NavienProfileInput {
    pub name: String,
    /// MACs of the devices to talk to (at least one).
    pub devices: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_follow_the_feature_object() {
        assert_eq!(Controls::from_features(None), Controls::default());
        let f = Features {
            dhw_temperature_setting_use: 2,
            dhw_temperature_min: 81,
            dhw_temperature_max: 131,
            power_use: true,
            dhw_use: true,
            holiday_use: false,
            anti_legionella_setting_use: true,
        };
        let c = Controls::from_features(Some(&f));
        assert!(c.known && c.setpoint && c.modes && c.power && c.anti_legionella && !c.vacation);
        assert_eq!((c.setpoint_min_f, c.setpoint_max_f), (105.0, 150.0));
        let none = Features {
            dhw_temperature_setting_use: 1,
            ..f
        };
        assert!(!Controls::from_features(Some(&none)).setpoint);
    }

    #[test]
    fn a_card_command_becomes_the_cores_and_a_bad_mode_names_its_field() {
        let c: DeviceCommand = serde_json::from_value(serde_json::json!({"kind": "vacation", "days": 7})).unwrap();
        assert_eq!(c.to_command().unwrap(), Command::Vacation { days: 7 });
        let c: DeviceCommand = serde_json::from_value(serde_json::json!({"kind": "anti_legionella", "period_days": null})).unwrap();
        assert_eq!(c.to_command().unwrap(), Command::AntiLegionella(None));
        let bad = DeviceCommand::Mode { mode: "turbo".into() };
        assert_eq!(bad.to_command().unwrap_err().field.as_deref(), Some("mode"));
    }

    #[test]
    fn a_status_in_vacation_with_an_error_reads_as_the_card_shows_it() {
        let mut s = Status::demo();
        s.dhw_operation_setting = 5;
        s.vacation_day_setting = 3;
        s.error_code = 799;
        let raw = serde_json::to_value(&s).unwrap();
        let d = DeviceStatus::from_status("04786332fca0", &s, &raw, chrono::Utc::now());
        assert_eq!((d.mode_code, d.vacation_days, d.power_on), (5, Some(3), true));
        assert!(d.error.as_deref().is_some_and(|e| e.starts_with("E799: ")), "{:?}", d.error);
    }
}
