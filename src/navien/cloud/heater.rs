//! One simulated NWP500 heat-pump water heater of the cloud emulator, as a pure state machine: its
//! settings and the tank's physics (`tick`), with no I/O and no clock other than the one passed in
//! (protocol doc §4.5). What each request does to it (`apply`) is in [`super::heater_control`].
//!
//! It behaves like the demo's heater (src/demo/device.rs): the same draw and heating rates, so a
//! shower visibly cools the tank and the heat pump visibly brings it back, but it models what the
//! real unit reports per mode (heat pump, elements, both) so that every status is one a strict
//! client accepts: `heater_status` turns this state into the 104-field status.

use std::time::{Duration, Instant};

/// `deviceType` of an NWP500.
pub(crate) const DEVICE_TYPE: u32 = 52;
/// The feature object's setpoint limits, raw half-°C (40.5-65.5 °C); a setpoint outside changes nothing.
pub(crate) const SETPOINT_MIN: i64 = 81;
pub(crate) const SETPOINT_MAX: i64 = 131;
/// Freeze protection, raw half-°C: the temperature vacation mode holds, and the feature's limits.
pub(crate) const FREEZE_PROTECTION: i64 = 12;
pub(crate) const FREEZE_PROTECTION_MIN: i64 = 12;
pub(crate) const FREEZE_PROTECTION_MAX: i64 = 20;
/// Each element: 5 kW at 240 V, which is 3.755 kW on the 208 V supply the emulator assumes.
pub(crate) const ELEMENT_W: i64 = 3755;
/// 65 gal (the feature's `volumeCode` 2).
pub(crate) const TANK_LITRES: f64 = 246.0;
/// Cold water coming in, °C: what a draw pulls the tank towards, and the base of a full recovery.
pub(crate) const INLET_C: f64 = 10.0;
/// The demo's rates, °C per second (it counts in half-°C: 0.6 per second of draw, 0.35 heat pump,
/// 0.9 element): much faster than a real tank, so that a change shows within a minute.
const DRAW_C_PER_S: f64 = 0.3;
const HEAT_PUMP_C_PER_S: f64 = 0.175;
const ELEMENT_C_PER_S: f64 = 0.45;
/// Standby loss towards the room, per second per °C above it (about the demo's 0.005 °C/s near
/// the default setpoint, but a tank left alone ends at room temperature instead of below it).
const LOSS_PER_S: f64 = 1.8e-4;
/// A draw lasts this long at `DRAW_FLOW` (0.1 L/min: 8 L/min, a shower).
const DRAW_SECS: f64 = 20.0;
pub(crate) const DRAW_FLOW: i64 = 80;
/// A cycle starts this far below the target and then heats all the way to it (the demo's
/// hysteresis of 2 half-°C).
const START_BELOW_C: f64 = 1.0;
/// This far below the target, energy saver adds an element and the modes with elements use the
/// upper one (recover the hot water at the top first).
const BOOST_BELOW_C: f64 = 8.0;
/// A draw running this long counts as sustained (`dhwUseSustained`).
const SUSTAINED_SECS: f64 = 5.0;
/// Stratification: the lower sensor reads this much below the upper one, at most.
const MAX_STRAT_C: f64 = 8.0;
const SECS_PER_DAY: f64 = 86_400.0;

/// What is heating right now. `operationMode`, `currentHeatUse`, `compUse`, `heatUpperUse`,
/// `heatLowerUse` and `currentInstPower` are all derived from this one value, so they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Heating {
    pub(crate) heat_pump: bool,
    pub(crate) upper: bool,
    pub(crate) lower: bool,
}

impl Heating {
    const NONE: Heating = Heating {
        heat_pump: false,
        upper: false,
        lower: false,
    };

    pub(crate) fn any(self) -> bool {
        self.heat_pump || self.upper || self.lower
    }

    pub(crate) fn elements(self) -> i64 {
        i64::from(self.upper) + i64::from(self.lower)
    }
}

