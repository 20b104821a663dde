//! Where Tether keeps its files (config and data directories), and how a profile's files are
//! named in them: an injective encoding, so two profiles never share an outbox.

use std::path::PathBuf;

/// Create `dir` (and its parents) readable by this user only where the OS has such modes: it
/// holds payloads, host and user names (outboxes, logs).
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Make a rename in `dir` durable (the new name survives a power loss). A no-op where
/// directories cannot be opened for syncing (Windows).
pub fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The profile file's name inside the config dir.
pub const PROFILES_FILE: &str = "profiles.toml";

/// No directory to keep Tether's files in: no home directory, and no override set.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no home directory to put Tether's files in; set {0}")]
pub struct NoHome(pub &'static str);

/// Where Tether keeps its files. `TETHER_CONFIG_DIR` and `TETHER_DATA_DIR` override the platform
/// defaults (tests, portable installs).
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    pub fn from_env() -> Result<Self, NoHome> {
        let dirs = directories::ProjectDirs::from("", "", "Tether");
        let pick = |var: &'static str, default: Option<PathBuf>| -> Result<PathBuf, NoHome> {
            std::env::var_os(var).map(PathBuf::from).or(default).ok_or(NoHome(var))
        };
        Ok(Self {
            config_dir: pick("TETHER_CONFIG_DIR", dirs.as_ref().map(|d| d.config_dir().to_path_buf()))?,
            data_dir: pick("TETHER_DATA_DIR", dirs.as_ref().map(|d| d.data_dir().to_path_buf()))?,
        })
    }

    pub fn profiles_file(&self) -> PathBuf {
        self.config_dir.join(PROFILES_FILE)
    }

    /// The outbox database of a profile. Named by an injective encoding of the profile name, so
    /// two profiles never share one (`a.b` and `a_b` did, once).
    pub fn outbox(&self, profile: &str) -> PathBuf {
        self.data_dir.join("outbox").join(format!("{}.redb", file_key(profile)))
    }

    /// The outbox of a link given by URL and `--client-id` (no profile): in a directory of its own,
    /// so no profile name can ever map to it.
    pub fn url_outbox(&self, client_id: &str) -> PathBuf {
        self.data_dir
            .join("outbox")
            .join("by-client-id")
            .join(format!("{}.redb", file_key(client_id)))
    }

    /// The last diagnostics a running `tether watch` wrote for a profile.
    pub fn diagnostics(&self, profile: &str) -> PathBuf {
        self.data_dir.join("diag").join(format!("{}.json", file_key(profile)))
    }

    /// The outbox of `profile`, after moving one left under the old, colliding file name (before
    /// the encoding was injective) to its new name, when only this profile can have owned it.
    pub fn profile_outbox(&self, profile: &str) -> PathBuf {
        let path = self.outbox(profile);
        let legacy = self.data_dir.join("outbox").join(format!("{}.redb", legacy_key(profile)));
        // Profile names allow letters, digits, `-`, `_` and `.`, and only `.` became `_`: the
        // legacy file of a name without a `.` is its own (or was already shared with a `.` twin,
        // as before); a name with a `.` leaves it to the `_` twin rather than guess.
        let unambiguous = !profile.contains('.');
        if unambiguous && legacy != path && !path.exists() && legacy.exists() {
            if let Err(e) = std::fs::rename(&legacy, &path) {
                tracing::warn!(from = %legacy.display(), error = %e, "outbox not moved to its new name");
            }
        }
        path
    }

    /// Forget what Tether kept for a removed profile: its outbox (the publishes still queued for
    /// its broker must never go to another profile's) and its diagnostics. Returns whether an
    /// outbox was deleted.
    pub fn remove_profile_files(&self, profile: &str) -> std::io::Result<bool> {
        let _ = std::fs::remove_file(self.diagnostics(profile));
        match std::fs::remove_file(self.outbox(profile)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// An injective file-name encoding: ASCII letters, digits and `-` stay; every other byte
/// becomes `_` and two hex digits (`_` itself included, so the encoding can be read back).
fn file_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// The file name of earlier versions: not injective (`.` and `_` both became `_`).
fn legacy_key(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_private_dir_is_for_its_user_only() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/outbox");
        private_dir(&d).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().permissions().mode() & 0o777, 0o700);
        sync_dir(&d).unwrap();
    }

    fn paths(dir: &std::path::Path) -> Paths {
        Paths {
            config_dir: dir.join("config"),
            data_dir: dir.join("data"),
        }
    }

    #[test]
    fn paths_of_distinct_profiles_never_collide() {
        let p = paths(std::path::Path::new("/x"));
        let names = ["a.b", "a_b", "a-b", "ab", "a_2eb", "url-x", "A.b"];
        let files: std::collections::HashSet<_> = names.iter().map(|n| p.outbox(n)).collect();
        assert_eq!(files.len(), names.len(), "{files:?}");
        assert_ne!(p.outbox("url-x"), p.url_outbox("x"), "URL mode is not a profile name");
        assert_ne!(p.diagnostics("a.b"), p.diagnostics("a_b"));
    }

    #[test]
    fn a_legacy_outbox_moves_to_its_new_name_only_when_its_owner_is_certain() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        let outbox = dir.path().join("data").join("outbox");
        std::fs::create_dir_all(&outbox).unwrap();
        // "a.b" shared "a_b.redb" with "a_b": the file goes to "a_b", whose name it is.
        std::fs::write(outbox.join("a_b.redb"), b"legacy").unwrap();
        assert!(!p.profile_outbox("a.b").exists(), "ambiguous: left alone");
        assert_eq!(std::fs::read(p.profile_outbox("a_b")).unwrap(), b"legacy");
        assert!(!outbox.join("a_b.redb").exists());
        // "home" always had this file name: nothing to move.
        std::fs::write(outbox.join("home.redb"), b"kept").unwrap();
        assert_eq!(std::fs::read(p.profile_outbox("home")).unwrap(), b"kept");
    }

    #[test]
    fn removing_a_profiles_files_deletes_its_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        std::fs::create_dir_all(p.outbox("p").parent().unwrap()).unwrap();
        std::fs::write(p.outbox("p"), b"x").unwrap();
        assert!(p.remove_profile_files("p").unwrap());
        assert!(!p.outbox("p").exists());
        assert!(!p.remove_profile_files("p").unwrap(), "nothing left to remove");
    }
}
