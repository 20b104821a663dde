use super::*;
use serde_json::json;

fn features() -> Features {
    Features::from_reply(&json!({"response": {"feature": {
        "dhwTemperatureSettingUse": 2, "dhwTemperatureMin": 81, "dhwTemperatureMax": 131,
        "powerUse": 2, "dhwUse": 2, "holidayUse": 2, "antiLegionellaSettingUse": 2
    }}}))
    .unwrap()
}

#[test]
fn features_are_found_where_the_reference_client_looks_and_missing_flags_mean_unsupported() {
    let f = json!({"dhwTemperatureSettingUse": 3, "powerUse": 1});
    for wrapped in [
        json!({"response": {"feature": f.clone()}}),
        json!({"response": {"did": f.clone()}}),
        json!({"feature": f.clone()}),
        json!({"did": f.clone()}),
    ] {
        let got = Features::from_reply(&wrapped).unwrap();
        assert_eq!(got.dhw_temperature_setting_use, 3);
        assert!(!got.power_use && !got.dhw_use, "1 and absent are both unsupported");
    }
    assert_eq!(Features::from_reply(&json!({"response": {"status": {}}})), None);
}

#[test]
fn a_setpoint_in_fahrenheit_is_sent_in_half_degrees_celsius() {
    let f = features();
    assert_eq!(Command::SetpointF(140.0).encode(&f).unwrap().param, vec![120]);
    // 125 °F = 51.67 °C → 103.3 half-°C → 103.
    let e = Command::SetpointF(125.0).encode(&f).unwrap();
    assert_eq!((e.code, e.mode, e.param), (33554464, "dhw-temperature", vec![103]));
    // The limits are inclusive: 81 (104.9 °F) and 131 (149.9 °F).
    assert!(Command::SetpointF(104.9).encode(&f).is_ok());
    assert!(Command::SetpointF(149.9).encode(&f).is_ok());
}

#[test]
fn a_setpoint_outside_the_features_range_is_refused_with_the_range() {
    let e = Command::SetpointF(160.0).encode(&features()).unwrap_err();
    assert_eq!(e.to_string(), "160 °F is outside the heater's setpoint range of 105-150 °F");
    assert!(Command::SetpointF(f64::NAN).encode(&features()).is_err());
}

#[test]
fn a_command_the_features_do_not_allow_is_not_sent() {
    let none = Features::default();
    for c in [
        Command::SetpointF(120.0),
        Command::Mode(Mode::HeatPump),
        Command::Power(false),
        Command::AntiLegionella(Some(7)),
    ] {
        assert!(matches!(c.encode(&none), Err(CommandError::Unsupported(_))), "{c:?}");
    }
}

#[test]
fn modes_vacation_power_and_anti_legionella_encode_as_the_protocol_says() {
    let f = features();
    let enc = |c: Command| {
        let e = c.encode(&f).unwrap();
        (e.code, e.mode, e.param)
    };
    assert_eq!(enc(Command::Mode(Mode::HighDemand)), (33554437, "dhw-mode", vec![4]));
    assert_eq!(enc(Command::Vacation { days: 14 }), (33554437, "dhw-mode", vec![5, 14]));
    assert_eq!(enc(Command::Power(false)), (33554433, "power-off", vec![]));
    assert_eq!(enc(Command::Power(true)), (33554434, "power-on", vec![]));
    assert_eq!(enc(Command::AntiLegionella(Some(7))), (33554472, "anti-leg-on", vec![7]));
    assert_eq!(enc(Command::AntiLegionella(None)), (33554471, "anti-leg-off", vec![]));
    assert!(Command::Vacation { days: 0 }.encode(&f).is_err());
    assert!(Command::Vacation { days: 100 }.encode(&f).is_err());
    assert!(Command::AntiLegionella(Some(31)).encode(&f).is_err());
    assert_eq!("high-demand".parse::<Mode>(), Ok(Mode::HighDemand));
    assert!("turbo".parse::<Mode>().unwrap_err().contains("heat_pump"));
}

#[test]
fn the_request_envelope_carries_the_control_and_the_reply_topic() {
    let t = Topics::new("04786332fca0", "navien-client-1a2b3c4d");
    let r = Command::SetpointF(140.0)
        .request(&features(), &t, "s", "04786332fca0", "5322")
        .unwrap();
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["requestTopic"], "cmd/52/navilink-04786332fca0/ctrl");
    assert_eq!(v["responseTopic"], "cmd/52/navilink-04786332fca0/navien-client-1a2b3c4d/res");
    assert_eq!(v["request"]["param"], json!([120]));
    assert_eq!(v["request"]["paramStr"], "");
}

#[test]
fn a_status_confirms_a_command_only_when_it_shows_it_done() {
    let s = json!({"dhwTemperatureSetting": 103, "dhwOperationSetting": 5, "vacationDaySetting": 14,
                   "antiLegionellaUse": 2, "antiLegionellaPeriod": 7});
    assert!(Command::SetpointF(125.0).confirmed_by(&s));
    assert!(!Command::SetpointF(126.0).confirmed_by(&s));
    assert!(Command::Vacation { days: 14 }.confirmed_by(&s));
    assert!(!Command::Vacation { days: 7 }.confirmed_by(&s));
    assert!(Command::Power(true).confirmed_by(&s));
    assert!(!Command::Power(false).confirmed_by(&s));
    assert!(Command::AntiLegionella(Some(7)).confirmed_by(&s));
    assert!(!Command::AntiLegionella(None).confirmed_by(&s));
    assert!(
        !Command::Mode(Mode::HeatPump).confirmed_by(&json!({})),
        "a missing field confirms nothing"
    );
}
