// Backend answers for the mock IPC, shaped like ui/src/ipc.ts.

const iso = (msAgo = 0) => new Date(Date.now() - msAgo).toISOString();

export const device = (over = {}) => ({
  at: iso(),
  tank_f: 118.4,
  setpoint_f: 120,
  setpoint_min_f: 95,
  setpoint_max_f: 150,
  mode: "heat pump",
  power_w: 412,
  charge_percent: 72,
  heating: true,
  error: null,
  ...over,
});

export const profiles = [
  {
    name: "home",
    url: "mqtts://broker.example.com:8883",
    username: "me",
    client_id: "tether-home",
    subscriptions: ["home/#", "sensors/+/temp"],
    active: false,
    secret: "none",
  },
  {
    name: "lab",
    url: "mqtt://10.0.0.5:1883",
    username: null,
    client_id: "tether-lab",
    subscriptions: ["lab/#"],
    active: false,
    secret: "keychain",
  },
];

export const settings = {
  reconnect: { max_attempts: 4, initial_delay_s: 1, max_delay_s: 8, multiplier: 2, jitter: true },
  recovery: { strategy: "refresh_and_recreate", max_cycles: 3, initial_delay_s: 30, max_delay_s: 300, multiplier: 2 },
  notifications: { reconnection_failed: true, recovered: true, gave_up: true, auth_rejected: true },
  start_at_login: false,
};

export const diagnostics = {
  state: "connected",
  running_for_ms: 3_725_000,
  uptime_ms: 3_601_000,
  connected_for_ms: 1_201_000,
  connects: 5,
  connect_attempts: 9,
  drops_by_cause: { network: 3, broker_closed: 1 },
  recoveries: 1,
  time_to_recover_last_ms: 28_800,
  time_to_recover_p50_ms: 2_100,
  time_to_recover_p95_ms: 28_800,
  messages_in: 120_345,
  messages_out: 312,
  messages_queued: 0,
  messages_dropped: 0,
  messages_expired: 2,
  messages_too_large: 0,
  subscriptions: 3,
  subscriptions_active: 2,
};

/** The demo, connected, with a device status. */
export function demo({ keychain = { available: true, message: null } } = {}) {
  return {
    respond: {
      get_overview: {
        profile: "demo",
        demo: true,
        state: { state: "connected", since: iso(60_000), session_present: false },
        device: device({ at: iso(10 * 60_000) }),
        recent_events: [],
        keychain,
        problem: null,
      },
      list_profiles: profiles,
      get_settings: settings,
      get_diagnostics: diagnostics,
    },
  };
}

/** A generic broker profile (no device, no fault switch). */
export function generic() {
  const f = demo();
  f.respond.get_overview = { ...f.respond.get_overview, profile: "home", demo: false, device: null };
  f.respond.list_profiles = profiles.map((p) => ({ ...p, active: p.name === "home" }));
  return f;
}

export const ev = (kind, fields = {}, msAgo = 0) => ({ ts: iso(msAgo), profile: "demo", event: kind, ...fields });

export const batch = (over = {}) => ({ state: null, events: [], skipped_events: 0, topics: [], ...over });
