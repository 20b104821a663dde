//! The status, feature and reply JSON, checked the way a strict client checks them.

use super::*;
use crate::navien::cloud::heater_control::{code, test_request};
use std::collections::BTreeSet;

const MAC: &str = "04786332fca0";

/// §6.2, in its order, typed out here rather than taken from the builder.
const FIELDS: [&str; 104] = [
    "command",
    "macAddress",
    "temperatureType",
    "tempFormulaType",
    "errorCode",
    "subErrorCode",
    "minorCode",
    "specialFunctionStatus",
    "smartDiagnostic",
    "faultStatus1",
    "faultStatus2",
    "wifiRssi",
    "dhwChargePer",
    "drEventStatus",
    "drOverrideStatus",
    "touStatus",
    "touOverrideStatus",
    "vacationDaySetting",
    "vacationDayElapsed",
    "antiLegionellaPeriod",
    "programReservationType",
    "currentStatenum",
    "targetFanRpm",
    "currentFanRpm",
    "fanPwm",
    "mixingRate",
    "eevStep",
    "airFilterAlarmPeriod",
    "airFilterAlarmElapsed",
    "cumulatedOpTimeEvaFan",
    "cumulatedDhwFlowRate",
    "totalEnergyCapacity",
    "availableEnergyCapacity",
    "recircOperationMode",
    "recircPumpOperationStatus",
    "recircHotBtnReady",
    "recircOperationReason",
    "recircErrorStatus",
    "currentInstPower",
    "currentHeatUse",
    "operationMode",
    "dhwOperationSetting",
    "didReload",
    "freezeProtectionUse",
    "dhwUse",
    "dhwUseSustained",
    "dhwOperationBusy",
    "programReservationUse",
    "ecoUse",
    "eevUse",
    "evaFanUse",
    "shutOffValveUse",
    "conOvrSensorUse",
    "wtrOvrSensorUse",
    "errorBuzzerUse",
    "scaldUse",
    "recircOperationBusy",
    "operationBusy",
    "compUse",
    "antiLegionellaUse",
    "antiLegionellaOperationBusy",
    "heatUpperUse",
    "heatLowerUse",
    "airFilterAlarmUse",
    "recircReservationUse",
    "dhwTemperature",
    "dhwTemperatureSetting",
    "dhwTargetTemperatureSetting",
    "freezeProtectionTemperature",
    "dhwTemperature2",
    "hpUpperOnTempSetting",
    "hpUpperOffTempSetting",
    "hpLowerOnTempSetting",
    "hpLowerOffTempSetting",
    "heUpperOnTempSetting",
    "heUpperOffTempSetting",
    "heLowerOnTempSetting",
    "heLowerOffTempSetting",
    "heatMinOpTemperature",
    "recircTempSetting",
    "recircTemperature",
    "recircFaucetTemperature",
    "currentInletTemperature",
    "freezeProtectionTempMin",
    "freezeProtectionTempMax",
    "outsideTemperature",
    "tankUpperTemperature",
    "tankLowerTemperature",
    "dischargeTemperature",
    "suctionTemperature",
    "evaporatorTemperature",
    "ambientTemperature",
    "hpUpperOnDiffTempSetting",
    "hpUpperOffDiffTempSetting",
    "hpLowerOnDiffTempSetting",
    "hpLowerOffDiffTempSetting",
    "heUpperOnDiffTempSetting",
    "heUpperOffDiffTempSetting",
    "heLowerOnTDiffempSetting",
    "heLowerOffDiffTempSetting",
    "targetSuperHeat",
    "currentSuperHeat",
    "currentDhwFlowRate",
    "recircDhwFlowRate",
];

const FLAGS: [&str; 15] = [
    "didReload",
    "freezeProtectionUse",
    "dhwUse",
    "dhwUseSustained",
    "dhwOperationBusy",
    "programReservationUse",
    "ecoUse",
    "eevUse",
    "evaFanUse",
    "shutOffValveUse",
    "conOvrSensorUse",
    "wtrOvrSensorUse",
    "errorBuzzerUse",
    "scaldUse",
    "recircOperationBusy",
];

const TRIS: [&str; 9] = [
    "drOverrideStatus",
    "operationBusy",
    "compUse",
    "antiLegionellaUse",
    "antiLegionellaOperationBusy",
    "heatUpperUse",
    "heatLowerUse",
    "airFilterAlarmUse",
    "recircReservationUse",
];

