// Lints keys off the page's thread, so a million keys never freeze it. Receives the schema's text
// and the keys as bytes (transferred, not copied); posts progress, then the batch's typed arrays
// and the bytes back (transferred again).
import init, { Schema } from "../pkg/keyschema_wasm.js";

const ready = init();
let schema = null;
let schemaText = null;

self.onmessage = async ({ data: { id, schemaText: text, bytes } }) => {
  await ready;
  try {
    if (text !== schemaText) {
      schema?.free();
      schema = null;
      schema = new Schema(text);
      schemaText = text;
    }
    const start = performance.now();
    const batch = schema.lintBatch(new Uint8Array(bytes), (keys, fraction) => self.postMessage({ id, type: "progress", keys, fraction }));
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
    batch.free(); // the typed arrays are JavaScript's own copies
    self.postMessage(done, [bytes, done.patterns.buffer, done.slots.buffer, done.problems.buffer, done.starts.buffer, done.ends.buffer]);
  } catch (error) {
    self.postMessage({ id, type: "error", message: String(error?.message ?? error), bytes }, [bytes]);
  }
};
