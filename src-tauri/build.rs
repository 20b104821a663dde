// Lists the app's commands so Tauri generates a permission for each; the capability file grants
// the main window exactly these.
fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(&[
            "get_overview",
            "retry_now",
            "pause",
            "resume",
            "get_diagnostics",
            "list_profiles",
            "save_profile",
            "remove_profile",
            "switch_profile",
            "get_settings",
            "save_settings",
            "set_secret",
            "delete_secret",
            "demo_fault",
            "device_command",
            "navien_sign_in",
            "save_navien_profile",
            "ui_ready",
            "hide_window",
        ])),
    )
    .expect("tauri build step");
}
