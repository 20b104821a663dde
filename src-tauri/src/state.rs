//! What the app keeps while it runs (managed by Tauri): the link, and the demo when it runs one.

use tether::demo::Demo;
use tether::LinkHandle;

pub struct AppState {
    /// The link the window and the tray show.
    pub link: LinkHandle,
    /// Kept alive while the app runs the embedded demo.
    pub _demo: Option<Demo>,
}
