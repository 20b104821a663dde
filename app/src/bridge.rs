//! One task per active link turning the core's state and events into what the shell shows:
//! batched UI updates (at most ~10 a second however fast messages arrive), the device card, the
//! tray, and notifications. GUI-free: the shell plugs in through [`Sink`], tests plug in their own.

use crate::devices::{Devices, Seen};
use crate::ipc::DeviceStatus;
use crate::present::batch::{Batch, Batcher, Limits};
use crate::present::notify::{Notification, NotifyPolicy, NotifySettings};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether::delivery::Consumer;
use tether::event::{EventKind, LinkEvent};
use tether::{LinkHandle, LinkState};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// App event with a [`Batch`], at most ~10 a second.
pub const UPDATE_EVENT: &str = "link-update";
/// App event with a [`DeviceStatus`] (it names its device), when a water heater replies.
pub const DEVICE_EVENT: &str = "device-status";

/// Where the bridge's output goes (the Tauri app in the shell).
pub trait Sink: Send + Sync + 'static {
    /// One batched UI update.
    fn batch(&self, batch: &Batch);
    /// A device status reply, decoded.
    fn device(&self, status: &DeviceStatus);
    /// The link's state changed (the tray follows at once, not at the batch rate).
    fn state(&self, profile: &str, state: &LinkState);
    /// A desktop notification the policy let through.
    fn notify(&self, n: &Notification);
}

/// The latest link events (messages aside), oldest first, for a window that opens later.
pub type RecentEvents = Arc<Mutex<VecDeque<LinkEvent>>>;

/// How many events a newly opened window gets.
pub const RECENT_EVENTS: usize = 100;

pub fn spawn(
    sink: Arc<dyn Sink>,
    link: LinkHandle,
    mut rx: Consumer,
    profile: String,
    mut notify_settings: watch::Receiver<NotifySettings>,
    devices: Arc<Devices>,
    recent: RecentEvents,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut batcher = Batcher::new(Limits::default());
        let mut policy = NotifyPolicy::new(*notify_settings.borrow_and_update());
        let mut states = link.watch_state();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut ticks: u64 = 0;
        let (mut bad_replies, mut last_bad_warn) = (0u64, None);
        let first = states.borrow_and_update().clone();
        sink.state(&profile, &first);
        batcher.set_state(first);
        loop {
            tokio::select! {
                // Every event in order; a QoS 1 message is acknowledged to the broker once taken
                    // here (the window itself may skip: it shows batches).
                ev = rx.recv() => match ev {
                    Some(tether::delivery::Delivery { event: ev, receipt }) => {
                        let now = tokio::time::Instant::now();
                        if let Some(n) = policy.on_event(&ev, now) {
                            sink.notify(&n);
                        }
                        if !matches!(ev.kind, EventKind::Message { .. }) {
                            let mut r = recent.lock().unwrap_or_else(|p| p.into_inner());
                            if r.len() == RECENT_EVENTS {
                                r.pop_front();
                            }
                            r.push_back(ev.clone());
                        }
                        if let EventKind::Message { topic, payload, .. } = &ev.kind {
                            match devices.on_message(topic, payload, ev.ts) {
                                Seen::Status(d) => sink.device(&d),
                                // A malformed reply is skipped; the link goes on. Logged at most once
                                // a minute, with a count: a broken device must not fill the log.
                                Seen::Bad(e) => {
                                    bad_replies += 1;
                                    if last_bad_warn.is_none_or(|t: tokio::time::Instant| now.duration_since(t) >= Duration::from_secs(60)) {
                                        last_bad_warn = Some(now);
                                        tracing::warn!(%topic, error = %e, skipped = bad_replies, "skipped device replies that do not decode");
                                        bad_replies = 0;
                                    }
                                }
                                Seen::Features | Seen::Other => {}
                            }
                        }
                        batcher.push(ev, now);
                        rx.ack(receipt);
                    }
                    None => return,
                },
                changed = states.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let s = states.borrow_and_update().clone();
                    sink.state(&profile, &s);
                    batcher.set_state(s);
                }
                changed = notify_settings.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    policy.settings = *notify_settings.borrow_and_update();
                }
                _ = tick.tick() => {
                    ticks += 1;
                    if ticks.is_multiple_of(10) {
                        // The tray's tooltip says "next try in 12 s": keep it current.
                        sink.state(&profile, &link.state());
                    }
                    let now = tokio::time::Instant::now();
                    if let Some(batch) = batcher.take(now) {
                        sink.batch(&batch);
                    }
                    for n in policy.due_summaries(now) {
                        sink.notify(&n);
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_full_ui_batch_fits_one_line_to_the_window() {
        // The batch's own cap, with room for the event envelope and escaping of the line.
        assert!(Limits::default().max_bytes * 2 <= crate::wire::MAX_LINE);
    }
}
