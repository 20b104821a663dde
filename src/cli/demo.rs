//! `tether demo`: the embedded demo, headless. A broker and a simulated water heater in this
//! process, the demo profile connected through the fault switch, and a few commands on stdin.

use super::output::Printer;
use super::CliError;
use std::time::Duration;
use tether::demo::Demo;
use tether::event::EventKind;
use tether::handle::{Link, Trigger};
use tether::kind::{self, Context};
use tether::navien::decode_status;
use tether::paths::Paths;
use tokio::io::AsyncBufReadExt;
use tokio::sync::broadcast::error::RecvError;

const HELP: &str = "demo commands (type them and press Enter):
  drop      drop the link silently for 30 s (keepalive finds it; backoff, then recovery)
  outage    broker outage for 2 min (reconnection_failed, then the recovery strategy)
  refuse    the broker refuses the credentials (auth_rejected; no retry storm)
  accept    accept credentials again, and retry
  retry     Retry now
  set F     set the water heater to F °F (e.g. set 125)
  status    ask the heater for its status now
  quit      stop";

pub async fn run(json: bool, paths: &Paths) -> Result<(), CliError> {
    let demo = Demo::start().await.map_err(|e| CliError::Runtime(e.to_string()))?;
    let ctx = Context {
        paths,
        secrets: None,
        demo: Some((&demo).into()),
    };
    let plan = kind::plan("demo", &kind::demo::profile(), &ctx)?;
    let response_topic = Demo::topics().response();
    let (h, mut rx) = Link::start_subscribed(plan.config, plan.credentials)?;
    eprintln!(
        "tether demo: a broker on 127.0.0.1:{} and a simulated NWP500 water heater.\n{HELP}",
        demo.broker_port
    );
    let mut out = Printer::new(json);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut stop = Box::pin(super::shutdown_signal());
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    out.event(&ev);
                    if let EventKind::Message { topic, payload, .. } = &ev.kind {
                        if !json && *topic == response_topic {
                            match decode_status(payload) {
                                Ok(s) => out.line(&format!(
                                    "    water heater: tank {:.1} °F, set {:.1} °F, {}, charge {} %, {} W, {}",
                                    s.tank_f(), s.setpoint_f(), s.mode_name(), s.dhw_charge_per, s.current_inst_power,
                                    s.error().unwrap_or_else(|| "no error".into())
                                )),
                                Err(e) => out.line(&format!("    water heater: unreadable reply skipped ({e})")),
                            }
                        }
                    }
                    out.flush();
                }
                Err(RecvError::Lagged(n)) => eprintln!("tether: output too slow: skipped {n} events"),
                Err(RecvError::Closed) => break,
            },
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(l)) => {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    match words.as_slice() {
                        ["drop"] => demo.faults.drop_link(Duration::from_secs(30)),
                        ["outage"] => demo.faults.broker_outage(Duration::from_secs(120)),
                        ["refuse"] => demo.faults.refuse_credentials(),
                        ["accept"] => {
                            demo.faults.clear();
                            h.trigger(Trigger::CredentialsChanged).await;
                        }
                        ["retry"] => h.retry_now().await,
                        ["set", f] => match f.parse::<f64>() {
                            Ok(f) => {
                                let (topic, payload) = Demo::set_setpoint(f);
                                if let Err(e) = h.publish(&topic, payload, 1, false).await {
                                    eprintln!("tether demo: {e}");
                                }
                            }
                            Err(_) => eprintln!("tether demo: {f:?} is not a temperature in °F"),
                        },
                        ["status"] => {
                            let t = Demo::topics();
                            if let Err(e) = h.publish(&t.status_request(), Demo::status_request(), 1, false).await {
                                eprintln!("tether demo: {e}");
                            }
                        }
                        ["quit"] | ["exit"] => break,
                        [] => {}
                        _ => eprintln!("tether demo: unknown command {l:?}\n{HELP}"),
                    }
                }
                // Without stdin (a service, a pipe that ended) the demo keeps running until a signal.
                Ok(None) | Err(_) => stdin_open = false,
            },
        }
    }
    out.flush();
    h.stop().await;
    demo.stop().await;
    Ok(())
}
