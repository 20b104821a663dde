//! What the device cards, the fault switch and Diagnostics ask of the active link: commands to a
//! device (gated on its features, confirmed by its answering status), the demo's faults, and the
//! link's figures with the account's token state.

use super::{Controller, DROP_FOR, OUTAGE_FOR};
use crate::devices::Answer;
use crate::ipc::{CommandOutcome, DeviceCommand, DiagnosticsView, Fault, UiError};
use std::time::Duration;
use tether::handle::{PublishOutcome, Trigger};
use tokio::sync::broadcast::error::RecvError;

/// How long a command waits for the status that confirms it (the CLI's `navien set` too).
pub(crate) const CONFIRM_WAIT: Duration = Duration::from_secs(20);

impl Controller {
    pub async fn demo_fault(&self, fault: Fault) -> Result<(), UiError> {
        if self.active_profile().await.is_some() {
            return Err(UiError::new("not_demo", "the fault switch only exists in the embedded demo"));
        }
        let demo = self.demo.lock().await;
        let d = demo
            .as_ref()
            .ok_or_else(|| UiError::new("not_demo", "the fault switch only exists in the embedded demo"))?;
        match fault {
            Fault::DropLink => d.faults.drop_link(DROP_FOR),
            Fault::BrokerOutage => d.faults.broker_outage(OUTAGE_FOR),
            Fault::RefuseCredentials => d.faults.refuse_credentials(),
            Fault::ExpireTokens => d.faults.expire_tokens(),
            Fault::ChangePassword => d.faults.change_password(),
            Fault::Clear => {
                d.faults.clear();
                drop(demo);
                // As a user who typed the password in again: a link parked after auth_rejected
                // tries at once; a connected one ignores it.
                if let Some(l) = self.link().await {
                    l.trigger(Trigger::CredentialsChanged).await;
                }
            }
        }
        Ok(())
    }

    /// Send `command` to the device `mac` of the active link and wait for the status that
    /// confirms it. Offline, it waits in the outbox and expires if the link stays down.
    pub async fn device_command(&self, mac: &str, command: DeviceCommand) -> Result<CommandOutcome, UiError> {
        let cmd = command.to_command()?;
        let (link, devices, max_age) = {
            let active = self.active.lock().await;
            let a = active.as_ref().ok_or_else(|| UiError::new("no_link", "no link is running"))?;
            if a.devices.is_empty() {
                return Err(UiError::new("no_device", "this profile has no device to control"));
            }
            (a.link.clone(), a.devices.clone(), a.outbox_max_age)
        };
        let (topic, payload, code) = devices.request(mac, &cmd, command.field())?;
        // Listening before sending: the answer may come back before publish returns.
        let mut answers = devices.answers();
        match link.publish(&topic, payload, 1, false).await {
            Ok(PublishOutcome::Sent) => {}
            Ok(PublishOutcome::Queued { .. }) => {
                return Ok(CommandOutcome::Queued {
                    expires_after_s: max_age.as_secs_f64(),
                })
            }
            Err(e) => {
                return Err(UiError {
                    kind: "publish".into(),
                    field: Some(command.field().into()),
                    message: format!("the command was not sent: {e}"),
                })
            }
        }
        let wait = tokio::time::sleep(CONFIRM_WAIT);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                a = answers.recv() => match a {
                    Ok(Answer::Status { mac: m, command: c, to_us: true, status, card }) if m == mac && c == code && cmd.confirmed_by(&status) => {
                        return Ok(CommandOutcome::Confirmed { status: *card });
                    }
                    Ok(Answer::Refused { mac: m, to_us: true, fail_code }) if m == mac => {
                        return Err(UiError {
                            kind: "refused".into(),
                            field: Some(command.field().into()),
                            message: format!(
                                "the heater refused the command (failCode {fail_code}){}",
                                if fail_code == 2 { ": controls too close together; wait and try again" } else { "" }
                            ),
                        });
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                },
            }
        }
        Ok(CommandOutcome::NotConfirmed {
            message: format!(
                "sent, but no status from the heater showed the change within {} s",
                CONFIRM_WAIT.as_secs()
            ),
        })
    }

    pub async fn diagnostics(&self) -> Option<DiagnosticsView> {
        let (link, tokens) = {
            let active = self.active.lock().await;
            let a = active.as_ref()?;
            (a.link.clone(), a.tokens.clone())
        };
        Some(DiagnosticsView {
            link: link.diagnostics().await?,
            tokens: tokens.map(|t| t.token_state()),
        })
    }
}
