//! The JSON a simulated heater sends: the full 104-field status (protocol doc §6.2), the feature
//! object (§5), the reply envelope around them (§4.4) and the `ctrl-fail` message (§7).
//!
//! Strict clients drop a whole status over one missing field or one invalid enum value, so every
//! field is always present with the device's own spelling (typo included), as a JSON integer, and
//! every enum is derived from the heater's state in one place (`Heater`'s accessors) so they agree.

use super::heater::{Heater, DEVICE_TYPE, FREEZE_PROTECTION, FREEZE_PROTECTION_MAX, FREEZE_PROTECTION_MIN, SETPOINT_MAX, SETPOINT_MIN};
use serde_json::{json, Map, Value};

/// The firmware versions the feature object reports; `swVersion` in `ctrl-fail` is the controller's.
const CONTROLLER_SW_VERSION: i64 = 184_877_056;
const WIFI_SW_VERSION: i64 = 34_013_184;

/// A tri/flag value: 1 off, 2 on.
fn on(b: bool) -> i64 {
    if b {
        2
    } else {
        1
    }
}

/// The status object (§6.2) answering `command`, all 104 fields.
pub(crate) fn status_json(h: &Heater, command: u32) -> Value {
    let heating = h.heating;
    let heat_pump = heating.heat_pump;
    let dhw = h.dhw_raw();
    let ambient_deci = (h.ambient_c * 10.0).round() as i64;
    // The refrigerant circuit: hot gas above the tank while the compressor runs, the room otherwise.
    let (discharge, suction, evaporator) = if heat_pump {
        (h.tank_upper_deci() + 200, ambient_deci - 50, ambient_deci - 80)
    } else {
        (ambient_deci, ambient_deci, ambient_deci)
    };
    let (fan_rpm, fan_pwm, eev_step, super_heat) = if heat_pump { (1000, 60, 150, 50) } else { (0, 0, 0, 0) };
    let fan_hours = h.fan_hours();
    let set = h.setpoint;
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("command", json!(command));
    put("macAddress", json!(h.mac));
    put("temperatureType", json!(2));
    put("tempFormulaType", json!(1));
    put("errorCode", json!(h.error_code));
    put("subErrorCode", json!(0));
    put("minorCode", json!(0));
    put("specialFunctionStatus", json!(0));
    put("smartDiagnostic", json!(0));
    put("faultStatus1", json!(0));
    put("faultStatus2", json!(0));
    put("wifiRssi", json!(h.wifi_rssi));
    put("dhwChargePer", json!(h.charge_percent()));
    put("drEventStatus", json!(0));
    put("drOverrideStatus", json!(0));
    put("touStatus", json!(h.tou_status));
    put("touOverrideStatus", json!(2));
    put("vacationDaySetting", json!(h.vacation_days));
    put("vacationDayElapsed", json!(h.vacation_elapsed));
    put("antiLegionellaPeriod", json!(h.anti_legionella_period));
    put("programReservationType", json!(0));
    put("currentStatenum", json!(0));
    put("targetFanRpm", json!(fan_rpm));
    put("currentFanRpm", json!(fan_rpm));
    put("fanPwm", json!(fan_pwm));
    put("mixingRate", json!(0));
    put("eevStep", json!(eev_step));
    put("airFilterAlarmPeriod", json!(h.air_filter_period));
    put("airFilterAlarmElapsed", json!(fan_hours));
    put("cumulatedOpTimeEvaFan", json!(fan_hours));
    put("cumulatedDhwFlowRate", json!(h.delivered_litres as i64));
    put("totalEnergyCapacity", json!(h.total_energy()));
    put("availableEnergyCapacity", json!(h.available_energy()));
    put("recircOperationMode", json!(h.recirc_mode));
    put("recircPumpOperationStatus", json!(0));
    put("recircHotBtnReady", json!(0));
    put("recircOperationReason", json!(0));
    put("recircErrorStatus", json!(0));
    put("currentInstPower", json!(h.inst_power_w()));
    put("currentHeatUse", json!(h.current_heat_use()));
    put("operationMode", json!(h.operation_mode()));
    put("dhwOperationSetting", json!(h.mode));
    put("didReload", json!(1));
    // Freeze protection is what vacation heating is.
    put("freezeProtectionUse", json!(on(h.mode == 5 && heating.any())));
    put("dhwUse", json!(on(h.drawing())));
    put("dhwUseSustained", json!(on(h.draw_sustained())));
    put("dhwOperationBusy", json!(1));
    put("programReservationUse", json!(1));
    put("ecoUse", json!(1));
    put("eevUse", json!(on(heat_pump)));
    put("evaFanUse", json!(on(heat_pump)));
    put("shutOffValveUse", json!(1));
    put("conOvrSensorUse", json!(1));
    put("wtrOvrSensorUse", json!(1));
    put("errorBuzzerUse", json!(1));
    put("scaldUse", json!(1));
    put("recircOperationBusy", json!(1));
    put("operationBusy", json!(on(heating.any())));
    put("compUse", json!(on(heat_pump)));
    put("antiLegionellaUse", json!(h.anti_legionella_use));
    put("antiLegionellaOperationBusy", json!(1));
    put("heatUpperUse", json!(on(heating.upper)));
    put("heatLowerUse", json!(on(heating.lower)));
    // The alarm is armed unless its period is 0 (off).
    put("airFilterAlarmUse", json!(on(h.air_filter_period > 0)));
    put("recircReservationUse", json!(1));
    put("dhwTemperature", json!(dhw));
    put("dhwTemperatureSetting", json!(set));
    put("dhwTargetTemperatureSetting", json!(set));
    put("freezeProtectionTemperature", json!(FREEZE_PROTECTION));
    put("dhwTemperature2", json!(dhw));
    for k in [
        "hpUpperOnTempSetting",
        "hpUpperOffTempSetting",
        "hpLowerOnTempSetting",
        "hpLowerOffTempSetting",
        "heUpperOnTempSetting",
        "heUpperOffTempSetting",
        "heLowerOnTempSetting",
        "heLowerOffTempSetting",
    ] {
        put(k, json!(set));
    }
    put("heatMinOpTemperature", json!(95));
    put("recircTempSetting", json!(set));
    put("recircTemperature", json!(dhw));
    put("recircFaucetTemperature", json!(dhw));
    put("currentInletTemperature", json!(0));
    put("freezeProtectionTempMin", json!(FREEZE_PROTECTION_MIN));
    put("freezeProtectionTempMax", json!(FREEZE_PROTECTION_MAX));
    put("outsideTemperature", json!(h.outside_raw));
    put("tankUpperTemperature", json!(h.tank_upper_deci()));
    put("tankLowerTemperature", json!(h.tank_lower_deci()));
    put("dischargeTemperature", json!(discharge));
    put("suctionTemperature", json!(suction));
    put("evaporatorTemperature", json!(evaporator));
    put("ambientTemperature", json!(ambient_deci));
    for k in [
        "hpUpperOnDiffTempSetting",
        "hpUpperOffDiffTempSetting",
        "hpLowerOnDiffTempSetting",
        "hpLowerOffDiffTempSetting",
        "heUpperOnDiffTempSetting",
        "heUpperOffDiffTempSetting",
        // The device's own spelling: clients look for exactly this key.
        "heLowerOnTDiffempSetting",
        "heLowerOffDiffTempSetting",
    ] {
        put(k, json!(0));
    }
    put("targetSuperHeat", json!(50));
    put("currentSuperHeat", json!(super_heat));
    put("currentDhwFlowRate", json!(if h.drawing() { super::heater::DRAW_FLOW } else { 0 }));
    put("recircDhwFlowRate", json!(0));
    Value::Object(m)
}

