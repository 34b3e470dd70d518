// The playground: a thin page over the keyschema WebAssembly package. Everything it shows comes
// from the library; this file edits the schema, keeps the state in the URL and hands keys to the
// worker (worker.js); table.js shows the results.
import init, { Schema, cordumSchema } from "../pkg/keyschema_wasm.js";
import { Results, escapeHtml } from "./table.js";

const $ = (id) => document.getElementById(id);
const schemaBox = $("schema");
const backdrop = $("schema-backdrop");
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

let schema = null;
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
  if (schemaBox.value !== defaultSchema) params.set("s", encode(schemaBox.value));
  // Keys travel in the URL while they are a few thousand; a dump stays on the page.
  if (keysBox.value.length <= 100000) params.set("k", encode(keysBox.value));
  history.replaceState(null, "", `#${params}`);
}

// --- Schema: diagnostics underlined in place and listed with line numbers. ---
// Offsets in UTF-16 units (what diagnostics' 1-based columns count) of each line start.
function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  return starts;
}
function renderDiagnostics(text, diagnostics) {
  const starts = lineStarts(text);
  const at = (line, column) => Math.min(text.length, (starts[line - 1] ?? text.length) + column - 1);
  const ranges = diagnostics
    .map((d) => ({ d, start: at(d.line, d.column), end: Math.max(at(d.end_line, d.end_column), at(d.line, d.column) + 1) }))
    .sort((a, b) => a.start - b.start);
  let html = "";
  let cursor = 0;
  for (const { d, start, end } of ranges) {
    if (start < cursor) continue; // overlapping ranges: the first one is shown
    html += escapeHtml(text.slice(cursor, start));
    html += `<mark class="${d.severity}" title="${escapeHtml(d.code + ": " + d.message)}">${escapeHtml(text.slice(start, end) || " ")}</mark>`;
    cursor = end;
  }
  backdrop.innerHTML = html + escapeHtml(text.slice(cursor)) + "\n";
  const list = $("diagnostics");
  list.innerHTML = "";
  for (const { d, start, end } of ranges) {
    const item = document.createElement("li");
    item.className = d.severity;
    item.dataset.line = d.line;
    item.innerHTML = `<span class="where">line ${d.line}:${d.column}</span> ${escapeHtml(d.severity)}[${d.code}]: ${escapeHtml(d.message)}` +
      (d.hint ? `<br><span class="hint">hint: ${escapeHtml(d.hint)}</span>` : "");
    item.addEventListener("click", () => { schemaBox.focus(); schemaBox.setSelectionRange(start, end); });
    list.append(item);
  }
}

function updateSchema() {
  const text = schemaBox.value;
  const diagnostics = Schema.check(text);
  renderDiagnostics(text, diagnostics);
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const status = $("schema-status");
  if (errors === 0) {
    schema?.free();
    schema = new Schema(text);
    status.textContent = `valid, ${diagnostics.length} warning(s)`;
    status.className = "status ok";
  } else {
    status.textContent = `${errors} error(s)`;
    status.className = "status bad";
  }
  updateKeys();
}

// --- Keys: linted in a worker, from the text box or a dropped file. ---
let results = null; // made once the module is initialised
const worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
let source = { kind: "text" }; // or { kind: "file", name, bytes }
let lintId = 0;

function updateKeys() {
  if (!schema) { results.clear("fix the schema's errors to lint keys"); return; }
  const bytes = source.kind === "file" ? source.bytes.slice(0) : new TextEncoder().encode(keysBox.value).buffer;
  const id = ++lintId;
  const total = source.kind === "file" ? source.name : "keys";
  $("progress").hidden = false;
  $("progress").value = 0;
  $("progress-text").textContent = `linting ${total}…`;
  worker.postMessage({ id, schemaText: schemaBox.value, bytes }, [bytes]);
}

worker.onmessage = ({ data }) => {
  if (data.id !== lintId) return; // a newer request is under way
  if (data.type === "progress") {
    $("progress").value = data.fraction;
    $("progress-text").textContent = `${data.keys.toLocaleString("en-US")} keys linted…`;
    return;
  }
  $("progress").hidden = true;
  $("progress-text").textContent = "";
  if (data.type === "error") { results.clear(`could not lint: ${data.message}`); return; }
  results.show(data, schema);
  document.body.dataset.linted = String(data.id);
};

async function loadFile(file) {
  source = { kind: "file", name: file.name, bytes: await file.arrayBuffer() };
  $("source").textContent = `${file.name} (${(file.size / 1e6).toFixed(1)} MB); edit the box to lint it instead`;
  updateKeys();
}

let timer = 0;
function later(f) {
  clearTimeout(timer);
  timer = setTimeout(() => { f(); writeState(); }, 150);
}

await init();
results = new Results();
defaultSchema = cordumSchema();
const state = readState();
schemaBox.value = state.schema;
keysBox.value = state.keys;
schemaBox.addEventListener("input", () => later(updateSchema));
schemaBox.addEventListener("scroll", () => { backdrop.scrollTop = schemaBox.scrollTop; backdrop.scrollLeft = schemaBox.scrollLeft; });
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
updateSchema();
document.body.dataset.ready = "true";
