// End to end: the real app (target/debug/tether-desktop) in demo mode under Xvfb, driven by
// tauri-driver + WebKitWebDriver. Sees Connected, drops the link for 30 s with the fault switch,
// sees reconnecting/recovering and Connected again; photographs the window (connected, during
// recovery) and the tray icon in each state into target/test-output/desktop/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { APP, OUT, startDesktop } from "./harness.mjs";

const STATE = "p.state";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The tray's corner of the screen (tint2's panel along the bottom, the tray at its left end). */
const TRAY = [0, 800 - 40, 160, 40];
/** The window as the X server shows it (no window manager: it sits at the top left). Taken with
 * xwd rather than WebDriver's screenshot, which now and then never answers on WebKitGTK. */
const WINDOW = [0, 0, 1000, 720];

const isAlive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function stateOf(s) {
  return s.exec("const p = document.querySelector('p.state'); return p ? p.dataset.state : null;");
}

async function waitState(s, want, ms) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await stateOf(s).catch(() => null);
    if (want.includes(last)) return last;
    await sleep(200);
  }
  throw new Error(`state ${want.join("/")} not reached within ${ms} ms (last: ${last})`);
}

async function button(s, label) {
  return s.find(`//button[normalize-space(.)='${label}']`);
}

// Only this run's pictures in the output folder.
rmSync(OUT, { recursive: true, force: true });

test("demo: connected, a 30 s link drop, recovery, pause, refused credentials, close to tray, single instance", { timeout: 240_000 }, async () => {
  const desk = await startDesktop();
  let s;
  try {
    s = await desk.session();
    const text = await s.waitText(STATE, /^Connected/, 30_000, "Connected");
    assert.match(text, /^Connected/);
    // The heater answered the status request: the device card shows a tank temperature.
    await s.waitText("main", /°F/, 20_000, "device card with temperatures");
    await sleep(1500); // let the first chart points and the tray settle
    desk.screen("window-connected.png", WINDOW);
    await desk.screenUntilDrawn("tray-connected.png", TRAY, 30_000);

    // Drop the link for 30 s: keepalive finds it, tier 1 backs off, and it comes back.
    await s.click(await button(s, "Drop the link for 30 s"));
    const during = await waitState(s, ["reconnecting", "recovering"], 30_000);
    assert.ok(["reconnecting", "recovering"].includes(during));
    await sleep(1200); // a countdown tick and a timeline entry in the picture
    desk.screen("window-recovering.png", WINDOW);
    await desk.screenUntilDrawn("tray-reconnecting.png", TRAY, 30_000);
    await waitState(s, ["connected"], 100_000);
    const timeline = await s.exec("return document.body.innerText");
    assert.match(timeline, /Connection lost|Reconnecting/i, "the timeline shows the outage");

    // Paused by the user.
    await s.click(await button(s, "Pause"));
    await waitState(s, ["paused"], 10_000);
    await sleep(500);
    await desk.screenUntilDrawn("tray-paused.png", TRAY, 30_000);
    await s.click(await button(s, "Resume"));
    await waitState(s, ["connected"], 20_000);

    // Credentials refused: the failed icon; clearing the fault and Retry now bring it back.
    await s.click(await button(s, "Refuse credentials"));
    await waitState(s, ["auth_rejected"], 20_000);
    await sleep(500);
    await desk.screenUntilDrawn("tray-failed.png", TRAY, 30_000);
    desk.screen("window-credentials-refused.png", WINDOW);
    await s.click(await button(s, "Clear faults"));
    await s.click(await button(s, "Retry now"));
    await waitState(s, ["connected"], 20_000);

    // Closing the window keeps Tether running in the tray; a second launch does not start a
    // second Tether but makes the first one open its window again.
    const pid = desk.appPid();
    assert.ok(pid, "the app runs under tauri-driver");
    await s.exec("setTimeout(() => window.__TAURI_INTERNALS__.invoke('hide_window'), 50); return true;");
    await desk.waitScreen(WINDOW, "blank", 15_000);
    assert.ok(isAlive(pid), "Tether is still running with its window closed");
    const second = spawnSync(APP, [], { env: desk.env, timeout: 20_000 });
    assert.equal(second.status, 0, `the second launch hands over and exits (status ${second.status}, signal ${second.signal})`);
    await desk.waitScreen(WINDOW, "drawn", 20_000);
    desk.screen("window-reopened.png", WINDOW);
    assert.ok(isAlive(pid), "the first instance is the one showing the window");
  } catch (e) {
    desk.screen("screen-failure.png");
    console.error(desk.driverLog.join("").slice(-4000));
    throw e;
  } finally {
    if (s) await s.close();
    await desk.stop();
  }
});
