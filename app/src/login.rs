//! Start at login: an XDG autostart entry on Linux, a Launch Agent on macOS, the Run key on
//! Windows (the `auto-launch` crate). Only the Linux path runs on this CI.

use auto_launch::{AutoLaunch, AutoLaunchBuilder};

fn entry() -> Result<AutoLaunch, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find Tether's program file: {e}"))?;
    let exe = exe.to_str().ok_or("Tether's program path is not valid UTF-8")?.to_string();
    AutoLaunchBuilder::new()
        .set_app_name("Tether")
        .set_app_path(&exe)
        .set_args(&[crate::MINIMIZED])
        .build()
        .map_err(|e| e.to_string())
}

/// Make the OS start Tether at login (or not), in the tray without a window.
pub fn set(on: bool) -> Result<(), String> {
    let e = entry()?;
    let r = if on { e.enable() } else { e.disable() };
    // Disabling what is not enabled is not an error to the user.
    match r {
        Ok(()) => Ok(()),
        Err(_) if !on && !e.is_enabled().unwrap_or(true) => Ok(()),
        Err(err) => Err(format!("could not {} start at login: {err}", if on { "enable" } else { "disable" })),
    }
}
