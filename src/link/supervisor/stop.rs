//! Pause and stop: DISCONNECT sent and flushed (bounded), acknowledgements out first.

use super::*;

impl Supervisor {
    /// Send DISCONNECT and keep processing acknowledgements until it is written, bounded; then
    /// drop the connection.
    pub(super) async fn disconnect_gracefully(&mut self) {
        self.cancel_fetch();
        if self.mode == Mode::Connected {
            // What the consumer has taken goes out before DISCONNECT (the same channel, in order).
            if let Some(t) = self.outlet.ready_ack() {
                self.on_acks(t);
            }
            if let Some(c) = self.driver.client() {
                // On the same stream as the DISCONNECT, so before it; best effort by design.
                for (topic, payload) in &self.cfg.farewell {
                    if c.try_publish(topic.clone(), QoS::AtMostOnce, false, payload.clone().into_bytes())
                        .is_ok()
                    {
                        self.session.sent_publish(None);
                    }
                }
                let _ = c.try_disconnect();
            }
            let deadline = Instant::now() + DISCONNECT_WAIT;
            loop {
                tokio::select! {
                    r = self.driver.recv() => match r {
                        Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                        Ok(Event::Outgoing(o)) => self.on_outgoing(o),
                        Ok(Event::Incoming(Incoming::PubAck(a))) => self.on_acked(a.pkid),
                        Ok(_) => {}
                    },
                    _ = sleep_until(deadline) => break,
                }
            }
        }
        self.drop_connection();
        self.reset_link_tracking();
    }

    pub(super) async fn pause(&mut self) {
        if self.mode == Mode::Paused {
            return;
        }
        if self.mode == Mode::Connected {
            self.rec.on_dropped(Instant::now(), "paused");
        }
        self.disconnect_gracefully().await;
        self.mode = Mode::Paused;
        self.down_since = None;
        self.set_state(LinkState::Paused);
        self.emit(EventKind::Paused);
    }

    pub(super) async fn shutdown(&mut self) {
        self.disconnect_gracefully().await;
        self.driver.close();
        // Closed before `Stopped` is published: `LinkHandle::stop` returns on that state, and a
        // restart of the same profile opens this file next.
        self.outbox.close();
        self.tell_coalesced(Instant::now(), true);
        self.set_state(LinkState::Stopped);
        self.emit(EventKind::Stopped);
    }
}
