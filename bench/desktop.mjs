// The desktop app's footprint and responsiveness, on the real app (release build) under Xvfb,
// driven through tauri-driver like the end-to-end test (e2e/harness.mjs).
//
//   bash bench/desktop.sh            (builds the release app, then runs this)
//
// Per run: launch → first painted window (the app prints the time since process start when the UI
// says ui_ready); PSS of all of Tether's processes (the app and its WebKit processes) with the window
// open on the demo, connected, 10 s after the first paint; the window closed (Ctrl+W's command), and
// PSS again 60 s later. Started at login (`--minimized`, no window): PSS after 30 s. Then, on a generic profile against a real Mosquitto pushing 5,000 msg/s
// over 10 topics: frame intervals and click-to-paint latency in the window, with and without the
// load, the app's CPU, and how many messages the window counted.
import { spawn, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { APP, ROOT, processName, processTree, startDesktop, tetherProcesses } from "../e2e/harness.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
const SETTLE_MS = 10_000;
const TRAY_WAIT_MS = Number(process.env.TRAY_WAIT_MS ?? 60_000);
const RATE = 5000;
const TOPICS = 10;
const LOAD_MS = 15_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

// --- processes -------------------------------------------------------------------------------
const tree = processTree;
const comm = processName;
function pssKb(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
/** PSS of all of the run's Tether processes: the window, the tray process, WebKit's. */
function footprint(desk) {
  const per = tetherProcesses(desk.home).map((p) => ({ pid: p, name: comm(p), kb: pssKb(p) }));
  return { mb: per.reduce((a, p) => a + p.kb, 0) / 1024, per };
}
function cpuTicks(pids) {
  let t = 0;
  for (const p of pids) {
    try {
      const s = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      t += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return t;
}
// --- the window ------------------------------------------------------------------------------
async function waitFor(what, ms, f) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(200);
  }
}
const connected = (s) => s.exec("const p = document.querySelector('p.state'); return p && p.dataset.state === 'connected';");

/** Frame intervals over `ms`, and click-to-next-paint latency of switching tabs, in the page. */
async function measureFrames(s, ms) {
  return s.execAsync(
    `const done = arguments[arguments.length - 1];
     const ms = arguments[0];
     const gaps = []; const clicks = [];
     let last = performance.now(); const end = last + ms;
     const tabs = [...document.querySelectorAll('[role=tab]')];
     let i = 0;
     function frame(t) {
       gaps.push(t - last); last = t;
       if (t < end) requestAnimationFrame(frame);
       else done({ gaps, clicks });
     }
     requestAnimationFrame(frame);
     // A click every 500 ms: from the click to the frame after the new view rendered.
     const timer = setInterval(() => {
       if (performance.now() > end - 600) return clearInterval(timer);
       const tab = tabs[i++ % 2];
       const t0 = performance.now();
       tab.click();
       requestAnimationFrame(() => requestAnimationFrame(() => clicks.push(performance.now() - t0)));
     }, 500);`,
    [ms],
  );
}
function frameStats({ gaps, clicks }) {
  return {
    frames: gaps.length,
    frame_median_ms: +median(gaps).toFixed(1),
    frame_p95_ms: +pct(gaps, 0.95).toFixed(1),
    frame_max_ms: +Math.max(...gaps).toFixed(1),
    long_frames_over_50ms: gaps.filter((g) => g > 50).length,
    click_to_paint_median_ms: +median(clicks).toFixed(1),
    click_to_paint_max_ms: +Math.max(...clicks).toFixed(1),
  };
}

// --- a broker and a publisher ----------------------------------------------------------------
async function freePort() {
  return new Promise((res) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}
async function mosquitto() {
  const dir = mkdtempSync(join(tmpdir(), "tether-bench-mq-"));
  const port = await freePort();
  const root = process.getuid?.() === 0 ? "user root\n" : "";
  writeFileSync(join(dir, "m.conf"), `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n${root}`);
  const p = spawn("mosquitto", ["-c", join(dir, "m.conf")], { stdio: "ignore" });
  await waitFor("mosquitto", 10_000, () => new Promise((r) => net.connect(port, "127.0.0.1").on("connect", function () { this.end(); r(true); }).on("error", () => r(false))));
  return { port, stop: () => p.kill("SIGTERM") };
}
/** `RATE` messages a second over `TOPICS` topics, paced every 10 ms, through mosquitto_pub -l. */
function publisher(port) {
  const pubs = [...Array(TOPICS).keys()].map((i) =>
    spawn("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-t", `load/${i}`, "-q", "0", "-l"], { stdio: ["pipe", "ignore", "ignore"] }),
  );
  for (const p of pubs) p.stdin.on("error", () => {}); // a publisher that died is seen in `counted`
  let sent = 0;
  const start = Date.now();
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - start) / 1000) * RATE);
    while (sent < due) {
      pubs[sent % TOPICS].stdin.write(`{"seq":${sent},"t":${Date.now()}}\n`);
      sent++;
    }
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      for (const p of pubs) p.stdin.end();
      return { sent, seconds: (Date.now() - start) / 1000 };
    },
  };
}

