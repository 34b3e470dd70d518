// Lints keys off the page's thread, so a million keys never freeze it. Receives the schema's text
// and the keys as bytes (transferred, not copied); posts progress, then the batch's typed arrays
// and the bytes back (transferred again).
import init, { Schema } from "../pkg/keyschema_wasm.js";

const ready = init();
// The schema of the last text that checked, and that text: a text that fails leaves neither, so
// the next request builds its schema again whatever text it brings.
let schema = null;
let schemaText = null;

function schemaFor(text) {
  if (text !== schemaText) {
    schema?.free();
    schema = null;
    schemaText = null;
    try {
      schema = new Schema(text);
    } catch (error) {
      const errors = error.diagnostics?.filter((d) => d.severity === "error").length;
      throw new Error(errors ? `the schema has ${errors} error(s)` : String(error?.message ?? error));
    }
    schemaText = text;
  }
  return schema;
}

self.onmessage = async ({ data: { id, schemaText: text, bytes } }) => {
  await ready;
  try {
    const start = performance.now();
    const batch = schemaFor(text).lintBatch(new Uint8Array(bytes), (keys, fraction) => self.postMessage({ id, type: "progress", keys, fraction }));
    const done = {
      id,
      type: "done",
      ms: performance.now() - start,
      bytes,
      patterns: batch.patterns,
      slots: batch.slots,
      problems: batch.problems,
      starts: batch.starts,
      ends: batch.ends,
      keysPerPattern: batch.keysPerPattern,
      keysPerProblem: batch.keysPerProblem,
    };
    batch.free();
    self.postMessage(done, [bytes, done.patterns.buffer, done.slots.buffer, done.problems.buffer, done.starts.buffer, done.ends.buffer]);
  } catch (error) {
    self.postMessage({ id, type: "error", message: String(error?.message ?? error), bytes }, [bytes]);
  }
};
