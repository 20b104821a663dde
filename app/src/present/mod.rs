//! Presentation logic the desktop shell adapts, kept here so it is pure and tested without a
//! window: which events become notifications (and when a flapping link gets one summary instead
//! of a storm), how a fast event stream is batched into at most ~10 UI updates a second with
//! bounded memory, what the tray shows for each state, and its menu's items.

pub mod batch;
pub mod menu;
pub mod notify;
pub mod tray;
