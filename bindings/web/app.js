// The playground: a thin page over the keyschema WebAssembly package. Everything it shows comes
// from the library; this file only renders it and keeps the state in the URL.
import init, { Schema, cordumSchema } from "../pkg/keyschema_wasm.js";

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
  params.set("k", encode(keysBox.value));
  history.replaceState(null, "", `#${params}`);
}

// --- Schema: diagnostics underlined in place and listed with line numbers. ---
function escapeHtml(text) {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}
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

// --- Keys: one result row per key, and a summary. ---
function formatValue(value) {
  if (value !== null && typeof value === "object") {
    return "(" + Object.entries(value).map(([k, v]) => `${k}=${formatValue(v)}`).join(" ") + ")";
  }
  return String(value);
}
function formatTtl(ms) {
  if (ms === null) return "none";
  for (const [unit, size] of [["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000]]) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
function updateKeys() {
  const tbody = $("results").querySelector("tbody");
  tbody.innerHTML = "";
  const summary = $("summary");
  if (!schema) { summary.textContent = "fix the schema's errors to lint keys"; return; }
  const keys = keysBox.value.split("\n").filter((k) => k.length > 0);
  const results = schema.lintMany(keys);
  const perPattern = new Map();
  const buckets = new Array(16).fill(0);
  let unknown = 0;
  const rows = [];
  for (const r of results) {
    if (r.pattern) perPattern.set(r.pattern, (perPattern.get(r.pattern) ?? 0) + 1);
    else unknown++;
    buckets[Math.floor(r.slot / 1024)]++;
    const params = Object.entries(r.params).map(([k, v]) => `${k}=${formatValue(v)}`).join(" ");
    const problems = r.problems.map((p) => `${p.code}: ${p.message}`).concat(r.also_matches.map((p) => `also matches ${p}`)).join("; ");
    rows.push(`<tr class="${r.problems.length ? "bad" : ""}"><td class="key">${escapeHtml(r.key)}</td><td class="pattern">${escapeHtml(r.pattern ?? "")}</td>` +
      `<td>${escapeHtml(params)}</td><td class="slot">${r.slot}</td><td>${escapeHtml(r.type ?? "")}</td>` +
      `<td>${r.pattern ? formatTtl(r.ttl_ms) : ""}</td><td class="problems">${escapeHtml(problems)}</td></tr>`);
  }
  // Thousands of rows render at once as one string.
  tbody.innerHTML = rows.join("");
  const max = Math.max(1, ...buckets);
  const top = [...perPattern].sort((a, b) => b[1] - a[1]).slice(0, 8);
  summary.innerHTML =
    `<div><b>${results.length}</b> keys, <b>${results.length - unknown}</b> matched, <b id="unknown-count">${unknown}</b> with problems</div>` +
    `<div><table>${top.map(([p, n]) => `<tr><td>${n}</td><td>${escapeHtml(p)}</td></tr>`).join("")}</table></div>` +
    `<div><div class="chart" title="keys per slot range">${buckets.map((n, i) =>
      `<div style="height:${(60 * n) / max}px" title="slots ${i * 1024}-${i * 1024 + 1023}: ${n}"></div>`).join("")}</div>` +
    `<div class="chart-labels"><span>0</span><span>slots</span><span>16383</span></div></div>`;
}

let timer = 0;
function later(f) {
  clearTimeout(timer);
  timer = setTimeout(() => { f(); writeState(); }, 150);
}

await init();
defaultSchema = cordumSchema();
const state = readState();
schemaBox.value = state.schema;
keysBox.value = state.keys;
schemaBox.addEventListener("input", () => later(updateSchema));
schemaBox.addEventListener("scroll", () => { backdrop.scrollTop = schemaBox.scrollTop; backdrop.scrollLeft = schemaBox.scrollLeft; });
keysBox.addEventListener("input", () => later(updateKeys));
updateSchema();
document.body.dataset.ready = "true";
