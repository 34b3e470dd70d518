// The playground in a real browser: Debian's Chromium driven by playwright-core. The page is
// served by a static file server started here (the page has no server-side code).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("..", import.meta.url)); // bindings/
const output = join(root, "test-output");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm" };

let server;
let base;
let browser;

before(async () => {
  assert.ok(existsSync(executablePath), `no Chromium at ${executablePath}: apt-get install chromium (tests never skip)`);
  assert.ok(existsSync(join(root, "pkg", "keyschema_wasm.js")), "build the package first: scripts/build-wasm");
  server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    try {
      const body = await readFile(join(root, path));
      response.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}/web/index.html`;
  browser = await chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  await mkdir(output, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function open(url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 20000 });
  assert.deepEqual(errors, []);
  return page;
}

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

test("pasted keys show pattern, slot, and problems; the URL reproduces the state", async () => {
  const page = await open(base);
  const keys = ["job:state:0f8fad5b-d9cb-469f-a165-70867728950e", "job:index:running", "job:index:RUNNING"];
  for (let i = 0; i < 2000; i++) keys.push(`cordum:rl:tenant-${i}:${1700000000 + i}`);
  await page.fill("#keys", keys.join("\n"));
  await page.waitForFunction(() => document.querySelectorAll("#results tbody tr").length === 2003);
  const firstRow = await page.$$eval("#results tbody tr:first-child td", (cells) => cells.map((c) => c.textContent));
  assert.equal(firstRow[1], "job:state:<jobID>");
  assert.equal(firstRow[3], "14594");
  assert.equal(firstRow[4], "string");
  assert.equal(firstRow[5], "7d");
  const third = await page.$$eval("#results tbody tr:nth-child(3) td", (cells) => cells.map((c) => c.textContent));
  assert.match(third[6], /K002/);
  assert.equal(await page.textContent("#unknown-count"), "1");
  await page.screenshot({ path: join(output, "playground-keys.png"), fullPage: false });

  // A second page opened on the same URL shows the same thing.
  await page.waitForFunction(() => location.hash.includes("k="));
  const url = page.url();
  const again = await open(url);
  await again.waitForFunction(() => document.querySelectorAll("#results tbody tr").length === 2003);
  assert.equal(await again.inputValue("#keys"), keys.join("\n"));
  assert.equal(await again.textContent("#results tbody tr:first-child td:nth-child(4)"), "14594");
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
