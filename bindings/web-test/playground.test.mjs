// The playground in a real browser: Debian's Chromium driven by playwright-core, the page served
// by a static file server (browser.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
  assert.match(await page.textContent("#summary"), /K001 no pattern matches: 100,000, K002 wrong parameter type: 100,000/);
  assert.ok((await rowsInDom(page)) < 60, "a million keys, a few dozen rows in the DOM");

  // Scrolled to the end: the last key is rendered.
  await page.$eval("#viewport", (v) => { v.scrollTop = v.scrollHeight; });
  await page.waitForSelector('#rows .row[data-row="999999"]');
  assert.equal((await rowCells(page, 999999))[0], "unknown:99999");
  assert.match((await rowCells(page, 999999))[6], /K001/);

  // Filtered by problem, then a row clicked for its full result.
  await page.selectOption("#filter-problem", { label: "K002 wrong parameter type (100,000)" });
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

// The editor's text as the page sees it, and a point over the character at `offset`, found through
// the backdrop (which mirrors the text), not through the editor's own arithmetic.
async function pointAt(page, offset) {
  return page.evaluate((offset) => {
    const walker = document.createTreeWalker(document.querySelector("#schema-backdrop"), NodeFilter.SHOW_TEXT);
    let seen = 0;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (seen + node.length > offset) {
        const range = document.createRange();
        range.setStart(node, offset - seen);
        range.setEnd(node, offset - seen + 1);
        const box = range.getBoundingClientRect();
        return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
      }
      seen += node.length;
    }
    return null;
  }, offset);
}

