// Lists the app's commands so Tauri generates a permission for each; the capability file grants
// the main window exactly these.
fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(&[
            "get_state",
            "retry_now",
            "pause",
            "resume",
        ])),
    )
    .expect("tauri build step");
}
