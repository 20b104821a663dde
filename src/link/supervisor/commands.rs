//! Commands from the link's handles.

use super::*;

impl Supervisor {
    pub(super) async fn on_command(&mut self, c: Command) {
        match c {
            Command::Subscribe(spec, reply) => {
                let (topic, qos) = (spec.topic.clone(), spec.qos);
                self.session.register(spec, Instant::now());
                if self.mode == Mode::Connected {
                    self.send_subscribe(topic, qos);
                }
                let _ = reply.send(());
            }
            Command::Unsubscribe(topic, reply) => {
                let existed = self.session.forget(&topic);
                if existed && self.mode == Mode::Connected {
                    if let Some(c) = self.driver.client() {
                        let _ = c.try_unsubscribe(topic);
                    }
                }
                let _ = reply.send(existed);
            }
            Command::Publish {
                topic,
                payload,
                qos,
                retain,
                reply,
            } => {
                let r = self.publish(topic, payload, qos, retain);
                let _ = reply.send(r);
            }
            Command::AddPeriodic(req) => {
                let i = self.periodic.add(req);
                if self.mode == Mode::Connected {
                    self.send_periodic(i, Instant::now());
                }
            }
            Command::Trigger(t) => self.on_trigger(t).await,
            Command::Pause => self.pause().await,
            Command::Resume => {
                if self.mode == Mode::Paused {
                    self.emit(EventKind::Resumed);
                    self.machine.on_trigger();
                    self.set_state(LinkState::Connecting);
                    self.attempt(true, false).await;
                }
            }
            Command::Diagnostics(reply) => {
                // While not connected nothing is acknowledged, whatever a kept session remembers
                // (the client stays built through tier 1, so it is no sign of a connection).
                let (registered, mut acked) = self.session.counts();
                if self.mode != Mode::Connected {
                    acked = 0;
                }
                let state = self.state_tx.borrow().name();
                let snap = self.rec.snapshot(Instant::now(), self.outbox.len(), state, (registered, acked));
                let _ = reply.send(snap);
            }
        }
    }
}
