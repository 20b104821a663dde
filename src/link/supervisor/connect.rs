//! Connection attempts: credentials fetched beside the loop, a client built from them, the
//! connection started and dropped.

use super::*;

impl Supervisor {
    /// Start an attempt: refresh and/or build a new client if asked (or if there is none), then
    /// tell the poller to connect.
    pub(super) async fn attempt(&mut self, recreate: bool, refresh: bool) {
        self.mode = Mode::Attempting;
        if recreate || refresh || !self.driver.has_client() || std::mem::take(&mut self.creds_changed) {
            // Drop the old client before building the new one, with credentials fetched beside
            // the loop: a keychain prompt or a token request must not hold up stop or pause.
            self.driver.close();
            self.start_fetch(refresh);
            return;
        }
        self.connect_now();
    }

    pub(super) fn connect_now(&mut self) {
        self.rec.attempts += 1;
        self.mode = Mode::Attempting;
        self.driver.go();
    }

    /// Refresh (if asked and possible), then fetch the credentials, in a task of its own.
    pub(super) fn start_fetch(&mut self, refresh: bool) {
        self.cancel_fetch();
        let creds = self.creds.clone();
        self.fetching = Some(tokio::spawn(async move {
            let refreshed = if refresh && creds.can_refresh() {
                Some(match tokio::time::timeout(CREDENTIALS_TIMEOUT, creds.refresh()).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err("timed out".to_string()),
                })
            } else {
                None
            };
            let got = tokio::time::timeout(CREDENTIALS_TIMEOUT, creds.credentials())
                .await
                .map_err(|_| {
                    LinkError::Credentials(format!(
                        "no answer from the credential store within {}s",
                        CREDENTIALS_TIMEOUT.as_secs()
                    ))
                })
                .and_then(|r| {
                    r.map_err(|e| match e {
                        CredentialError::NoKeychain(_) | CredentialError::CannotRefresh => LinkError::InvalidConfig(e.to_string()),
                        CredentialError::Rejected(reason) => LinkError::AuthRefused(reason),
                        other => LinkError::Credentials(other.to_string()),
                    })
                });
            (refreshed, got)
        }));
    }

    pub(super) fn cancel_fetch(&mut self) {
        if let Some(f) = self.fetching.take() {
            f.abort();
        }
    }

    /// The credentials are in: build the client and connect, or count the failure.
    pub(super) async fn on_fetched(&mut self, r: Result<Fetched, tokio::task::JoinError>) {
        self.fetching = None;
        if self.mode != Mode::Attempting {
            return;
        }
        let (refreshed, got) = r.unwrap_or_else(|e| (None, Err(LinkError::Credentials(format!("the credential fetch failed: {e}")))));
        match refreshed {
            Some(Ok(())) => self.emit(EventKind::TokenRefreshed),
            Some(Err(e)) => tracing::warn!(profile = %self.profile, error = %e, "credential refresh failed; trying with the old ones"),
            None => {}
        }
        match got.and_then(|c| self.build_conn(&c)) {
            Ok(()) => self.connect_now(),
            Err(e) => self.on_failure(e).await,
        }
    }

    pub(super) fn build_conn(&mut self, creds: &Credentials) -> Result<(), LinkError> {
        let opts = mqtt_options(&self.cfg, creds).map_err(|e| LinkError::InvalidConfig(e.to_string()))?;
        let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_CHANNEL);
        let mut net = rumqttc::NetworkOptions::new();
        // rumqttc's own default is 5 s whatever we configure, for the connect and every flush.
        net.set_connection_timeout(self.cfg.connect_timeout.as_secs().max(1));
        eventloop.set_network_options(net);
        self.driver.replace(client, eventloop);
        Ok(())
    }

    /// Drop the current connection without DISCONNECT (the link is dead or we want it gone).
    /// Whatever the dropped attempt still has queued for us is ignored from here on.
    pub(super) fn drop_connection(&mut self) {
        self.driver.drop_link();
    }

    /// Forget everything tied to the connection that just ended: in-flight publishes go back to
    /// the outbox's unsent list, pending SUBSCRIBEs are sent again after the next CONNACK.
    pub(super) fn reset_link_tracking(&mut self) {
        self.outbox.reset_in_flight();
        self.session.reset();
        self.unsent_acks.clear();
        self.ping.reset();
        self.unproven_since = None;
        self.periodic.reset();
        self.flush_needed = !self.outbox.is_empty();
    }
}
