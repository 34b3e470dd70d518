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

function project(source) {
  const dir = mkdtempSync(join(tmpdir(), "keyschema-user-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(pkg, join(dir, "node_modules", "keyschema-wasm"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
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
