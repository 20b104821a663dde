// A MOCK of Tauri's IPC for browser tests: it stands in for the Rust backend.
//
// `installMockTauriIpc` is passed to page.addInitScript, so it runs in the page before the app and
// must be self-contained (no closures over Node values; its only input is the JSON `fixtures`).
// It defines what @tauri-apps/api v2 calls into:
//   window.__TAURI_INTERNALS__.invoke(cmd, args, options)  -> Promise   (core.invoke)
//   window.__TAURI_INTERNALS__.transformCallback(cb, once) -> id        (event.listen's handler)
//   window.__TAURI_INTERNALS__.unregisterCallback(id)
//   window.__TAURI_EVENT_PLUGIN_INTERNALS__.unregisterListener(event, eventId)
// event.listen(name, handler) invokes "plugin:event|listen" with { event, target, handler: id }.
//
// Test hooks: window.__calls (every invoke, in order), window.__mockIpc.emit(event, payload),
// window.__mockIpc.reject[cmd] = UiError (that command rejects with it), .respond[cmd] = value,
// .delay[cmd] = ms (that command answers only after ms, as device_command waits for the heater),
// and window.__cspViolations (securitypolicyviolation events).
// fixtures.navienDevices: the devices navien_sign_in finds on any account.

export function installMockTauriIpc(fixtures) {
  const calls = [];
  const callbacks = new Map();
  const listeners = new Map(); // event name -> [{ eventId, handler }]
  let nextId = 1;
  const respond = Object.assign({}, fixtures.respond);
  const reject = {};
  const delay = {};
  const MODES = { heat_pump: [1, "heat pump"], electric: [2, "electric"], energy_saver: [3, "energy saver"], high_demand: [4, "high demand"] };
  const UNKNOWN = { known: false, setpoint: false, setpoint_min_f: 0, setpoint_max_f: 0, modes: false, vacation: false, power: false, anti_legionella: false };
  let signedIn = null; // the e-mail of the last navien_sign_in
  const statuses = {}; // mac -> the last status emitted or confirmed
  const clone = (v) => (v === undefined ? null : JSON.parse(JSON.stringify(v)));

  // Commands whose answer depends on their arguments, the way the backend's would.
  const computed = {
    save_profile: ({ input }) => ({
      name: input.name,
      kind: "mqtt",
      url: input.url,
      email: null,
      devices: [],
      username: input.username,
      client_id: "tether-mock",
      subscriptions: input.subscriptions,
      active: false,
      secret: "none",
    }),
    set_secret: () => (respond.get_overview.keychain.available ? "keychain" : "memory"),
    delete_secret: () => "none",
    save_settings: ({ settings }) => settings,
    switch_profile: ({ name }) => ({ ...respond.get_overview, profile: name ?? "demo", demo: name === null }),
    // Confirmed, with the device's last status changed the way the command asks.
    device_command: ({ mac, command }) => {
      const card = respond.get_overview.devices.find((d) => d.mac === mac);
      const s = { ...(statuses[mac] ?? (card && card.status)), mac, at: new Date().toISOString() };
      switch (command.kind) {
        case "setpoint": s.setpoint_f = command.fahrenheit; break;
        case "mode": [s.mode_code, s.mode] = MODES[command.mode]; s.power_on = true; s.vacation_days = null; break;
        case "vacation": [s.mode_code, s.mode, s.vacation_days] = [5, "vacation", command.days]; break;
        case "power": [s.mode_code, s.mode, s.power_on, s.vacation_days] = command.on ? [1, "heat pump", true, null] : [6, "off", false, null]; break;
        case "anti_legionella": s.anti_legionella_days = command.period_days; break;
      }
      statuses[mac] = s;
      return { outcome: "confirmed", status: s };
    },
    navien_sign_in: ({ input }) => {
      signedIn = input.email;
      return { email: input.email, devices: fixtures.navienDevices ?? [] };
    },
    // The saved profile is the active one: the profile list and the overview say so from now on.
    save_navien_profile: ({ input }) => {
      const picked = (fixtures.navienDevices ?? []).filter((d) => input.devices.includes(d.mac));
      const view = {
        name: input.name, kind: "navien", url: "https://nlus.naviensmartcontrol.com/api/v2.1", email: signedIn,
        devices: picked.map((d) => d.name), username: null, client_id: "navien-mock", subscriptions: [], active: true, secret: "keychain",
      };
      respond.list_profiles = [...respond.list_profiles.map((p) => ({ ...p, active: false })), view];
      respond.get_overview = {
        ...respond.get_overview, profile: input.name, demo: false,
        devices: picked.map((d) => ({ mac: d.mac, name: d.name, status: null, controls: UNKNOWN })),
      };
      return view;
    },
  };

  window.__calls = calls;
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
  });

  window.__TAURI_INTERNALS__ = {
    metadata: { currentWindow: { label: "main" }, currentWebview: { windowLabel: "main", label: "main" } },
    transformCallback(callback, once = false) {
      const id = nextId++;
      callbacks.set(id, (payload) => {
        if (once) callbacks.delete(id);
        return callback && callback(payload);
      });
      return id;
    },
    unregisterCallback(id) {
      callbacks.delete(id);
    },
    convertFileSrc(path) {
      return path;
    },
    invoke(cmd, args = {}, _options) {
      // `registered`: the events that had a listener when this call was made.
      const registered = [...listeners.keys()].filter((e) => listeners.get(e).length > 0).sort();
      calls.push({ cmd, args: clone(args), registered });
      if (cmd === "plugin:event|listen") {
        const eventId = nextId++;
        const register = () => {
          const list = listeners.get(args.event) ?? [];
          list.push({ eventId, handler: args.handler });
          listeners.set(args.event, list);
          return eventId;
        };
        // fixtures.listenDelayMs: the back end takes that long to register a listener, as a
        // busy real one may (events emitted before then are not delivered).
        const delay = fixtures.listenDelayMs ?? 0;
        if (delay === 0) return Promise.resolve(register());
        return new Promise((ok) => setTimeout(() => ok(register()), delay));
      }
      if (cmd === "plugin:event|unlisten") {
        window.__TAURI_EVENT_PLUGIN_INTERNALS__.unregisterListener(args.event, args.eventId);
        return Promise.resolve(null);
      }
      const answer = () => {
        if (cmd in reject) return Promise.reject(clone(reject[cmd]));
        if (cmd in respond) return Promise.resolve(clone(respond[cmd]));
        if (cmd in computed) return Promise.resolve(clone(computed[cmd](args)));
        return Promise.resolve(null); // retry_now, pause, resume, demo_fault, ui_ready, ...
      };
      if (!delay[cmd]) return answer();
      return new Promise((ok) => setTimeout(ok, delay[cmd])).then(answer);
    },
  };
  window.__TAURI_EVENT_PLUGIN_INTERNALS__ = {
    unregisterListener(event, eventId) {
      const list = listeners.get(event) ?? [];
      listeners.set(event, list.filter((l) => l.eventId !== eventId));
    },
  };

  window.__mockIpc = {
    respond,
    reject,
    delay,
    /** Delivers an app event to every listener, as the Rust side's emit would. */
    emit(event, payload) {
      if (event === "device-status") statuses[payload.mac] = payload;
      const list = listeners.get(event) ?? [];
      for (const l of list) callbacks.get(l.handler)?.({ event, id: l.eventId, payload });
      return list.length;
    },
    listenerCount(event) {
      return (listeners.get(event) ?? []).length;
    },
  };
}
