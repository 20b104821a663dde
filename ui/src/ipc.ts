// GENERATED from the Rust IPC types by ts-rs: do not edit.
// Regenerate: TETHER_WRITE_IPC=1 cargo test -p tether-app --lib ipc_types

export type RecoveryStrategy = "simple_retry" | "recreate" | "refresh_and_recreate" | "backoff";

export type LinkState = { "state": "idle" } | { "state": "connecting" } | { "state": "connected", since: string, session_present: boolean, } | { "state": "reconnecting", attempt: number, max_attempts: number, retry_at: string | null, } | { "state": "recovering", cycle: number, max_cycles: number, strategy: RecoveryStrategy, retry_at: string | null, } | { "state": "gave_up", reason: string, } | { "state": "auth_rejected", reason: string, } | { "state": "paused" } | { "state": "stopped" };

export type EventKind = { "event": "connected", session_present: boolean, } | { "event": "connection_interrupted", error: string, cause: string, } | { "event": "attempt_failed", error: string, cause: string, } | { "event": "reconnecting", attempt: number, max_attempts: number, delay_ms: number, } | { "event": "reconnection_failed", attempts: number, } | { "event": "recovery_attempt", cycle: number, max_cycles: number, delay_ms: number, refresh: boolean, strategy: string, } | { "event": "recovered", downtime_ms: number, 
/**
 * Whether tier 1 had been exhausted (a "real" failure, worth a notification).
 */
after_failure: boolean, } | { "event": "gave_up", reason: string, } | { "event": "auth_rejected", reason: string, } | { "event": "token_refreshed" } | { "event": "subscriptions_restored", count: number, skipped_because_session_present: boolean, } | { "event": "subscribe_failed", topic: string, reason: string, } | { "event": "message", topic: string, payload: string, qos: number, retain: boolean, } | { "event": "message_too_large", topic: string, size: number, limit: number, } | { "event": "outbox_queued", count: number, } | { "event": "outbox_flushed", count: number, } | { "event": "outbox_expired", count: number, } | { "event": "outbox_dropped", count: number, reason: string, } | { "event": "outbox_refused", topic: string, size: number, reason: string, } | { "event": "outbox_set_aside", path: string, reason: string, } | { "event": "stale", topic: string, silent_for_ms: number, } | { "event": "triggered", trigger: string, } | { "event": "paused" } | { "event": "resumed" } | { "event": "stopped" };

export type LinkEvent = { 
/**
 * When it happened (RFC 3339, milliseconds, UTC).
 */
ts: string, 
/**
 * The profile (link) it happened on.
 */
profile: string, } & ({ "event": "connected", session_present: boolean, } | { "event": "connection_interrupted", error: string, cause: string, } | { "event": "attempt_failed", error: string, cause: string, } | { "event": "reconnecting", attempt: number, max_attempts: number, delay_ms: number, } | { "event": "reconnection_failed", attempts: number, } | { "event": "recovery_attempt", cycle: number, max_cycles: number, delay_ms: number, refresh: boolean, strategy: string, } | { "event": "recovered", downtime_ms: number, 
/**
 * Whether tier 1 had been exhausted (a "real" failure, worth a notification).
 */
after_failure: boolean, } | { "event": "gave_up", reason: string, } | { "event": "auth_rejected", reason: string, } | { "event": "token_refreshed" } | { "event": "subscriptions_restored", count: number, skipped_because_session_present: boolean, } | { "event": "subscribe_failed", topic: string, reason: string, } | { "event": "message", topic: string, payload: string, qos: number, retain: boolean, } | { "event": "message_too_large", topic: string, size: number, limit: number, } | { "event": "outbox_queued", count: number, } | { "event": "outbox_flushed", count: number, } | { "event": "outbox_expired", count: number, } | { "event": "outbox_dropped", count: number, reason: string, } | { "event": "outbox_refused", topic: string, size: number, reason: string, } | { "event": "outbox_set_aside", path: string, reason: string, } | { "event": "stale", topic: string, silent_for_ms: number, } | { "event": "triggered", trigger: string, } | { "event": "paused" } | { "event": "resumed" } | { "event": "stopped" });

export type TopicUpdate = { topic: string, count: number, 
/**
 * Messages per second over the last second or so.
 */
rate: number, last_payload: string, truncated: boolean, };

export type Batch = { 
/**
 * The latest state, when it changed since the last batch.
 */
state: LinkState | null, events: Array<LinkEvent>, 
/**
 * Events dropped from this batch because there were more than `max_events`.
 */
skipped_events: number, 
/**
 * Topics that got messages since the last batch.
 */
topics: Array<TopicUpdate>, };

export type Diagnostics = { state: string, running_for_ms: number, 
/**
 * Time connected since the link started.
 */
uptime_ms: number, connected_for_ms: number | null, connects: number, connect_attempts: number, drops_by_cause: { [key in string]: number }, recoveries: number, time_to_recover_last_ms: number | null, time_to_recover_p50_ms: number | null, time_to_recover_p95_ms: number | null, messages_in: number, messages_out: number, messages_queued: number, messages_dropped: number, messages_expired: number, 
/**
 * Incoming messages over the profile's packet limit, reported and skipped.
 */
messages_too_large: number, 
/**
 * Subscriptions registered on the link.
 */
subscriptions: number, 
/**
 * Of those, the ones the broker has acknowledged on the current connection.
 */
subscriptions_active: number, };

export type NotifySettings = { reconnection_failed: boolean, recovered: boolean, gave_up: boolean, auth_rejected: boolean, };

export type UiError = { kind: string, field: string | null, message: string, };

