// The playground: a thin page over the keyschema WebAssembly package. Everything it shows comes
// from the library; this file keeps the state in the URL and hands keys to the worker (worker.js);
// editor.js edits the schema, table.js shows the results.
import init, { Schema, cordumSchema } from "../pkg/keyschema_wasm.js";
import { SchemaEditor } from "./editor.js";
import { Results } from "./table.js";

const $ = (id) => document.getElementById(id);
const keysBox = $("keys");
const DEFAULT_KEYS = [
  "job:state:0f8fad5b-d9cb-469f-a165-70867728950e",
  "job:events:0f8fad5b-d9cb-469f-a165-70867728950e:build@2",
  "job:index:running",
  "job:index:RUNNING",
  "wf:runs:all",
  "cordum:rl:acme:1700000000",
  "session:bad%ZZ",
  "unknown:key",
].join("\n");

// The schema keys are linted against, made when keys are linted (the editor checks every
// keystroke already): null while the editor's text has errors or has changed since.
let schema = null;
let schemaValid = false;
let defaultSchema = "";

// --- URL state: #s=<schema, base64url>&k=<keys, base64url>; the default schema is left out. ---
function encode(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
function decode(text) {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}
function readState() {
  const params = new URLSearchParams(location.hash.slice(1));
  const state = { schema: defaultSchema, keys: DEFAULT_KEYS };
  try {
    if (params.has("s")) state.schema = decode(params.get("s"));
    if (params.has("k")) state.keys = decode(params.get("k"));
  } catch {
    // A damaged link: fall back to the defaults.
  }
  return state;
}
function writeState() {
  const params = new URLSearchParams();
  if (editor.text !== defaultSchema) params.set("s", encode(editor.text));
  // Keys travel in the URL while they are a few thousand; a dump stays on the page.
  if (keysBox.value.length <= 100000) params.set("k", encode(keysBox.value));
  history.replaceState(null, "", `#${params}`);
}

// --- Keys: linted in a worker, from the text box or a dropped file. ---
let results = null; // made once the module is initialised
const worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
let source = { kind: "text" }; // or { kind: "file", name, bytes }
let lintId = 0;

function showProgress(text) {
  $("progress").hidden = text === null;
  $("progress").value = 0;
  $("progress-text").textContent = text ?? "";
}

function updateKeys() {
  if (!schemaValid) return;
  schema ??= new Schema(editor.text);
  const bytes = source.kind === "file" ? source.bytes.slice(0) : new TextEncoder().encode(keysBox.value).buffer;
  const id = ++lintId;
  showProgress(`linting ${source.kind === "file" ? source.name : "keys"}…`);
  worker.postMessage({ id, schemaText: editor.text, bytes }, [bytes]);
}

worker.onmessage = ({ data }) => {
  if (data.id !== lintId) return; // a newer request, or a schema edit, made this one stale
  if (data.type === "progress") {
    $("progress").value = data.fraction;
    $("progress-text").textContent = `${data.keys.toLocaleString("en-US")} keys linted…`;
    return;
  }
  showProgress(null);
  if (data.type === "error") {
    if (schema === results.schema) schema = null; // freed with the results
    results.clear(`could not lint: ${data.message}`);
    return;
  }
  results.show(data, schema);
  document.body.dataset.linted = String(data.id);
};

let timer = 0;
function later(f) {
  clearTimeout(timer);
  timer = setTimeout(() => { f(); writeState(); }, 150);
}

/** After every check of the editor's text: a schema to lint keys with, or the reason there is none. */
function schemaChecked({ errors }) {
  // The results shown own the schema they were linted with (a row's full result is built from
  // it on demand); one made for a lint not yet shown is this page's to free.
  if (schema !== results.schema) schema?.free();
  schema = null;
  schemaValid = errors === 0;
  lintId++; // a lint under way used the old text
  if (errors) {
    clearTimeout(timer);
    showProgress(null);
    results.clear(`fix the schema's ${errors === 1 ? "error" : `${errors} errors`} to lint keys`);
    writeState();
    return;
  }
  later(updateKeys);
}

async function loadFile(file) {
  source = { kind: "file", name: file.name, bytes: await file.arrayBuffer() };
  $("source").textContent = `${file.name} (${(file.size / 1e6).toFixed(1)} MB); edit the box to lint it instead`;
  updateKeys();
}

await init();
results = new Results();
defaultSchema = cordumSchema();
const state = readState();
keysBox.value = state.keys;
const editor = new SchemaEditor(schemaChecked);
editor.text = state.schema;
keysBox.addEventListener("input", () => {
  source = { kind: "text" };
  $("source").textContent = "";
  later(updateKeys);
});
$("file").addEventListener("change", (event) => { if (event.target.files[0]) loadFile(event.target.files[0]); });
const dropZone = document.querySelector("section.keys");
dropZone.addEventListener("dragover", (event) => { event.preventDefault(); dropZone.classList.add("dragging"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("dragging");
  if (event.dataTransfer.files[0]) loadFile(event.dataTransfer.files[0]);
});
document.body.dataset.ready = "true";
