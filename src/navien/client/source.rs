//! The Navien account as a link sees it: the credential source (tokens before each new client),
//! the upgrade signer (a fresh SigV4 presign for every connect attempt) and the renewal timer
//! (the JWT and the AWS credentials renewed before they go stale, while connected too).

use super::session::{Session, SessionError};
use crate::config::UpgradeSigner;
use crate::credentials::{BoxFuture, CredentialError, CredentialSource, Credentials};
use crate::navien::sigv4::{self, AwsCredentials, Presign, SignedHeaders};
use crate::navien::tokens::Need;
use chrono::Utc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// AWS IoT's region and the SigV4 service name of its WebSocket endpoint (§3.3).
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const SERVICE: &str = "iotdevicegateway";
/// How long a connect attempt that holds no unexpired keys may wait for a renewal before it goes
/// out unsigned (and is refused with a 403, which the link treats as refused credentials): under
/// the attempt's connect timeout, which rumqttc runs this inside.
const SIGN_WAIT: Duration = Duration::from_secs(8);
/// After the first failed timed renewal, the next try; doubled after each further failure, up
/// to [`RETRY_CAP`]: soon, but never a storm, and a parked link's timer grows quiet.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
const RETRY_CAP: Duration = Duration::from_secs(600);
/// One timed renewal, its whole chain, at most.
const RENEWAL_WAIT: Duration = Duration::from_secs(120);

/// The wait after `failures` failed timed renewals in a row.
fn retry_after(failures: u32) -> Duration {
    RETRY_AFTER_FAILURE
        .saturating_mul(1 << failures.saturating_sub(1).min(8))
        .min(RETRY_CAP)
}
/// The user name AWS IoT expects to see (an SDK metrics string; the broker ignores it).
const MQTT_USERNAME: &str = concat!("?SDK=Tether&Version=", env!("CARGO_PKG_VERSION"));

/// The credential source of a Navien link. Dropping it stops its renewal timer.
pub(crate) struct NavienSource {
    /// The account's tokens.
    session: Session,
    /// Ends the renewal timer.
    timer: CancellationToken,
    /// Counts the timer's renewals, for the link to tell.
    renewed: tokio::sync::watch::Receiver<u64>,
}

impl NavienSource {
    /// The source, with its renewal timer running from now.
    pub(crate) fn new(session: Session) -> Self {
        let timer = CancellationToken::new();
        let (tx, renewed) = tokio::sync::watch::channel(0);
        tokio::spawn(renew_on_time(session.clone(), timer.clone(), tx));
        Self { session, timer, renewed }
    }
}

impl Drop for NavienSource {
    fn drop(&mut self) {
        self.timer.cancel();
    }
}

impl CredentialSource for NavienSource {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        Box::pin(async move {
            match self.session.ensure(Need::Connect).await {
                Ok(_) => {}
                // MQTT needs only unexpired AWS keys: a renewal the cloud cannot do right now
                // (an outage, a JWT refresh failing) must not keep a working link down.
                Err(SessionError::Rest(e)) if self.session.current().is_some_and(|t| t.aws_live(Utc::now())) => {
                    tracing::warn!(error = %e, "token renewal failed; connecting with the AWS keys still held");
                }
                Err(e) => return Err(e.into()),
            }
            // Authentication happened at the WebSocket upgrade: a user name and no password.
            Ok(Credentials {
                username: Some(MQTT_USERNAME.to_string()),
                password: None,
            })
        })
    }

    fn can_refresh(&self) -> bool {
        true
    }

    /// A deep renewal: a forced JWT refresh and a session refresh, with the fallbacks (§8.2).
    fn refresh(&self) -> BoxFuture<'_, Result<(), CredentialError>> {
        Box::pin(async move {
            self.session.ensure(Need::Deep).await?;
            Ok(())
        })
    }

    fn renewals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.renewed.clone())
    }
}