/// §6.4.
const ERROR_CODES: [i64; 33] = [
    0, 96, 97, 326, 407, 445, 480, 481, 515, 517, 593, 594, 595, 596, 598, 615, 781, 798, 799, 901, 907, 908, 909, 910, 911, 912, 913, 914,
    915, 916, 920, 940, 990,
];

fn heater() -> Heater {
    Heater::new(MAC, "5322", "Water heater")
}

/// Every check a strict client makes, and the §4.5 physics rules, on one status.
fn assert_valid(s: &Value) {
    let obj = s.as_object().expect("an object");
    for (k, v) in obj {
        if k != "macAddress" {
            assert!(v.is_i64(), "{k} = {v} is not a JSON integer");
        }
    }
    let get = |k: &str| s[k].as_i64().unwrap_or_else(|| panic!("{k} missing"));
    let within = |k: &str, ok: &dyn Fn(i64) -> bool| assert!(ok(get(k)), "{k} = {} is not valid in {s}", get(k));
    within("operationMode", &|v| [0, 32, 64, 96].contains(&v));
    within("dhwOperationSetting", &|v| (0..=6).contains(&v));
    within("currentHeatUse", &|v| (0..=3).contains(&v));
    within("recircOperationMode", &|v| (0..=4).contains(&v));
    within("drEventStatus", &|v| (0..=6).contains(&v));
    within("temperatureType", &|v| (1..=2).contains(&v));
    within("tempFormulaType", &|v| (0..=1).contains(&v));
    within("errorCode", &|v| ERROR_CODES.contains(&v));
    within("touStatus", &|v| (0..=1).contains(&v));
    within("touOverrideStatus", &|v| (1..=2).contains(&v));
    within("vacationDaySetting", &|v| (0..=99).contains(&v));
    within("antiLegionellaPeriod", &|v| (1..=30).contains(&v));
    within("airFilterAlarmPeriod", &|v| v == 0 || (1000..=10000).contains(&v));
    within("dhwChargePer", &|v| (0..=100).contains(&v));
    within("dhwTemperatureSetting", &|v| (81..=131).contains(&v));
    for k in FLAGS.iter().chain(TRIS.iter()) {
        within(k, &|v| (0..=2).contains(&v));
    }
    assert_eq!(get("dhwTemperatureSetting"), get("dhwTargetTemperatureSetting"));
    // dhwTemperature (half-°C) and tankUpperTemperature (deci-°C) within 0.5 °C.
    assert!((get("dhwTemperature") * 5 - get("tankUpperTemperature")).abs() <= 5, "{s}");
    assert!(get("availableEnergyCapacity") <= get("totalEnergyCapacity"));
    if get("dhwTemperature") >= get("dhwTemperatureSetting") {
        assert_eq!(get("availableEnergyCapacity"), 0, "at the setpoint");
    }
    // What is heating, told five ways, agrees.
    let use_ = get("currentHeatUse");
    let heat_pump = use_ == 1 || use_ == 3;
    let elements = (get("heatUpperUse") == 2) as i64 + (get("heatLowerUse") == 2) as i64;
    assert_eq!(get("compUse") == 2, heat_pump, "compUse vs currentHeatUse in {s}");
    assert_eq!(elements > 0, use_ >= 2, "elements vs currentHeatUse in {s}");
    assert_eq!(get("operationBusy") == 2, use_ != 0);
    let op = get("operationMode");
    match (heat_pump, elements > 0) {
        (false, false) => assert_eq!(op, 0),
        (_, true) => assert_eq!(op, 96),
        (true, false) if get("dhwOperationSetting") == 3 => assert_eq!(op, 64),
        (true, false) => assert_eq!(op, 32),
    }
    let power = get("currentInstPower") - elements * super::super::heater::ELEMENT_W;
    if heat_pump {
        assert!((200..1000).contains(&power), "a few hundred W on the heat pump: {power}");
    } else {
        assert_eq!(power, 0, "elements only, or idle");
    }
    if get("dhwOperationSetting") == 6 {
        assert_eq!(use_, 0, "off never heats");
    }
    if get("dhwOperationSetting") == 1 {
        assert_eq!(elements, 0, "heat pump mode never uses an element");
    }
}

