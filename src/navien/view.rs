//! A status as people read it: named fields in units (°F, W, Wh, L/min, %), mode and error names
//! (protocol doc §6.2–6.5). Lenient like the rest of Tether's decoding: a missing or unknown field
//! is left out or shown raw, never a reason to drop the status.

use serde_json::{json, Map, Value};

/// The meaning of an NWP500 error code (§6.4), `None` for a code not in the table.
pub fn error_meaning(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "none",
        96 => "upper heater",
        97 => "lower heater",
        326 => "dry fire",
        407 => "DHW temperature sensor",
        445 => "mixing valve",
        480 => "tank upper temperature sensor",
        481 => "tank lower temperature sensor",
        515 => "relay fault",
        517 => "DIP switch",
        593 => "panel key",
        594 => "EEPROM",
        595 => "power meter",
        596 => "Wi-Fi",
        598 => "RTC",
        615 => "feedback",
        781 => "CTA-2045",
        798 => "shut-off valve",
        799 => "water leak",
        901 => "ECO",
        907 => "compressor power",
        908 => "compressor",
        909 => "evaporator fan",
        910 => "discharge temperature sensor",
        911 => "discharge temperature high",
        912 => "suction temperature sensor",
        913 => "suction temperature low",
        914 => "evaporator temperature sensor",
        915 => "temperature difference",
        916 => "evaporator temperature",
        920 => "ambient temperature sensor",
        940 => "refrigerant blockage",
        990 => "condensate overflow",
        _ => return None,
    })
}

/// The DHW mode's name (`dhwOperationSetting`).
pub fn mode_name(m: i64) -> &'static str {
    match m {
        0 => "standby",
        1 => "heat_pump",
        2 => "electric",
        3 => "energy_saver",
        4 => "high_demand",
        5 => "vacation",
        6 => "off",
        _ => "unknown",
    }
}

fn half_c_f(raw: i64) -> f64 {
    round1(raw as f64 / 2.0 * 9.0 / 5.0 + 32.0)
}

fn deci_c_f(raw: i64) -> f64 {
    round1(raw as f64 / 10.0 * 9.0 / 5.0 + 32.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The status object `s` (the one inside a reply) as named fields in units.
pub fn decode(s: &Value) -> Value {
    let int = |k: &str| s.get(k).and_then(Value::as_i64);
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    let mut out = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    };
    put("mac", s.get("macAddress").cloned());
    put("tank_f", int("dhwTemperature").map(|r| json!(half_c_f(r))));
    put("setpoint_f", int("dhwTemperatureSetting").map(|r| json!(half_c_f(r))));
    put("tank_upper_f", int("tankUpperTemperature").map(|r| json!(deci_c_f(r))));
    put("tank_lower_f", int("tankLowerTemperature").map(|r| json!(deci_c_f(r))));
    put("ambient_f", int("ambientTemperature").map(|r| json!(deci_c_f(r))));
    put("outside_f", int("outsideTemperature").map(|r| json!(half_c_f(r))));
    put("mode", int("dhwOperationSetting").map(|m| json!(mode_name(m))));
    put(
        "heating",
        int("currentHeatUse").map(|h| {
            json!(match h {
                1 => "heat_pump",
                2 => "element",
                3 => "heat_pump_and_element",
                _ => "none",
            })
        }),
    );
    put("power_w", num("currentInstPower").map(|w| json!(w)));
    put("charge_percent", num("dhwChargePer").map(|p| json!(p)));
    put("energy_to_setpoint_wh", num("availableEnergyCapacity").map(|c| json!(c * 4.0)));
    put("flow_l_per_min", int("currentDhwFlowRate").map(|r| json!(r as f64 / 10.0)));
    put("hot_water_in_use", int("dhwUse").map(|f| json!(f == 2)));
    put("vacation_days", int("vacationDaySetting").map(|d| json!(d)));
    put(
        "anti_legionella",
        int("antiLegionellaUse").map(|u| json!({"on": u == 2, "period_days": int("antiLegionellaPeriod")})),
    );
    put("wifi_rssi_dbm", int("wifiRssi").map(|r| json!(r)));
    put(
        "error",
        int("errorCode").map(|c| {
            json!({
                "code": c,
                "shown_as": if c == 0 { Value::Null } else { json!(format!("E{c:03}")) },
                "meaning": error_meaning(c).map(str::to_string).unwrap_or_else(|| format!("unknown error code {c}")),
                "sub_code": int("subErrorCode"),
            })
        }),
    );
    Value::Object(out)
}

/// The status object in a device's reply, or `None` for anything else: a request (ours, which
/// the device wildcard brings back, §3.5), a feature reply, or a message that is not JSON.
pub fn status_in_reply(payload: &[u8]) -> Option<(String, u32, Value)> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let r = v.get("response")?;
    let status = [r.get("status"), r.get("st")].into_iter().flatten().next()?.clone();
    let mac = r
        .get("macAddress")
        .or_else(|| status.get("macAddress"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let command = r
        .get("command")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0);
    Some((mac, command, status))
}

/// One line of a status for a terminal.
pub fn summary(decoded: &Value) -> String {
    let f = |k: &str| {
        decoded
            .get(k)
            .and_then(Value::as_f64)
            .map(|x| format!("{x:.1} °F"))
            .unwrap_or_else(|| "?".into())
    };
    let s = |k: &str| decoded.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let power = decoded
        .get("power_w")
        .and_then(Value::as_f64)
        .map(|w| format!("{w:.0} W"))
        .unwrap_or_default();
    let mut line = format!(
        "tank {}  set {}  mode {}  heating {} {power}",
        f("tank_f"),
        f("setpoint_f"),
        s("mode"),
        s("heating")
    );
    if let Some(e) = decoded.get("error").filter(|e| e["code"].as_i64().unwrap_or(0) != 0) {
        line.push_str(&format!(
            "  error {} ({})",
            e["shown_as"].as_str().unwrap_or("?"),
            e["meaning"].as_str().unwrap_or("?")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_in_fahrenheit_watts_and_names() {
        let s = json!({"macAddress":"04786332fca0","dhwTemperature":118,"dhwTemperatureSetting":120,
            "tankUpperTemperature":590,"outsideTemperature":40,"dhwOperationSetting":3,"currentHeatUse":1,
            "currentInstPower":460.0,"availableEnergyCapacity":120,"currentDhwFlowRate":35,"errorCode":799,"subErrorCode":0});
        let d = decode(&s);
        assert_eq!(d["tank_f"], 138.2);
        assert_eq!(d["setpoint_f"], 140.0);
        assert_eq!(d["tank_upper_f"], 138.2);
        assert_eq!(d["outside_f"], 68.0);
        assert_eq!(d["mode"], "energy_saver");
        assert_eq!(d["heating"], "heat_pump");
        assert_eq!(d["power_w"], 460.0);
        assert_eq!(d["energy_to_setpoint_wh"], 480.0);
        assert_eq!(d["flow_l_per_min"], 3.5);
        assert_eq!(d["error"]["shown_as"], "E799");
        assert_eq!(d["error"]["meaning"], "water leak");
    }

    #[test]
    fn missing_and_unknown_values_are_left_out_or_shown_raw_not_fatal() {
        let d = decode(&json!({"errorCode": 123, "dhwOperationSetting": 42}));
        assert_eq!(d["error"]["meaning"], "unknown error code 123");
        assert_eq!(d["mode"], "unknown");
        assert!(d.get("tank_f").is_none());
        assert_eq!(decode(&json!("not an object")), json!({}));
    }
}
