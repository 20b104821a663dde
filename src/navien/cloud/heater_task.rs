//! The simulated heaters on the emulator's internal broker: one plain MQTT 3.1.1 client per
//! heater (`navilink-{mac}`, like the real unit's MQTT name) on 127.0.0.1, answering its request
//! topics with replies published through the broker (protocol doc §4.5), so every subscriber that
//! matches the reply topic sees it, the way AWS IoT delivers a real heater's replies.
//!
//! Each heater has a task polling its client (it reconnects on its own when the broker connection
//! breaks), a task publishing its replies (so the poll loop never waits on its own request
//! channel) and a tick task that advances the physics once a second with a random draw now and
//! then. The state sits behind a std `Mutex`, never held across an `.await`, so the emulator and
//! tests can read it through `HeaterHandles`.

use super::heater::Heater;
use super::heater_control::{response_topic, Reply};
use super::heater_status::{ctrl_fail_json, ctrl_fail_topic, feature_response, reply_json, status_response};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing as MqttOutgoing, Packet, QoS, SubscribeFilter, SubscribeReasonCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A status reply is about 2.9 kB; leave room for anything a client may send.
const MAX_PACKET: usize = 64 * 1024;
/// After a broken connection, wait this long before the next attempt (rumqttd restarts quickly).
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
/// The chance per second that a tap opens (the demo's: a draw every half minute or so).
const DRAW_CHANCE: f64 = 0.03;

/// A message to publish.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
}

/// Take one message that arrived on `topic`: what it calls for, and what to publish for it.
/// Pure (no network), so garbage can be fed to it in tests.
pub(crate) fn answer(h: &mut Heater, topic: &str, payload: &[u8], now: Instant) -> (Reply, Option<Outgoing>) {
    let envelope: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return (Reply::Ignore(format!("not JSON: {e}")), None),
    };
    let reply = h.apply_at(topic, &envelope, now);
    let message = match &reply {
        Reply::Status { command, .. } => response_topic(&envelope)
            .ok()
            .map(|t| (t.to_string(), reply_json(&envelope, status_response(h, *command)))),
        Reply::Feature { command } => response_topic(&envelope)
            .ok()
            .map(|t| (t.to_string(), reply_json(&envelope, feature_response(h, *command)))),
        Reply::CtrlFail { fail_code } => Some((ctrl_fail_topic(h), ctrl_fail_json(&envelope, h, *fail_code))),
        Reply::None | Reply::Ignore(_) => None,
    };
    let out = message.and_then(|(topic, v)| serde_json::to_vec(&v).ok().map(|payload| Outgoing { topic, payload }));
    (reply, out)
}

/// One heater's shared state.
struct Shared {
    heater: Arc<Mutex<Heater>>,
    /// True while the broker has granted all of the heater's subscriptions on the current connection.
    subscribed: watch::Receiver<bool>,
}

/// The running heaters: read or change their state, wait until they listen, wait for their end.
pub(crate) struct HeaterHandles {
    heaters: HashMap<String, Shared>,
    tasks: Vec<JoinHandle<()>>,
}

