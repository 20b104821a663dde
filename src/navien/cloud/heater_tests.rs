//! The heater's physics under simulated seconds, and each row of the §4.5 table.

use super::*;
use crate::navien::cloud::heater_control::{code, test_request, Reply};
use crate::navien::cloud::heater_status::status_json;
use serde_json::{json, Value};

const MAC: &str = "04786332fca0";

fn heater() -> Heater {
    Heater::new(MAC, "5322", "Water heater")
}

/// Send one control and return what the heater answered.
fn control(h: &mut Heater, command: u32, mode: &str, param: &[i64]) -> Reply {
    let (topic, env) = test_request(MAC, "ctrl", command, Some((mode, param)));
    h.apply(&topic, &env)
}

fn status(h: &Heater) -> Value {
    status_json(h, code::STATUS)
}

/// A deterministic coin: draws at fixed pseudo-random seconds, so failures reproduce.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, chance_in_1000: u64) -> bool {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % 1000 < chance_in_1000
    }
}

#[test]
fn a_new_heater_is_idle_at_its_120_f_setpoint_in_energy_saver() {
    let h = heater();
    assert_eq!(h.setpoint, 98, "120 °F");
    assert_eq!(h.mode, 3);
    assert_eq!(h.dhw_raw(), h.setpoint);
    assert_eq!(h.available_energy(), 0);
    assert_eq!(h.charge_percent(), 100);
    assert_eq!(h.current_heat_use(), 0);
    assert_eq!(h.error_code, 0);
    assert_eq!(h.request_topics()[0], "cmd/52/navilink-04786332fca0/st");
}

#[test]
fn a_draw_cools_the_tank_and_the_heat_pump_brings_it_back_to_the_setpoint() {
    let mut h = heater();
    let start = h.dhw_raw();
    h.tick(1.0, true);
    for _ in 0..19 {
        h.tick(1.0, false);
    }
    assert!(h.dhw_raw() < start - 4, "{start} → {}", h.dhw_raw());
    assert!(h.available_energy() > 0);
    assert!(h.charge_percent() < 100);
    assert!(h.heating.heat_pump && h.inst_power_w() > 0, "heating after the draw");
    assert_eq!(h.operation_mode(), 64, "energy saver on its heat pump");
    let mut warmest = 0;
    for _ in 0..120 {
        h.tick(1.0, false);
        warmest = warmest.max(h.dhw_raw());
    }
    assert_eq!(warmest, h.setpoint, "heated back to the setpoint, not past it");
    assert!(!h.heating.any());
    assert_eq!(h.inst_power_w(), 0, "idle once there");
}

#[test]
fn off_mode_never_heats_however_cold_the_tank_gets() {
    let mut h = heater();
    control(&mut h, code::POWER_OFF, "power-off", &[]);
    let mut dice = Dice(1);
    for _ in 0..7200 {
        h.tick(1.0, dice.roll(30));
        assert!(!h.heating.any(), "heating while off at {} °C", h.tank_c);
        assert_eq!(h.inst_power_w(), 0);
    }
    assert!(h.tank_c < 30.0, "the tank cooled: {} °C", h.tank_c);
}

#[test]
fn heat_pump_mode_never_turns_an_element_on() {
    let mut h = heater();
    control(&mut h, code::DHW_MODE, "dhw-mode", &[1]);
    control(&mut h, code::DHW_TEMPERATURE, "dhw-temperature", &[SETPOINT_MAX]);
    h.tank_c = 15.0;
    let mut dice = Dice(2);
    let mut heated = false;
    for _ in 0..7200 {
        h.tick(1.0, dice.roll(50));
        assert_eq!(h.heating.elements(), 0, "an element at {} °C", h.tank_c);
        heated |= h.heating.heat_pump;
        if h.heating.heat_pump {
            assert_eq!(h.operation_mode(), 32);
            assert!((100..1000).contains(&h.inst_power_w()), "a few hundred W: {}", h.inst_power_w());
        }
    }
    assert!(heated);
}