/// One simulated heater.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Heater {
    /// 12 lowercase hex digits; the MQTT name is `navilink-{mac}`.
    pub(crate) mac: String,
    /// Echoed in every reply.
    pub(crate) additional_value: String,
    /// The device name the REST device list shows.
    pub(crate) name: String,
    /// The upper tank sensor, °C: the hot water (`dhwTemperature`, `tankUpperTemperature`).
    pub(crate) tank_c: f64,
    /// How far below the upper sensor the lower one reads, °C.
    pub(crate) strat_c: f64,
    /// The room, °C (`ambientTemperature`): the tank cools towards it.
    pub(crate) ambient_c: f64,
    /// `outsideTemperature`, raw half-°C.
    pub(crate) outside_raw: i64,
    /// The setpoint, raw half-°C, within `SETPOINT_MIN..=SETPOINT_MAX`.
    pub(crate) setpoint: i64,
    /// `dhwOperationSetting`: 1-6 (0 is never set).
    pub(crate) mode: i64,
    /// The mode power-on returns to: 1-5.
    pub(crate) mode_before_off: i64,
    /// The mode the end of a vacation returns to: 1-4.
    pub(crate) mode_before_vacation: i64,
    /// `vacationDaySetting` (0 or 1-99) and `vacationDayElapsed`.
    pub(crate) vacation_days: i64,
    pub(crate) vacation_elapsed: i64,
    /// Seconds into the current vacation day.
    pub(crate) vacation_secs: f64,
    /// `antiLegionellaUse` (tri: 1 off, 2 on) and `antiLegionellaPeriod` (1-30 days).
    pub(crate) anti_legionella_use: i64,
    pub(crate) anti_legionella_period: i64,
    /// `touStatus`: 0 off, 1 on.
    pub(crate) tou_status: i64,
    /// `recircOperationMode`: 0-4.
    pub(crate) recirc_mode: i64,
    /// `airFilterAlarmPeriod`, hours: 0 or 1000-10000.
    pub(crate) air_filter_period: i64,
    /// Evaporator fan run time since the filter reset, seconds (`cumulatedOpTimeEvaFan` in hours).
    pub(crate) fan_secs: f64,
    /// Seconds of the current draw left, and how long it has run.
    pub(crate) draw_left: f64,
    pub(crate) draw_for: f64,
    /// Hot water delivered over the unit's life, litres (`cumulatedDhwFlowRate`).
    pub(crate) delivered_litres: f64,
    pub(crate) heating: Heating,
    /// `errorCode`: 0, or a code of §6.4 (a test or the emulator may set one).
    pub(crate) error_code: i64,
    /// `wifiRssi`, dBm.
    pub(crate) wifi_rssi: i64,
    /// A second control sooner than this after the previous one gets `ctrl-fail` instead of a
    /// status. `None` (the default): every control is taken, however quickly they come.
    pub(crate) control_interval: Option<Duration>,
    pub(crate) last_control: Option<Instant>,
}

impl Heater {
    /// An idle heater like the demo's: 120 °F set, the tank at the setpoint, energy saver.
    pub(crate) fn new(mac: &str, additional_value: &str, name: &str) -> Self {
        let setpoint = crate::navien::status::f_to_half_c(120.0);
        Self {
            mac: mac.to_ascii_lowercase(),
            additional_value: additional_value.to_string(),
            name: name.to_string(),
            tank_c: setpoint as f64 / 2.0,
            strat_c: 3.0,
            ambient_c: 21.0,
            outside_raw: 40,
            setpoint,
            mode: 3,
            mode_before_off: 3,
            mode_before_vacation: 3,
            vacation_days: 0,
            vacation_elapsed: 0,
            vacation_secs: 0.0,
            anti_legionella_use: 1,
            anti_legionella_period: 7,
            tou_status: 0,
            recirc_mode: 0,
            air_filter_period: 1000,
            fan_secs: 0.0,
            draw_left: 0.0,
            draw_for: 0.0,
            delivered_litres: 0.0,
            heating: Heating::NONE,
            error_code: 0,
            wifi_rssi: -52,
            control_interval: None,
            last_control: None,
        }
    }

    // ---- what the status reports, derived from the state ----

