//! A simulated NWP500 heat-pump water heater for the demo. It is itself a Tether link to the demo
//! broker: it answers status requests and control commands with full status replies, the tank
//! cools with water draws and heats toward the setpoint.

use crate::config::LinkConfig;
use crate::credentials::StaticSource;
use crate::event::EventKind;
use crate::handle::{Link, LinkHandle, StartError};
use crate::navien::{command, status::Status, Request, Response, ResponseBody, Topics, DEVICE_TYPE};
use std::sync::Arc;
use std::time::Duration;

/// The demo heater's MAC address.
pub const DEMO_MAC: &str = "04786332fca0";
/// Echoed in every command.
pub const DEMO_ADDITIONAL: &str = "5322";

/// The heater's physics, pure: one `tick` per simulated second.
#[derive(Debug, Clone, PartialEq)]
pub struct Heater {
    pub status: Status,
    /// Tank temperature in half-°C, fractional (the wire value is rounded).
    tank: f64,
    /// Mode to return to after power on.
    mode_before_off: i64,
    /// Seconds of water draw left.
    draw_left: u32,
}

impl Default for Heater {
    fn default() -> Self {
        let status = Status::demo();
        Self {
            tank: status.dhw_temperature as f64,
            mode_before_off: status.dhw_operation_setting,
            status,
            draw_left: 0,
        }
    }
}

impl Heater {
    /// Advance one second. `start_draw`: a tap opens now (the caller rolls the dice).
    pub fn tick(&mut self, start_draw: bool) {
        if start_draw && self.draw_left == 0 {
            self.draw_left = 20;
        }
        let s = &mut self.status;
        let drawing = self.draw_left > 0;
        if drawing {
            self.draw_left -= 1;
            // A shower pulls the tank down by about 0.5 °F a second.
            self.tank -= 0.6;
            s.current_dhw_flow_rate = 80;
        } else {
            // Standby loss.
            self.tank -= 0.01;
            s.current_dhw_flow_rate = 0;
        }
        let off = s.dhw_operation_setting == 6;
        let setpoint = s.dhw_temperature_setting as f64;
        // Start below the setpoint by a degree; once running, heat all the way up.
        let heating = !off && (self.tank < setpoint - 2.0 || (s.current_inst_power > 0 && self.tank < setpoint));
        if heating {
            // High demand and electric modes use the elements; the others the heat pump.
            let (gain, watts, heat_use, op) = match s.dhw_operation_setting {
                2 | 4 => (0.9, 4500, 2, 96),
                _ => (0.35, 480, 1, 32),
            };
            self.tank = (self.tank + gain).min(setpoint);
            // Reaching the setpoint ends the heating cycle (until it drops a degree again).
            let watts = if self.tank >= setpoint { 0 } else { watts };
            s.current_inst_power = watts;
            s.current_heat_use = heat_use;
            s.operation_mode = op;
            s.comp_use = if heat_use == 1 { 2 } else { 1 };
        } else {
            s.current_inst_power = 0;
            s.current_heat_use = 0;
            s.operation_mode = 0;
            s.comp_use = 1;
        }
        self.tank = self.tank.max(30.0);
        s.dhw_temperature = self.tank.round() as i64;
        let (lo, hi) = (s.dhw_temperature_min as f64, setpoint.max(s.dhw_temperature_min as f64 + 1.0));
        s.dhw_charge_per = (((self.tank - lo) / (hi - lo)) * 100.0).clamp(0.0, 100.0).round() as i64;
        s.available_energy_capacity = s.total_energy_capacity * s.dhw_charge_per / 100;
        s.tank_upper_temperature = (self.tank * 5.0).round() as i64;
        s.tank_lower_temperature = (self.tank * 5.0 - 60.0).round() as i64;
    }

    /// Apply a control command. Returns a reason when the command is refused (it still gets a
    /// status reply, as the real device answers every command with its status).
    pub fn apply(&mut self, r: &Request) -> Result<(), String> {
        let s = &mut self.status;
        let param = r.request.param.as_deref().unwrap_or(&[]);
        match r.request.command {
            command::STATUS_REQUEST | command::DEVICE_INFO => Ok(()),
            command::POWER_OFF => {
                if s.dhw_operation_setting != 6 {
                    self.mode_before_off = s.dhw_operation_setting;
                }
                s.dhw_operation_setting = 6;
                Ok(())
            }
            command::POWER_ON => {
                s.dhw_operation_setting = self.mode_before_off;
                Ok(())
            }
            command::SET_DHW_TEMPERATURE => match param.first() {
                Some(&t) if (s.dhw_temperature_min..=s.dhw_temperature_max).contains(&t) => {
                    s.dhw_temperature_setting = t;
                    s.dhw_target_temperature_setting = t;
                    Ok(())
                }
                other => Err(format!(
                    "setpoint {other:?} outside {}..={} (half-°C)",
                    s.dhw_temperature_min, s.dhw_temperature_max
                )),
            },
            command::SET_DHW_MODE => match param.first() {
                Some(&m) if (1..=5).contains(&m) => {
                    s.dhw_operation_setting = m;
                    self.mode_before_off = m;
                    Ok(())
                }
                other => Err(format!("mode {other:?} is not 1-5")),
            },
            other => Err(format!("unknown command {other}")),
        }
    }
}

