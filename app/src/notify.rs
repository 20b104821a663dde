//! Desktop notifications through notify-rust. Which events notify, and the rate limit, are the
//! core's (`crate::present::notify`); this file only shows them, and keeps notify-rust's
//! platform quirks in one place.

use crate::present::notify::Notification;

pub fn show(n: &Notification) {
    let mut note = notify_rust::Notification::new();
    note.appname("Tether").summary(&n.title).body(&n.body);
    // Shown off the async workers: on Linux this is a blocking D-Bus call.
    std::thread::spawn(move || {
        if let Err(e) = note.show() {
            tracing::warn!(error = %e, "desktop notification not shown");
        }
    });
}
