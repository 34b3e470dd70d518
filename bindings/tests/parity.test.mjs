// The same corpus linted natively (the `keyschema` CLI) and in WebAssembly: every field equal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initSync, Schema, cordumSchema, lintCodes } from "../pkg/keyschema_wasm.js";
import { corpus } from "./corpus.mjs";

initSync({ module: readFileSync(new URL("../pkg/keyschema_wasm_bg.wasm", import.meta.url)) });

const cli = process.env.KEYSCHEMA_BIN ?? new URL("../../target/debug/keyschema", import.meta.url).pathname;

// The CLI's JSON lines for `keys`, one file of them, as a user runs it.
function nativeLint(keys) {
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
  return stdout.toString().trimEnd().split("\n").map((line) => JSON.parse(line));
}

const schema = new Schema(cordumSchema());
const keys = corpus(schema);
const native = nativeLint(keys);

test("wasm lint and lintMany equal native lint on inventory, hostile and malformed keys", () => {
  assert.ok(keys.length > 1000);
  const many = schema.lintMany(keys);
  assert.equal(many.length, native.length);
  for (let i = 0; i < keys.length; i++) {
    const label = `key ${JSON.stringify(keys[i]).slice(0, 200)}`;
    assert.deepEqual(many[i], native[i], label);
    // The same fields in the same order, whichever way the object was built.
    assert.equal(JSON.stringify(many[i]), JSON.stringify(native[i]), label);
    assert.deepEqual(schema.lint(keys[i]), native[i], label);
  }
});

test("lintBatch agrees with the CLI's JSON field by field, from a string and from bytes", () => {
  const text = keys.join("\n") + "\n";
  const patterns = schema.patterns();
  const names = schema.toJSON().keys.map((k) => k.name);
  const codes = lintCodes();
  for (const input of [text, new TextEncoder().encode(text)]) {
    const batch = schema.lintBatch(input);
    assert.equal(batch.length, native.length);
    const perPattern = new Array(patterns.length).fill(0);
    const perProblem = new Array(codes.length + 1).fill(0);
    for (let row = 0; row < batch.length; row++) {
      const expected = native[row];
      const label = `row ${row}: ${JSON.stringify(expected.key).slice(0, 200)}`;
      const p = batch.patterns[row];
      assert.equal(p < 0 ? null : patterns[p], expected.pattern, label);
      assert.equal(p < 0 ? null : names[p], expected.name, label);
      assert.equal(batch.slots[row], expected.slot, label);
      const problem = batch.problems[row];
      assert.equal(problem === 0 ? undefined : codes[problem - 1], expected.problems[0]?.code, label);
      assert.deepEqual(batch.result(row), expected, label);
      // The CLI shows an over-long key cut; the batch hands back the whole line.
      if (keys[row].length <= 65536) assert.equal(batch.key(row), expected.key, label);
      const bytes = new TextEncoder().encode(keys[row]);
      assert.equal(batch.ends[row] - batch.starts[row], bytes.length, label);
      if (p >= 0) perPattern[p]++;
      perProblem[problem]++;
    }
    assert.deepEqual([...batch.keysPerPattern], perPattern);
    assert.deepEqual([...batch.keysPerProblem], perProblem);
    batch.free();
  }
});