    /// `dhwTemperature`, raw half-°C: the upper sensor rounded, so it is within 0.25 °C of
    /// `tankUpperTemperature`.
    pub(crate) fn dhw_raw(&self) -> i64 {
        (self.tank_c * 2.0).round() as i64
    }

    /// `tankUpperTemperature`, deci-°C.
    pub(crate) fn tank_upper_deci(&self) -> i64 {
        (self.tank_c * 10.0).round() as i64
    }

    /// `tankLowerTemperature`, deci-°C.
    pub(crate) fn tank_lower_deci(&self) -> i64 {
        ((self.tank_c - self.strat_c).max(0.5) * 10.0).round() as i64
    }

    /// Energy to heat the tank by `delta_c`, in counts of 4 Wh.
    fn energy_counts(delta_c: f64) -> i64 {
        // 4.186 kJ/(kg·K), 1 kg per litre; 3.6 kJ per Wh.
        (TANK_LITRES * 4.186 * delta_c.max(0.0) / 3.6 / 4.0).round() as i64
    }

    /// `totalEnergyCapacity`: a full recovery from the inlet temperature to the setpoint.
    pub(crate) fn total_energy(&self) -> i64 {
        Self::energy_counts(self.setpoint as f64 / 2.0 - INLET_C)
    }

    /// `availableEnergyCapacity`: what is still needed to reach the setpoint, from the reported
    /// temperature, so it is exactly 0 whenever `dhwTemperature` shows the setpoint.
    pub(crate) fn available_energy(&self) -> i64 {
        Self::energy_counts((self.setpoint - self.dhw_raw()) as f64 / 2.0).min(self.total_energy())
    }

    /// `dhwChargePer`: 0-100.
    pub(crate) fn charge_percent(&self) -> i64 {
        let total = self.total_energy();
        if total <= 0 {
            return 100;
        }
        (100.0 * (1.0 - self.available_energy() as f64 / total as f64))
            .round()
            .clamp(0.0, 100.0) as i64
    }

    /// `operationMode`: 0 idle, 32 heat pump, 64 heat pump in energy saver, 96 with an element.
    pub(crate) fn operation_mode(&self) -> i64 {
        match self.heating {
            h if h.elements() > 0 => 96,
            h if h.heat_pump && self.mode == 3 => 64,
            h if h.heat_pump => 32,
            _ => 0,
        }
    }

    /// `currentHeatUse`: 0 none, 1 heat pump, 2 element, 3 both.
    pub(crate) fn current_heat_use(&self) -> i64 {
        match (self.heating.heat_pump, self.heating.elements() > 0) {
            (true, true) => 3,
            (false, true) => 2,
            (true, false) => 1,
            (false, false) => 0,
        }
    }

    /// `currentInstPower`, W: the compressor draws more as the water it heats gets hotter.
    pub(crate) fn inst_power_w(&self) -> i64 {
        let heat_pump = if self.heating.heat_pump {
            (300.0 + 2.7 * self.tank_c).round() as i64
        } else {
            0
        };
        heat_pump + ELEMENT_W * self.heating.elements()
    }

    pub(crate) fn drawing(&self) -> bool {
        self.draw_left > 0.0
    }

    pub(crate) fn draw_sustained(&self) -> bool {
        self.drawing() && self.draw_for >= SUSTAINED_SECS
    }

    /// `cumulatedOpTimeEvaFan`, hours.
    pub(crate) fn fan_hours(&self) -> i64 {
        (self.fan_secs / 3600.0) as i64
    }

    // ---- physics ----

    /// Advance `dt_secs` simulated seconds. `start_draw`: a tap opens now (the caller rolls the
    /// dice); it is ignored while a draw runs. Long steps are cut into seconds so the heating
    /// decisions stay as fine as with one tick a second.
    pub(crate) fn tick(&mut self, dt_secs: f64, start_draw: bool) {
        if start_draw && !self.drawing() {
            self.draw_left = DRAW_SECS;
            self.draw_for = 0.0;
        }
        let dt = if dt_secs.is_finite() {
            dt_secs.clamp(0.0, SECS_PER_DAY)
        } else {
            0.0
        };
        let steps = dt.ceil().max(1.0);
        let step = dt / steps;
        for _ in 0..steps as u64 {
            self.step(step);
        }
    }

