// The package's API under Node 20, loaded the way a Node user loads it (initSync with the bytes).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { initSync, Schema, SchemaDocument, keySlot, cordumSchema, lintCodes, lintCodeTitles } from "../pkg/keyschema_wasm.js";

const wasm = initSync({ module: readFileSync(new URL("../pkg/keyschema_wasm_bg.wasm", import.meta.url)) });
const cordum = new Schema(cordumSchema());
const ID = "0f8fad5b-d9cb-469f-a165-70867728950e";

test("lint returns the fields of `keyschema lint --format json`", () => {
  const result = cordum.lint(`job:state:${ID}`);
  assert.deepEqual(Object.keys(result), ["key", "name", "pattern", "params", "slot", "type", "ttl_seconds", "ttl_ms", "also_matches", "problems"]);
  assert.equal(result.name, "job_state");
  assert.equal(result.pattern, "job:state:<jobID>");
  assert.deepEqual(result.params, { jobID: ID });
  assert.equal(result.type, "string");
  assert.equal(result.ttl_seconds, 604800);
  assert.equal(result.ttl_ms, 604800000);
  assert.deepEqual(result.problems, []);
  const step = cordum.lint(`job:events:${ID}:build@2`);
  assert.deepEqual(step.params, { jobID: { runID: ID, stepID: "build", attempt: 2 } });
  assert.equal(cordum.lint("job:index:RUNNING").problems[0].code, "K002");
  assert.deepEqual(cordum.lint("wf:runs:all").also_matches, ["wf:runs:<workflowID>"]);
});

test("a broken schema throws with positioned diagnostics", () => {
  let thrown;
  try {
    new Schema("param jobID uuid\njob:state:<jobId> string \"Job state\"\n");
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof Error);
  assert.match(thrown.message, /unknown parameter `jobId`/);
  const [diagnostic] = thrown.diagnostics;
  assert.deepEqual(
    { code: diagnostic.code, severity: diagnostic.severity, line: diagnostic.line, column: diagnostic.column, end_line: diagnostic.end_line, end_column: diagnostic.end_column },
    { code: "E004", severity: "error", line: 2, column: 11, end_line: 2, end_column: 18 },
  );
  assert.match(diagnostic.hint, /did you mean `jobID`/);
});

test("check returns warnings too, with UTF-16 columns", () => {
  const warnings = Schema.check(cordumSchema());
  assert.ok(warnings.some((d) => d.code === "W001" && d.message.includes("`wf:runs:all`")));
  assert.ok(warnings.every((d) => d.severity === "warning"));
  const [astral] = Schema.check("# 𝄞\nk:<nope> string \"K\" # 𝄞\n𝄞:<x> string \"X\"\n").filter((d) => d.line === 3);
  assert.equal(astral.column, 4, "1 + one astral character (two UTF-16 units) + `:`");
});

test("lintMany, formatKey, toJSON, docs and keySlot", () => {
  const results = cordum.lintMany(["job:index:running", "nope"]);
  assert.equal(results.length, 2);
  assert.equal(results[0].params.state, "RUNNING");
  assert.equal(results[1].problems[0].code, "K001");
  assert.equal(cordum.formatKey("job_idempotency", { tenant: "a:b", key: "c{d}" }), "job:idempotency:a%3Ab:c%7Bd%7D");
  assert.equal(cordum.formatKey("cordum_rl", { tenant: "t", unixSec: 1700000000 }), "cordum:rl:t:1700000000");
  assert.throws(() => cordum.formatKey("job_state", { jobID: "42" }), /invalid value for `jobID`/);
  const model = cordum.toJSON();
  assert.equal(model.keyspace, "cordum");
  assert.equal(model.keys.length, 68, "54 declared keys and 14 implicit companions (fence counters and watermarks, breaker state)");
  assert.equal(model.keys.filter((k) => k.primitive?.kind === "companion").length, 14);
  assert.match(cordum.docs(), /\| `job:state:<jobID>` \| String/);
  assert.equal(keySlot("foo"), 12182);
  assert.equal(keySlot("{user1000}.following"), keySlot("{user1000}.followers"));
});

test("lintMany takes keys with line breaks and lone surrogates one by one, and refuses non-strings", () => {
  const keys = ["job:index:running", "session:a\nb", "session:\ud800x", "", "wf:runs:all"];
  const results = cordum.lintMany(keys);
  assert.deepEqual(results.map((r) => r.key), ["job:index:running", "session:a\nb", "session:\ufffdx", "", "wf:runs:all"]);
  for (let i = 0; i < keys.length; i++) assert.deepEqual(results[i], cordum.lint(keys[i]));
  assert.deepEqual(cordum.lintMany([]), []);
  assert.throws(() => cordum.lintMany(["a", 42]), { name: "TypeError", message: /key 1 is not a string/ });
  assert.throws(() => cordum.lintMany("job:index:running"), TypeError);
});

