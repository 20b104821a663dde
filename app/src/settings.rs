//! App-wide settings (notifications, start at login) in `settings.toml` beside the profiles.
//! A malformed file is reported with where it is wrong and never overwritten: the app runs on
//! defaults and refuses to save until the file is fixed or removed.

use crate::present::notify::NotifySettings;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppSettings {
    pub notifications: NotifySettings,
    pub start_at_login: bool,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum SettingsError {
    #[error("{path}: {reason} (fix or remove the file; it is left as it is)")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

pub struct SettingsFile {
    path: PathBuf,
    /// Set when the file on disk could not be read: saving would destroy the user's file.
    broken: Option<SettingsError>,
}

impl SettingsFile {
    /// Load from `path`; a missing file is the defaults.
    pub fn load(path: PathBuf) -> (Self, AppSettings) {
        match read(&path) {
            Ok(s) => (Self { path, broken: None }, s),
            Err(e) => {
                tracing::error!(error = %e, "settings not loaded; running on defaults");
                (Self { path, broken: Some(e) }, AppSettings::default())
            }
        }
    }

    /// Why saving is refused, if it is.
    pub fn problem(&self) -> Option<&SettingsError> {
        self.broken.as_ref()
    }

    /// Write atomically (temp file + rename).
    pub fn save(&self, s: &AppSettings) -> Result<(), SettingsError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let io = |e: std::io::Error| SettingsError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let text = toml::to_string_pretty(s).map_err(|e| SettingsError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Written whole and synced before the rename, and the rename synced: after a power loss
        // the file is the old one or the new one, never empty (which would read as defaults).
        let tmp = self.path.with_extension(format!("toml.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            // Saved: a directory that will not sync only makes the rename less durable.
            if let Some(Err(e)) = self.path.parent().map(tether::paths::sync_dir) {
                tracing::warn!(error = %e, "settings saved, but their directory could not be synced");
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }
}

fn read(path: &Path) -> Result<AppSettings, SettingsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AppSettings::default()),
        Err(e) => {
            return Err(SettingsError::Io {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    // Not UTF-8 (saved in another encoding) is malformed like any other mistake: said where.
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let before = std::str::from_utf8(&e.as_bytes()[..good]).unwrap_or_default();
        SettingsError::Malformed {
            path: path.to_path_buf(),
            reason: "not UTF-8 text".to_string() + &location(before, Some(good..good)),
        }
    })?;
    toml::from_str(&text).map_err(|e| SettingsError::Malformed {
        path: path.to_path_buf(),
        reason: e.message().to_string() + &location(&text, e.span()),
    })
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return String::new() };
    let (line, col) = tether::profiles::line_col(text, span.start);
    format!(" at line {line}, column {col}")
}

#[cfg(test)]
#[path = "settings_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_defaults_and_saves_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let (f, s) = SettingsFile::load(path.clone());
        assert_eq!(s, AppSettings::default());
        let mut s = s;
        s.notifications.recovered = false;
        s.start_at_login = true;
        f.save(&s).unwrap();
        assert_eq!(SettingsFile::load(path).1, s);
    }

    #[test]
    fn malformed_file_is_reported_with_its_place_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let bad = "start_at_login = true\n[notifications]\nrecovered = \"yes\"\n";
        std::fs::write(&path, bad).unwrap();
        let (f, s) = SettingsFile::load(path.clone());
        assert_eq!(s, AppSettings::default());
        let e = f.save(&s).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("settings.toml"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
    }

    /// A typo in a notification's name was dropped without a word (the setting silently off
    /// its default), while one at the top level was reported.
    #[test]
    fn a_misspelt_notification_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let bad = "[notifications]\nrecoverd = false\n";
        std::fs::write(&path, bad).unwrap();
        let (f, _) = SettingsFile::load(path.clone());
        let e = f.problem().expect("reported").to_string();
        assert!(e.contains("recoverd") && e.contains("line 2"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
    }

    /// Found by `props::any_file_loads_without_panic_and_one_that_does_not_parse_is_reported_and_kept`:
    /// a file saved in Latin-1 was an I/O error that said neither where nor what to do.
    #[test]
    fn a_file_that_is_not_utf8_is_reported_with_its_place_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        let bad = b"start_at_login = true\n# caf\xe9\n";
        std::fs::write(&path, bad).unwrap();
        let (f, s) = SettingsFile::load(path.clone());
        assert_eq!(s, AppSettings::default());
        let e = f.save(&s).unwrap_err();
        assert!(matches!(e, SettingsError::Malformed { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("not UTF-8 text at line 2, column 6"), "{e}");
        assert!(e.contains("it is left as it is"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), bad);
    }
}
