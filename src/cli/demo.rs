//! `tether demo`: the embedded demo, headless. The Navien cloud emulator with the demo account
//! and its simulated water heater in this process, the demo profile signed in and connected over
//! presigned `wss://` through the fault switch, and a few commands on stdin.

use super::output::Printer;
use super::CliError;
use std::time::Duration;
use tether::demo::{Demo, DEMO_ADDITIONAL, DEMO_CLIENT_ID, DEMO_MAC};
use tether::event::EventKind;
use tether::handle::{Link, Trigger};
use tether::navien::control::{Command, Features};
use tether::navien::{command, Request, Topics};
use tether::paths::Paths;
use tokio::io::AsyncBufReadExt;
use tokio::sync::broadcast::error::RecvError;

const HELP: &str = "demo commands (type them and press Enter):
  drop      drop the link silently for 30 s (keepalive finds it; backoff, then recovery)
  outage    cloud outage for 2 min (reconnection_failed, then the recovery strategy)
  refuse    the cloud refuses every connection with 403 (auth_rejected; no retry storm)
  expire    the cloud revokes every token and key (the link renews them and reconnects)
  password  the account's password changes (auth_rejected; `accept` types the new one in)
  accept    back to normal, and retry
  retry     Retry now
  set F     set the water heater to F °F (e.g. set 125)
  status    ask the heater for its status now
  quit      stop";

pub async fn run(json: bool, paths: &Paths) -> Result<(), CliError> {
    let demo = Demo::start().await.map_err(|e| CliError::Runtime(e.to_string()))?;
    let plan = demo.plan(paths)?;
    let (h, mut rx) = Link::start_subscribed(plan.config, plan.credentials)?;
    let topics = Topics::new(DEMO_MAC, DEMO_CLIENT_ID);
    let session = tether::navien::session_id(DEMO_CLIENT_ID);
    eprintln!(
        "tether demo: the Navien cloud emulator on {} with a simulated NWP500 water heater,\n\
         signed in as {}; the link goes through the fault switch on 127.0.0.1:{}.\n{HELP}",
        demo.cloud().info().rest_url,
        tether::demo::DEMO_EMAIL,
        demo.port
    );
    let mut out = Printer::with_devices(json, true);
    let mut features: Option<Features> = None;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut stop = Box::pin(super::shutdown_signal());
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    out.event(&ev);
                    if let EventKind::Message { payload, .. } = &ev.kind {
                        // The link asks for the feature object at every connect: keep the last.
                        if let Some(f) = serde_json::from_slice(payload).ok().as_ref().and_then(Features::from_reply) {
                            features = Some(f);
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
                        ["expire"] => demo.faults.expire_tokens(),
                        ["password"] => {
                            demo.faults.change_password();
                            eprintln!("tether demo: the account's password is now {:?}; `accept` enters it", demo.faults.password());
                        }
                        ["accept"] => {
                            demo.faults.clear();
                            h.trigger(Trigger::CredentialsChanged).await;
                        }
                        ["retry"] => h.retry_now().await,
                        ["set", f] => match (f.parse::<f64>(), &features) {
                            (Err(_), _) => eprintln!("tether demo: {f:?} is not a temperature in °F"),
                            (Ok(_), None) => eprintln!("tether demo: the heater's features have not arrived yet (they come at connect); try again"),
                            (Ok(f), Some(feat)) => match Command::SetpointF(f).request(feat, &topics, &session, DEMO_MAC, DEMO_ADDITIONAL) {
                                Ok(req) => {
                                    let payload = serde_json::to_string(&req).unwrap_or_default();
                                    if let Err(e) = h.publish(&topics.control(), payload, 1, false).await {
                                        eprintln!("tether demo: {e}");
                                    }
                                }
                                Err(e) => eprintln!("tether demo: {e}"),
                            },
                        },
                        ["status"] => {
                            let r = Request::new(&topics, topics.status_request(), &session, DEMO_MAC, DEMO_ADDITIONAL, command::STATUS_REQUEST);
                            if let Err(e) = h.publish(&topics.status_request(), serde_json::to_string(&r).unwrap_or_default(), 1, false).await {
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
