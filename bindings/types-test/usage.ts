// Compiled with `tsc --noEmit --strict` by scripts/test: the hand-written .d.ts types describe
// what the API returns, and a TypeScript user can use them without casts.
import init, { initSync, Schema, keySlot, cordumSchema, type LintResult, type SchemaDiagnostic, type SchemaError } from "../pkg/keyschema_wasm.js";

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
