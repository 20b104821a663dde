// The one place the UI talks to the Rust side: typed wrappers over Tauri's `invoke` and `listen`.
// Command names and argument shapes follow the IPC contract (types in ipc.ts, generated from Rust).
// Every command rejects with a UiError; `toUiError` normalises anything else into one.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  Batch,
  CommandOutcome,
  DeviceCommand,
  DeviceStatus,
  DiagnosticsView,
  Fault,
  NavienAccountView,
  NavienProfileInput,
  NavienSignIn,
  Overview,
  ProfileInput,
  ProfileView,
  SecretStatus,
  Settings,
  UiError,
} from "./ipc";

export const getOverview = () => invoke<Overview>("get_overview");
export const retryNow = () => invoke<null>("retry_now");
export const pause = () => invoke<null>("pause");
export const resume = () => invoke<null>("resume");
export const getDiagnostics = () => invoke<DiagnosticsView | null>("get_diagnostics");

export const listProfiles = () => invoke<ProfileView[]>("list_profiles");
export const saveProfile = (input: ProfileInput) => invoke<ProfileView>("save_profile", { input });
export const removeProfile = (name: string) => invoke<null>("remove_profile", { name });
/** `null` switches to the embedded demo. */
export const switchProfile = (name: string | null) => invoke<Overview>("switch_profile", { name });

export const getSettings = () => invoke<Settings>("get_settings");
export const saveSettings = (settings: Settings) => invoke<Settings>("save_settings", { settings });

/** The secret goes to the backend once and never comes back; only where it is kept does. */
export const setSecret = (profile: string, secret: string) =>
  invoke<SecretStatus>("set_secret", { profile, secret });
export const deleteSecret = (profile: string) => invoke<SecretStatus>("delete_secret", { profile });

export const demoFault = (fault: Fault) => invoke<null>("demo_fault", { fault });
/** Resolves once the device's status confirms the command (up to about 20 s), or says why not. */
export const deviceCommand = (mac: string, command: DeviceCommand) =>
  invoke<CommandOutcome>("device_command", { mac, command });

/** Checks the account at once and lists its devices; the password is not kept by the page. */
export const navienSignIn = (input: NavienSignIn) => invoke<NavienAccountView>("navien_sign_in", { input });
/** Saves the signed-in account with the devices picked; the new profile becomes the active one. */
export const saveNavienProfile = (input: NavienProfileInput) => invoke<ProfileView>("save_navien_profile", { input });

export const uiReady = () => invoke<null>("ui_ready");
export const hideWindow = () => invoke<null>("hide_window");

/** Batched link state, events and topic updates, at most about ten a second. */
export const onLinkUpdate = (handler: (batch: Batch) => void): Promise<UnlistenFn> =>
  listen<Batch>("link-update", (e) => handler(e.payload));

/** A status reply from one of the link's water heaters (its `mac` says which). */
export const onDeviceStatus = (handler: (status: DeviceStatus) => void): Promise<UnlistenFn> =>
  listen<DeviceStatus>("device-status", (e) => handler(e.payload));

/** Any rejection as a UiError, so every error can be shown by its `field`. */
export function toUiError(err: unknown): UiError {
  if (err && typeof err === "object" && "message" in err) {
    const e = err as Partial<UiError>;
    return { kind: e.kind ?? "error", field: e.field ?? null, message: String(e.message) };
  }
  return { kind: "error", field: null, message: String(err) };
}
