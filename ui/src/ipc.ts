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

export type DeviceStatus = { 
/**
 * When the status arrived (RFC 3339).
 */
at: string, tank_f: number, setpoint_f: number, setpoint_min_f: number, setpoint_max_f: number, mode: string, power_w: number, charge_percent: number, heating: boolean, error: string | null, };

export type Overview = { profile: string, demo: boolean, state: LinkState, device: DeviceStatus | null, 
/**
 * The latest link events (messages aside), oldest first: the timeline of a window that
 * opens while the link has been running.
 */
recent_events: Array<LinkEvent>, keychain: KeychainStatus, 
/**
 * What went wrong at start (a malformed profile file, a profile that could not start).
 */
problem: string | null, };

export type ProfileView = { name: string, url: string, username: string | null, client_id: string, subscriptions: Array<string>, active: boolean, secret: SecretStatus, };

export type ProfileInput = { 
/**
 * `None`: a new profile; else the profile being edited (it may be renamed).
 */
original_name: string | null, name: string, url: string, username: string | null, subscriptions: Array<string>, };

export type ReconnectSettings = { max_attempts: number, initial_delay_s: number, max_delay_s: number, multiplier: number, jitter: boolean, };

export type RecoverySettings = { strategy: RecoveryStrategy, max_cycles: number, initial_delay_s: number, max_delay_s: number, multiplier: number, };

export type Settings = { reconnect: ReconnectSettings, recovery: RecoverySettings, notifications: NotifySettings, start_at_login: boolean, };

export type Fault = "drop_link" | "broker_outage" | "refuse_credentials" | "clear";