    fn step(&mut self, dt: f64) {
        if dt <= 0.0 {
            return;
        }
        if self.drawing() {
            let d = dt.min(self.draw_left);
            self.draw_left -= d;
            self.draw_for += d;
            // A draw brings the tank towards the inlet temperature, not below it.
            if self.tank_c > INLET_C {
                self.tank_c = (self.tank_c - DRAW_C_PER_S * d).max(INLET_C);
            }
            // Cold water comes in at the bottom.
            self.strat_c += 0.15 * d;
            self.delivered_litres += DRAW_FLOW as f64 / 10.0 / 60.0 * d;
        } else {
            self.draw_for = 0.0;
        }
        // Towards the room, which may be colder than the inlet (a garage in winter); never ice.
        self.tank_c -= LOSS_PER_S * (self.tank_c - self.ambient_c) * dt;
        self.tank_c = self.tank_c.max(0.5);

        self.heating = self.decide();
        if self.heating.any() {
            let target = self.target_c().unwrap_or(self.tank_c);
            let gain = if self.heating.heat_pump { HEAT_PUMP_C_PER_S } else { 0.0 } + ELEMENT_C_PER_S * self.heating.elements() as f64;
            self.tank_c = (self.tank_c + gain * dt).min(target.max(self.tank_c));
            // The heat pump and the lower element heat the bottom of the tank first.
            if self.heating.heat_pump || self.heating.lower {
                self.strat_c -= 0.1 * dt;
            }
            if self.heating.heat_pump {
                self.fan_secs += dt;
            }
            // Reaching the target ends the cycle (until the tank drops again).
            if self.tank_c >= target {
                self.heating = Heating::NONE;
            }
        } else {
            self.strat_c -= 0.002 * dt;
        }
        self.strat_c = self.strat_c.clamp(0.0, MAX_STRAT_C);
        self.advance_vacation(dt);
    }

    /// The temperature the current mode heats to, °C, or `None` when it does not heat.
    fn target_c(&self) -> Option<f64> {
        match self.mode {
            1..=4 => Some(self.setpoint as f64 / 2.0),
            // Vacation only keeps the tank from freezing.
            5 => Some(FREEZE_PROTECTION as f64 / 2.0),
            _ => None,
        }
    }

    /// What should heat now: a cycle starts `START_BELOW_C` below the target and runs up to it.
    fn decide(&self) -> Heating {
        let Some(target) = self.target_c() else { return Heating::NONE };
        let deficit = target - self.tank_c;
        if deficit <= 0.0 || (!self.heating.any() && deficit < START_BELOW_C) {
            return Heating::NONE;
        }
        let far = deficit > BOOST_BELOW_C;
        // One element at a time: the upper one to recover the top quickly, else the lower one.
        let element = if far {
            Heating {
                upper: true,
                ..Heating::NONE
            }
        } else {
            Heating {
                lower: true,
                ..Heating::NONE
            }
        };
        let heat_pump = Heating {
            heat_pump: true,
            ..Heating::NONE
        };
        match self.mode {
            1 | 5 => heat_pump,
            2 => element,
            3 if far => Heating {
                heat_pump: true,
                upper: true,
                lower: false,
            },
            3 => heat_pump,
            4 => Heating {
                heat_pump: true,
                ..element
            },
            _ => Heating::NONE,
        }
    }

    /// Counts vacation days; when they are up, the unit goes back to the mode it had before.
    fn advance_vacation(&mut self, dt: f64) {
        if self.mode != 5 {
            return;
        }
        self.vacation_secs += dt;
        while self.vacation_secs >= SECS_PER_DAY {
            self.vacation_secs -= SECS_PER_DAY;
            self.vacation_elapsed += 1;
        }
        if self.vacation_days > 0 && self.vacation_elapsed >= self.vacation_days {
            self.mode = self.mode_before_vacation;
            self.vacation_elapsed = 0;
            self.vacation_secs = 0.0;
        }
    }
}

#[cfg(test)]
#[path = "heater_tests.rs"]
mod tests;