/// The running simulated device.
pub struct Device {
    pub link: LinkHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Device {
    /// Connect the simulated heater to the demo broker on `port` and start answering.
    pub async fn start(port: u16) -> Result<Self, StartError> {
        let mut cfg = LinkConfig::new("demo-device", &format!("mqtt://127.0.0.1:{port}"))?;
        cfg.client_id = format!("navilink-{DEMO_MAC}");
        cfg.clean_session = true;
        cfg.reconnect.initial_reconnect_delay = Duration::from_millis(200);
        cfg.reconnect.max_reconnect_delay = Duration::from_secs(2);
        cfg.reconnect.max_reconnect_attempts = u32::MAX;
        cfg.reconnect.stable_after = Duration::from_secs(1);
        let topics = Topics::new(DEMO_MAC, "device");
        for t in [topics.status_request(), topics.info_request(), topics.control()] {
            cfg.subscriptions.push(crate::config::Subscription {
                topic: t,
                qos: 1,
                stale_after: None,
            });
        }
        let (link, mut rx) = Link::start_subscribed(cfg, Arc::new(StaticSource::anonymous()))?;
        wait_until_subscribed(&link).await;
        let h = link.clone();
        let task = tokio::spawn(async move {
            let mut heater = Heater::default();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => heater.tick(rand::random::<f64>() < 0.03),
                    ev = rx.recv() => match ev {
                        Ok(ev) => {
                            if let EventKind::Message { topic, payload, .. } = ev.kind {
                                answer(&h, &mut heater, &topic, &payload).await;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return,
                    },
                }
            }
        });
        Ok(Self { link, task })
    }

    pub async fn stop(self) {
        self.task.abort();
        self.link.stop().await;
    }
}

/// Waits (at most 5 s) until the broker has acknowledged all of the heater's subscriptions.
/// The app connects as soon as the demo has started and sends its first status request at
/// connect; published before the heater subscribed, it would reach no one, and the device card
/// would stay empty until the next request, 30 s later (seen on a loaded machine).
async fn wait_until_subscribed(link: &LinkHandle) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match link.diagnostics().await {
            Some(d) if d.subscriptions > 0 && d.subscriptions_active == d.subscriptions => return,
            Some(_) => {}
            None => return, // stopped: start's caller finds out from the link itself
        }
        if tokio::time::Instant::now() >= deadline {
            // Not fatal: the heater still answers every request that reaches it.
            tracing::warn!("demo device: subscriptions not acknowledged within 5 s; starting anyway");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn answer(h: &LinkHandle, heater: &mut Heater, topic: &str, payload: &[u8]) {
    let req: Request = match serde_json::from_slice(payload) {
        Ok(r) => r,
        Err(e) => {
            // A malformed request is logged and skipped, never a crash.
            tracing::warn!(%topic, error = %e, "demo device: unreadable request skipped");
            return;
        }
    };
    if let Err(reason) = heater.apply(&req) {
        tracing::info!(%topic, %reason, "demo device: command refused");
    }
    let reply = Response {
        client_id: req.client_id.clone(),
        session_id: req.session_id.clone(),
        request_topic: req.request_topic.clone(),
        response_topic: req.response_topic.clone(),
        response: ResponseBody {
            command: req.request.command,
            device_type: DEVICE_TYPE,
            mac_address: DEMO_MAC.to_string(),
            status: Some(heater.status.clone()),
        },
    };
    let Ok(body) = serde_json::to_vec(&reply) else { return };
    if let Err(e) = h.publish(&req.response_topic, body, 1, false).await {
        tracing::warn!(error = %e, "demo device: reply not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draw_cools_the_tank_and_the_heat_pump_brings_it_back() {
        let mut h = Heater::default();
        let start = h.status.dhw_temperature;
        h.tick(true);
        for _ in 0..19 {
            h.tick(false);
        }
        let after_draw = h.status.dhw_temperature;
        // The draw outpaces the heat pump: the tank ends the shower several half-degrees down.
        assert!(after_draw < start - 4, "{start} → {after_draw}");
        assert!(h.status.dhw_charge_per < 100);
        assert!(h.status.current_inst_power > 0, "heating after the draw");
        let mut warmest = 0;
        for _ in 0..60 {
            h.tick(false);
            warmest = warmest.max(h.status.dhw_temperature);
        }
        assert_eq!(warmest, h.status.dhw_temperature_setting, "heated back to the setpoint");
        assert_eq!(h.status.current_inst_power, 0, "idle once there");
    }

    #[test]
    fn commands_change_setpoint_mode_and_power() {
        let mut h = Heater::default();
        let t = Topics::new(DEMO_MAC, "app");
        let req = |c: u32, mode: &str, p: Vec<i64>| Request::new(&t, t.control(), "s", DEMO_MAC, DEMO_ADDITIONAL, c).control(mode, p);
        h.apply(&req(command::SET_DHW_TEMPERATURE, "dhw-temperature", vec![110])).unwrap();
        assert_eq!(h.status.dhw_temperature_setting, 110);
        assert!(h.apply(&req(command::SET_DHW_TEMPERATURE, "dhw-temperature", vec![200])).is_err());
        assert_eq!(h.status.dhw_temperature_setting, 110, "an out-of-range setpoint changes nothing");
        h.apply(&req(command::SET_DHW_MODE, "dhw-mode", vec![4])).unwrap();
        h.apply(&req(command::POWER_OFF, "power-off", vec![])).unwrap();
        assert_eq!(h.status.mode_name(), "off");
        h.apply(&req(command::POWER_ON, "power-on", vec![])).unwrap();
        assert_eq!(h.status.mode_name(), "high demand");
    }
}
