//! Failures and triggers: what the state machine decides, turned into a state, events and the
//! next attempt.

use super::*;

impl Supervisor {
    pub(super) async fn on_failure(&mut self, err: LinkError) {
        let now = Instant::now();
        let kicked = self.mode == Mode::Connected && self.cfg.exclusive_client_id && matches!(err, LinkError::Closed);
        let connected_for = self.rec.connected_for(now).unwrap_or_default();
        if self.mode == Mode::Connected {
            self.rec.on_dropped(now, err.cause());
            // A connection that never proved stable did not end the outage it came out of.
            self.down_since.get_or_insert(now);
            self.was_interrupted = true;
            self.emit(EventKind::ConnectionInterrupted {
                error: err.to_string(),
                cause: err.cause(),
            });
        } else {
            self.emit(EventKind::AttemptFailed {
                error: err.to_string(),
                cause: err.cause(),
            });
            if self.down_since.is_none() {
                self.down_since = Some(now);
            }
        }
        if self.mode == Mode::Connected && self.unproven_since.is_some() && matches!(err, LinkError::Closed) {
            self.count_refusal();
        }
        // Whatever was on the wire is sent again after the next CONNACK.
        self.reset_link_tracking();
        if kicked && self.takeover.on_broker_close(now, connected_for) {
            self.park_gave_up(format!(
                "another client is using this client id ({}): the broker closed our connection {} times in {} s, each time it \
                 connected. Tether stopped so the two do not keep closing each other's connection; stop the other client \
                 (or give this profile its own client id), then Retry now",
                self.cfg.client_id,
                crate::link::takeover::CLOSES,
                crate::link::takeover::WINDOW.as_secs()
            ));
            return;
        }
        let kind = err.failure_kind();
        self.last_error = Some(err.clone());
        let decision = self.machine.on_failure(kind, self.creds.can_refresh(), rand::random::<f64>());
        self.apply(decision, &err).await;
    }

    pub(super) async fn apply(&mut self, d: Decision, err: &LinkError) {
        let now = Instant::now();
        let wall = |delay: Duration| Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        match d {
            Decision::Reconnect { attempt, delay } => {
                let max_attempts = self.cfg.reconnect.max_reconnect_attempts;
                // State first: whoever sees the event finds the state already matching it.
                self.set_state(LinkState::Reconnecting {
                    attempt,
                    max_attempts,
                    retry_at: Some(wall(delay)),
                });
                self.emit(EventKind::Reconnecting {
                    attempt,
                    max_attempts,
                    delay,
                });
                self.mode = Mode::Waiting {
                    at: now + delay,
                    recreate: false,
                    refresh: false,
                };
            }
            Decision::Recover {
                cycle,
                delay,
                recreate,
                refresh,
                reconnection_failed,
            } => {
                if let Some(attempts) = reconnection_failed {
                    self.outage_failed = true;
                    self.emit(EventKind::ReconnectionFailed { attempts });
                }
                let max_cycles = self.cfg.recovery.max_recovery_attempts;
                let strategy = self.cfg.recovery.strategy;
                // State first: whoever sees the event finds the state already matching it.
                self.set_state(LinkState::Recovering {
                    cycle,
                    max_cycles,
                    strategy,
                    retry_at: Some(wall(delay)),
                });
                self.emit(EventKind::RecoveryAttempt {
                    cycle,
                    max_cycles,
                    delay,
                    refresh,
                    strategy: strategy.as_str(),
                });
                self.mode = Mode::Waiting {
                    at: now + delay,
                    recreate,
                    refresh,
                };
            }
            Decision::GiveUp { reconnection_failed } => {
                if let Some(attempts) = reconnection_failed {
                    self.emit(EventKind::ReconnectionFailed { attempts });
                }
                let reason = format!(
                    "recovery gave up after {} cycles (last error: {err}); waiting for Retry now, a network change or a wake",
                    self.cfg.recovery.max_recovery_attempts
                );
                self.park_gave_up(reason);
            }
            Decision::RefreshAndRetry => {
                self.set_state(LinkState::Reconnecting {
                    attempt: 0,
                    max_attempts: self.cfg.reconnect.max_reconnect_attempts,
                    retry_at: None,
                });
                self.mode = Mode::Waiting {
                    at: now,
                    recreate: true,
                    refresh: true,
                };
            }
            Decision::AuthRejected => {
                self.outage_failed = true;
                let reason = err.to_string();
                self.set_state(LinkState::AuthRejected { reason: reason.clone() });
                self.emit(EventKind::AuthRejected { reason });
                self.drop_connection();
                self.mode = Mode::Parked(Park::AuthRejected);
            }
            Decision::Fatal => self.park_gave_up(format!("{err}; fix the profile, then Retry now")),
        }
    }

    pub(super) fn park_gave_up(&mut self, reason: String) {
        self.outage_failed = true;
        self.set_state(LinkState::GaveUp { reason: reason.clone() });
        self.emit(EventKind::GaveUp { reason });
        self.drop_connection();
        self.mode = Mode::Parked(Park::GaveUp);
    }

    pub(super) async fn on_trigger(&mut self, t: Trigger) {
        self.takeover.reset();
        if t == Trigger::CredentialsChanged {
            self.creds_changed = true;
        }
        let act = match (self.mode, t) {
            (Mode::Paused, _) | (Mode::Attempting, _) => false,
            // Asleep long enough, the broker has dropped us while the socket still looks fine.
            (Mode::Connected, Trigger::Woke) => {
                self.drop_connection();
                self.on_failure(LinkError::Network("the machine woke from sleep; reconnecting".into()))
                    .await;
                true
            }
            // Is our path still there? Answered within PROBE_WAIT, nothing happens.
            (Mode::Connected, Trigger::NetworkChanged) => {
                self.probe_path();
                false
            }
            (Mode::Connected, _) => false,
            // New credentials are what an auth refusal waits for; a network change is not.
            (Mode::Parked(park), Trigger::NetworkChanged | Trigger::Woke) => park != Park::AuthRejected,
            _ => true,
        };
        if !act {
            return;
        }
        self.emit(EventKind::Triggered { trigger: t.name() });
        self.machine.on_trigger();
        let recreate = matches!(t, Trigger::CredentialsChanged | Trigger::RetryNow) || !self.driver.has_client();
        self.set_state(LinkState::Reconnecting {
            attempt: 0,
            max_attempts: self.cfg.reconnect.max_reconnect_attempts,
            retry_at: None,
        });
        self.attempt(recreate, false).await;
    }

    /// One round trip to the broker that must answer within [`PROBE_WAIT`], or the ping deadline
    /// declares the link dead. An UNSUBSCRIBE of a filter we never subscribed to: every broker
    /// answers it (UNSUBACK) and nothing changes, and unlike PINGREQ rumqttc lets us send it.
    pub(super) fn probe_path(&mut self) {
        let Some(c) = self.driver.client() else { return };
        let filter = format!("tether/probe/{}", self.cfg.client_id);
        if c.try_unsubscribe(filter).is_ok() {
            self.emit(EventKind::Triggered {
                trigger: Trigger::NetworkChanged.name(),
            });
            self.ping.on_probe(Instant::now(), PROBE_WAIT);
        }
    }
}
