//! Start at login on Linux: an XDG autostart entry that starts this program, written and removed
//! by the setting. (The macOS Launch Agent and the Windows Run key share the `auto-launch` crate's
//! API but cannot run here.)

#[test]
fn start_at_login_writes_and_removes_an_xdg_autostart_entry() {
    let home = tempfile::tempdir().unwrap();
    // auto-launch finds ~/.config/autostart through $HOME; this test binary is its own process.
    std::env::set_var("HOME", home.path());
    let entry = home.path().join(".config/autostart/Tether.desktop");

    tether_app::login::set(true).expect("enabled");
    let text = std::fs::read_to_string(&entry).expect("autostart entry written");
    let exe = std::env::current_exe().unwrap();
    assert!(
        text.contains(&format!("Exec={}", exe.display())) || text.contains(&exe.display().to_string()),
        "{text}"
    );
    assert!(text.contains("Name=Tether"), "{text}");
    assert!(text.contains("--minimized"), "starts in the tray: {text}");

    tether_app::login::set(false).expect("disabled");
    assert!(!entry.exists(), "autostart entry removed");
    // Disabling twice is not an error.
    tether_app::login::set(false).expect("disabled again");
}
