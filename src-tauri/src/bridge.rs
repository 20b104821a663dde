//! One task turning the core's state and events into app events (batched: at most ~10 UI updates
//! a second however fast messages arrive), tray updates and notifications.

use crate::{notify, tray};
use std::time::Duration;
use tauri::{AppHandle, Emitter, Runtime};
use tether::event::LinkEvent;
use tether::present::batch::{Batcher, Limits};
use tether::present::notify::{NotifyPolicy, NotifySettings};
use tether::LinkHandle;
use tokio::sync::broadcast;

/// The app event the UI listens to.
pub const UPDATE_EVENT: &str = "link-update";

pub fn spawn<R: Runtime>(app: AppHandle<R>, link: LinkHandle, mut rx: broadcast::Receiver<LinkEvent>, profile: String) {
    tauri::async_runtime::spawn(async move {
        let mut batcher = Batcher::new(Limits::default());
        let mut policy = NotifyPolicy::new(NotifySettings::default());
        let mut states = link.watch_state();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        batcher.set_state(states.borrow_and_update().clone());
        tray::show(&app, &profile, &link.state());
        loop {
            tokio::select! {
                // Core events: into the batch, and maybe a notification.
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        let now = tokio::time::Instant::now();
                        if let Some(n) = policy.on_event(&ev, now) {
                            notify::show(&n);
                        }
                        batcher.push(ev, now);
                    }
                    // The UI skips what it could not keep up with; the link never waits for it.
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::debug!(skipped = n, "bridge lagged"),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                // State changes: the tray at once, the UI with the next batch.
                changed = states.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let s = states.borrow_and_update().clone();
                    tray::show(&app, &profile, &s);
                    batcher.set_state(s);
                }
                // The batch clock, and the notification summaries of ended windows.
                _ = tick.tick() => {
                    let now = tokio::time::Instant::now();
                    if let Some(batch) = batcher.take(now) {
                        let _ = app.emit(UPDATE_EVENT, &batch);
                    }
                    for n in policy.due_summaries(now) {
                        notify::show(&n);
                    }
                }
            }
        }
    });
}