#[test]
fn the_status_has_exactly_the_104_fields_of_the_protocol() {
    let s = status_json(&heater(), code::STATUS);
    let got: BTreeSet<&str> = s.as_object().expect("object").keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = FIELDS.into_iter().collect();
    assert_eq!(want.len(), 104);
    assert_eq!(got, want);
    assert!(
        !got.contains("heLowerOnDiffTempSetting"),
        "the corrected spelling counts as missing"
    );
    assert_eq!(s["command"], code::STATUS);
    assert_eq!(s["macAddress"], MAC);
    assert_valid(&s);
}

#[test]
fn every_value_stays_valid_across_hours_of_every_mode_with_draws() {
    let mut seed: u64 = 7;
    let mut roll = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut h = heater();
    let mut seen_ops = BTreeSet::new();
    let mut seen_uses = BTreeSet::new();
    for round in 0..12 {
        // Each mode in turn, with a new setpoint and now and then a cold start.
        let mode = [1, 2, 3, 4, 5, 6][round % 6];
        let (topic, env) = if mode == 5 {
            test_request(MAC, "ctrl", code::DHW_MODE, Some(("dhw-mode", &[5, 3])))
        } else {
            test_request(MAC, "ctrl", code::DHW_MODE, Some(("dhw-mode", &[mode])))
        };
        h.apply(&topic, &env);
        let setpoint = 81 + roll(51) as i64;
        let (topic, env) = test_request(MAC, "ctrl", code::DHW_TEMPERATURE, Some(("dhw-temperature", &[setpoint])));
        h.apply(&topic, &env);
        if round % 4 == 0 {
            h.tank_c = 12.0;
        }
        for second in 0..1800 {
            let was = h.heating;
            h.tick(1.0, roll(1000) < 40);
            // Every change of what heats, and every third second besides (a full check of each
            // second takes seconds in a debug build).
            if h.heating == was && second % 3 != 0 {
                continue;
            }
            let s = status_json(&h, code::STATUS);
            assert_eq!(s.as_object().map(|o| o.len()), Some(104));
            assert_valid(&s);
            seen_ops.insert(h.operation_mode());
            seen_uses.insert(h.current_heat_use());
        }
    }
    assert_eq!(seen_ops, BTreeSet::from([0, 32, 64, 96]), "every operation mode was exercised");
    assert_eq!(seen_uses, BTreeSet::from([0, 1, 2, 3]));
}

#[test]
fn dhw_temperature_tracks_the_upper_tank_sensor_within_half_a_degree() {
    let mut h = heater();
    for tenth in 0..600 {
        h.tank_c = 10.0 + tenth as f64 * 0.0917;
        let s = status_json(&h, code::STATUS);
        let half_c = s["dhwTemperature"].as_i64().unwrap_or_default() as f64 / 2.0;
        let deci_c = s["tankUpperTemperature"].as_i64().unwrap_or_default() as f64 / 10.0;
        assert!((half_c - deci_c).abs() <= 0.5, "{half_c} vs {deci_c}");
        assert_eq!(s["dhwTemperature2"], s["dhwTemperature"]);
    }
}

#[test]
fn available_energy_is_zero_at_the_setpoint_and_grows_as_the_tank_cools() {
    let mut h = heater();
    let at = |h: &Heater| status_json(h, code::STATUS);
    assert_eq!(at(&h)["availableEnergyCapacity"], 0);
    assert_eq!(at(&h)["dhwChargePer"], 100);
    let mut last = 0;
    for _ in 0..10 {
        h.tank_c -= 2.0;
        let s = at(&h);
        let available = s["availableEnergyCapacity"].as_i64().unwrap_or_default();
        assert!(available > last, "{available} after {last}");
        last = available;
    }
    assert!(at(&h)["dhwChargePer"].as_i64().unwrap_or(100) < 100);
    // Heated back, it reads 0 again.
    for _ in 0..600 {
        h.tick(1.0, false);
        if !h.heating.any() {
            break;
        }
    }
    assert_eq!(at(&h)["dhwTemperature"], at(&h)["dhwTemperatureSetting"]);
    assert_eq!(at(&h)["availableEnergyCapacity"], 0);
    assert_eq!(at(&h)["dhwChargePer"], 100);
    assert!(at(&h)["totalEnergyCapacity"].as_i64().unwrap_or_default() > 1000);
}

