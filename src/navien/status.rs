//! The NWP500 status object, raw units as on the wire, with conversions.
//!
//! Fields missing from a message take their defaults instead of failing the whole message (the
//! reference client drops a status over one unknown value); unknown fields are ignored.

use serde::{Deserialize, Serialize};

/// Raw status fields (section 2, "Key status fields"). Temperatures named `*Temperature` with
/// half-°C units unless noted; deci-°C for the tank sensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    /// In-tank hot water, half-°C.
    #[serde(deserialize_with = "lenient_int")]
    pub dhw_temperature: i64,
    /// Setpoint, half-°C.
    #[serde(deserialize_with = "lenient_int")]
    pub dhw_temperature_setting: i64,
    /// Same as the setpoint (the cloud sends both).
    #[serde(deserialize_with = "lenient_int")]
    pub dhw_target_temperature_setting: i64,
    /// Deci-°C.
    #[serde(deserialize_with = "lenient_int")]
    pub tank_upper_temperature: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub tank_lower_temperature: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub ambient_temperature: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub discharge_temperature: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub evaporator_temperature: i64,
    /// Half-°C.
    #[serde(deserialize_with = "lenient_int")]
    pub outside_temperature: i64,
    /// % tank charge.
    #[serde(deserialize_with = "lenient_int")]
    pub dhw_charge_per: i64,
    /// 0 standby, 32 heat pump, 64 hybrid-efficiency, 96 hybrid-boost.
    #[serde(deserialize_with = "lenient_int")]
    pub operation_mode: i64,
    /// 1 heat pump, 2 electric, 3 energy saver, 4 high demand, 5 vacation, 6 off.
    #[serde(deserialize_with = "lenient_int")]
    pub dhw_operation_setting: i64,
    /// Decimal (799 = E799), 0 = none.
    #[serde(deserialize_with = "lenient_int")]
    pub error_code: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub sub_error_code: i64,
    /// W.
    #[serde(deserialize_with = "lenient_int")]
    pub current_inst_power: i64,
    /// 0 unknown / 1 off / 2 on.
    #[serde(deserialize_with = "lenient_int")]
    pub operation_busy: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub comp_use: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub heat_upper_use: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub heat_lower_use: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub anti_legionella_use: i64,
    /// 1 off / 2 on.
    #[serde(deserialize_with = "lenient_int")]
    pub eco_use: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub dhw_use: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub freeze_protection_use: i64,
    /// 0 unknown, 1 heat pump, 2 element, 3 both.
    #[serde(deserialize_with = "lenient_int")]
    pub current_heat_use: i64,
    /// L/min × 10.
    #[serde(deserialize_with = "lenient_int")]
    pub current_dhw_flow_rate: i64,
    /// Counts of 4 Wh.
    #[serde(deserialize_with = "lenient_int")]
    pub total_energy_capacity: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub available_energy_capacity: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub vacation_day_setting: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub vacation_day_elapsed: i64,
    /// dBm.
    #[serde(deserialize_with = "lenient_int")]
    pub wifi_rssi: i64,
    /// 1 °C / 2 °F.
    #[serde(deserialize_with = "lenient_int")]
    pub temperature_type: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub tou_status: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub dr_event_status: i64,
    /// Raw setpoint limits, half-°C (features; carried here for the UI's control).
    #[serde(deserialize_with = "lenient_int")]
    pub dhw_temperature_min: i64,
    #[serde(deserialize_with = "lenient_int")]
    pub dhw_temperature_max: i64,
}

/// An integer field as the device sends it: an integer, or a number with a fraction (rounded).
/// Anything else (a string, null) is unknown, read as 0, rather than a reason to drop the status.
fn lenient_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f.round() as i64))
        .unwrap_or(0))
}

impl Default for Status {
    fn default() -> Self {
        Self::demo()
    }
}