#[test]
fn electric_mode_uses_one_element_at_a_time_and_never_the_heat_pump() {
    let mut h = heater();
    control(&mut h, code::DHW_MODE, "dhw-mode", &[2]);
    h.tank_c = 20.0;
    let mut upper = false;
    let mut lower = false;
    for _ in 0..600 {
        h.tick(1.0, false);
        assert!(!h.heating.heat_pump);
        assert!(h.heating.elements() <= 1);
        upper |= h.heating.upper;
        lower |= h.heating.lower;
        if h.heating.any() {
            assert_eq!((h.current_heat_use(), h.operation_mode(), h.inst_power_w()), (2, 96, ELEMENT_W));
        }
    }
    assert!(upper && lower, "the upper element far below, then the lower one");
    assert!(h.dhw_raw() >= h.setpoint - 2, "held within the hysteresis: {}", h.dhw_raw());
}

#[test]
fn energy_saver_adds_the_upper_element_only_far_below_the_setpoint() {
    let mut h = heater();
    h.tank_c = h.setpoint as f64 / 2.0 - 20.0;
    h.tick(1.0, false);
    assert_eq!(
        h.heating,
        Heating {
            heat_pump: true,
            upper: true,
            lower: false
        }
    );
    assert_eq!((h.current_heat_use(), h.operation_mode()), (3, 96));
    assert_eq!(h.inst_power_w(), (300.0 + 2.7 * h.tank_c).round() as i64 + ELEMENT_W);
    for _ in 0..600 {
        // The decision is taken at the start of the second (the standby loss of that second
        // aside): judge it by the tank before the tick.
        let deficit = h.setpoint as f64 / 2.0 - h.tank_c;
        h.tick(1.0, false);
        if deficit < BOOST_BELOW_C - 0.1 {
            assert_eq!(h.heating.elements(), 0, "the heat pump alone near the setpoint");
        }
    }
    assert!(h.dhw_raw() >= h.setpoint - 2, "held within the hysteresis: {}", h.dhw_raw());
}

#[test]
fn high_demand_runs_the_heat_pump_and_an_element_together() {
    let mut h = heater();
    control(&mut h, code::DHW_MODE, "dhw-mode", &[4]);
    h.tank_c -= 3.0;
    h.tick(1.0, false);
    assert_eq!(
        h.heating,
        Heating {
            heat_pump: true,
            upper: false,
            lower: true
        }
    );
    assert_eq!((h.current_heat_use(), h.operation_mode()), (3, 96));
}

#[test]
fn vacation_only_keeps_the_tank_from_freezing_and_ends_after_its_days() {
    let mut h = heater();
    control(&mut h, code::DHW_MODE, "dhw-mode", &[1]);
    control(&mut h, code::DHW_MODE, "dhw-mode", &[5, 2]);
    h.tick(6.0 * 3600.0, false);
    assert!(!h.heating.any(), "no heating above freezing");
    assert!(h.tank_c < 40.0, "cooling towards the room: {} °C", h.tank_c);
    // A cold garage: the heat pump holds the freeze-protection temperature.
    h.ambient_c = 0.0;
    h.tank_c = 4.0;
    h.tick(1.0, false);
    assert!(h.heating.heat_pump && h.heating.elements() == 0);
    assert_eq!(h.operation_mode(), 32);
    h.ambient_c = 21.0;
    h.tick(18.0 * 3600.0, false);
    assert_eq!((h.mode, h.vacation_elapsed), (5, 1), "one day gone");
    h.tick(24.0 * 3600.0, false);
    assert_eq!(h.mode, 1, "back to the mode before the vacation");
}

#[test]
fn odd_tick_lengths_are_harmless() {
    let mut h = heater();
    let before = h.clone();
    for dt in [0.0, -5.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        h.tick(dt, false);
    }
    assert_eq!(h, before, "no time passed");
    h.tick(1e12, true);
    assert!(h.tank_c >= INLET_C);
}

#[test]
fn a_setpoint_sets_both_setting_fields_in_this_and_every_later_status() {
    let mut h = heater();
    let reply = control(&mut h, code::DHW_TEMPERATURE, "dhw-temperature", &[110]);
    assert_eq!(
        reply,
        Reply::Status {
            command: code::DHW_TEMPERATURE,
            refused: None
        }
    );
    for _ in 0..3 {
        let s = status(&h);
        assert_eq!(
            (s["dhwTemperatureSetting"].as_i64(), s["dhwTargetTemperatureSetting"].as_i64()),
            (Some(110), Some(110))
        );
        h.tick(1.0, false);
    }
    assert!(h.heating.heat_pump, "a higher setpoint starts heating");
}