export type KeychainStatus = { available: boolean, message: string | null, };

export type SecretStatus = "none" | "keychain" | "memory" | "unknown";

export type DeviceStatus = { mac: string, 
/**
 * When the status arrived (RFC 3339).
 */
at: string, tank_f: number, setpoint_f: number, setpoint_min_f: number, setpoint_max_f: number, 
/**
 * The mode as shown ("heat pump", "vacation", "off", …).
 */
mode: string, 
/**
 * The mode's code: 1 heat pump, 2 electric, 3 energy saver, 4 high demand, 5 vacation, 6 off.
 */
mode_code: number, power_on: boolean, 
/**
 * Vacation days set (in vacation mode).
 */
vacation_days: number | null, 
/**
 * The anti-legionella period in days, `None` when it is off.
 */
anti_legionella_days: number | null, power_w: number, charge_percent: number, heating: boolean, 
/**
 * `E799`-style code and its meaning, `None` without an error.
 */
error: string | null, };

export type Controls = { 
/**
 * Whether the feature object has arrived: until then no command is sent.
 */
known: boolean, setpoint: boolean, setpoint_min_f: number, setpoint_max_f: number, modes: boolean, vacation: boolean, power: boolean, anti_legionella: boolean, };

export type DeviceCard = { mac: string, name: string, status: DeviceStatus | null, controls: Controls, };

export type DeviceCommand = { "kind": "setpoint", fahrenheit: number, } | { "kind": "mode", mode: string, } | { "kind": "vacation", days: number, } | { "kind": "power", on: boolean, } | { "kind": "anti_legionella", period_days: number | null, };

export type CommandOutcome = { "outcome": "confirmed", status: DeviceStatus, } | { "outcome": "not_confirmed", message: string, } | { "outcome": "queued", expires_after_s: number, };

export type TokenState = { 
/**
 * When the access token (JWT) held now expires.
 */
jwt_valid_until: string | null, 
/**
 * When the AWS credentials held now expire.
 */
aws_valid_until: string | null, 
/**
 * When the access token (JWT) is next renewed.
 */
jwt_renew_at: string | null, 
/**
 * When the AWS credentials are next renewed.
 */
aws_renew_at: string | null, 
/**
 * The last successful renewal.
 */
last_renewal: string | null, 
/**
 * Successful renewal steps since the link started.
 */
renewals: number, 
/**
 * Sign-ins with the password since the link started (the rest use tokens).
 */
password_sign_ins: number, 
/**
 * Why the last renewal failed, if it did.
 */
last_error: string | null, };

export type DiagnosticsView = { tokens: TokenState | null, state: string, running_for_ms: number, 
/**
 * Time connected since the link started.
 */
uptime_ms: number, connected_for_ms: number | null, connects: number, connect_attempts: number, drops_by_cause: { [key in string]: number }, recoveries: number, time_to_recover_last_ms: number | null, time_to_recover_p50_ms: number | null, time_to_recover_p95_ms: number | null, messages_in: number, messages_out: number, messages_queued: number, messages_dropped: number, messages_expired: number, 
/**
 * Incoming messages over the profile's packet limit, reported and skipped.
 */
messages_too_large: number, 
/**
 * Subscriptions registered on the link.
 */
subscriptions: number, 
/**
 * Of those, the ones the broker has acknowledged on the current connection.
 */
subscriptions_active: number, };

export type NavienSignIn = { 
/**
 * The profile's name (its secrets are kept under it).
 */
name: string, email: string, password: string, 
/**
 * Another cloud than Navien's (the emulator): its REST base URL, IoT host and port, CA file.
 */
rest_url: string | null, iot_host: string | null, iot_port: number | null, ca_file: string | null, };

export type NavienDeviceView = { mac: string, name: string, };

export type NavienAccountView = { email: string, devices: Array<NavienDeviceView>, };

export type NavienProfileInput = { name: string, 
/**
 * MACs of the devices to talk to (at least one).
 */
devices: Array<string>, };

export type Overview = { profile: string, demo: boolean, state: LinkState, 
/**
 * One card per device of the link (none for a plain MQTT profile).
 */
devices: Array<DeviceCard>, 
/**
 * The latest link events (messages aside), oldest first: the timeline of a window that
 * opens while the link has been running.
 */
recent_events: Array<LinkEvent>, keychain: KeychainStatus, 
/**
 * What went wrong at start (a malformed profile file, a profile that could not start).
 */
problem: string | null, };

export type ProfileView = { name: string, 
/**
 * `mqtt` or `navien`.
 */
kind: string, 
/**
 * The broker URL (mqtt), or the cloud's REST URL (navien).
 */
url: string, 
/**
 * The Navien account's e-mail.
 */
email: string | null, 
/**
 * The names of the profile's devices (navien).
 */
devices: Array<string>, username: string | null, client_id: string, subscriptions: Array<string>, active: boolean, secret: SecretStatus, };

export type ProfileInput = { 
/**
 * `None`: a new profile; else the profile being edited (it may be renamed).
 */
original_name: string | null, name: string, url: string, username: string | null, subscriptions: Array<string>, };

export type ReconnectSettings = { max_attempts: number, initial_delay_s: number, max_delay_s: number, multiplier: number, jitter: boolean, };

export type RecoverySettings = { strategy: RecoveryStrategy, max_cycles: number, initial_delay_s: number, max_delay_s: number, multiplier: number, };

export type Settings = { reconnect: ReconnectSettings, recovery: RecoverySettings, notifications: NotifySettings, start_at_login: boolean, };

export type Fault = "drop_link" | "broker_outage" | "refuse_credentials" | "expire_tokens" | "change_password" | "clear";

