// Browser tests of the built UI: Chromium (Debian's) against ui/dist served with the app's CSP,
// with the Rust backend replaced by the mock IPC in mock-ipc.js.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openApp, serveDist } from "./harness.js";
import { batch, demo, device, ev, generic } from "./fixtures.js";

const T = { timeout: 30_000 };
let browser;
let server;

before(async () => {
  server = await serveDist();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs `fn` with a fresh app page, then checks the page stayed clean and closes it. */
async function withApp(fixtures, fn, options) {
  const app = await openApp(browser, server.url, fixtures, options);
  try {
    await fn(app);
    await app.assertClean();
  } finally {
    await app.close();
  }
}

const tab = (page, name) => page.getByRole("tab", { name }).click();

describe("views", () => {
  test("startup: get_overview, both listeners, then ui_ready exactly once", T, () =>
    withApp(demo(), async ({ page, calls }) => {
      const cmds = (await calls()).map((c) => (c.cmd === "plugin:event|listen" ? `listen:${c.args.event}` : c.cmd));
      assert.ok(cmds.includes("get_overview"));
      assert.ok(cmds.includes("listen:link-update"));
      assert.ok(cmds.includes("listen:device-status"));
      await page.waitForTimeout(200);
      assert.equal((await calls("ui_ready")).length, 1);
      assert.ok(cmds.indexOf("ui_ready") > cmds.indexOf("get_overview"));
    }));

  test("startup asks for the overview only once both listeners are registered (a slow back end)", T, () =>
    withApp({ ...demo(), listenDelayMs: 300 }, async ({ calls }) => {
      const [overview] = await calls("get_overview");
      // A status emitted before registration would be lost; one after it is in the overview.
      assert.deepEqual(overview.registered, ["device-status", "link-update"]);
    }));

  test("a problem at start (a malformed profile file) is shown until dismissed", T, () => {
    const f = demo();
    f.respond.get_overview.problem = "/home/u/.config/tether/profiles.toml:3:13: invalid type; the demo runs instead";
    return withApp(f, async ({ page }) => {
      const banner = page.getByTestId("startup-problem");
      await banner.getByText("profiles.toml:3:13").waitFor();
      assert.equal(await banner.getAttribute("role"), "alert");
      await banner.getByRole("button", { name: "Dismiss" }).click();
      assert.equal(await page.getByTestId("startup-problem").count(), 0);
    });
  });

  test("a window opened on a running link shows what already happened (recent_events)", T, () => {
    const f = demo();
    f.respond.get_overview.recent_events = [
      ev("connected", { session_present: false }, 90_000),
      ev("subscriptions_restored", { count: 1, skipped_because_session_present: false }, 89_000),
    ];
    return withApp(f, async ({ page }) => {
      const items = page.locator("ol.timeline li");
      await items.first().waitFor();
      assert.equal(await items.count(), 2);
      assert.match(await items.first().innerText(), /ubscri/, "newest first");
    });
  });

  test("overview in the demo: device card, fault switch, charts, timeline", T, () =>
    withApp(demo(), async ({ page, emit, screenshot }) => {
      await page.getByRole("heading", { name: "Water heater" }).waitFor();
      await page.getByText("118.4").waitFor();
      await page.getByRole("heading", { name: "Fault switch" }).waitFor();
      assert.equal(await page.getByRole("status").first().textContent(), "Connected");
      assert.equal(await page.getByRole("tab", { name: "Overview" }).getAttribute("aria-selected"), "true");
      // A few status replies and link events, to have something in the charts and the timeline.
      for (let i = 5; i >= 0; i--) await emit("device-status", device({ at: new Date(Date.now() - i * 60_000).toISOString(), tank_f: 112 + i }));
      await emit("link-update", batch({
        events: [
          ev("connection_interrupted", { error: "connection reset by peer", cause: "network" }, 40_000),
          ev("reconnecting", { attempt: 1, max_attempts: 4, delay_ms: 1000 }, 39_000),
          ev("recovered", { downtime_ms: 28_800, after_failure: true }, 11_000),
          ev("subscriptions_restored", { count: 2, skipped_because_session_present: false }, 10_000),
        ],
      }));
      await page.getByText("Recovered after 28.8 s").waitFor();
      await page.getByText("Restored 2 subscriptions").waitFor();
      assert.equal(await page.locator(".uplot").count(), 2, "two uPlot charts");
      // Newest first, with local HH:MM:SS.mmm timestamps.
      const first = await page.locator("ol.timeline li").first().innerText();
      assert.match(first, /^\d\d:\d\d:\d\d\.\d{3}\s+Restored 2 subscriptions$/);
      await screenshot("overview-demo.png");
      // The charts follow the window's width.
      const width = () => page.locator(".uplot canvas").first().evaluate((c) => c.getBoundingClientRect().width);
      const wide = await width();
      await page.setViewportSize({ width: 700, height: 760 }); // one column: the charts get wider
      await page.waitForFunction((w) => {
        const canvas = document.querySelector(".uplot canvas").getBoundingClientRect().width;
        return canvas !== w && Math.abs(canvas - document.querySelector(".chart").getBoundingClientRect().width) < 1;
      }, wide);
    }));

  test("a session language Intl refuses (LANG=C: \"C\") still renders, charts included", T, () =>
    withApp(
      demo(),
      async ({ page }) => {
        await page.getByText("Drop the link for 30 s").waitFor();
        assert.equal(await page.locator(".uplot").count(), 2);
      },
      { language: "C" },
    ));

  test("overview follows the dark theme", T, () =>
    withApp(demo(), async ({ page, screenshot }) => {
      await page.getByRole("heading", { name: "Water heater" }).waitFor();
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(bg, "rgb(20, 23, 27)");
      await screenshot("overview-demo-dark.png");
    }, { colorScheme: "dark" }));

  test("a generic profile has no fault switch; messages show topics from a batch", T, () =>
    withApp(generic(), async ({ page, emit, screenshot }) => {
      await page.getByRole("heading", { name: "Link events" }).waitFor();
      assert.equal(await page.getByRole("heading", { name: "Fault switch" }).count(), 0);
      assert.equal(await page.getByRole("heading", { name: "Water heater" }).count(), 0);
      await tab(page, "Messages");
      await emit("link-update", batch({
        topics: [
          { topic: "home/kitchen/temp", count: 12, rate: 0.5, last_payload: '{"c":21.5}', truncated: false },
          { topic: "home/garage/door", count: 3, rate: 0.1, last_payload: "closed", truncated: false },
          { topic: "sensors/cam/frame", count: 900, rate: 30, last_payload: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", truncated: true },
        ],
      }));
      const rows = page.locator("[role=rowgroup] [role=row]");
      await rows.nth(2).waitFor();
      assert.equal(await rows.count(), 3);
      assert.deepEqual(await page.locator("[role=rowheader]").allInnerTexts(), ["home/garage/door", "home/kitchen/temp", "sensors/cam/frame"]);
      assert.match(await rows.nth(2).innerText(), /900\s+30\.0\s+A+\s*… \(truncated\)/);
      // A later batch updates a row in place.
      await emit("link-update", batch({ topics: [{ topic: "home/garage/door", count: 4, rate: 0.2, last_payload: "open", truncated: false }] }));
      await page.getByRole("cell", { name: "open", exact: true }).waitFor();
      assert.equal(await rows.count(), 3);
      await screenshot("messages.png");
    }));

  test("settings: profiles, profile form, credentials, policy", T, () =>
    withApp(demo(), async ({ page, screenshot }) => {
      await tab(page, "Settings");
      await page.getByRole("heading", { name: "Profiles" }).waitFor();
      await page.getByText("mqtts://broker.example.com:8883").waitFor();
      await page.getByRole("button", { name: "Edit home" }).click();
      assert.equal(await page.getByLabel("Broker URL").inputValue(), "mqtts://broker.example.com:8883");
      assert.equal(await page.getByLabel("Subscriptions").inputValue(), "home/#\nsensors/+/temp");
      await page.getByText("No password or token stored.").waitFor();
      assert.equal(await page.getByLabel("Max attempts").inputValue(), "4");
      assert.equal(await page.getByLabel("Strategy").inputValue(), "refresh_and_recreate");
      await screenshot("settings.png");
    }));

  test("diagnostics: polled and shown as a definition list", T, () =>
    withApp(demo(), async ({ page, calls, screenshot }) => {
      await tab(page, "Diagnostics");
      await page.getByText("120345").waitFor();
      const text = await page.locator("dl.facts").innerText();
      assert.match(text, /Connects\s+5/);
      assert.match(text, /network: 3/);
      assert.match(text, /last 28\.8 s · p50 2\.1 s · p95 28\.8 s/);
      assert.match(text, /Running for\s+1 h 02 min/);
      assert.match(text, /Subscriptions\s+2 of 3 acknowledged by the broker/);
      const n = (await calls("get_diagnostics")).length;
      await page.waitForFunction((n) => window.__calls.filter((c) => c.cmd === "get_diagnostics").length > n, n, { timeout: 4_000 });
      await screenshot("diagnostics.png");
      // Polling stops when the view is left.
      await tab(page, "Overview");
      const m = (await calls("get_diagnostics")).length;
      await page.waitForTimeout(2_300);
      assert.equal((await calls("get_diagnostics")).length, m);
    }));

  test("tabs work by keyboard", T, () =>
    withApp(demo(), async ({ page }) => {
      await page.getByRole("tab", { name: "Overview" }).focus();
      await page.keyboard.press("ArrowRight");
      assert.equal(await page.getByRole("tab", { name: "Messages" }).getAttribute("aria-selected"), "true");
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Messages");
      await page.keyboard.press("End");
      await page.getByRole("heading", { name: "Diagnostics" }).waitFor();
      await page.keyboard.press("ArrowRight");
      assert.equal(await page.getByRole("tab", { name: "Overview" }).getAttribute("aria-selected"), "true");
    }));
});

describe("harness", () => {
  test("catches CSP violations (an inline style attribute)", T, async () => {
    const app = await openApp(browser, server.url, demo());
    try {
      await app.page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>'));
      await app.page.waitForFunction(() => window.__cspViolations.length > 0);
      await assert.rejects(app.assertClean(), /CSP violation: style-src/);
    } finally {
      await app.close();
    }
  });
});

describe("controls", () => {
  test("the setpoint control sends set_setpoint with the entered value", T, () =>
    withApp(demo(), async ({ page, calls }) => {
      const input = page.getByLabel("New setpoint (°F)");
      assert.equal(await input.inputValue(), "120");
      assert.equal(await input.getAttribute("min"), "95");
      assert.equal(await input.getAttribute("max"), "150");
      await input.fill("131");
      await page.getByRole("button", { name: "Set", exact: true }).click();
      await page.getByText("Sent 131 °F").waitFor();
      assert.deepEqual((await calls("set_setpoint")).map((c) => c.args), [{ fahrenheit: 131 }]);
    }));

  test("tagged errors show next to their field", T, () =>
    withApp(demo(), async ({ page, reject }) => {
      // Setpoint.
      await reject("set_setpoint", { kind: "invalid", field: "setpoint", message: "The setpoint must be between 95 and 150 °F." });
      await page.getByLabel("New setpoint (°F)").fill("160");
      await page.getByRole("button", { name: "Set", exact: true }).click();
      const spErr = page.locator("#setpoint-error");
      await spErr.waitFor();
      assert.equal(await spErr.textContent(), "The setpoint must be between 95 and 150 °F.");
      assert.equal(await page.locator("form.setpoint #setpoint-error").count(), 1, "inside the setpoint form");
      assert.equal(await page.getByLabel("New setpoint (°F)").getAttribute("aria-invalid"), "true");

      // Profile URL.
      await tab(page, "Settings");
      await page.getByRole("button", { name: "Edit home" }).click();
      await reject("save_profile", { kind: "invalid", field: "url", message: "The URL must start with mqtt://, mqtts://, ws:// or wss://." });
      await page.getByLabel("Broker URL").fill("http://nope");
      await page.getByRole("button", { name: "Save profile" }).click();
      const urlErr = page.locator("#f-url-error");
      await urlErr.waitFor();
      assert.equal(await urlErr.textContent(), "The URL must start with mqtt://, mqtts://, ws:// or wss://.");
      // Right below the URL input, in the same field container, and tied to it for assistive tech.
      assert.equal(await page.locator("#f-url + #f-url-error").count(), 1);
      assert.equal(await page.getByLabel("Broker URL").getAttribute("aria-describedby"), "f-url-error");
      assert.equal(await page.locator("#f-name-error").count(), 0);

      // Policy field with a dotted name.
      await reject("save_settings", { kind: "invalid", field: "reconnect.max_attempts", message: "Must be at least 1." });
      await page.getByRole("button", { name: "Save settings" }).click();
      await page.locator("#f-reconnect-max_attempts + #f-reconnect-max_attempts-error").waitFor();

      // An error without a field goes to the form, not to a field.
      await reject("save_settings", { kind: "io", field: null, message: "Could not write the settings file." });
      await page.getByRole("button", { name: "Save settings" }).click();
      await page.getByText("Could not write the settings file.").waitFor();
      assert.equal(await page.locator("#f-reconnect-max_attempts-error").count(), 0);
    }));

  test("once the attempt is due the countdown says it is in progress, not 0.0 s", T, () =>
    withApp(demo(), async ({ page, emit }) => {
      const past = new Date(Date.now() - 1_000).toISOString();
      await emit("link-update", batch({ state: { state: "reconnecting", attempt: 1, max_attempts: 4, retry_at: past } }));
      await page.getByTestId("countdown").getByText("attempt in progress…").waitFor();
    }));

  test("reconnecting shows the state, a countdown, and Retry now / r invoke retry_now", T, () =>
    withApp(demo(), async ({ page, emit, calls, screenshot }) => {
      const retryAt = new Date(Date.now() + 6_000).toISOString();
      await emit("link-update", batch({
        state: { state: "reconnecting", attempt: 2, max_attempts: 4, retry_at: retryAt },
        events: [ev("reconnecting", { attempt: 2, max_attempts: 4, delay_ms: 2000 })],
      }));
      const status = page.locator("header [role=status]");
      await page.waitForFunction(() => document.querySelector("header [role=status]")?.textContent === "Reconnecting: attempt 2 of 4");
      assert.equal(await status.getAttribute("aria-live"), "polite");
      await page.getByText("Reconnecting: attempt 2 of 4 in 2.0 s").waitFor();
      const countdown = page.getByTestId("countdown");
      const first = Number((await countdown.innerText()).match(/([\d.]+) s/)[1]);
      assert.ok(first > 4 && first <= 6, `countdown starts near 6 s, got ${first}`);
      await page.waitForTimeout(600);
      const later = Number((await countdown.innerText()).match(/([\d.]+) s/)[1]);
      assert.ok(later < first, `countdown runs: ${first} -> ${later}`);
      await screenshot("overview-reconnecting.png");

      await page.getByRole("button", { name: "Retry now" }).click();
      assert.equal((await calls("retry_now")).length, 1);
      // "r" retries when focus is not in a field, and types when it is.
      await page.locator("body").click({ position: { x: 5, y: 700 } });
      await page.keyboard.press("r");
      assert.equal((await calls("retry_now")).length, 2);
      await page.getByLabel("New setpoint (°F)").focus();
      await page.keyboard.press("r");
      assert.equal((await calls("retry_now")).length, 2);

      // Recovering shows its countdown too; connected has none.
      await emit("link-update", batch({ state: { state: "recovering", cycle: 1, max_cycles: 3, strategy: "recreate", retry_at: new Date(Date.now() + 30_000).toISOString() } }));
      await page.getByText("Recovering (recreate the client): cycle 1 of 3").waitFor();
      await countdown.waitFor();
      await emit("link-update", batch({ state: { state: "connected", since: new Date().toISOString(), session_present: true } }));
      await page.getByText("Connected (session resumed)").first().waitFor();
      assert.equal(await countdown.count(), 0);
    }));

  test("Pause/Resume follows the state", T, () =>
    withApp(demo(), async ({ page, emit, calls }) => {
      await page.getByRole("button", { name: "Pause" }).click();
      assert.equal((await calls("pause")).length, 1);
      await emit("link-update", batch({ state: { state: "paused" } }));
      await page.getByRole("button", { name: "Resume" }).click();
      assert.equal((await calls("resume")).length, 1);
    }));

  test("the fault buttons invoke demo_fault with the right fault", T, () =>
    withApp(demo(), async ({ page, calls }) => {
      const buttons = {
        "Drop the link for 30 s": "drop_link",
        "Broker outage for 2 min": "broker_outage",
        "Refuse credentials": "refuse_credentials",
        "Clear faults": "clear",
      };
      for (const name of Object.keys(buttons)) await page.getByRole("button", { name }).click();
      assert.deepEqual((await calls("demo_fault")).map((c) => c.args.fault), Object.values(buttons));
    }));

  test("credentials: set_secret gets the secret, the input is cleared, the page never shows it", T, () =>
    withApp(demo(), async ({ page, calls }) => {
      const secret = "s3cr3t-Hunter2-Do-Not-Show";
      await tab(page, "Settings");
      await page.getByRole("button", { name: "Edit home" }).click();
      const input = page.getByLabel("Password or token");
      assert.equal(await input.getAttribute("type"), "password");
      await input.fill(secret);
      await page.getByRole("button", { name: "Store in keychain" }).click();
      await page.getByText("Stored in the system keychain.").waitFor();
      assert.deepEqual((await calls("set_secret")).map((c) => c.args), [{ profile: "home", secret }]);
      assert.equal(await input.inputValue(), "");
      const html = await page.content();
      assert.ok(!html.includes(secret), "secret not in the DOM");
      assert.ok(!(await page.locator("body").innerText()).includes(secret), "secret not on screen");
      // Replace / Delete.
      await page.getByRole("button", { name: "Delete" }).click();
      await page.getByText("No password or token stored.").waitFor();
      assert.deepEqual((await calls("delete_secret")).map((c) => c.args), [{ profile: "home" }]);
    }));

  test("credentials without a keychain say the secret is kept for this run only", T, () =>
    withApp(demo({ keychain: { available: false, message: "no Secret Service on the session bus" } }), async ({ page, screenshot }) => {
      await tab(page, "Settings");
      await page.getByRole("button", { name: "Edit lab" }).click();
      await page.getByText("no Secret Service on the session bus").waitFor();
      await page.getByText(/kept\s+in memory for this run only/).waitFor();
      await page.getByLabel("Password or token").fill("x");
      await page.getByRole("button", { name: "Replace" }).click();
      await page.getByText("Kept in memory for this run only.").waitFor();
      await screenshot("settings-no-keychain.png");
    }));

  test("profiles: add, switch, remove, switch to the demo", T, () =>
    withApp(generic(), async ({ page, calls }) => {
      await tab(page, "Settings");
      await page.getByRole("button", { name: "Add profile" }).click();
      await page.getByLabel("Name", { exact: true }).fill("office");
      await page.getByLabel("Broker URL").fill("mqtt://office:1883");
      await page.getByLabel("Subscriptions").fill("a/#\n\n b/+ \n");
      await page.getByRole("button", { name: "Save profile" }).click();
      await page.getByText("Saved office.").waitFor();
      assert.deepEqual((await calls("save_profile")).at(-1).args.input, {
        original_name: null, name: "office", url: "mqtt://office:1883", username: null, subscriptions: ["a/#", "b/+"],
      });
      await page.getByRole("button", { name: "Switch to lab" }).click();
      await page.getByRole("button", { name: "Remove lab" }).click();
      await page.getByRole("button", { name: "Confirm removing lab" }).click();
      await page.getByRole("button", { name: "Switch to the demo" }).click();
      const cmds = (await calls()).map((c) => `${c.cmd}${c.args.name !== undefined ? `:${c.args.name}` : ""}`);
      assert.ok(cmds.includes("switch_profile:lab"));
      assert.ok(cmds.includes("remove_profile:lab"));
      assert.ok(cmds.includes("switch_profile:null"));
      await page.waitForFunction(() => document.querySelector("header .profile")?.textContent?.trim() === "Demo");
    }));

  test("Ctrl+W hides the window", T, () =>
    withApp(demo(), async ({ page, calls }) => {
      await page.keyboard.press("Control+w");
      assert.equal((await calls("hide_window")).length, 1);
    }));
});

describe("load", () => {
  // Emits `batches` link-updates of 1000 topic updates each (5,000 msg/s arrive as 10 such
  // batches a second) and returns per-batch milliseconds until the next frame.
  const flood = (page, batches, distinct) =>
    page.evaluate(async ([batches, distinct]) => {
      const out = [];
      const now = new Date().toISOString();
      for (let b = 0; b < batches; b++) {
        const topics = [];
        for (let i = 0; i < 1000; i++) {
          const n = (b * 1000 + i) % distinct;
          topics.push({ topic: `load/${n}`, count: b + 1, rate: 5, last_payload: `v${b}`, truncated: false });
        }
        const events = [];
        for (let i = 0; i < 20; i++) events.push({ ts: now, profile: "p", event: "outbox_queued", count: i });
        const t0 = performance.now();
        window.__mockIpc.emit("link-update", { state: null, events, skipped_events: 0, topics });
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        out.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
      return out;
    }, [batches, distinct]);
  const stats = (ms) => ({ mean: ms.reduce((a, b) => a + b, 0) / ms.length, worst: Math.max(...ms.slice(2)) });

  test("5,000 msg/s: batches of 1000 topic updates stay bounded and cheap", T, () =>
    withApp(generic(), async ({ page }) => {
      await tab(page, "Messages");
      // 1000 live topics, all updated every batch: the table keeps 500 rows and updates them in place.
      const steady = stats(await flood(page, 30, 1000));
      assert.equal(await page.locator("[role=rowgroup] [role=row]").count(), 500, "the table keeps at most 500 topics");
      await page.getByText("showing at most the 500 most recently updated").waitFor();
      // Worst case: 3000 topics taking turns, so most rows change every batch.
      const churn = stats(await flood(page, 30, 3000));
      assert.equal(await page.locator("[role=rowgroup] [role=row]").count(), 500);
      await tab(page, "Overview");
      assert.equal(await page.locator("ol.timeline li").count(), 300, "the timeline keeps 300 events");
      const f = (s) => `mean ${s.mean.toFixed(1)} ms, worst ${s.worst.toFixed(1)} ms`;
      console.log(`# batch of 1000 topic updates until the next frame: steady ${f(steady)}; churning ${f(churn)}`);
      assert.ok(steady.worst < 250 && churn.worst < 500, "a batch must not stall the page");
    }));
});