/// The feature object (§5): a 65 gal unit without a recirculation pump.
pub(crate) fn feature_json(h: &Heater) -> Value {
    let mut f = json!({
        "countryCode": 3,
        "modelTypeCode": 513,
        "controlTypeCode": 100,
        "volumeCode": 2,
        "controllerSwVersion": CONTROLLER_SW_VERSION,
        "panelSwVersion": 0,
        "wifiSwVersion": WIFI_SW_VERSION,
        "controllerSwCode": 33_556_241,
        "panelSwCode": 0,
        "wifiSwCode": 268_435_985,
        "recircSwVersion": 0,
        "recircModelTypeCode": 0,
        "controllerSerialNumber": serial_number(h),
        "dhwTemperatureSettingUse": 2,
        "dhwTemperatureMin": SETPOINT_MIN,
        "dhwTemperatureMax": SETPOINT_MAX,
        "freezeProtectionTempMin": FREEZE_PROTECTION_MIN,
        "freezeProtectionTempMax": FREEZE_PROTECTION_MAX,
        "recircTemperatureMin": SETPOINT_MIN,
        "recircTemperatureMax": SETPOINT_MAX,
        "macAddress": h.mac,
        "temperatureType": 2,
        "tempFormulaType": 1,
    });
    // No recirculation pump, no smart diagnostics, no mixing valve, no refill, no Title 24.
    const UNSUPPORTED: [&str; 6] = [
        "smartDiagnosticUse",
        "mixingValueUse",
        "dhwRefillUse",
        "recirculationUse",
        "recircReservationUse",
        "title24Use",
    ];
    const SUPPORTED: [&str; 15] = [
        "powerUse",
        "holidayUse",
        "programReservationUse",
        "dhwUse",
        "wifiRssiUse",
        "energyUsageUse",
        "freezeProtectionUse",
        "drSettingUse",
        "antiLegionellaSettingUse",
        "hpwhUse",
        "ecoUse",
        "electricUse",
        "heatpumpUse",
        "energySaverUse",
        "highDemandUse",
    ];
    if let Some(obj) = f.as_object_mut() {
        for k in UNSUPPORTED {
            obj.insert(k.to_string(), json!(1));
        }
        for k in SUPPORTED {
            obj.insert(k.to_string(), json!(2));
        }
    }
    f
}