/// A poisoned lock only means a panic elsewhere mid-update; the state is still a plausible heater.
fn lock(m: &Mutex<Heater>) -> MutexGuard<'_, Heater> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HeaterHandles {
    /// A copy of the heater's current state.
    pub(crate) fn snapshot(&self, mac: &str) -> Option<Heater> {
        self.heaters.get(&mac.to_ascii_lowercase()).map(|s| lock(&s.heater).clone())
    }

    /// Change a heater's state in place (e.g. set an error code or a control interval).
    #[allow(dead_code)] // For the emulator's fault switches; the tests use it already.
    pub(crate) fn update<R>(&self, mac: &str, f: impl FnOnce(&mut Heater) -> R) -> Option<R> {
        self.heaters.get(&mac.to_ascii_lowercase()).map(|s| f(&mut lock(&s.heater)))
    }

    /// Waits until every heater listens on all its request topics; false after `timeout`. A
    /// request published before that reaches no one, so the emulator waits before it says "ready".
    pub(crate) async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let all = async {
            for s in self.heaters.values() {
                let mut rx = s.subscribed.clone();
                if rx.wait_for(|ok| *ok).await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(timeout, all).await.unwrap_or(false)
    }

    /// Waits for every task to end (after the shutdown token was cancelled).
    pub(crate) async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Start `heaters` against the plain MQTT broker on 127.0.0.1:`broker_port`; they run until
/// `shutdown` is cancelled. Must be called within a tokio runtime. A heater whose MAC repeats an
/// earlier one is left out: two clients with one client ID would kick each other off forever.
pub(crate) fn spawn(broker_port: u16, heaters: Vec<Heater>, shutdown: CancellationToken) -> HeaterHandles {
    let mut handles = HeaterHandles {
        heaters: HashMap::new(),
        tasks: Vec::new(),
    };
    for heater in heaters {
        let mac = heater.mac.clone();
        if handles.heaters.contains_key(&mac) {
            tracing::warn!(%mac, "navien-cloud: a second heater with this MAC is not started");
            continue;
        }
        let heater = Arc::new(Mutex::new(heater));
        let (subscribed_tx, subscribed_rx) = watch::channel(false);
        handles.tasks.push(tokio::spawn(run_client(
            broker_port,
            heater.clone(),
            subscribed_tx,
            shutdown.clone(),
        )));
        handles.tasks.push(tokio::spawn(run_ticks(heater.clone(), shutdown.clone())));
        handles.heaters.insert(
            mac,
            Shared {
                heater,
                subscribed: subscribed_rx,
            },
        );
    }
    handles
}

/// What the poll loop hands to the publishing task.
enum Job {
    Subscribe(Vec<String>),
    Publish(Outgoing),
}

async fn run_client(port: u16, heater: Arc<Mutex<Heater>>, subscribed: watch::Sender<bool>, shutdown: CancellationToken) {
    let (mac, topics) = {
        let h = lock(&heater);
        (h.mac.clone(), h.request_topics())
    };
    let mut opts = MqttOptions::new(format!("navilink-{mac}"), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    let (jobs, jobs_rx) = mpsc::unbounded_channel();
    let publisher = tokio::spawn(run_publisher(client.clone(), jobs_rx, mac.clone()));
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // A clean session starts with no subscriptions: make them again on every connect.
                subscribed.send_replace(false);
                let _ = jobs.send(Job::Subscribe(topics.clone()));
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let granted = ack.return_codes.iter().all(|c| matches!(c, SubscribeReasonCode::Success(_)));
                if !granted {
                    tracing::warn!(%mac, "navien-cloud heater: a subscription was refused");
                }
                subscribed.send_replace(granted);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let (reply, out) = answer(&mut lock(&heater), &p.topic, &p.payload, Instant::now());
                match &reply {
                    Reply::Ignore(reason) => tracing::debug!(%mac, topic = %p.topic, %reason, "navien-cloud heater: message ignored"),
                    Reply::Status { refused: Some(reason), .. } => {
                        tracing::info!(%mac, %reason, "navien-cloud heater: control changed nothing")
                    }
                    _ => {}
                }
                if let Some(out) = out {
                    let _ = jobs.send(Job::Publish(out));
                }
            }
            Ok(_) => {}
            Err(e) => {
                subscribed.send_replace(false);
                tracing::debug!(%mac, error = %e, "navien-cloud heater: broker connection lost; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
                }
            }
        }
    }
    subscribed.send_replace(false);
    // Not awaited: with the event loop no longer polled, a publish waiting for room in the
    // client's request channel would never finish.
    publisher.abort();
    // Say goodbye so the broker does not wait for the keep-alive; bounded, the broker may be gone.
    if client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(MqttOutgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
}

/// Sends the poll loop's subscriptions and replies, in order, until the poll loop ends.
async fn run_publisher(client: AsyncClient, mut jobs: mpsc::UnboundedReceiver<Job>, mac: String) {
    while let Some(job) = jobs.recv().await {
        let result = match job {
            Job::Subscribe(topics) => {
                client
                    .subscribe_many(topics.into_iter().map(|t| SubscribeFilter::new(t, QoS::AtLeastOnce)))
                    .await
            }
            Job::Publish(out) => client.publish(out.topic, QoS::AtLeastOnce, false, out.payload).await,
        };
        if let Err(e) = result {
            tracing::debug!(%mac, error = %e, "navien-cloud heater: request not queued");
        }
    }
}

/// Advances the physics once a second by the time that really passed.
async fn run_ticks(heater: Arc<Mutex<Heater>>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            now = interval.tick() => {
                let dt = now.saturating_duration_since(last).as_secs_f64();
                last = now;
                let draw = rand::random::<f64>() < DRAW_CHANCE;
                lock(&heater).tick(dt, draw);
            }
        }
    }
}

#[cfg(test)]
#[path = "heater_task_tests.rs"]
mod tests;
