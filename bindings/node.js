// The package under Node (the `node` condition of its exports): the WebAssembly module is read
// from the package's folder and instantiated synchronously, so `import { Schema } from
// "keyschema-wasm"` is ready to use. `await init()` is harmless here, so code shared with a
// browser may keep it.
import { readFileSync } from "node:fs";
import { initSync } from "./keyschema_wasm.js";

initSync({ module: readFileSync(new URL("./keyschema_wasm_bg.wasm", import.meta.url)) });

export * from "./keyschema_wasm.js";
export { default } from "./keyschema_wasm.js";
