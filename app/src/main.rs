//! `tether-tray`: Tether without a window (the links, the tray icon, notifications), which the
//! window process `tether-desktop` starts and talks to. See `daemon`.

#[cfg(unix)]
#[tokio::main]
async fn main() {
    use tether_app::daemon::{self, DaemonError};
    // The tray process holds the profiles' passwords: no core dump of it, and no ptrace attach
    // by other processes of the user (what a crash reporter or a curious process would read).
    // SAFETY: prctl with PR_SET_DUMPABLE and a constant argument has no memory preconditions.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    let paths = match tether::profiles::Paths::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tether-tray: {e}");
            std::process::exit(1);
        }
    };
    let _log = tether_app::logging::init(&tether_app::logging::dir(&paths.data_dir), "tether");
    match daemon::run(paths, &tether_app::wire::runtime_dir()).await {
        Ok(()) => {}
        Err(e @ DaemonError::AlreadyRunning(_)) => {
            eprintln!("tether-tray: {e}");
        }
        Err(e) => {
            tracing::error!(error = %e, "tray process failed");
            eprintln!("tether-tray: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(unix))]
fn main() {
    eprintln!("tether-tray: on this platform the tray runs inside tether-desktop");
    std::process::exit(2);
}