impl Status {
    /// A plausible idle heater: 120 °F in the tank, 120 °F set, energy saver, no error.
    pub fn demo() -> Self {
        Self {
            dhw_temperature: f_to_half_c(120.0),
            dhw_temperature_setting: f_to_half_c(120.0),
            dhw_target_temperature_setting: f_to_half_c(120.0),
            tank_upper_temperature: 489,
            tank_lower_temperature: 420,
            ambient_temperature: 210,
            discharge_temperature: 300,
            evaporator_temperature: 150,
            outside_temperature: 30,
            dhw_charge_per: 100,
            operation_mode: 0,
            dhw_operation_setting: 3,
            error_code: 0,
            sub_error_code: 0,
            current_inst_power: 0,
            operation_busy: 1,
            comp_use: 1,
            heat_upper_use: 1,
            heat_lower_use: 1,
            anti_legionella_use: 1,
            eco_use: 1,
            dhw_use: 1,
            freeze_protection_use: 1,
            current_heat_use: 0,
            current_dhw_flow_rate: 0,
            total_energy_capacity: 2900,
            available_energy_capacity: 2900,
            vacation_day_setting: 0,
            vacation_day_elapsed: 0,
            wifi_rssi: -52,
            temperature_type: 2,
            tou_status: 0,
            dr_event_status: 0,
            dhw_temperature_min: 81,
            dhw_temperature_max: 131,
        }
    }

    pub fn tank_f(&self) -> f64 {
        half_c_to_f(self.dhw_temperature)
    }

    pub fn setpoint_f(&self) -> f64 {
        half_c_to_f(self.dhw_temperature_setting)
    }

    /// The DHW mode's name, as the app shows it.
    pub fn mode_name(&self) -> &'static str {
        match self.dhw_operation_setting {
            1 => "heat pump",
            2 => "electric",
            3 => "energy saver",
            4 => "high demand",
            5 => "vacation",
            6 => "off",
            _ => "unknown",
        }
    }

    /// The setpoint range the device accepts, °F. A status without limits (0) gets the NWP500's
    /// typical 81/131 half-°C (105-150 °F) rather than a range that refuses everything.
    pub fn setpoint_range_f(&self) -> (f64, f64) {
        if self.dhw_temperature_min > 0 && self.dhw_temperature_max > self.dhw_temperature_min {
            (
                half_c_to_f(self.dhw_temperature_min).round(),
                half_c_to_f(self.dhw_temperature_max).round(),
            )
        } else {
            (half_c_to_f(81).round(), half_c_to_f(131).round())
        }
    }

    /// `E799`-style code, or `None` without an error.
    pub fn error(&self) -> Option<String> {
        (self.error_code != 0).then(|| format!("E{:03}", self.error_code))
    }
}

/// Half-°C raw → °F.
pub fn half_c_to_f(raw: i64) -> f64 {
    raw as f64 / 2.0 * 9.0 / 5.0 + 32.0
}

/// °F → half-°C raw, rounded half to even like the reference client (Python's `round`).
pub fn f_to_half_c(f: f64) -> i64 {
    let half_c = (f - 32.0) * 5.0 / 9.0 * 2.0;
    half_c.round_ties_even() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_the_reference_examples() {
        assert_eq!(f_to_half_c(140.0), 120, "140 °F → 120 (the protocol's example)");
        assert_eq!(half_c_to_f(120), 140.0);
        assert_eq!(half_c_to_f(81), 104.9);
        assert!((half_c_to_f(131) - 149.9).abs() < 1e-9);
    }

    #[test]
    fn number_fields_sent_as_decimals_are_read_not_fatal() {
        // The cloud sends `dhwChargePer` and `currentInstPower` as numbers such as 95.0 (protocol
        // doc §6.2); one of them must not cost the whole status.
        let s: Status = serde_json::from_str(r#"{"dhwChargePer":95.0,"currentInstPower":460.4,"dhwTemperature":118}"#).unwrap();
        assert_eq!((s.dhw_charge_per, s.current_inst_power, s.dhw_temperature), (95, 460, 118));
        // A value of the wrong kind (a string) is unknown, not a failure.
        let s: Status = serde_json::from_str(r#"{"errorCode":"E799","dhwTemperature":118}"#).unwrap();
        assert_eq!(s.dhw_temperature, 118);
    }

    #[test]
    fn missing_fields_default_and_unknown_fields_are_ignored() {
        let s: Status = serde_json::from_str(r#"{"dhwTemperature":100,"errorCode":799,"somethingNew":5}"#).unwrap();
        assert_eq!(s.dhw_temperature, 100);
        assert_eq!(s.error().as_deref(), Some("E799"));
        assert_eq!(s.mode_name(), "energy saver");
    }
}
