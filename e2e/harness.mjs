// The real desktop app under test: Xvfb, a private D-Bus session, a StatusNotifierItem tray host
// (gtk-sni-tray-standalone), and tauri-driver with WebKitWebDriver driving the real Tether window.
// The window starts the tray process (tether-tray) itself. No npm packages: WebDriver is plain HTTP.
import { spawn, execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import net from "node:net";

export const ROOT = resolve(import.meta.dirname, "..");
export const OUT = join(ROOT, "target", "test-output", "desktop");
export const APP = process.env.TETHER_DESKTOP_BIN ?? join(ROOT, "target", "debug", "tether-desktop");
/** The tray process the window starts (Linux: it owns the links, the tray and notifications). */
export const TRAY_APP = process.env.TETHER_TRAY_BIN ?? join(dirname(APP), "tether-tray");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}

async function waitPort(port, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((res) => {
      const c = net.connect(port, "127.0.0.1", () => (c.end(), res(true)));
      c.on("error", () => res(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

/** Everything the app needs around it; `stop()` tears it all down. `keyring: true` gives the
 * run a real Secret Service (gnome-keyring); without it the app keeps secrets in memory. */
export async function startDesktop(opts = {}) {
  const procs = [];
  const home = mkdtempSync(join(tmpdir(), "tether-e2e-"));
  const bus = { pid: 0 };
  const cleanup = async () => {
    for (const p of procs.reverse()) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill("SIGTERM");
        const gone = await Promise.race([new Promise((r) => p.once("exit", () => r(true))), sleep(3000).then(() => false)]);
        if (!gone) p.kill("SIGKILL");
      }
    }
    // The tray process runs detached from the window (its own process group): found by its
    // runtime dir, which is this run's alone.
    for (const pid of trayProcesses(join(home, "run", "tether"))) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {}
    }
    await sleep(300);
    for (const pid of trayProcesses(join(home, "run", "tether"))) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    if (bus.pid) {
      try {
        process.kill(bus.pid);
      } catch {}
    }
    rmSync(home, { recursive: true, force: true });
  };
  try {
    return await start(opts, procs, home, bus, cleanup);
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function start({ tray = true, keyring = false }, procs, home, bus, cleanup) {
  mkdirSync(OUT, { recursive: true });
  // Xvfb on a free display number.
  let display;
  for (let n = 90; n < 140; n++) {
    if (!existsSync(`/tmp/.X11-unix/X${n}`) && !existsSync(`/tmp/.X${n}-lock`)) {
      display = `:${n}`;
      break;
    }
  }
  if (!display) throw new Error("no free X display number in :90-:139");
  const xvfb = spawn("Xvfb", [display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"], { stdio: "ignore" });
  procs.push(xvfb);
  for (let i = 0; i < 200 && !existsSync(`/tmp/.X11-unix/X${display.slice(1)}`); i++) await sleep(50);
  if (!existsSync(`/tmp/.X11-unix/X${display.slice(1)}`)) throw new Error(`Xvfb did not start on ${display}`);
  const busOut = execFileSync("dbus-daemon", ["--session", "--fork", "--print-address=1", "--print-pid=1"]).toString().trim().split("\n");
  const busAddress = busOut[0].trim();
  bus.pid = Number(busOut[1]);
  const env = {
    ...process.env,
    DISPLAY: display,
    DBUS_SESSION_BUS_ADDRESS: busAddress,
    HOME: home,
    XDG_RUNTIME_DIR: join(home, "run"),
    TETHER_CONFIG_DIR: join(home, "config"),
    TETHER_DATA_DIR: join(home, "data"),
    TETHER_LOG_DIR: join(home, "logs"),
    TETHER_TRAY_BIN: TRAY_APP,
    TETHER_WINDOW_BIN: APP,
    // No GPU under Xvfb. (The app sets its own WebKit rendering options, as it does for users.)
    LIBGL_ALWAYS_SOFTWARE: "1",
    NO_AT_BRIDGE: "1",
  };
  mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  if (keyring) startKeyring(env);
  if (tray) {
    // A StatusNotifierItem tray host (with its own watcher) along the bottom of the screen, so
    // the tray icon has a host and can be photographed.
    procs.push(
      spawn("gtk-sni-tray-standalone", ["--bottom", "--beginning", "--watcher", "--size", "40"], {
        env,
        stdio: "ignore",
      }),
    );
    await sleep(1500);
  }
  const port = await freePort();
  const nativePort = await freePort();
  const driverLog = [];
  const driver = spawn("tauri-driver", ["--port", String(port), "--native-port", String(nativePort), "--native-driver", "/usr/bin/WebKitWebDriver"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  driver.stdout.on("data", (d) => driverLog.push(d.toString()));
  driver.stderr.on("data", (d) => driverLog.push(d.toString()));
  procs.push(driver);
  await waitPort(port, 20000);
  // tauri-driver listens before the WebKitWebDriver it starts does; a session asked for in
  // between fails with "tcp connect error".
  await waitPort(nativePort, 20000);
  const base = `http://127.0.0.1:${port}`;
  let lastTray = null;
  return {
    base,
    env,
    display,
    home,
    driverLog,
    async session() {
      return Session.create(base, APP);
    },
    /**
     * Wait (bounded) until the `crop` of the screen shows something other than one flat colour
     * (the tray host embeds the icon a while after it is set), then save it.
     */
    async screenUntilDrawn(file, crop, ms) {
      const deadline = Date.now() + ms;
      const before = lastTray;
      for (;;) {
        const { pnm, px } = grab(display, crop);
        // Drawn, and not still the previous state's icon.
        if (px.some((b, i) => b !== px[i % 3]) && !(before && before.equals(px))) {
          lastTray = Buffer.from(px);
          return savePng(file, pnm);
        }
        if (Date.now() > deadline) throw new Error(`${file}: nothing drawn in ${crop} within ${ms} ms`);
        await sleep(250);
      }
    },
    /**
     * Wait (bounded) until the screen's `crop` is "blank" (one flat colour) or "drawn" (the UI's
     * text and controls: many distinct colours, not an empty window's background).
     */
    async waitScreen(crop, want, ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const { px } = grab(display, crop);
        const colours = new Set();
        for (let i = 0; i < px.length && colours.size < 64; i += 3) colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
        if (want === "blank" ? colours.size === 1 : colours.size >= 64) return;
        if (Date.now() > deadline) throw new Error(`screen ${crop} not ${want} within ${ms} ms`);
        await sleep(250);
      }
    },
    /** A PNG of the whole X screen (the window and the tray), cropped with `crop` = [x, y, w, h]. */
    screen(file, crop) {
      return savePng(file, grab(display, crop).pnm);
    },
    /** The PID of the tray process (started by the window, detached), or null. */
    trayPid() {
      return trayProcesses(join(home, "run", "tether"))[0] ?? null;
    },
    /** The PID of the app (a child of WebKitWebDriver under tauri-driver), or null. */
    appPid() {
      return processTree(driver.pid).find((p) => processName(p) === "tether-desktop") ?? null;
    },
    stop: cleanup,
  };
}

/**
 * gnome-keyring's Secret Service on the run's own bus, its `login` keyring made and unlocked in
 * the run's home (as tests/common/dbus.rs does): the app's keychain is then a real one. It ends
 * with the bus.
 */
function startKeyring(env) {
  // Now and then the daemon answers on the bus without having made the login keyring: asked
  // again (replacing itself), it does. Bounded: three tries of 10 s.
  let last = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const args = attempt === 0 ? ["--unlock", "--components=secrets"] : ["--replace", "--unlock", "--components=secrets"];
    const gk = spawnSync("gnome-keyring-daemon", args, {
      env,
      input: "e2e-keyring-unlock",
      stdio: ["pipe", "ignore", "ignore"],
      timeout: 20_000,
    });
    if (gk.error) throw new Error(`gnome-keyring-daemon did not start: ${gk.error.message}`);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const out = spawnSync(
        "dbus-send",
        ["--session", "--print-reply", "--dest=org.freedesktop.secrets", "/org/freedesktop/secrets/aliases/default", "org.freedesktop.DBus.Properties.Get", "string:org.freedesktop.Secret.Collection", "string:Locked"],
        { env, encoding: "utf8" },
      );
      if ((out.stdout ?? "").includes("boolean false")) return;
      last = out.stderr;
      execFileSync("sleep", ["0.1"]);
    }
  }
  throw new Error(`the login keyring is not unlocked after three tries: ${last}`);
}

const PIPE = { maxBuffer: 64 << 20, stdio: ["pipe", "pipe", "ignore"] };

/** The screen (or its `crop` = [x, y, w, h]) as a binary PNM, and its RGB pixels. */
function grab(display, crop) {
  let pnm = execFileSync("xwdtopnm", [], { ...PIPE, input: grabRoot(display) });
  if (crop) pnm = execFileSync("pnmcut", crop.map(String), { ...PIPE, input: pnm });
  const [w, h] = crop ? [crop[2], crop[3]] : [0, 0];
  return { pnm, px: pnm.subarray(pnm.length - w * h * 3) };
}

function savePng(file, pnm) {
  writeFileSync(join(OUT, file), execFileSync("pnmtopng", [], { ...PIPE, input: pnm }));
  return join(OUT, file);
}

/** The X screen as xwd's dump. A window that goes away while xwd reads it makes the request
 * fail (BadDrawable): that is retried, a few times. */
function grabRoot(display) {
  for (let i = 0; ; i++) {
    try {
      return execFileSync("xwd", ["-root", "-silent", "-display", display], { maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      if (i >= 4) throw e;
      execFileSync("sleep", ["0.2"]);
    }
  }
}

/** `root` and every process below it (from /proc). */
export function processTree(root) {
  const kids = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch {}
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}

/** A process's name (`/proc/PID/comm`, 15 characters at most). */
/** All of Tether's processes of a run (window, tray process, WebKit's), found by name and by the
 * run's private XDG_RUNTIME_DIR, so that none escapes by being detached or orphaned. */
export function tetherProcesses(home) {
  const run = join(home, "run");
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const name = readFileSync(`/proc/${d}/comm`, "utf8").trim();
      // WebKit's own processes, not the test's WebKitWebDriver.
      const webkit = name.startsWith("WebKit") && name !== "WebKitWebDriver";
      if (!["tether-desktop", "tether-tray"].includes(name) && !webkit) continue;
      const env = readFileSync(`/proc/${d}/environ`, "utf8").split("\0");
      if (env.includes(`XDG_RUNTIME_DIR=${run}`)) out.push(Number(d));
    } catch {}
  }
  return out;
}

/** The tray processes whose runtime dir is `runtimeDir` (one per run at most). */
export function trayProcesses(runtimeDir) {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() !== "tether-tray") continue;
      const env = readFileSync(`/proc/${d}/environ`, "utf8").split("\0");
      const xdg = env.find((e) => e.startsWith("XDG_RUNTIME_DIR="))?.slice("XDG_RUNTIME_DIR=".length);
      if (xdg && join(xdg, "tether") === runtimeDir) out.push(Number(d));
    } catch {}
  }
  return out;
}

export function processName(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

const W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

/** A WebDriver session on the real app window. */
export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async create(base, application) {
    // A refused connection between tauri-driver and its native driver is retried (bounded).
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await req(base, "POST", "/session", {
          capabilities: { alwaysMatch: { "tauri:options": { application } } },
        });
        return new Session(base, r.sessionId);
      } catch (e) {
        if (attempt >= 3 || !/fetch failed|connect/i.test(String(e.message) + String(e.cause ?? ""))) throw e;
        await sleep(1000);
      }
    }
  }

  cmd(method, path, body) {
    return req(this.base, method, `/session/${this.id}${path}`, body);
  }

  async find(xpath) {
    const r = await this.cmd("POST", "/element", { using: "xpath", value: xpath });
    return r[W3C_ELEMENT];
  }

  async tryFind(xpath) {
    try {
      return await this.find(xpath);
    } catch {
      return null;
    }
  }

  async text(el) {
    return this.cmd("GET", `/element/${el}/text`);
  }

  async click(el) {
    return this.cmd("POST", `/element/${el}/click`, {});
  }

  /** Replace what the input `el` holds with `text`, as typing would. */
  async type(el, text) {
    await this.cmd("POST", `/element/${el}/clear`, {});
    return this.cmd("POST", `/element/${el}/value`, { text });
  }

  /** Wait (bounded) until an element matches `xpath`; returns it. */
  async waitFind(xpath, ms, what = xpath) {
    const deadline = Date.now() + ms;
    for (;;) {
      const el = await this.tryFind(xpath);
      if (el) return el;
      if (Date.now() > deadline) throw new Error(`${what}: not found within ${ms} ms`);
      await sleep(200);
    }
  }

  /** Run `script` (a function body) in the window; returns its value. */
  async exec(script, args = []) {
    return this.cmd("POST", "/execute/sync", { script, args });
  }

  async execAsync(script, args = []) {
    return this.cmd("POST", "/execute/async", { script, args });
  }

  async screenshot(file) {
    const b64 = await this.cmd("GET", "/screenshot");
    writeFileSync(join(OUT, file), Buffer.from(b64, "base64"));
    return join(OUT, file);
  }

  /** Wait (bounded) until the element at `css` has text matching `re`; returns that text. */
  async waitText(css, re, ms, what = String(re)) {
    const deadline = Date.now() + ms;
    let last = "";
    while (Date.now() < deadline) {
      last = (await this.exec("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", [css]).catch(() => "")) ?? "";
      if (re.test(last)) return last;
      await sleep(200);
    }
    throw new Error(`${what}: not seen within ${ms} ms (last text: ${JSON.stringify(last)})`);
  }

  async close() {
    try {
      await req(this.base, "DELETE", `/session/${this.id}`);
    } catch {}
  }
}

