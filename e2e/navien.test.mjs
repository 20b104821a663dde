// End to end on a Navien account: `tether navien-cloud` (the CLI's emulator, a process of its
// own on loopback) and the real app under Xvfb with a real Secret Service (gnome-keyring). In
// the window: Settings → Add profile → Navien account, a wrong password said by its field, the
// right one, the account's device picked, saved; the new profile connects over presigned WSS, the
// device card shows the heater's status, and a setpoint is confirmed by the heater. The card is
// photographed into target/test-output/desktop/window-navien-card.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCloud, startDesktop, waitState } from "./harness.mjs";

const STATE = "p.state";
const WINDOW = [0, 0, 1000, 720];
const MAC = "04786332fca0";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const byId = (id) => `//*[@id='${id}']`;
const button = (label) => `//button[normalize-space(.)='${label}']`;


test("navien: sign in with the form against tether navien-cloud, pick the device, see its status, change the setpoint", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "tether-e2e-cloud-"));
  const cloud = await startCloud(dir);
  const desk = await startDesktop({ keyring: true });
  let s;
  try {
    s = await desk.session();
    await s.waitText(STATE, /^Connected/, 30_000, "the demo connected");
    await s.click(await s.find(byId("tab-settings")));
    await s.click(await s.waitFind(button("Add profile"), 10_000));
    await s.click(await s.waitFind("//input[@name='profile-kind' and @value='navien']", 10_000));
    await s.type(await s.waitFind(byId("navien-name"), 10_000), "heater");
    await s.type(await s.find(byId("navien-email")), cloud.accounts[0]);
    await s.click(await s.find("//summary[normalize-space(.)='Other cloud (advanced)']"));
    await s.type(await s.find(byId("navien-rest-url")), cloud.rest_url);
    await s.type(await s.find(byId("navien-iot-host")), cloud.mqtt_host);
    await s.type(await s.find(byId("navien-iot-port")), String(cloud.mqtt_port));
    await s.type(await s.find(byId("navien-ca-file")), cloud.ca_file);

    // A wrong password is said by the password field, and nothing is saved.
    await s.type(await s.find(byId("navien-password")), "not-the-password");
    await s.click(await s.find(byId("navien-sign-in")));
    const wrong = await s.waitText("#navien-password-error", /refused/i, 30_000, "the refusal by the password field");
    assert.match(wrong, /refused/i);

    await s.type(await s.find(byId("navien-password")), "tether-demo");
    await s.click(await s.find(byId("navien-sign-in")));
    const device = await s.waitFind(byId(`navien-device-${MAC}`), 30_000, "the account's device to pick");
    const checked = await s.exec("return document.getElementById(arguments[0]).checked", [`navien-device-${MAC}`]);
    if (!checked) await s.click(device);
    const password = await s.exec("return document.getElementById('navien-password')?.value ?? ''");
    assert.equal(password, "", "the password is not kept in the form after the sign-in");
    await s.click(await s.find(byId("navien-save")));
    await s.waitText("main", /Saved heater/, 30_000, "the profile saved");

    // The new profile is the active link: connected over WSS, the card fills in.
    await s.click(await s.find(byId("tab-overview")));
    // The header names the new profile first: a "connected" before that is the demo's.
    await s.waitText("header", /heater/, 30_000, "the header naming the Navien profile");
    await waitState(s, ["connected"], 60_000);
    await s.waitText(`section.device[data-mac='${MAC}']`, /°F/, 30_000, "the heater's status on its card");
    await s.waitText(`section.device[data-mac='${MAC}']`, /Controls/, 10_000, "the card's controls");
    // Enabled once the heater's feature object is in.
    const deadline = Date.now() + 30_000;
    while (await s.exec("return !!document.querySelector(\"[data-testid='controls-note']\")")) {
      assert.ok(Date.now() < deadline, "the controls stay disabled: no feature object");
      await sleep(200);
    }

    await s.type(await s.find(byId("setpoint")), "125");
    await s.click(await s.find(`//form[contains(@class,'setpoint')]//button[normalize-space(.)='Set']`));
    const outcome = await s.waitText(
      `section.device[data-mac='${MAC}'] [data-outcome='ok']`,
      /Confirmed by the heater/,
      40_000,
      "the setpoint confirmed by the heater",
    );
    assert.match(outcome, /Confirmed/);
    await s.waitText(`section.device[data-mac='${MAC}']`, /124\.7 °F/, 10_000, "the new setpoint on the card");
    await sleep(800);
    desk.screen("window-navien-card.png", WINDOW);
    await s.screenshot("window-navien-card-webdriver.png").catch(() => null);
  } catch (e) {
    desk.screen("screen-failure-navien.png");
    console.error(desk.driverLog.join("").slice(-4000));
    // The tray process's log (it runs the link): what the link was doing when the test gave up.
    for (const f of readdirSync(join(desk.home, "logs"), { recursive: true }).map(String)) {
      const text = readFileSync(join(desk.home, "logs", f), "utf8");
      console.error(`--- ${f} (last 6000 characters)\n${text.slice(-6000)}`);
    }
    throw e;
  } finally {
    if (s) await s.close();
    await desk.stop();
    await cloud.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