// --- runs ------------------------------------------------------------------------------------
const results = { runs: [], load: null };
for (let run = 1; run <= RUNS; run++) {
  const desk = await startDesktop();
  let s;
  try {
    s = await desk.session();
    const painted = await waitFor("first paint", 30_000, () => {
      const m = desk.driverLog.join("").match(/first window painted (\d+) ms after launch/);
      return m && Number(m[1]);
    });
    await waitFor("connected", 30_000, () => connected(s));
    const pid = await waitFor("app process", 5_000, () => desk.appPid());
    await sleep(SETTLE_MS);
    const open = footprint(desk);
    // Close the window as Ctrl+W does; Tether stays in the tray (the tray process).
    await s.exec("setTimeout(() => window.__TAURI_INTERNALS__.invoke('hide_window'), 50); return true;");
    await sleep(TRAY_WAIT_MS);
    const tray = footprint(desk);
    const r = { run, first_paint_ms: painted, open_mb: +open.mb.toFixed(1), tray_mb: +tray.mb.toFixed(1), open_processes: open.per, tray_processes: tray.per };
    console.log(`run ${run}: first paint ${painted} ms, PSS window open ${r.open_mb} MB, closed 60 s ${r.tray_mb} MB`);
    console.log(`  open: ${open.per.map((p) => `${p.name} ${(p.kb / 1024).toFixed(1)}`).join(", ")}`);
    console.log(`  tray: ${tray.per.map((p) => `${p.name} ${(p.kb / 1024).toFixed(1)}`).join(", ")}`);
    results.runs.push(r);
  } finally {
    if (s) await s.close();
    await desk.stop();
  }
}

// Started at login (`--minimized`, what the login item runs): the window program makes sure the
// tray process runs and exits; no window, no WebKit. PSS after 30 s.
for (let run = 1; run <= Math.min(RUNS, 3); run++) {
  const desk = await startDesktop();
  let app;
  try {
    app = spawn(APP, ["--minimized"], { env: desk.env, stdio: "ignore" });
    await sleep(Number(process.env.MINIMIZED_WAIT_MS ?? 30_000));
    const fp = footprint(desk);
    results.minimized = results.minimized ?? [];
    results.minimized.push({ run, mb: +fp.mb.toFixed(1), processes: fp.per });
    console.log(`minimized ${run}: PSS ${fp.mb.toFixed(1)} MB (${fp.per.map((p) => `${p.name} ${(p.kb / 1024).toFixed(1)}`).join(", ")})`);
  } finally {
    app?.kill();
    await desk.stop();
  }
}

// Responsiveness: a generic profile, 5,000 msg/s.
{
  const broker = await mosquitto();
  let desk;
  let s;
  let pub;
  try {
    desk = await startDesktop({ tray: false });
    const cli = process.env.TETHER_BIN ?? join(ROOT, "target", "release", "tether");
    execFileSync(cli, ["profile", "add", "load", `mqtt://127.0.0.1:${broker.port}`, "--sub", "load/#"], { env: desk.env, stdio: "ignore" });
    s = await desk.session();
    await waitFor("connected", 30_000, () => connected(s));
    const pid = await waitFor("app process", 5_000, () => desk.appPid());
    await sleep(3000);
    const idle = frameStats(await measureFrames(s, 10_000));
    pub = publisher(broker.port);
    await sleep(2000); // let the stream settle
    const pids = tetherProcesses(desk.home);
    const t0 = cpuTicks(pids);
    const w0 = Date.now();
    const underLoad = frameStats(await measureFrames(s, LOAD_MS - 2000));
    const cpu = ((cpuTicks(pids) - t0) / 100 / ((Date.now() - w0) / 1000)) * 100;
    const mem = footprint(desk);
    const { sent, seconds } = pub.stop();
    pub = null;
    await sleep(1500);
    // What the window counted (the Messages view's per-topic counts).
    await s.exec("[...document.querySelectorAll('[role=tab]')].find((t) => /Messages/.test(t.textContent)).click(); return true;");
    await sleep(500);
    const counted = await s.exec(
      "return [...document.querySelectorAll('[role=row]')].map((r) => [...r.querySelectorAll('[role=rowheader],[role=cell]')].map((c) => c.textContent)).filter((c) => c[0] && c[0].startsWith('load/')).reduce((a, c) => a + Number(c[1]), 0);",
    );
    results.load = {
      rate_offered: RATE,
      sent,
      seconds: +seconds.toFixed(1),
      counted_in_window: counted,
      idle,
      under_load: underLoad,
      cpu_percent_all_processes: +cpu.toFixed(0),
      pss_under_load_mb: +mem.mb.toFixed(1),
    };
    console.log("responsiveness:", JSON.stringify(results.load, null, 1));
  } finally {
    pub?.stop();
    if (s) await s.close();
    await desk?.stop();
    broker.stop();
  }
}

const summary = {
  first_paint_ms_median: median(results.runs.map((r) => r.first_paint_ms)),
  open_mb_median: median(results.runs.map((r) => r.open_mb)),
  tray_mb_median: median(results.runs.map((r) => r.tray_mb)),
  minimized_mb_median: median((results.minimized ?? []).map((r) => r.mb)),
};
console.log("summary:", JSON.stringify(summary));
const out = join(ROOT, "bench", "results");
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "desktop.json"), JSON.stringify({ date: new Date().toISOString(), summary, ...results }, null, 1));