async function req(base, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60000),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok || (json.value && json.value.error)) {
    throw new Error(`WebDriver ${method} ${path}: ${res.status} ${JSON.stringify(json.value ?? json).slice(0, 400)}`);
  }
  return json.value;
}

/** `tether navien-cloud` (the CLI's emulator of the Navien cloud) on loopback; resolves with
 * its start line (`rest_url`, `mqtt_host`, `mqtt_port`, `ca_file`, `accounts`) and `stop()`. */
export async function startCloud(dir, args = []) {
  const bin = process.env.TETHER_BIN ?? join(ROOT, "target", "debug", "tether");
  const p = spawn(bin, ["navien-cloud", "--ca-file", join(dir, "ca.pem"), ...args], { stdio: ["pipe", "pipe", "pipe"] });
  const err = [];
  p.stderr.on("data", (d) => err.push(d.toString()));
  const line = await new Promise((res, rej) => {
    let buf = "";
    const t = setTimeout(() => rej(new Error(`navien-cloud printed nothing in 20 s: ${err.join("")}`)), 20_000);
    p.stdout.on("data", (d) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(t);
        res(buf.slice(0, nl));
      }
    });
    p.once("exit", (code) => rej(new Error(`navien-cloud exited (${code}): ${err.join("")}`)));
  });
  const info = JSON.parse(line);
  return {
    ...info,
    command: (c) => p.stdin.write(`${c}\n`),
    async stop() {
      p.stdin.end("quit\n");
      const gone = await Promise.race([new Promise((r) => p.once("exit", () => r(true))), sleep(5000).then(() => false)]);
      if (!gone) p.kill("SIGKILL");
    },
  };
}

/** Wait (bounded) until the window's state line (`p.state[data-state]`) is one of `want`. */
export async function waitState(s, want, ms) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await s.exec("const p = document.querySelector('p.state'); return p ? p.dataset.state : null;").catch(() => null);
    if (want.includes(last)) return last;
    await sleep(200);
  }
  throw new Error(`state ${want.join("/")} not reached within ${ms} ms (last: ${last})`);
}
