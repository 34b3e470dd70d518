// `lintBatch` and `lintMany` in Node against the native library on the same corpus, in the same run.
// Usage: scripts/build-wasm && node bindings/bench/lint-many.mjs
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initSync, Schema, cordumSchema } from "../pkg/keyschema_wasm.js";

initSync({ module: readFileSync(new URL("../pkg/keyschema_wasm_bg.wasm", import.meta.url)) });
const schema = new Schema(cordumSchema());

// 200 keys of each Cordum pattern, as the native criterion corpus.
const model = schema.toJSON();
const keys = [];
for (const key of model.keys) {
  const params = key.pattern.parts.filter((p) => p.kind === "param").map((p) => model.params[p.value]);
  for (let i = 0; i < 200; i++) {
    const values = {};
    for (const param of params) {
      const kind = param.type.kind;
      values[param.name] =
        kind === "enum" ? param.type.variants[i % param.type.variants.length]
        : kind === "uuid" ? `${(i * 2654435761 >>> 0).toString(16).padStart(8, "0")}-0000-4000-8000-${i.toString(16).padStart(12, "0")}`
        : kind === "int" || kind === "unix_seconds" ? String(1700000000 + i)
        : kind === "ip" ? `10.0.${i >> 8}.${i & 255}`
        : `tenant-${i % 97}`;
    }
    keys.push(schema.formatKey(key.name, values));
  }
}

const dir = mkdtempSync(join(tmpdir(), "keyschema-bench-"));
const file = join(dir, "keys.txt");
writeFileSync(file, keys.join("\n") + "\n");
const native = JSON.parse(
  execFileSync("cargo", ["run", "-q", "--release", "-p", "keyschema-cli", "--example", "lint_throughput", "--", file], {
    cwd: new URL("../..", import.meta.url).pathname,
    stdio: ["ignore", "pipe", "inherit"],
  }).toString(),
);

// Best of several timed runs of `f` over the corpus, in keys per second.
function rate(f, rounds = 5) {
  f(); // warm up
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    f();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return keys.length / best;
}

const text = keys.join("\n") + "\n";
let checksum = 0;
// The batch as a page uses it: the text in, the typed arrays read.
const batch = rate(() => {
  const table = schema.lintBatch(text);
  const problems = table.problems;
  for (let i = 0; i < problems.length; i++) checksum += problems[i];
  checksum += table.keysPerProblem[0];
  table.free();
});
const bytes = new TextEncoder().encode(text);
const batchBytes = rate(() => {
  const table = schema.lintBatch(bytes);
  checksum += table.keysPerProblem[0];
  table.free();
});
const many = rate(() => {
  for (const result of schema.lintMany(keys)) checksum += result.problems.length;
});

const fmt = (n) => `${(n / 1e6).toFixed(2)} M keys/s`;
const ratio = (n) => `${(n / native.match_key).toFixed(2)}x match_key`;
console.log(`corpus: ${keys.length} keys, ${text.length} bytes (checksum ${checksum})`);
console.log(`native match_key:            ${fmt(native.match_key)}`);
console.log(`native lint_table:           ${fmt(native.lint_table)}  = ${ratio(native.lint_table)}`);
console.log(`native lint (LintResult):    ${fmt(native.lint)}`);
console.log(`native lint + JSON:          ${fmt(native.lint_json)}`);
console.log(`wasm lintBatch(string):      ${fmt(batch)}  = ${ratio(batch)}`);
console.log(`wasm lintBatch(Uint8Array):  ${fmt(batchBytes)}  = ${ratio(batchBytes)}`);
console.log(`wasm lintMany:               ${fmt(many)}  = ${ratio(many)}, ${(many / native.lint).toFixed(2)}x lint`);
