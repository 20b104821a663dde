// Test harness: serves the BUILT ui/dist with the app's CSP, drives Debian's Chromium through
// playwright-core, and installs the mock IPC (mock-ipc.js) before the app loads.

import { createServer } from "node:http";
import { readFile, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { extname, join, normalize, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { installMockTauriIpc } from "./mock-ipc.js";

const here = dirname(fileURLToPath(import.meta.url));
export const DIST = join(here, "..", "dist");
export const SHOTS = join(here, "..", "..", "target", "test-output", "ui");

// The same policy as src-tauri/tauri.conf.json, so anything the app would be refused fails here.
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src ipc: http://ipc.localhost; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png" };

/** A static server for dist/ on 127.0.0.1, an ephemeral port. */
export async function serveDist() {
  if (!existsSync(join(DIST, "index.html"))) throw new Error("ui/dist is not built: run `npm run build`");
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/favicon.ico") return void res.writeHead(204).end();
    const file = normalize(join(DIST, path === "/" ? "index.html" : path));
    if (!file.startsWith(DIST)) return void res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-security-policy": CSP });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((ok) => server.close(ok)) };
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    timeout: 30_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Opens the app in a fresh context with the mock IPC answering from `fixtures.respond`.
 * Returns the page and `problems`: page errors, console errors and CSP violations.
 */
export async function openApp(browser, url, fixtures, { colorScheme = "light", language } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme });
  context.setDefaultTimeout(5_000);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  if (language) {
    // What WebKitGTK reports under LANG=C; Chromium cannot be made to, so it is defined here.
    await page.addInitScript((tag) => Object.defineProperty(navigator, "language", { get: () => tag, configurable: true }), language);
  }
  await page.addInitScript(installMockTauriIpc, fixtures);
  await page.goto(url);
  // Startup is done when the app has said ui_ready.
  await page.waitForFunction(() => window.__calls.some((c) => c.cmd === "ui_ready"));
  return {
    page,
    problems,
    calls: (cmd) => page.evaluate((cmd) => window.__calls.filter((c) => !cmd || c.cmd === cmd), cmd),
    emit: (event, payload) => page.evaluate(([e, p]) => window.__mockIpc.emit(e, p), [event, payload]),
    /** `cmd` rejects with `err` from now on; `null` ends that. */
    reject: (cmd, err) =>
      page.evaluate(([c, e]) => void (e === null ? delete window.__mockIpc.reject[c] : (window.__mockIpc.reject[c] = e)), [cmd, err]),
    /** `cmd` resolves with `value` from now on. */
    respond: (cmd, value) => page.evaluate(([c, v]) => void (window.__mockIpc.respond[c] = v), [cmd, value]),
    /** `cmd` answers only after `ms`. */
    delay: (cmd, ms) => page.evaluate(([c, m]) => void (window.__mockIpc.delay[c] = m), [cmd, ms]),
    /** Fails on page errors, console errors and CSP violations seen so far. */
    async assertClean() {
      const csp = await page.evaluate(() => window.__cspViolations);
      const all = [...problems, ...csp.map((v) => `CSP violation: ${v}`)];
      if (all.length > 0) throw new Error(`problems in the page:\n${all.join("\n")}`);
    },
    async screenshot(name) {
      await mkdir(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, name), fullPage: true });
    },
    close: () => context.close(),
  };
}
