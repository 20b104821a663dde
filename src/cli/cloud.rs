//! `tether navien-cloud`: the Navien cloud emulator in the foreground. One JSON line on stdout
//! says where it is; commands on stdin fault it the way the real cloud can fail.

use super::args::CloudArgs;
use super::CliError;
use std::time::Duration;
use tether::navien::cloud::{Cloud, CloudOptions};
use tokio::io::AsyncBufReadExt;

const HELP: &str = "navien-cloud commands (type them and press Enter):
  drop                 close every MQTT connection (AWS IoT's daily disconnect)
  outage SECS          REST answers 503 and MQTT is refused for SECS seconds
  expire               revoke every token and AWS key (passwords still work)
  expire access        revoke the access tokens only (a client's refresh still works)
  refuse STEP on|off   make refresh, session or secured answer 401 (a client falls back)
  deny on|off          refuse every signed MQTT upgrade with 403 (a policy that denies)
  password EMAIL NEW   change an account's password
  stats                print counters as one JSON line
  quit                 stop";

pub(super) async fn run(a: CloudArgs) -> Result<(), CliError> {
    let secs = |field: &str, v: f64| super::args::secs(field, v);
    let opts = CloudOptions {
        accounts: a.accounts,
        ca_file: a.ca_file,
        rest_port: a.rest_port,
        mqtt_port: a.mqtt_port,
        jwt_lifetime: secs("jwt_lifetime", a.jwt_lifetime)?,
        aws_lifetime: secs("aws_lifetime", a.aws_lifetime)?,
        connection_limit: a.connection_limit.map(|v| secs("connection_limit", v)).transpose()?,
    };
    let cloud = Cloud::start(opts).await.map_err(|e| match e {
        tether::navien::cloud::CloudError::Accounts(e) => CliError::Usage(e),
        other => CliError::Runtime(other.to_string()),
    })?;
    println!(
        "{}",
        serde_json::to_string(cloud.info()).map_err(|e| CliError::Runtime(e.to_string()))?
    );
    eprintln!("tether navien-cloud: ready.\n{HELP}");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stop = Box::pin(super::shutdown_signal());
    let mut stdin_open = true;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            line = lines.next_line(), if stdin_open => {
                let line = match line {
                    Ok(Some(l)) => l,
                    // Stdin closed (run in the background): keep serving until a signal.
                    _ => {
                        stdin_open = false;
                        continue;
                    }
                };
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    [] => {}
                    ["quit"] | ["exit"] => break,
                    ["drop"] => {
                        cloud.drop_connections();
                        eprintln!("navien-cloud: every MQTT connection closed");
                    }
                    ["outage", s] => match s.parse::<f64>().ok().and_then(|v| Duration::try_from_secs_f64(v).ok()) {
                        Some(d) => {
                            cloud.outage(d);
                            eprintln!("navien-cloud: outage for {s} s");
                        }
                        None => eprintln!("navien-cloud: outage SECS, e.g. outage 30"),
                    },
                    ["expire", "access"] => {
                        cloud.expire_access();
                        eprintln!("navien-cloud: every access token revoked");
                    }
                    ["expire"] => {
                        cloud.expire();
                        eprintln!("navien-cloud: every token and AWS key revoked");
                    }
                    ["refuse", step, on] if *on == "on" || *on == "off" => match cloud.refuse(step, *on == "on") {
                        Ok(()) => eprintln!("navien-cloud: {step} refused: {on}"),
                        Err(e) => eprintln!("navien-cloud: {e}"),
                    },
                    ["deny", on] if *on == "on" || *on == "off" => {
                        cloud.deny_mqtt(*on == "on");
                        eprintln!("navien-cloud: MQTT denied: {on}");
                    }
                    ["password", email, new] => {
                        if cloud.set_password(email, new) {
                            eprintln!("navien-cloud: the password of {email} changed");
                        } else {
                            eprintln!("navien-cloud: no account {email}");
                        }
                    }
                    ["stats"] => println!("{}", cloud.stats()),
                    _ => eprintln!("navien-cloud: unknown command {line:?}\n{HELP}"),
                }
            }
        }
    }
    cloud.stop().await;
    Ok(())
}
