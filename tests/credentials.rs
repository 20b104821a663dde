//! Credentials that change under a running link: the next connect uses the new ones, whatever
//! the link was doing when they changed.

mod common;

use common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether::credentials::{BoxFuture, CredentialError, CredentialSource, Credentials};
use tether::handle::Trigger;
use tether::Link;

const T: Duration = Duration::from_secs(15);

/// A password the test can change, as the keychain's would be by `set_secret`.
struct Changeable(Mutex<String>);

impl CredentialSource for Changeable {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        let password = self.0.lock().unwrap().clone();
        Box::pin(async move {
            Ok(Credentials {
                username: Some("alice".into()),
                password: Some(password.into()),
            })
        })
    }
}

#[tokio::test]
async fn new_credentials_are_used_on_the_next_reconnect() {
    let broker = Broker::start(BrokerOptions {
        user: Some(("alice".into(), "old".into())),
        ..Default::default()
    });
    let proxy = FaultProxy::start(broker.port).await.expect("fault proxy on loopback");
    let creds = Arc::new(Changeable(Mutex::new("old".into())));
    let (h, rx) = Link::start_subscribed(fast_config(proxy.port), creds.clone()).expect("start");
    let mut ev = Events { rx, seen: vec![] };
    ev.wait_name("connected", T).await;

    // The password changes on the broker and in Tether while the link is connected.
    *creds.0.lock().unwrap() = "new".into();
    h.trigger(Trigger::CredentialsChanged).await;
    broker.set_password("alice", "new");
    proxy.reset_all();

    ev.wait_name("recovered", T).await;
    assert_eq!(ev.count("auth_rejected"), 0, "{:?}", ev.names());
    h.stop().await;
}

/// A keychain waiting on an unlock prompt nobody answers.
struct Prompting;

impl CredentialSource for Prompting {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Credentials::default())
        })
    }
}

#[tokio::test]
async fn a_credential_store_that_does_not_answer_never_blocks_the_link() {
    let (h, rx) = Link::start_subscribed(fast_config(1), Arc::new(Prompting)).expect("start");
    let mut ev = Events { rx, seen: vec![] };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Diagnostics, pause and stop are answered at once while the fetch waits.
    let d = tokio::time::timeout(Duration::from_secs(2), h.diagnostics()).await;
    assert!(matches!(d, Ok(Some(_))), "diagnostics waited on the credential store");
    assert_eq!(h.state().name(), "connecting");
    tokio::time::timeout(Duration::from_secs(2), h.pause())
        .await
        .expect("pause is taken at once");
    ev.wait_name("paused", Duration::from_secs(2)).await;
    tokio::time::timeout(Duration::from_secs(3), h.stop())
        .await
        .expect("stop waited on the credential store");
}
