// The same corpus linted natively (the `keyschema` CLI) and in WebAssembly: every field equal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initSync, Schema, cordumSchema } from "../pkg/keyschema_wasm.js";
import { corpus } from "./corpus.mjs";

initSync({ module: readFileSync(new URL("../pkg/keyschema_wasm_bg.wasm", import.meta.url)) });

const cli = process.env.KEYSCHEMA_BIN ?? new URL("../../target/debug/keyschema", import.meta.url).pathname;

test("wasm lint equals native lint on inventory, hostile and malformed keys", () => {
  const schema = new Schema(cordumSchema());
  const keys = corpus(schema);
  assert.ok(keys.length > 1000);
  const dir = mkdtempSync(join(tmpdir(), "keyschema-parity-"));
  const file = join(dir, "keys.txt");
  writeFileSync(file, keys.join("\n") + "\n");
  let stdout;
  try {
    stdout = execFileSync(cli, ["lint", "--format", "json", file], { maxBuffer: 1 << 28 });
  } catch (error) {
    // Exit 1 means some key has a problem, which the corpus makes sure of.
    assert.equal(error.status, 1, String(error.stderr));
    stdout = error.stdout;
  }
  const native = stdout.toString().trimEnd().split("\n").map((line) => JSON.parse(line));
  const wasm = schema.lintMany(keys);
  assert.equal(wasm.length, native.length);
  for (let i = 0; i < keys.length; i++) {
    assert.deepEqual(wasm[i], native[i], `key ${JSON.stringify(keys[i]).slice(0, 200)}`);
  }
});
