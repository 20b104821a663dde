// Backend answers for the mock IPC, shaped like ui/src/ipc.ts.

/** A time `msAgo` before now (negative: in the future), RFC 3339. */
export const iso = (msAgo = 0) => new Date(Date.now() - msAgo).toISOString();

export const DEMO_MAC = "04786332fca0";

/** A DeviceStatus (of the demo's heater unless `mac` is given). */
export const device = (over = {}) => ({
  mac: DEMO_MAC,
  at: iso(),
  tank_f: 118.4,
  setpoint_f: 120,
  setpoint_min_f: 95,
  setpoint_max_f: 150,
  mode: "heat pump",
  mode_code: 1,
  power_on: true,
  vacation_days: null,
  anti_legionella_days: 7,
  power_w: 412,
  charge_percent: 72,
  heating: true,
  error: null,
  ...over,
});

/** The controls of a heater whose feature object arrived and allows everything. */
export const controls = (over = {}) => ({
  known: true,
  setpoint: true,
  setpoint_min_f: 95,
  setpoint_max_f: 150,
  modes: true,
  vacation: true,
  power: true,
  anti_legionella: true,
  ...over,
});

/** Before the feature object: nothing is known, nothing can be sent. */
export const UNKNOWN_CONTROLS = {
  known: false, setpoint: false, setpoint_min_f: 0, setpoint_max_f: 0, modes: false, vacation: false, power: false, anti_legionella: false,
};

/** A DeviceCard. */
export const card = (over = {}) => ({ mac: DEMO_MAC, name: "Demo water heater", status: device(), controls: controls(), ...over });

/** What navien_sign_in finds on the account (fixtures.navienDevices). */
export const navienDevices = [
  { mac: "04786332fca0", name: "Kitchen" },
  { mac: "a0b1c2d3e4f5", name: "Garage" },
];

export const profiles = [
  {
    name: "home",
    kind: "mqtt",
    url: "mqtts://broker.example.com:8883",
    email: null,
    devices: [],
    username: "me",
    client_id: "tether-home",
    subscriptions: ["home/#", "sensors/+/temp"],
    active: false,
    secret: "none",
  },
  {
    name: "lab",
    kind: "mqtt",
    url: "mqtt://10.0.0.5:1883",
    email: null,
    devices: [],
    username: null,
    client_id: "tether-lab",
    subscriptions: ["lab/#"],
    active: false,
    secret: "keychain",
  },
  {
    name: "cabin",
    kind: "navien",
    url: "https://nlus.naviensmartcontrol.com/api/v2.1",
    email: "me@example.com",
    devices: ["Cabin heater", "Shed"],
    username: null,
    client_id: "navien-cabin",
    subscriptions: [],
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
  tokens: null,
};

/** A token kind's TokenState (Diagnostics). */
export const tokens = (over = {}) => ({
  jwt_valid_until: iso(-50 * 60_000),
  aws_valid_until: iso(-40 * 60_000),
  jwt_renew_at: iso(-45 * 60_000),
  aws_renew_at: iso(-(2 * 60_000 + 10_000)),
  last_renewal: iso(3 * 60_000 + 10_000),
  renewals: 4,
  password_sign_ins: 1,
  last_error: null,
  ...over,
});

/** The demo, connected, with a device status. */
export function demo({ keychain = { available: true, message: null } } = {}) {
  return {
    respond: {
      get_overview: {
        profile: "demo",
        demo: true,
        state: { state: "connected", since: iso(60_000), session_present: false },
        devices: [card({ status: device({ at: iso(10 * 60_000) }) })],
        recent_events: [],
        keychain,
        problem: null,
      },
      list_profiles: profiles,
      get_settings: settings,
      get_diagnostics: diagnostics,
    },
    navienDevices,
  };
}

/** A generic broker profile (no device, no fault switch). */
export function generic() {
  const f = demo();
  f.respond.get_overview = { ...f.respond.get_overview, profile: "home", demo: false, devices: [] };
  f.respond.list_profiles = profiles.map((p) => ({ ...p, active: p.name === "home" }));
  return f;
}

export const ev = (kind, fields = {}, msAgo = 0) => ({ ts: iso(msAgo), profile: "demo", event: kind, ...fields });

export const batch = (over = {}) => ({ state: null, events: [], skipped_events: 0, topics: [], ...over });

export const GARAGE_MAC = "a0b1c2d3e4f5";

/** A Navien profile with two heaters: Kitchen (with a status) and Garage (none yet). */
export function navien() {
  const f = generic();
  f.respond.get_overview = {
    ...f.respond.get_overview,
    profile: "cabin",
    devices: [card({ name: "Kitchen" }), card({ mac: GARAGE_MAC, name: "Garage", status: null })],
  };
  f.respond.list_profiles = profiles.map((p) => ({ ...p, active: p.name === "cabin" }));
  return f;
}
