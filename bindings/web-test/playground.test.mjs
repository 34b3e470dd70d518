// The playground in a real browser: Debian's Chromium driven by playwright-core, the page served
// by a static file server (browser.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, launch, open as openPage } from "./browser.mjs";

const root = fileURLToPath(new URL("..", import.meta.url)); // bindings/
const output = join(root, "test-output");

let server;
let base;
let browser;

before(async () => {
  assert.ok(existsSync(join(root, "pkg", "keyschema_wasm.js")), "build the package first: scripts/build-wasm");
  ({ server, base } = await serve(root));
  base += "/web/index.html";
  browser = await launch();
  await mkdir(output, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.close();
});

const open = (url) => openPage(browser, url);

test("a broken schema shows its diagnostic at the right line, underlined", async () => {
  const page = await open(base);
  assert.match(await page.textContent("#schema-status"), /valid/);
  await page.fill("#schema", "param jobID uuid\n\njob:state:<jobId> string \"Job state\"\n");
  await page.waitForSelector("#diagnostics li.error");
  const first = await page.textContent("#diagnostics li.error");
  assert.match(first, /line 3:11 error\[E004\]: unknown parameter `jobId`/);
  assert.equal(await page.textContent("#schema-backdrop mark"), "<jobId>");
  assert.match(await page.textContent("#schema-status"), /1 error/);
  await page.screenshot({ path: join(output, "playground-broken-schema.png") });
  await page.close();
});

const rowCells = (page, row) => page.$$eval(`#rows .row[data-row="${row}"] span`, (cells) => cells.map((c) => c.textContent));
const rowsInDom = (page) => page.$$eval("#rows .row", (rows) => rows.length);

test("pasted keys show pattern, slot, and problems; the URL reproduces the state", async () => {
  const page = await open(base);
  const keys = ["job:state:0f8fad5b-d9cb-469f-a165-70867728950e", "job:index:running", "job:index:RUNNING"];
  for (let i = 0; i < 2000; i++) keys.push(`cordum:rl:tenant-${i}:${1700000000 + i}`);
  await page.fill("#keys", keys.join("\n"));
  await page.waitForFunction(() => document.querySelector("#key-count")?.textContent === "2,003");
  const firstRow = await rowCells(page, 0);
  assert.equal(firstRow[0], keys[0]);
  assert.equal(firstRow[1], "job:state:<jobID>");
  assert.equal(firstRow[3], "14594");
  assert.equal(firstRow[4], "string");
  assert.equal(firstRow[5], "7d");
  const third = await rowCells(page, 2);
  assert.match(third[6], /K002/);
  assert.equal(await page.textContent("#unknown-count"), "1");
  assert.ok((await rowsInDom(page)) < 60, "only the rows in view are in the DOM");
  await page.screenshot({ path: join(output, "playground-keys.png"), fullPage: false });

  // A second page opened on the same URL shows the same thing.
  await page.waitForFunction(() => location.hash.includes("k="));
  const url = page.url();
  const again = await open(url);
  await again.waitForFunction(() => document.querySelector("#key-count")?.textContent === "2,003");
  assert.equal(await again.inputValue("#keys"), keys.join("\n"));
  assert.equal((await rowCells(again, 0))[3], "14594");
  await again.close();

  // An edited schema travels in the URL too.
  await page.fill("#schema", "param id int\nthing:<id> string \"A thing\"\n");
  await page.waitForFunction(() => location.hash.includes("s="));
  const edited = await open(page.url());
  assert.equal(await edited.inputValue("#schema"), "param id int\nthing:<id> string \"A thing\"\n");
  assert.match(await edited.textContent("#schema-status"), /valid/);
  await edited.close();
  await page.close();
});

test("a dropped file of 1,000,000 keys: progress, right counts per pattern, the page stays responsive", async () => {
  const page = await open(base);
  // The file is made in the page and dropped on the keys section as a user's drop is.
  await page.evaluate(() => {
    const lines = [];
    const hex = (n, width) => n.toString(16).padStart(width, "0");
    for (let i = 0; i < 400000; i++) lines.push(`cordum:rl:tenant-${i % 1000}:${1700000000 + i}`);
    for (let i = 0; i < 300000; i++) lines.push(`job:state:${hex(i * 2654435761 >>> 0, 8)}-0000-4000-8000-${hex(i, 12)}`);
    for (let i = 0; i < 200000; i++) lines.push(i % 2 ? "job:index:running" : "job:index:RUNNING");
    for (let i = 0; i < 100000; i++) lines.push(`unknown:${i}`);
    window.keysFile = new File([lines.join("\n") + "\n"], "keys.txt", { type: "text/plain" });
    // A heartbeat on the page's thread, and what the progress line says while the worker runs.
    window.gaps = [];
    window.progress = new Set();
    new MutationObserver(() => window.progress.add(document.querySelector("#progress-text").textContent))
      .observe(document.querySelector("#progress-text"), { childList: true, characterData: true, subtree: true });
  });
  const started = Date.now();
  await page.evaluate(() => {
    let last = performance.now();
    window.beat = setInterval(() => {
      const now = performance.now();
      window.gaps.push(now - last);
      last = now;
    }, 20);
    const transfer = new DataTransfer();
    transfer.items.add(window.keysFile);
    document.querySelector("section.keys").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => document.querySelector("#key-count")?.textContent === "1,000,000", null, { timeout: 120000 });
  const wall = Date.now() - started;
  const { gaps, progress } = await page.evaluate(() => {
    clearInterval(window.beat);
    return { gaps: window.gaps, progress: [...window.progress] };
  });
  const timing = await page.textContent("#timing");
  console.log(`1,000,000 keys: ${timing} in the worker, ${wall} ms from drop to summary; heartbeat: ${gaps.length} beats, longest gap ${Math.max(...gaps).toFixed(0)} ms`);
  assert.ok(gaps.length >= 5, "the page's timers kept firing during the run");
  assert.ok(Math.max(...gaps) < 500, `the page's thread was never blocked long: longest gap ${Math.max(...gaps)} ms`);
  assert.ok(progress.some((text) => /^[\d,]+ keys linted/.test(text)), `progress was shown: ${progress}`);

  const top = await page.$$eval("#top-patterns tr", (rows) => rows.map((r) => r.textContent));
  assert.deepEqual(top, ["400,000cordum:rl:<tenant>:<unixSec>", "300,000job:state:<jobID>", "100,000job:index:<state>"]);
  assert.equal(await page.textContent("#unknown-count"), "200,000");
  assert.match(await page.textContent("#summary"), /K001: 100,000, K002: 100,000/);
  assert.ok((await rowsInDom(page)) < 60, "a million keys, a few dozen rows in the DOM");

  // Scrolled to the end: the last key is rendered.
  await page.$eval("#viewport", (v) => { v.scrollTop = v.scrollHeight; });
  await page.waitForSelector('#rows .row[data-row="999999"]');
  assert.equal((await rowCells(page, 999999))[0], "unknown:99999");
  assert.match((await rowCells(page, 999999))[6], /K001/);

  // Filtered by problem, then a row clicked for its full result.
  await page.selectOption("#filter-problem", { label: "K002 (100,000)" });
  assert.equal(await page.textContent("#shown-count"), "100,000 shown");
  const first = await page.$eval("#rows .row", (row) => Number(row.dataset.row));
  assert.equal(first, 700000);
  await page.click(`#rows .row[data-row="${first}"]`);
  const details = JSON.parse(await page.textContent("#details pre"));
  assert.equal(details.key, "job:index:RUNNING");
  assert.equal(details.problems[0].code, "K002");
  await page.selectOption("#filter-pattern", { label: "job:state:<jobID> (300,000)" });
  assert.equal(await page.textContent("#shown-count"), "0 shown", "no key of that pattern has K002");
  await page.screenshot({ path: join(output, "playground-million.png"), fullPage: false });
  await page.close();
});