/// Signs each connect attempt's upgrade with the AWS credentials held at that moment.
#[derive(Clone)]
pub(crate) struct Presigner {
    pub(crate) session: Session,
}

impl std::fmt::Debug for Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presigner").field("email", &self.session.email()).finish()
    }
}

impl UpgradeSigner for Presigner {
    fn sign(&self, req: http::Request<()>) -> BoxFuture<'static, http::Request<()>> {
        let session = self.session.clone();
        Box::pin(async move { presign(&session, req).await })
    }
}

async fn presign(session: &Session, mut req: http::Request<()>) -> http::Request<()> {
    // This runs inside the connect attempt's own time limit: sign with the keys held whenever
    // they are unexpired (the timer renews them ahead of time), and renew here only without any.
    let held = session.current().filter(|t| t.aws_live(Utc::now()));
    let tokens = match held {
        Some(t) => t,
        None => match tokio::time::timeout(SIGN_WAIT, session.ensure(Need::Connect)).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no AWS credentials for the connect attempt; it will be refused");
                return req;
            }
            Err(_) => {
                tracing::warn!("the token renewal took too long; the connect attempt goes out unsigned");
                return req;
            }
        },
    };
    let Some(aws) = tokens.aws else { return req };
    // Sign the Host the WebSocket stack will send: it set the header from the URL already.
    let host = match req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()) {
        Some(h) => h.to_string(),
        None => req.uri().authority().map(|a| a.to_string()).unwrap_or_default(),
    };
    let creds = AwsCredentials {
        access_key_id: aws.access_key_id,
        secret_key: aws.secret_key,
        session_token: aws.session_token,
    };
    let p = Presign {
        host: &host,
        path: req.uri().path(),
        region: REGION,
        service: SERVICE,
        // Only `host`: some stacks rewrite `Connection` (§3.3).
        signed_headers: SignedHeaders::Host,
        expires: None,
    };
    let query = sigv4::presign_query(&creds, &p, Utc::now());
    let mut parts = req.uri().clone().into_parts();
    let path = req.uri().path().to_string();
    parts.path_and_query = format!("{path}?{query}").parse().ok();
    match http::Uri::from_parts(parts) {
        Ok(uri) => *req.uri_mut() = uri,
        Err(e) => tracing::warn!(error = %e, "the presigned URL could not be built"),
    }
    req
}

/// Renew before staleness, on a timer, so the credentials a reconnect needs are already there and
/// a connected link's JWT keeps working for REST calls.
async fn renew_on_time(session: Session, stop: CancellationToken, renewed: tokio::sync::watch::Sender<u64>) {
    // Nothing is held before the first connect has loaded or fetched the tokens.
    let mut wait = Duration::from_secs(1);
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let now = Utc::now();
        let Some(at) = session.next_renewal(now) else {
            wait = Duration::from_secs(1);
            continue;
        };
        if at > now {
            wait = (at - now).to_std().unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(50));
            continue;
        }
        wait = match tokio::time::timeout(RENEWAL_WAIT, session.renew_due()).await {
            Ok(Ok(took_a_step)) => {
                failures = 0;
                // Told only when this renewal took a step (a connect's may have done it all).
                if took_a_step {
                    renewed.send_modify(|n| *n += 1);
                }
                // At least a second: a cloud that issued a lifetime of 0 must not be asked again
                // twenty times a second.
                Duration::from_secs(1)
            }
            Ok(Err(e)) => {
                failures += 1;
                let next = retry_after(failures);
                tracing::warn!(error = %e, "timed token renewal failed; trying again in {} s", next.as_secs());
                next
            }
            Err(_) => {
                failures += 1;
                retry_after(failures)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_timed_renewals_back_off_to_ten_minutes() {
        let waits: Vec<u64> = (1..=8).map(|n| retry_after(n).as_secs()).collect();
        assert_eq!(waits, vec![30, 60, 120, 240, 480, 600, 600, 600]);
        assert_eq!(retry_after(u32::MAX), RETRY_CAP);
    }
}