test("lintBatch: typed arrays read in place, counts, lazy results, progress", () => {
  const lines = ["job:index:running", "job:index:RUNNING", "nope", "", `job:state:${ID}`];
  const batch = cordum.lintBatch(lines.join("\r\n") + "\r\n");
  assert.equal(batch.length, 5);
  assert.ok(batch.patterns instanceof Int32Array && batch.slots instanceof Uint16Array && batch.problems instanceof Uint8Array);
  assert.equal(batch.patterns, batch.patterns, "the same array every time: reading it in a loop copies nothing");
  const patterns = cordum.patterns();
  assert.equal(patterns[batch.patterns[0]], "job:index:<state>");
  assert.equal(patterns[batch.patterns[4]], "job:state:<jobID>");
  assert.deepEqual([...batch.patterns.slice(1, 4)], [-1, -1, -1]);
  assert.deepEqual([...batch.problems], [0, 2, 1, 4, 0]);
  assert.deepEqual(lintCodes(), ["K001", "K002", "K003", "K004", "K005"]);
  assert.equal(batch.slots[4], keySlot(`job:state:${ID}`));
  assert.deepEqual([...batch.keysPerProblem], [2, 1, 1, 0, 1, 0]);
  assert.equal(batch.keysPerPattern.reduce((a, b) => a + b, 0), 2);
  assert.equal(batch.key(1), "job:index:RUNNING", "the \\r\\n line break is not part of the key");
  assert.deepEqual(batch.result(1), cordum.lint("job:index:RUNNING"));
  assert.throws(() => batch.result(5), { name: "RangeError", message: /row 5 is out of range: the batch has 5 keys/ });
  batch.free();

  // Progress every 65,536 keys and at the end; a throwing callback stops the batch with its error.
  const many = "job:index:running\n".repeat(140000);
  const reports = [];
  const big = cordum.lintBatch(many, (keys, fraction) => reports.push([keys, fraction]));
  assert.equal(big.length, 140000);
  assert.deepEqual(reports.map(([keys]) => keys), [65536, 131072, 140000]);
  assert.equal(reports.at(-1)[1], 1);
  big.free();
  assert.throws(() => cordum.lintBatch(many, () => { throw new Error("stop"); }), /stop/);
  assert.throws(() => cordum.lintBatch(42), { name: "TypeError", message: /string or a Uint8Array \(or ArrayBuffer\) of keys, one per line, not number/ });
  // Bytes that are not UTF-8 are a problem of their key (K005), as in the CLI.
  const bytes = cordum.lintBatch(new Uint8Array([0x61, 0xff, 0x0a, 0x62]));
  assert.deepEqual([...bytes.problems], [5, 1]);
  assert.equal(bytes.key(0), "a\ufffd");
  bytes.free();
});

test("arguments of the wrong type are TypeErrors that say what was expected, never engine errors", () => {
  assert.throws(() => cordum.lint(42), { name: "TypeError", message: "the key must be a string, not number" });
  assert.throws(() => cordum.lint(), { name: "TypeError", message: "the key must be a string, not undefined" });
  assert.throws(() => new Schema(42), { name: "TypeError", message: "the schema's text must be a string, not number" });
  assert.throws(() => new Schema(null), { name: "TypeError", message: "the schema's text must be a string, not null" });
  assert.throws(() => Schema.check({}), { name: "TypeError", message: "the schema's text must be a string, not object" });
  assert.throws(() => new SchemaDocument(7), { name: "TypeError", message: "the schema's text must be a string, not number" });
  assert.throws(() => keySlot(1), { name: "TypeError", message: "the key must be a string, not number" });
  assert.throws(() => cordum.formatKey(1, {}), { name: "TypeError", message: "the key's name must be a string, not number" });
  assert.throws(() => cordum.formatKey("job_state", "id"), { name: "TypeError", message: /parameters as an object, not string/ });
  assert.throws(() => cordum.lintBatch("a\n", 42), { name: "TypeError", message: "onProgress must be a function, not number" });
  assert.throws(() => cordum.lintBatch("a\n", "f"), { name: "TypeError", message: "onProgress must be a function, not string" });
  assert.equal(cordum.lintBatch("a\n", null).length, 1, "null and undefined leave the callback out");
  assert.equal(cordum.lintBatch("a\n", undefined).length, 1);
  // The schema still works after every refusal.
  assert.equal(cordum.lint("job:index:running").pattern, "job:index:<state>");

  const batch = cordum.lintBatch("job:index:running\nnope\n");
  assert.throws(() => batch.result(-1), { name: "RangeError", message: "row -1 is out of range: the batch has 2 keys" });
  assert.throws(() => batch.key(2), { name: "RangeError", message: "row 2 is out of range: the batch has 2 keys" });
  assert.throws(() => batch.result(1.5), { name: "TypeError", message: /row 1.5 is not a row number/ });
  assert.throws(() => batch.key("0"), { name: "TypeError", message: /row 0 is not a row number/ });
});