/// `controllerSerialNumber`: made from the MAC so that each heater has its own and it is stable.
fn serial_number(h: &Heater) -> String {
    let tail: String = h.mac.chars().rev().take(7).collect::<Vec<_>>().into_iter().rev().collect();
    format!("EMU{}", tail.to_ascii_uppercase())
}

/// `response` of a status reply: {command, deviceType, macAddress, additionalValue, status}.
pub(crate) fn status_response(h: &Heater, command: u32) -> Value {
    json!({
        "command": command,
        "deviceType": DEVICE_TYPE,
        "macAddress": h.mac,
        "additionalValue": h.additional_value,
        "status": status_json(h, command),
    })
}

/// `response` of a feature reply.
pub(crate) fn feature_response(h: &Heater, command: u32) -> Value {
    json!({
        "command": command,
        "deviceType": DEVICE_TYPE,
        "macAddress": h.mac,
        "additionalValue": h.additional_value,
        "feature": feature_json(h),
    })
}

/// The envelope keys a reply echoes from its request.
const ECHOED: [&str; 5] = ["clientID", "sessionID", "requestTopic", "responseTopic", "protocolVersion"];

/// A reply envelope: the request's clientID, sessionID, requestTopic, responseTopic and
/// protocolVersion (those it has), around `response`.
pub(crate) fn reply_json(request_envelope: &Value, response: Value) -> Value {
    let mut m = Map::new();
    for k in ECHOED {
        if let Some(v) = request_envelope.get(k) {
            m.insert(k.to_string(), v.clone());
        }
    }
    m.insert("response".to_string(), response);
    Value::Object(m)
}

/// Where `ctrl-fail` goes: the device's own topic, not the request's `responseTopic`.
pub(crate) fn ctrl_fail_topic(h: &Heater) -> String {
    format!("{}res/ctrl-fail", h.topic_base())
}

/// The `ctrl-fail` message for a refused control (§7): no `responseTopic`, no status.
pub(crate) fn ctrl_fail_json(request_envelope: &Value, h: &Heater, fail_code: u32) -> Value {
    let mut m = Map::new();
    for k in ["clientID", "sessionID", "protocolVersion", "requestTopic"] {
        if let Some(v) = request_envelope.get(k) {
            m.insert(k.to_string(), v.clone());
        }
    }
    m.insert(
        "response".to_string(),
        json!({
            "deviceType": DEVICE_TYPE,
            "macAddress": h.mac,
            "additionalValue": h.additional_value,
            "failCode": fail_code,
            "swVersion": CONTROLLER_SW_VERSION,
        }),
    );
    Value::Object(m)
}

#[cfg(test)]
#[path = "heater_status_tests.rs"]
mod tests;