#[test]
fn a_setpoint_outside_81_to_131_changes_nothing_but_is_still_answered() {
    let mut h = heater();
    for v in [80, 132, 0, -1, 1000] {
        let before = h.clone();
        let reply = control(&mut h, code::DHW_TEMPERATURE, "dhw-temperature", &[v]);
        assert!(
            matches!(
                reply,
                Reply::Status {
                    command: code::DHW_TEMPERATURE,
                    refused: Some(_)
                }
            ),
            "{v}: {reply:?}"
        );
        assert_eq!(h, before, "{v}");
    }
    for v in [SETPOINT_MIN, SETPOINT_MAX] {
        control(&mut h, code::DHW_TEMPERATURE, "dhw-temperature", &[v]);
        assert_eq!(h.setpoint, v, "the limits are inclusive");
    }
}

#[test]
fn a_dhw_mode_sets_the_operation_setting() {
    let mut h = heater();
    for m in 1..=4 {
        assert_eq!(
            control(&mut h, code::DHW_MODE, "dhw-mode", &[m]),
            Reply::Status {
                command: code::DHW_MODE,
                refused: None
            }
        );
        assert_eq!(status(&h)["dhwOperationSetting"], m);
    }
    for bad in [vec![0], vec![7], vec![5], vec![5, 0], vec![5, 100], vec![]] {
        let reply = control(&mut h, code::DHW_MODE, "dhw-mode", &bad);
        assert!(matches!(reply, Reply::Status { refused: Some(_), .. }), "{bad:?}");
        assert_eq!(h.mode, 4, "{bad:?} changes nothing");
    }
}

#[test]
fn vacation_sets_its_days_and_restarts_the_elapsed_count() {
    let mut h = heater();
    h.vacation_elapsed = 3;
    control(&mut h, code::DHW_MODE, "dhw-mode", &[5, 14]);
    let s = status(&h);
    assert_eq!(s["dhwOperationSetting"], 5);
    assert_eq!(s["vacationDaySetting"], 14);
    assert_eq!(s["vacationDayElapsed"], 0);
}

#[test]
fn mode_6_acts_as_power_off_and_power_on_goes_back_to_the_previous_mode() {
    let mut h = heater();
    control(&mut h, code::DHW_MODE, "dhw-mode", &[4]);
    control(&mut h, code::DHW_MODE, "dhw-mode", &[6]);
    assert_eq!(status(&h)["dhwOperationSetting"], 6);
    control(&mut h, code::POWER_ON, "power-on", &[]);
    assert_eq!(status(&h)["dhwOperationSetting"], 4);
}

#[test]
fn power_off_and_power_on_remember_the_mode_even_when_repeated() {
    let mut h = heater();
    control(&mut h, code::DHW_MODE, "dhw-mode", &[2]);
    control(&mut h, code::POWER_OFF, "power-off", &[]);
    control(&mut h, code::POWER_OFF, "power-off", &[]);
    assert_eq!(h.mode, 6);
    control(&mut h, code::POWER_ON, "power-on", &[]);
    control(&mut h, code::POWER_ON, "power-on", &[]);
    assert_eq!(h.mode, 2, "a second off does not forget the mode; a second on changes nothing");
}

#[test]
fn goout_day_sets_the_vacation_days_and_keeps_the_mode() {
    let mut h = heater();
    control(&mut h, code::GOOUT_DAY, "goout-day", &[30]);
    let s = status(&h);
    assert_eq!(
        (s["vacationDaySetting"].as_i64(), s["dhwOperationSetting"].as_i64()),
        (Some(30), Some(3))
    );
    assert!(matches!(
        control(&mut h, code::GOOUT_DAY, "goout-day", &[100]),
        Reply::Status { refused: Some(_), .. }
    ));
    assert_eq!(h.vacation_days, 30);
}

#[test]
fn anti_legionella_on_sets_use_and_period_and_off_clears_the_use() {
    let mut h = heater();
    control(&mut h, code::ANTI_LEG_ON, "anti-leg-on", &[14]);
    let s = status(&h);
    assert_eq!(
        (s["antiLegionellaUse"].as_i64(), s["antiLegionellaPeriod"].as_i64()),
        (Some(2), Some(14))
    );
    control(&mut h, code::ANTI_LEG_OFF, "anti-leg-off", &[]);
    assert_eq!(status(&h)["antiLegionellaUse"], 1);
    assert!(matches!(
        control(&mut h, code::ANTI_LEG_ON, "anti-leg-on", &[31]),
        Reply::Status { refused: Some(_), .. }
    ));
    assert_eq!((h.anti_legionella_use, h.anti_legionella_period), (1, 14));
}