/** Scrolls the editor so that `offset` is in view, as a user's wheel would. */
async function scrollTo(page, offset) {
  await page.$eval("#schema", (box, offset) => {
    const line = box.value.slice(0, offset).split("\n").length - 1;
    box.scrollTop = Math.max(0, line * parseFloat(getComputedStyle(box).lineHeight) - 100);
  }, offset);
  // The browser sends its scroll event on the next frame (it hides a hover); let it pass.
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

test("typing an error shows its diagnostic at its place within 100 ms; fixed, the keys lint again", async () => {
  const page = await open(base);
  await page.waitForFunction(() => document.querySelector("#key-count")?.textContent === "8");
  const text = await page.inputValue("#schema");
  const at = text.indexOf("job:state:<jobID>") + "job:state:<job".length;
  const line = text.slice(0, at).split("\n").length;
  const failures = [];
  page.on("console", (message) => { if (message.type() === "error") failures.push(message.text()); });
  await page.evaluate(() => {
    window.typed = [];
    window.shown = null;
    // From the key press, before any handler of the page runs.
    window.addEventListener("keydown", () => window.typed.push(performance.now()), { capture: true });
    new MutationObserver(() => {
      if (window.shown === null && document.querySelector("#diagnostics li.error")) window.shown = performance.now();
    }).observe(document.querySelector("#diagnostics"), { childList: true });
  });
  // "jobID" becomes "jobId": the user selects "D" and types "d".
  await page.$eval("#schema", (box, at) => { box.focus(); box.setSelectionRange(at + 1, at + 2); }, at);
  await page.keyboard.type("d");
  await page.waitForSelector("#diagnostics li.error");
  const { typed, shown } = await page.evaluate(() => ({ typed: window.typed, shown: window.shown }));
  const latency = shown - typed.at(-1);
  console.log(`diagnostic shown ${latency.toFixed(1)} ms after the keystroke`);
  assert.ok(latency < 100, `the diagnostic appeared ${latency} ms after the keystroke`);
  assert.equal(await page.textContent("#diagnostics li.error .where"), `line ${line}:${at - text.lastIndexOf("\n", at) - 4}`);
  assert.match(await page.textContent("#diagnostics li.error"), /error\[E004\]: unknown parameter `jobId`/);
  assert.equal(await page.textContent("#schema-backdrop mark.error"), "<jobId>");
  // The keys say why they are not linted, and nothing of the last batch stays.
  assert.equal(await page.textContent("#summary"), "fix the schema's error to lint keys");
  assert.equal(await page.textContent("#shown-count"), "");
  assert.equal(await page.$$eval("#rows .row", (rows) => rows.length), 0);
  assert.equal(await page.$$eval("#filter-problem option", (options) => options.length), 0);
  // Fixed back to the text the worker last linted with: the keys lint again.
  await page.$eval("#schema", (box, at) => box.setSelectionRange(at + 1, at + 2), at);
  await page.keyboard.type("D");
  await page.waitForFunction(() => document.querySelector("#key-count")?.textContent === "8");
  assert.equal(await page.inputValue("#schema"), text);
  assert.doesNotMatch(await page.textContent("#summary"), /could not lint/);
  assert.deepEqual(failures, []);

  // 40 keystrokes into a comment of the Cordum schema: each is checked and drawn before the next
  // frame. From key press to the redrawn underlines:
  await page.evaluate(() => {
    window.pressed = [];
    window.drawn = [];
    window.addEventListener("keydown", () => window.pressed.push(performance.now()), { capture: true });
    new MutationObserver(() => window.drawn.push(performance.now())).observe(document.querySelector("#schema-backdrop"), { childList: true });
  });
  await page.$eval("#schema", (box) => { const end = box.value.indexOf("\n"); box.setSelectionRange(end, end); });
  for (let i = 0; i < 40; i++) await page.keyboard.type(String.fromCharCode(97 + (i % 26)));
  const { pressed, drawn } = await page.evaluate(() => ({ pressed: window.pressed, drawn: window.drawn }));
  assert.equal(drawn.length, 40, "every keystroke redrew the diagnostics");
  const latencies = pressed.map((t, i) => drawn[i] - t).sort((a, b) => a - b);
  const p95 = latencies[Math.ceil(latencies.length * 0.95) - 1];
  console.log(`keystroke to redrawn diagnostics (Cordum schema): median ${latencies[20].toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
  assert.ok(p95 < 100, `p95 ${p95} ms`);
  await page.close();
});

test("hovering a key shows its pattern, TTL, an example key and its slot, as lint says", async () => {
  const page = await open(base);
  await page.waitForFunction(() => document.querySelector("#key-count")?.textContent === "8");
  const text = await page.inputValue("#schema");
  const at = text.indexOf("job:state:<jobID>");
  await scrollTo(page, at);
  const point = await pointAt(page, at + 3);
  await page.mouse.move(point.x, point.y);
  await page.waitForSelector("#hover:not([hidden])");
  const hover = await page.textContent("#hover");
  // Row 0 of the default keys is this pattern's example key, linted by the worker.
  const row = await rowCells(page, 0);
  assert.equal(row[1], "job:state:<jobID>");
  assert.match(hover, /job_state/);
  assert.ok(hover.includes(`example: ${row[0]} (slot ${row[3]})`), hover);
  assert.ok(hover.includes(`TTL: ${row[5]} (JOB_META_TTL_SECONDS)`), hover);
  await page.screenshot({ path: join(output, "playground-hover.png") });
  // A parameter: its type and the keys that use it; blank space: nothing.
  const param = await pointAt(page, at + "job:state:<".length + 1);
  await page.mouse.move(param.x, param.y);
  await page.waitForFunction(() => /param jobID: uuid/.test(document.querySelector("#hover").textContent));
  assert.match(await page.textContent("#hover"), /uuid/);
  await page.mouse.move(point.x + 2000, point.y);
  await page.waitForSelector("#hover", { state: "hidden" });
  await page.close();
});

test("Format rewrites the schema in keyschema fmt's layout, as one undoable edit", async () => {
  const page = await open(base);
  const messy = "param   id int\n\n\n\nthing:<id>   string \"A thing\"\nother:<id> hash fields(a,   b: int)   \"Other\"\n";
  const cli = process.env.KEYSCHEMA_BIN ?? fileURLToPath(new URL("../../target/debug/keyschema", import.meta.url));
  const file = join(mkdtempSync(join(tmpdir(), "keyschema-fmt-")), "messy.keys");
  writeFileSync(file, messy);
  execFileSync(cli, ["fmt", file]);
  const expected = readFileSync(file, "utf8");
  assert.notEqual(expected, messy);
  await page.fill("#schema", messy);
  await page.click("#format");
  await page.waitForFunction((expected) => document.querySelector("#schema").value === expected, expected);
  assert.match(await page.textContent("#schema-status"), /valid/);
  await page.keyboard.press("Control+z");
  await page.waitForFunction((messy) => document.querySelector("#schema").value === messy, messy);
  // A schema with errors is not formatted, and says so.
  await page.fill("#schema", "thing:<nope> string \"A thing\"\n");
  await page.click("#format");
  assert.equal(await page.textContent("#schema-status"), "fix the errors to format");
  assert.equal(await page.inputValue("#schema"), "thing:<nope> string \"A thing\"\n");
  await page.close();
});

test("a clicked or keyed diagnostic scrolls the editor to its line and selects it", async () => {
  const page = await open(base);
  const text = await page.inputValue("#schema");
  const at = text.lastIndexOf("<tenant>");
  const broken = text.slice(0, at) + "<tenantz>" + text.slice(at + "<tenant>".length);
  await page.fill("#schema", broken);
  await page.waitForSelector("#diagnostics li.error");
  const line = Number(await page.getAttribute("#diagnostics li.error", "data-line"));
  assert.ok(line > 100, `the error is far down: line ${line}`);
  await page.$eval("#schema", (box) => { box.scrollTop = 0; });
  const inView = () => page.$eval("#schema", (box, line) => {
    const height = parseFloat(getComputedStyle(box).lineHeight);
    return { top: (line - 1) * height >= box.scrollTop && line * height <= box.scrollTop + box.clientHeight, selected: box.value.slice(box.selectionStart, box.selectionEnd) };
  }, line);
  await page.click("#diagnostics li.error");
  assert.deepEqual(await inView(), { top: true, selected: "<tenantz>" });
  // The same from the keyboard.
  await page.$eval("#schema", (box) => { box.scrollTop = 0; box.setSelectionRange(0, 0); });
  await page.focus("#diagnostics li.error");
  await page.keyboard.press("Enter");
  assert.deepEqual(await inView(), { top: true, selected: "<tenantz>" });
  await page.close();
});

for (const width of [1024, 1400]) {
  test(`at ${width} px, a long problem never widens the page, and the full result opens in view`, async () => {
    const page = await browser.newPage({ viewport: { width, height: 800 } });
    await page.goto(base);
    await page.waitForSelector("body[data-ready=true]");
    const long = `job:index:${"RUNNING".repeat(80)}`;
    await page.fill("#keys", `${long}\nunknown:${"x".repeat(500)}\njob:index:running`);
    await page.waitForFunction(() => document.querySelector("#key-count")?.textContent === "3");
    for (const row of [0, 1]) {
      await page.click(`#rows .row[data-row="${row}"]`);
      const { scrollWidth, innerWidth, top, bottom, innerHeight } = await page.evaluate(() => {
        const box = document.querySelector("#details").getBoundingClientRect();
        return { scrollWidth: document.documentElement.scrollWidth, innerWidth, top: box.top, bottom: box.bottom, innerHeight };
      });
      assert.ok(scrollWidth <= innerWidth, `the page is ${scrollWidth - innerWidth} px wider than the window`);
      assert.ok(top >= 0 && bottom <= innerHeight + 1, `the full result is in view: ${top}..${bottom} of ${innerHeight}`);
    }
    await page.close();
  });
}

