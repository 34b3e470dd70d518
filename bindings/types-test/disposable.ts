// Compiled with `lib: esnext` only (tsconfig.json): `using` frees a schema at the end of its block.
import { Schema, cordumSchema } from "../pkg/keyschema_wasm.js";

export function scoped(): number {
  using schema = new Schema(cordumSchema());
  return schema.patterns().length;
}