#[test]
fn tou_on_and_off_set_tou_status() {
    let mut h = heater();
    control(&mut h, code::TOU_ON, "tou-on", &[]);
    assert_eq!(status(&h)["touStatus"], 1);
    control(&mut h, code::TOU_OFF, "tou-off", &[]);
    assert_eq!(status(&h)["touStatus"], 0);
}

#[test]
fn recirc_mode_sets_the_recirc_operation_mode() {
    let mut h = heater();
    control(&mut h, code::RECIRC_MODE, "recirc-mode", &[3]);
    assert_eq!(status(&h)["recircOperationMode"], 3);
    control(&mut h, code::RECIRC_MODE, "recirc-mode", &[5]);
    assert_eq!(h.recirc_mode, 3, "5 is not a recirc mode");
}

#[test]
fn air_filter_life_sets_the_alarm_period_and_reset_clears_the_fan_time() {
    let mut h = heater();
    control(&mut h, code::AIR_FILTER_LIFE, "air-filter-life", &[4]);
    assert_eq!(status(&h)["airFilterAlarmPeriod"], 2000);
    control(&mut h, code::AIR_FILTER_LIFE, "air-filter-life", &[0]);
    assert_eq!(status(&h)["airFilterAlarmPeriod"], 0);
    control(&mut h, code::AIR_FILTER_LIFE, "air-filter-life", &[1]);
    assert_eq!(h.air_filter_period, 0, "1 × 500 h is not a valid period");
    h.fan_secs = 5.0 * 3600.0;
    assert_eq!(status(&h)["cumulatedOpTimeEvaFan"], 5);
    control(&mut h, code::AIR_FILTER_RESET, "air-filter-reset", &[]);
    assert_eq!(status(&h)["cumulatedOpTimeEvaFan"], 0);
}

#[test]
fn other_controls_change_nothing_and_are_answered_with_a_status() {
    let mut h = heater();
    let before = h.clone();
    for (command, mode) in [
        (code::DR_ON, "dr-on"),
        (code::DR_OFF, "dr-off"),
        (code::RECIRC_HOTBTN, "recirc-hotbtn"),
        (code::INTELLIGENT_ON, "intelligent-on"),
        (code::RESERVATION_MODE, "reservation-mode"),
        (code::COND_FAULT_RESET, "cond-fault-reset"),
    ] {
        assert_eq!(control(&mut h, command, mode, &[1]), Reply::Status { command, refused: None });
    }
    assert!(matches!(
        control(&mut h, 33_554_999, "self-destruct", &[]),
        Reply::Status {
            command: 33_554_999,
            refused: Some(_)
        }
    ));
    assert_eq!(h, before);
}

#[test]
fn a_control_without_mode_goes_by_its_command_code() {
    let mut h = heater();
    let (topic, mut env) = test_request(MAC, "ctrl", code::DHW_TEMPERATURE, None);
    env["request"]["param"] = json!([100]);
    assert_eq!(
        h.apply(&topic, &env),
        Reply::Status {
            command: code::DHW_TEMPERATURE,
            refused: None
        }
    );
    assert_eq!(h.setpoint, 100);
    env["request"]["param"] = json!(["hot"]);
    assert!(matches!(h.apply(&topic, &env), Reply::Status { refused: Some(_), .. }));
    assert_eq!(h.setpoint, 100);
}

#[test]
fn queries_ask_for_a_status_the_features_or_nothing() {
    let mut h = heater();
    let before = h.clone();
    let (t, env) = test_request(MAC, "st", code::STATUS, None);
    assert_eq!(
        h.apply(&t, &env),
        Reply::Status {
            command: code::STATUS,
            refused: None
        }
    );
    let (t, env) = test_request(MAC, "st/did", code::FEATURE, None);
    assert_eq!(h.apply(&t, &env), Reply::Feature { command: code::FEATURE });
    let (t, mut env) = test_request(MAC, "st/end", code::SESSION_END, None);
    // The session end names a client-keyed topic; no reply goes there.
    env["responseTopic"] = json!("cmd/52/navien-client-1a2b3c4d/res/end");
    assert_eq!(h.apply(&t, &env), Reply::None);
    assert_eq!(h, before, "queries change nothing");
}