test("rows take the keyboard: arrows move, Enter shows the full result", async () => {
  const page = await open(base);
  await page.waitForFunction(() => document.querySelector("#key-count")?.textContent === "8");
  await page.focus('#rows .row[tabindex="0"]');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), "0");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), "3");
  await page.keyboard.press("Enter");
  assert.equal(JSON.parse(await page.textContent("#details pre")).key, "job:index:RUNNING");
  await page.keyboard.press("End");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.index), "7");
  await page.keyboard.press(" ");
  assert.equal(JSON.parse(await page.textContent("#details pre")).key, "unknown:key");
  await page.close();
});

test("the page loads with no failed request (its icon included)", async () => {
  const page = await browser.newPage();
  const failed = [];
  page.on("response", (response) => { if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`); });
  page.on("requestfailed", (request) => failed.push(`failed ${request.url()}`));
  await page.goto(base);
  await page.waitForSelector("body[data-ready=true]");
  await page.waitForLoadState("networkidle");
  assert.deepEqual(failed, []);
  assert.equal(await page.getAttribute('link[rel="icon"]', "href"), "favicon.svg");
  await page.close();
});

test("a row's full result still opens right after a schema edit, before the keys are linted again", async () => {
  const page = await open(base);
  await page.waitForFunction(() => document.querySelector("#key-count")?.textContent === "8");
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  // In one turn of the page: an edit that keeps the schema valid, then a click on a row of the
  // results shown (linted with the schema before the edit).
  await page.evaluate(() => {
    const box = document.querySelector("#schema");
    box.value = `# an edit\n${box.value}`;
    box.dispatchEvent(new Event("input"));
    document.querySelector('#rows .row[data-row="3"]').click();
  });
  assert.deepEqual(errors, []);
  assert.equal(JSON.parse(await page.textContent("#details pre")).key, "job:index:RUNNING");
  await page.waitForFunction(() => document.body.dataset.linted && !document.querySelector("#progress-text").textContent);
  await page.click('#rows .row[data-row="7"]');
  assert.equal(JSON.parse(await page.textContent("#details pre")).key, "unknown:key");
  assert.deepEqual(errors, []);
  await page.close();
});
