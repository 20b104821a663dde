// End to end: the real app (target/debug/tether-desktop, which starts target/debug/tether-tray)
// in demo mode under Xvfb, driven by tauri-driver + WebKitWebDriver. Sees Connected, drops the
// link for 30 s with the fault switch, sees reconnecting/recovering and Connected again;
// photographs the window (connected, during recovery) and the tray icon in each state (as a
// StatusNotifierItem host draws it) into target/test-output/desktop/. Closing the window ends
// the window process and WebKit; the tray process keeps the link, and the next launch shows it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { APP, OUT, processName, startDesktop, tetherProcesses, waitState } from "./harness.mjs";

const STATE = "p.state";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The tray's corner of the screen (the tray host's bar along the bottom, icons at its left end). */
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

async function button(s, label) {
  return s.find(`//button[normalize-space(.)='${label}']`);
}

// Only this run's pictures in the output folder.
rmSync(OUT, { recursive: true, force: true });

test("demo: connected, a 30 s link drop, recovery, pause, refused credentials, close to tray, reopen, single instance", { timeout: 240_000 }, async () => {
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

    // Closing the window ends the window process (and WebKit with it); the tray process keeps
    // the link and the tray icon.
    const pid = desk.appPid();
    const trayPid = desk.trayPid();
    assert.ok(pid, "the window runs under tauri-driver");
    assert.ok(trayPid, "the window started the tray process");
    await s.exec("setTimeout(() => window.__TAURI_INTERNALS__.invoke('hide_window'), 50); return true;");
    await desk.waitScreen(WINDOW, "blank", 15_000);
    const deadline = Date.now() + 15_000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(200);
    assert.ok(!isAlive(pid), "the window process ended with its window");
    assert.ok(isAlive(trayPid), "the tray process runs on with the window closed");
    // Of all the run's Tether processes (found by its private runtime dir, so an orphaned
    // WebKit process would count), only the tray process is left.
    const left = () => tetherProcesses(desk.home).map((p) => `${processName(p)}[${p}]`);
    const until = Date.now() + 10_000;
    while (left().length > 1 && Date.now() < until) await sleep(200);
    assert.deepEqual(left(), [`tether-tray[${trayPid}]`], "only the tray process is left");
    desk.screen("tray-window-closed.png", TRAY);
    await s.close();

    // Launching Tether again shows the same link, with what happened while the window was closed.
    s = await desk.session();
    await s.waitText(STATE, /^Connected/, 30_000, "Connected after reopening");
    const reopened = await s.exec("return document.body.innerText");
    assert.match(reopened, /Connection lost|Reconnecting/i, "the earlier events are in the reopened window");
    assert.equal(desk.trayPid(), trayPid, "the same tray process serves the new window");
    await desk.waitScreen(WINDOW, "drawn", 20_000);
    desk.screen("window-reopened.png", WINDOW);

    // One window only: a second launch hands over to the open one and exits.
    const second = spawnSync(APP, [], { env: desk.env, timeout: 20_000 });
    assert.equal(second.status, 0, `the second launch hands over and exits (status ${second.status}, signal ${second.signal})`);
    const win = desk.appPid();
    assert.ok(win && isAlive(win), "the first window is still the one shown");
  } catch (e) {
    desk.screen("screen-failure.png");
    console.error(desk.driverLog.join("").slice(-4000));
    throw e;
  } finally {
    if (s) await s.close();
    await desk.stop();
  }
});
