// Compiled with `tsc --noEmit --strict` by scripts/test: the hand-written .d.ts types describe
// what the API returns, and a TypeScript user can use them without casts.
import init, { initSync, Schema, keySlot, cordumSchema, lintCodes, type KeyFacts, type LintBatch, type LintResult, type SchemaDiagnostic, type SchemaError } from "../pkg/keyschema_wasm.js";

export async function browser(): Promise<number> {
  await init();
  return keySlot("foo");
}

export function node(bytes: Uint8Array): string[] {
  initSync({ module: bytes });
  const schema = new Schema(cordumSchema());
  const one: LintResult = schema.lint("job:index:running");
  const many: LintResult[] = schema.lintMany(["a", "b"]);
  const slot: number = one.slot;
  const ttl: number | null = one.ttl_seconds;
  const state = one.params["state"];
  const text: string = typeof state === "string" ? state : JSON.stringify(state);
  const diagnostics: SchemaDiagnostic[] = Schema.check("k string");
  const lines: number[] = diagnostics.map((d) => d.line + d.end_column);
  const key: string = schema.formatKey("cordum_rl", { tenant: "t", unixSec: 1 });
  try {
    new Schema("broken");
  } catch (error) {
    const codes = (error as SchemaError).diagnostics.map((d) => d.code);
    return [text, key, String(slot), String(ttl), String(many.length), String(lines.length), ...codes];
  }
  return [schema.docs()];
}

export function batch(schema: Schema, text: string, bytes: Uint8Array): string[] {
  const progress: number[] = [];
  const batch: LintBatch = schema.lintBatch(text, (keys: number, fraction: number) => progress.push(keys * fraction));
  const fromBytes: LintBatch = schema.lintBatch(bytes);
  const patterns: Int32Array = batch.patterns;
  const slots: Uint16Array = batch.slots;
  const problems: Uint8Array = batch.problems;
  const starts: Uint32Array = batch.starts;
  const ends: Uint32Array = batch.ends;
  const counts: Uint32Array = batch.keysPerPattern;
  const facts: KeyFacts[] = schema.keyFacts();
  const first: LintResult = batch.result(0);
  const ttl: number | null = facts[patterns[0]].ttl_ms;
  const out = [batch.key(0), first.key, String(ttl), schema.patterns()[0], lintCodes()[problems[0]]];
  out.push(String(slots[0] + starts[0] + ends[0] + counts[0] + batch.keysPerProblem[0] + batch.length + fromBytes.length));
  batch.free();
  return out;
}
