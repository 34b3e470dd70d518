// The package as a user installs it: imported by name through its `exports` map from a project of
// their own, under Node (ready on import) and with the browser-style `await init()` kept.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("../pkg", import.meta.url));

function project(source, type = "module") {
  const dir = mkdtempSync(join(tmpdir(), "keyschema-user-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(pkg, join(dir, "node_modules", "keyschema-wasm"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type }));
  writeFileSync(join(dir, "main.js"), source);
  return execFileSync(process.execPath, ["main.js"], { cwd: dir }).toString();
}

test("Node resolves the package by name to a module that is ready on import", () => {
  const output = project(`
    import { Schema, cordumSchema, keySlot } from "keyschema-wasm";
    const schema = new Schema(cordumSchema());
    const batch = schema.lintBatch("job:index:running\\nnope\\n");
    console.log(JSON.stringify([schema.lint("job:index:running").pattern, keySlot("foo"), [...batch.problems]]));
  `);
  assert.deepEqual(JSON.parse(output), ["job:index:<state>", 12182, [0, 1]]);
});

test("code written for a browser (await init()) runs unchanged under Node", () => {
  const output = project(`
    import init, { Schema, cordumSchema } from "keyschema-wasm";
    await init();
    console.log(new Schema(cordumSchema()).lintMany(["wf:runs:all"])[0].also_matches.join());
  `);
  assert.equal(output.trim(), "wf:runs:<workflowID>");
});

test("the exports map gives types, a Node entry and a default for browsers and bundlers", () => {
  const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  assert.deepEqual(Object.keys(manifest.exports["."]), ["types", "node", "default"], "types first, default last");
  for (const file of [manifest.exports["."].types, manifest.exports["."].node, manifest.exports["."].default]) {
    assert.ok(readFileSync(join(pkg, file)).length > 0, file);
  }
  // The module's own imports (its JavaScript snippets) are in the published files.
  const imports = [...readFileSync(join(pkg, "keyschema_wasm.js"), "utf8").matchAll(/from '(\.\/[^']+)'/g)].map((m) => m[1]);
  assert.ok(imports.length > 0);
  for (const path of imports) {
    assert.ok(manifest.files.some((f) => path.slice(2).startsWith(f)), `${path} is published`);
  }
});

// require(esm) is on without a flag from Node 20.19 and 22.12; the package is an ES module
// without top-level await, so `require` loads it there, and `engines` says exactly that range.
const REQUIRE_ESM = "^20.19.0 || >=22.12.0";

function satisfies(version, range) {
  const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
  return range.split("||").some((part) => {
    const [, op, m, n] = part.trim().match(/^(\^|>=)(\d+)\.(\d+)\.\d+$/);
    return op === "^" ? major === Number(m) && minor >= Number(n) : major > Number(m) || (major === Number(m) && minor >= Number(n));
  });
}

test("engines declares the Node versions where both import and require load the package", () => {
  const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  assert.equal(manifest.engines.node, REQUIRE_ESM);
  assert.ok(satisfies("20.19.0", REQUIRE_ESM) && satisfies("22.12.0", REQUIRE_ESM) && satisfies("24.1.0", REQUIRE_ESM));
  assert.ok(!satisfies("20.18.3", REQUIRE_ESM) && !satisfies("21.7.0", REQUIRE_ESM) && !satisfies("22.11.0", REQUIRE_ESM));
  assert.ok(satisfies(process.version, REQUIRE_ESM), `this Node (${process.version}) is in the declared range`);
  assert.ok(!/\bawait\b/.test(readFileSync(join(pkg, "node.js"), "utf8").replace(/\/\/.*$/gm, "")), "no top-level await in the Node entry");
});

test("a CommonJS user requires the package by name", () => {
  const output = project(`
    const { Schema, cordumSchema } = require("keyschema-wasm");
    console.log(new Schema(cordumSchema()).lint("job:index:running").pattern);
  `, "commonjs");
  assert.equal(output.trim(), "job:index:<state>");
});
