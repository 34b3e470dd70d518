// A front-end app's use of the package: imported by name, initialised once (Vite emits the .wasm
// as an asset and the module fetches it), then a batch lint of what the user typed.
import init, { Schema, cordumSchema, lintCodes } from "keyschema-wasm";

await init();
const schema = new Schema(cordumSchema());
const patterns = schema.patterns();
const codes = lintCodes();

function lint() {
  const batch = schema.lintBatch(document.getElementById("keys").value);
  const items = [];
  for (let row = 0; row < batch.length; row++) {
    const item = document.createElement("li");
    const problem = batch.problems[row];
    item.textContent = `${batch.key(row)}: ${problem ? codes[problem - 1] : patterns[batch.patterns[row]]}`;
    items.push(item);
  }
  batch.free();
  document.getElementById("results").replaceChildren(...items);
}

document.getElementById("lint").addEventListener("click", lint);
lint();
document.body.dataset.ready = "true";
