//! The tray on Linux: a StatusNotifierItem over D-Bus (ksni), shown by KDE, GNOME with the
//! AppIndicator extension, XFCE, Cinnamon, waybar and the like. No GTK, so the tray process does
//! not load a GUI toolkit (or, through it, Mesa). The state → icon and tooltip mapping is the
//! core's (`crate::present::tray`); the menu sends [`Action`]s to the daemon's loop.
//!
//! A desktop without a StatusNotifierWatcher shows no icon; the tray then registers as soon as
//! one appears, and launching Tether again opens the window meanwhile.

use crate::present::menu::Action;
use crate::present::tray::{icon_for, tooltip_now, TrayIcon as Kind};
use ksni::menu::{MenuItem, StandardItem};
use ksni::{Icon, ToolTip, TrayMethods};
use std::sync::OnceLock;
use tether::LinkState;
use tokio::sync::{mpsc, watch};

const PNGS: [(Kind, &[u8]); 4] = [
    (Kind::Connected, include_bytes!("../../icons/tray-connected.png")),
    (Kind::Reconnecting, include_bytes!("../../icons/tray-reconnecting.png")),
    (Kind::Failed, include_bytes!("../../icons/tray-failed.png")),
    (Kind::Paused, include_bytes!("../../icons/tray-paused.png")),
];

/// PNG (RGBA) → the ARGB32, big-endian pixels StatusNotifierItem wants.
pub fn argb(png_bytes: &[u8]) -> Result<Icon, png::DecodingError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader.next_frame(&mut buf)?;
    let rgba = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let mut data = Vec::with_capacity(rgba.len() / channels * 4);
    for px in rgba.chunks_exact(channels) {
        let (rgb, a) = match channels {
            4 => ([px[0], px[1], px[2]], px[3]),
            2 => ([px[0], px[0], px[0]], px[1]),
            _ => ([px[0], px[1 % channels], px[2 % channels]], 255),
        };
        data.extend_from_slice(&[a, rgb[0], rgb[1], rgb[2]]);
    }
    Ok(Icon {
        width: info.width as i32,
        height: info.height as i32,
        data,
    })
}

/// The icons, decoded once.
fn icon(kind: Kind) -> Vec<Icon> {
    static ICONS: OnceLock<Vec<(Kind, Icon)>> = OnceLock::new();
    let icons = ICONS.get_or_init(|| {
        PNGS.iter()
            .filter_map(|(k, bytes)| match argb(bytes) {
                Ok(i) => Some((*k, i)),
                Err(e) => {
                    tracing::error!(icon = ?k, error = %e, "tray icon unreadable");
                    None
                }
            })
            .collect()
    });
    icons.iter().filter(|(k, _)| *k == kind).map(|(_, i)| i.clone()).collect()
}

struct Tray {
    profile: String,
    state: LinkState,
    actions: mpsc::UnboundedSender<Action>,
}

impl Tray {
    fn send(&self, a: Action) {
        let _ = self.actions.send(a);
    }
}

impl ksni::Tray for Tray {
    fn id(&self) -> String {
        "tether".into()
    }
    fn title(&self) -> String {
        "Tether".into()
    }
    fn icon_pixmap(&self) -> Vec<Icon> {
        icon(icon_for(&self.state))
    }
    fn status(&self) -> ksni::Status {
        match icon_for(&self.state) {
            Kind::Failed => ksni::Status::NeedsAttention,
            _ => ksni::Status::Active,
        }
    }
    fn tool_tip(&self) -> ToolTip {
        ToolTip {
            title: "Tether".into(),
            description: if self.profile.is_empty() {
                "Starting…".into()
            } else {
                tooltip_now(&self.profile, &self.state)
            },
            ..Default::default()
        }
    }
    // A left click opens the window, as on the other platforms.
    fn activate(&mut self, _x: i32, _y: i32) {
        self.send(Action::Open);
    }
    fn menu(&self) -> Vec<MenuItem<Self>> {
        let paused = matches!(self.state, LinkState::Paused);
        let item = |action: Action| -> MenuItem<Self> {
            StandardItem {
                label: action.label(Some(paused)).into(),
                activate: Box::new(move |t: &mut Self| t.send(action)),
                ..Default::default()
            }
            .into()
        };
        let mut items: Vec<_> = Action::ALL.into_iter().map(item).collect();
        items.insert(items.len() - 1, MenuItem::Separator);
        items
    }
    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        // Keep the item: it registers again when a tray host comes (back).
        tracing::info!(?reason, "no tray host for now");
        true
    }
}

/// Put the tray up and keep it following the link's state. `None` when there is no session bus
/// at all: Tether then runs without a tray (the window and notifications still work).
pub async fn spawn(
    actions: mpsc::UnboundedSender<Action>,
    mut state: watch::Receiver<Option<(String, LinkState)>>,
) -> Option<ksni::Handle<impl ksni::Tray>> {
    let tray = Tray {
        profile: String::new(),
        state: LinkState::Idle,
        actions,
    };
    let handle = match tray.assume_sni_available(true).spawn().await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "no tray: cannot reach the session bus");
            return None;
        }
    };
    let h = handle.clone();
    tokio::spawn(async move {
        // The bridge sends the state on each change and once a second (for the countdown).
        while state.changed().await.is_ok() {
            let Some((profile, s)) = state.borrow_and_update().clone() else {
                continue;
            };
            if h.update(|t: &mut Tray| {
                t.profile = profile;
                t.state = s;
            })
            .await
            .is_none()
            {
                break;
            }
        }
    });
    Some(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_decoded_32px_icon() {
        for (kind, _) in PNGS {
            let icons = icon(kind);
            assert_eq!(icons.len(), 1, "{kind:?}");
            let i = &icons[0];
            assert_eq!((i.width, i.height), (32, 32));
            assert_eq!(i.data.len(), 32 * 32 * 4);
            // Not blank: some pixel is opaque.
            assert!(i.data.chunks_exact(4).any(|p| p[0] == 255), "{kind:?}");
        }
        // Each state looks different.
        let all: Vec<_> = PNGS.iter().map(|(k, _)| icon(*k)[0].data.clone()).collect();
        for a in 0..all.len() {
            for b in a + 1..all.len() {
                assert_ne!(all[a], all[b]);
            }
        }
    }
}