#[test]
fn the_feature_object_has_every_field_and_the_emulators_default_flags() {
    let f = feature_json(&heater());
    let ints = [
        "countryCode",
        "modelTypeCode",
        "controlTypeCode",
        "volumeCode",
        "controllerSwVersion",
        "panelSwVersion",
        "wifiSwVersion",
        "controllerSwCode",
        "panelSwCode",
        "wifiSwCode",
        "recircSwVersion",
        "recircModelTypeCode",
        "dhwTemperatureSettingUse",
        "dhwTemperatureMin",
        "dhwTemperatureMax",
        "freezeProtectionTempMin",
        "freezeProtectionTempMax",
        "recircTemperatureMin",
        "recircTemperatureMax",
        "temperatureType",
        "tempFormulaType",
    ];
    for k in ints {
        assert!(f[k].is_i64(), "{k} missing or not an integer");
    }
    assert!(f["controllerSerialNumber"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(f["macAddress"], MAC);
    assert_eq!(
        (f["dhwTemperatureMin"].as_i64(), f["dhwTemperatureMax"].as_i64()),
        (Some(81), Some(131))
    );
    assert_eq!(
        (f["freezeProtectionTempMin"].as_i64(), f["freezeProtectionTempMax"].as_i64()),
        (Some(12), Some(20))
    );
    assert_eq!(f["dhwTemperatureSettingUse"], 2);
    assert!([1, 2, 3].contains(&f["volumeCode"].as_i64().unwrap_or_default()));
    assert_eq!((f["countryCode"].as_i64(), f["modelTypeCode"].as_i64()), (Some(3), Some(513)));
    let not_supported = [
        "smartDiagnosticUse",
        "mixingValueUse",
        "dhwRefillUse",
        "recirculationUse",
        "recircReservationUse",
        "title24Use",
    ];
    let supported = [
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
    for k in not_supported {
        assert_eq!(f[k], 1, "{k}");
    }
    for k in supported {
        assert_eq!(f[k], 2, "{k}");
    }
    assert_eq!(
        f.as_object().map(|o| o.len()),
        Some(ints.len() + 2 + not_supported.len() + supported.len())
    );
}

#[test]
fn the_reply_echoes_the_envelope_and_the_command() {
    let mut h = heater();
    let (topic, env) = test_request(MAC, "ctrl", code::DHW_TEMPERATURE, Some(("dhw-temperature", &[110])));
    h.apply(&topic, &env);
    let reply = reply_json(&env, status_response(&h, code::DHW_TEMPERATURE));
    for k in ["clientID", "sessionID", "requestTopic", "responseTopic", "protocolVersion"] {
        assert_eq!(reply[k], env[k], "{k}");
    }
    assert!(reply.get("request").is_none());
    let r = &reply["response"];
    assert_eq!(r["command"], code::DHW_TEMPERATURE);
    assert_eq!(r["deviceType"], 52);
    assert_eq!(r["macAddress"], MAC);
    assert_eq!(r["additionalValue"], "5322");
    assert_eq!(r["status"]["command"], code::DHW_TEMPERATURE);
    assert_eq!(r["status"]["dhwTemperatureSetting"], 110);
    // The reply reads back through Tether's own status parser.
    let parsed = crate::navien::decode_status(reply.to_string().as_bytes()).expect("parses");
    assert_eq!(parsed.dhw_temperature_setting, 110);

    let (_, query) = test_request(MAC, "st/did", code::FEATURE, None);
    let feature = reply_json(&query, feature_response(&h, code::FEATURE));
    assert_eq!(feature["response"]["command"], code::FEATURE);
    assert_eq!(feature["response"]["feature"]["dhwTemperatureMax"], 131);
    assert_eq!(feature["requestTopic"], query["requestTopic"]);
}

#[test]
fn ctrl_fail_goes_to_the_devices_own_topic_with_fail_code_2() {
    let h = heater();
    let (_, env) = test_request(MAC, "ctrl", code::DHW_TEMPERATURE, Some(("dhw-temperature", &[110])));
    assert_eq!(ctrl_fail_topic(&h), "cmd/52/navilink-04786332fca0/res/ctrl-fail");
    let m = ctrl_fail_json(&env, &h, 2);
    assert_eq!(m["clientID"], env["clientID"]);
    assert_eq!(m["requestTopic"], env["requestTopic"]);
    assert!(m.get("responseTopic").is_none());
    assert_eq!(m["response"]["failCode"], 2);
    assert_eq!(m["response"]["macAddress"], MAC);
    assert!(m["response"]["swVersion"].is_i64());
    assert!(m["response"].get("status").is_none(), "no status follows a refused control");
}
