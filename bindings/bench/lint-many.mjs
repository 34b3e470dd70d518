// `lintMany` in Node against the native library on the same corpus, in the same run.
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

schema.lintMany(keys.slice(0, 1000)); // warm up
const rounds = 10;
const start = process.hrtime.bigint();
let problems = 0;
for (let r = 0; r < rounds; r++) {
  for (const result of schema.lintMany(keys)) problems += result.problems.length;
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const wasm = (keys.length * rounds) / seconds;

const fmt = (n) => `${(n / 1e6).toFixed(2)} M keys/s`;
console.log(`corpus: ${keys.length} keys (${problems} problems)`);
console.log(`native match_key:            ${fmt(native.match_key)}`);
console.log(`native lint (LintResult):    ${fmt(native.lint)}`);
console.log(`native lint + JSON:          ${fmt(native.lint_json)}`);
console.log(`wasm lintMany in Node:       ${fmt(wasm)}  = ${(wasm / native.match_key).toFixed(2)}x match_key, ${(wasm / native.lint).toFixed(2)}x lint`);
