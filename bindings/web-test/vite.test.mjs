// The package in a real front-end build: the example app (bindings/example-vite) imports
// `keyschema-wasm` by name, Vite builds it (the .wasm emitted as an asset), and the built app lints
// keys in Chromium. `npm ci` in the example installs Vite and links the package (scripts/test).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, launch, open } from "./browser.mjs";

const example = fileURLToPath(new URL("../example-vite", import.meta.url));
let server;
let base;
let browser;
let dist;

before(async () => {
  assert.ok(existsSync(join(example, "node_modules", "vite")), "install the example first: (cd bindings/example-vite && npm ci)");
  dist = mkdtempSync(join(tmpdir(), "keyschema-vite-"));
  execFileSync(process.execPath, [join(example, "node_modules", "vite", "bin", "vite.js"), "build", "--outDir", dist, "--emptyOutDir"], {
    cwd: example,
    stdio: ["ignore", "pipe", "inherit"],
  });
  ({ server, base } = await serve(dist));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("Vite bundles the package with its .wasm as an asset", () => {
  const assets = readdirSync(join(dist, "assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `assets: ${assets}`);
  assert.ok(assets.some((f) => f.endsWith(".js")), `assets: ${assets}`);
});

test("the Vite-built app lints keys in Chromium", async () => {
  const page = await open(browser, `${base}/index.html`);
  const items = await page.$$eval("#results li", (lis) => lis.map((li) => li.textContent));
  assert.deepEqual(items, [
    "job:state:0f8fad5b-d9cb-469f-a165-70867728950e: job:state:<jobID>",
    "job:index:RUNNING: K002",
    "unknown:key: K001",
  ]);
  await page.fill("#keys", "cordum:rl:acme:1700000000");
  await page.click("#lint");
  assert.deepEqual(await page.$$eval("#results li", (lis) => lis.map((li) => li.textContent)), ["cordum:rl:acme:1700000000: cordum:rl:<tenant>:<unixSec>"]);
  await page.close();
});

/** A free loopback port (the dev server is told to take exactly it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

test("the Vite dev server (npm run dev) serves the app and its .wasm, and it lints in Chromium", async () => {
  const port = await freePort();
  const dev = spawn(process.execPath, [join(example, "node_modules", "vite", "bin", "vite.js"), "--host", "127.0.0.1", "--port", String(port), "--strictPort"], {
    cwd: example,
    stdio: ["ignore", "pipe", "pipe"],
    // Plain text: under CI=true Vite colours its output, which splits the port from its colon.
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  let log = "";
  dev.stdout.on("data", (chunk) => { log += chunk; });
  dev.stderr.on("data", (chunk) => { log += chunk; });
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the dev server did not start in 30 s:\n${log}`)), 30000);
      dev.stdout.on("data", () => {
        if (log.replace(/\x1b\[[0-9;]*m/g, "").includes(`:${port}/`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      dev.once("exit", (code) => { clearTimeout(timer); reject(new Error(`the dev server exited (${code}):\n${log}`)); });
    });
    const page = await browser.newPage();
    const failed = [];
    page.on("response", (response) => { if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`); });
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector("body[data-ready=true]", { timeout: 30000 }).catch(() => {});
    assert.deepEqual({ failed, errors }, { failed: [], errors: [] });
    const items = await page.$$eval("#results li", (lis) => lis.map((li) => li.textContent));
    assert.deepEqual(items, ["job:state:0f8fad5b-d9cb-469f-a165-70867728950e: job:state:<jobID>", "job:index:RUNNING: K002", "unknown:key: K001"]);
    await page.close();
  } finally {
    dev.kill();
  }
});