test("lintBatch takes an ArrayBuffer or any view of bytes, and keeps its own copy", () => {
  const text = "job:index:running\nnope\nwf:runs:all\n";
  const bytes = new TextEncoder().encode(text);
  const fromBuffer = cordum.lintBatch(bytes.buffer);
  assert.deepEqual([...fromBuffer.problems], [0, 1, 0]);
  assert.equal(fromBuffer.key(2), "wf:runs:all");
  // A view of part of a larger buffer: only its bytes are linted.
  const padded = new Uint8Array(bytes.length + 8);
  padded.set(bytes, 4);
  assert.deepEqual([...cordum.lintBatch(new DataView(padded.buffer, 4, bytes.length)).problems], [0, 1, 0]);
  // The caller's array may change afterwards; the batch's keys do not.
  const mine = cordum.lintBatch(bytes);
  bytes.fill(0x78);
  assert.equal(mine.key(0), "job:index:running");
  assert.equal(mine.result(0).pattern, "job:index:<state>");
});

test("a batch outlives its schema, and a freed batch says so", () => {
  const schema = new Schema(cordumSchema());
  const batch = schema.lintBatch("job:index:running\n");
  schema.free();
  assert.equal(batch.result(0).pattern, "job:index:<state>", "the batch holds its own reference to the schema");
  batch.free();
  batch.free(); // twice is harmless
  assert.throws(() => batch.result(0), /this batch was freed/);
  assert.equal(batch.patterns.length, 1, "its arrays stay readable");
});

test("batches never freed, in a synchronous loop, leave WebAssembly memory bounded", () => {
  // 100,000 keys a batch. When a batch lived in WebAssembly memory this loop grew it by ~5 MB a
  // batch (600 MB here), and a loop of million-key batches failed at its 81st call.
  const text = Array.from({ length: 100000 }, (_, i) => `cordum:rl:tenant-${i % 100}:${1700000000 + i}`).join("\n");
  cordum.lintBatch(text); // the first batch sets the high-water mark of WebAssembly memory
  const before = wasm.memory.buffer.byteLength;
  let keys = 0;
  for (let i = 0; i < 120; i++) keys += cordum.lintBatch(text).length;
  assert.equal(keys, 12000000);
  const grown = wasm.memory.buffer.byteLength - before;
  assert.ok(grown <= 2 * 65536, `WebAssembly memory grew by ${grown} bytes over 120 batches`);
});

test("lintCodeTitles names what each lint code means", () => {
  assert.deepEqual(lintCodeTitles(), ["no pattern matches", "wrong parameter type", "bad escape", "key out of bounds", "not UTF-8"]);
  assert.equal(lintCodeTitles().length, lintCodes().length);
});

test("SchemaDocument: check's diagnostics, hover facts matching lint, definitions, formatting, UTF-16 offsets", () => {
  const text = cordumSchema();
  const doc = new SchemaDocument(text);
  assert.deepEqual(doc.diagnostics(), Schema.check(text));
  assert.equal(doc.hasErrors(), false);
  // Hovering a key's pattern gives its type, TTL, an example key and that key's slot.
  const at = text.indexOf("job:state:<jobID>");
  const hover = doc.hover(at + 2);
  assert.equal(text.slice(hover.start, hover.end), "job:state:<jobID>");
  assert.match(hover.markdown, /Redis type: string/);
  assert.match(hover.markdown, /TTL: .*JOB_META_TTL_SECONDS/);
  const [, example, slot] = hover.markdown.match(/example: `([^`]+)` \(slot (\d+)\)/);
  const linted = cordum.lint(example);
  assert.equal(linted.pattern, "job:state:<jobID>");
  assert.equal(Number(slot), linted.slot);
  // A placeholder's parameter: its definition, and its references.
  const use = text.indexOf("<jobID>", at) + 1;
  const definition = doc.definition(use);
  assert.equal(text.slice(definition.start, definition.end), "jobID");
  assert.ok(text.slice(0, definition.start).endsWith("param "));
  assert.ok(doc.references(use).length > 10);
  assert.equal(doc.hover(text.indexOf("\n\n")), null, "nothing to say about a blank line");
  // Offsets that are not offsets into the text name nothing (2 ** 32 + at would wrap to `at`).
  for (const bad of [-1, 2 ** 32 + at + 2, text.length + 1, at + 2.5, NaN]) {
    assert.equal(doc.hover(bad), null, String(bad));
    assert.equal(doc.definition(bad), null, String(bad));
    assert.deepEqual(doc.references(bad), [], String(bad));
  }
  assert.equal(doc.format(), new SchemaDocument(doc.format()).format(), "formatting is idempotent");
  doc.free();

  // Offsets count UTF-16 units: an astral character before the key is two of them.
  const astral = "# 𝄞 𝄞\nparam id int\nthing:<id> string \"A thing\"\n";
  const small = new SchemaDocument(astral);
  const start = astral.indexOf("thing:<id>");
  const facts = small.hover(start + 1);
  assert.deepEqual([facts.start, facts.end], [start, start + "thing:<id>".length]);
  const param = small.definition(astral.indexOf("<id>") + 1);
  assert.equal(astral.slice(param.start, param.end), "id");

  // A schema with errors: its diagnostics, no formatting, names still found.
  const broken = new SchemaDocument("param jobID uuid\njob:state:<jobId> string \"Job state\"\n");
  assert.equal(broken.hasErrors(), true);
  assert.equal(broken.diagnostics()[0].code, "E004");
  assert.throws(() => broken.format(), /unknown parameter `jobId`/);
});
