//! The tray menu's items, one list for both trays: the tray process's StatusNotifierItem (Linux,
//! [`crate::systray`]) and Tauri's tray (macOS and Windows, in `src-tauri`). The menu sends an
//! [`Action`]; its `id` is what Tauri's menu events carry.

/// What the tray menu (or a signal) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    Retry,
    TogglePause,
    Quit,
}

impl Action {
    /// In menu order (a separator goes before Quit).
    pub const ALL: [Action; 4] = [Action::Open, Action::Retry, Action::TogglePause, Action::Quit];

    /// The menu item's id.
    pub fn id(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Retry => "retry",
            Action::TogglePause => "pause",
            Action::Quit => "quit",
        }
    }

    pub fn from_id(id: &str) -> Option<Action> {
        Self::ALL.into_iter().find(|a| a.id() == id)
    }

    /// The item's label. `paused`: whether the link is paused now, where the tray can relabel the
    /// item on every state change (`None`: a fixed label for both).
    pub fn label(self, paused: Option<bool>) -> &'static str {
        match (self, paused) {
            (Action::Open, _) => "Open Tether",
            (Action::Retry, _) => "Retry now",
            (Action::TogglePause, Some(true)) => "Resume",
            (Action::TogglePause, Some(false)) => "Pause",
            (Action::TogglePause, None) => "Pause / Resume",
            (Action::Quit, _) => "Quit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_found_by_its_id_and_ids_are_distinct() {
        for a in Action::ALL {
            assert_eq!(Action::from_id(a.id()), Some(a));
        }
        assert_eq!(Action::from_id("nope"), None);
        let mut ids: Vec<_> = Action::ALL.iter().map(|a| a.id()).collect();
        ids.dedup();
        assert_eq!(ids.len(), Action::ALL.len());
    }

    #[test]
    fn the_pause_item_says_what_it_will_do() {
        assert_eq!(Action::TogglePause.label(Some(true)), "Resume");
        assert_eq!(Action::TogglePause.label(Some(false)), "Pause");
        assert_eq!(Action::TogglePause.label(None), "Pause / Resume");
    }
}
