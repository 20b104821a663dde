// Launch to the first Navien status on screen, with stored tokens and with a cold sign-in: the real
// app under Xvfb with a real Secret Service (gnome-keyring), against `tether navien-cloud` on
// loopback, driven through tauri-driver like the end-to-end tests (e2e/harness.mjs).
//
//   node bench/navien-launch.mjs            (RUNS=5 by default; the debug build in target/debug;
//                                            TETHER_DESKTOP_BIN / TETHER_BIN for another build)
//
// Per run, a fresh home, bus and keyring: `tether profile add heater --navien …` against the
// emulator (the password on stdin) stores the password and the tokens in the keyring; for a cold
// run `tether navien sign-out heater` then deletes the tokens, so the app must sign in with the
// password. The clock starts when the WebDriver session (which launches the app) is asked for and
// stops when the heater's card shows a tank temperature. The runs alternate stored / cold, so a
// slow moment of this noisy machine hits both. Results: medians, and their ratio.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startCloud, startDesktop } from "../e2e/harness.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
const TETHER = process.env.TETHER_BIN ?? join(ROOT, "target", "debug", "tether");
const MAC = "04786332fca0";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function cli(env, args, input) {
  const r = spawnSync(TETHER, args, { env, input, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`tether ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function once(cloud, cold) {
  const desk = await startDesktop({ keyring: true });
  let s;
  try {
    cli(
      desk.env,
      ["profile", "add", "heater", "--navien", cloud.accounts[0], "--rest-url", cloud.rest_url, "--iot-host", cloud.mqtt_host, "--iot-port", String(cloud.mqtt_port), "--ca-file", cloud.ca_file],
      "tether-demo\n",
    );
    if (cold) cli(desk.env, ["navien", "sign-out", "heater"]);
    const t0 = performance.now();
    s = await desk.session();
    await s.waitText(`section.device[data-mac='${MAC}']`, /\d+(\.\d)?\s*°F/, 60_000, "the heater's status on screen");
    return performance.now() - t0;
  } finally {
    if (s) await s.close();
    await desk.stop();
  }
}

const dir = mkdtempSync(join(tmpdir(), "tether-bench-cloud-"));
const cloud = await startCloud(dir);
const results = { stored: [], cold: [] };
try {
  // One launch to warm the page cache (binaries, WebKit), not counted.
  await once(cloud, false);
  for (let i = 0; i < RUNS; i++) {
    for (const cold of i % 2 ? [true, false] : [false, true]) {
      const ms = await once(cloud, cold);
      results[cold ? "cold" : "stored"].push(Math.round(ms));
      console.error(`run ${i + 1}: ${cold ? "cold sign-in" : "stored tokens"} ${Math.round(ms)} ms`);
      await sleep(500);
    }
  }
} finally {
  await cloud.stop();
  rmSync(dir, { recursive: true, force: true });
}
const out = {
  build: TETHER.includes("release") ? "release" : "debug",
  runs: RUNS,
  stored_tokens_ms: results.stored,
  cold_sign_in_ms: results.cold,
  median_stored_ms: median(results.stored),
  median_cold_ms: median(results.cold),
  ratio_cold_to_stored: Number((median(results.cold) / median(results.stored)).toFixed(3)),
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "navien-launch.json"), JSON.stringify(out, null, 2) + "\n");
console.log(JSON.stringify(out));