#[test]
fn malformed_requests_are_ignored_with_a_reason_never_a_panic() {
    let mut h = heater();
    let before = h.clone();
    let (topic, good) = test_request(MAC, "ctrl", code::DHW_TEMPERATURE, Some(("dhw-temperature", &[110])));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let cases = vec![
        json!(null),
        json!([]),
        json!("st"),
        json!({}),
        json!({"request": 1}),
        json!({"request": {}}),
        json!({"response": {"command": code::STATUS}}),
        with(&|v| v["request"]["command"] = json!(-1)),
        with(&|v| v["request"]["command"] = json!(1u64 << 40)),
        with(&|v| v["request"]["command"] = json!("33554464")),
        with(&|v| v["request"]["macAddress"] = json!("ffffffffffff")),
        with(&|v| v["request"]["macAddress"] = json!(7)),
        with(&|v| _ = v["request"].as_object_mut().map(|r| r.remove("macAddress"))),
        with(&|v| v["request"]["deviceType"] = json!(53)),
        with(&|v| _ = v.as_object_mut().map(|r| r.remove("responseTopic"))),
        with(&|v| v["responseTopic"] = json!("")),
        with(&|v| v["responseTopic"] = json!("cmd/52/+/res")),
        with(&|v| v["responseTopic"] = json!("cmd/52/#")),
        with(&|v| v["responseTopic"] = json!(5)),
    ];
    for env in &cases {
        match h.apply(&topic, env) {
            Reply::Ignore(reason) => assert!(!reason.is_empty()),
            other => panic!("{env} → {other:?}"),
        }
    }
    for bad_topic in [
        "",
        "cmd/52/navilink-ffffffffffff/ctrl",
        "cmd/52/navilink-04786332fca0/st/rsv/rd",
        "ctrl",
    ] {
        assert!(matches!(h.apply(bad_topic, &good), Reply::Ignore(_)), "{bad_topic}");
    }
    assert_eq!(h, before, "nothing changed");
    // The upper-case MAC a client might send is still this heater.
    let upper = with(&|v| v["request"]["macAddress"] = json!(MAC.to_ascii_uppercase()));
    assert!(matches!(h.apply(&topic, &upper), Reply::Status { refused: None, .. }));
}

#[test]
fn without_a_control_interval_quick_controls_are_all_taken() {
    let mut h = heater();
    let now = Instant::now();
    for v in 100..110 {
        let (topic, env) = test_request(MAC, "ctrl", code::DHW_TEMPERATURE, Some(("dhw-temperature", &[v])));
        assert!(matches!(h.apply_at(&topic, &env, now), Reply::Status { refused: None, .. }));
    }
    assert_eq!(h.setpoint, 109);
}

#[test]
fn with_a_control_interval_a_second_quick_control_gets_ctrl_fail_and_changes_nothing() {
    let mut h = heater();
    h.control_interval = Some(Duration::from_secs(1));
    let t0 = Instant::now();
    let (topic, first) = test_request(MAC, "ctrl", code::DHW_TEMPERATURE, Some(("dhw-temperature", &[100])));
    let (_, second) = test_request(MAC, "ctrl", code::DHW_TEMPERATURE, Some(("dhw-temperature", &[105])));
    assert!(matches!(h.apply_at(&topic, &first, t0), Reply::Status { .. }));
    assert_eq!(
        h.apply_at(&topic, &second, t0 + Duration::from_millis(500)),
        Reply::CtrlFail { fail_code: 2 }
    );
    assert_eq!(h.setpoint, 100);
    // Queries are not controls.
    let (st, query) = test_request(MAC, "st", code::STATUS, None);
    assert!(matches!(
        h.apply_at(&st, &query, t0 + Duration::from_millis(600)),
        Reply::Status { .. }
    ));
    assert!(matches!(
        h.apply_at(&topic, &second, t0 + Duration::from_millis(1000)),
        Reply::Status { refused: None, .. }
    ));
    assert_eq!(h.setpoint, 105);
}
