// The results of a batch: the summary, the filters and a virtualised table (only the rows in view
// are in the DOM, so a million keys scroll as smoothly as ten). A row's full result is linted on
// demand, on this thread, from the key's bytes. Rows take the keyboard: Tab reaches the table,
// the arrows move between rows, Enter shows the full result.
import { lintCodes, lintCodeTitles } from "../pkg/keyschema_wasm.js";
import { escapeHtml } from "./html.js";

const ROW = 24; // px, fixed so that a row's position is its index times ROW
const OVERSCAN = 8;
const decoder = new TextDecoder();
const $ = (id) => document.getElementById(id);

function formatValue(value) {
  if (value !== null && typeof value === "object") {
    return "(" + Object.entries(value).map(([k, v]) => `${k}=${formatValue(v)}`).join(" ") + ")";
  }
  return String(value);
}
export function formatTtl(ms) {
  if (ms === null) return "none";
  for (const [unit, size] of [["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000]]) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
const number = (n) => n.toLocaleString("en-US");

export class Results {
  constructor() {
    this.viewport = $("viewport");
    this.spacer = $("spacer");
    this.rows = $("rows");
    // "K001 no pattern matches": a code is never shown without what it means.
    const titles = lintCodeTitles();
    this.codes = lintCodes().map((code, i) => `${code} ${titles[i]}`);
    this.batch = null;
    this.schema = null; // the schema the batch was linted with: freed when another replaces it
    this.view = new Uint32Array(0);
    this.focused = -1; // the index in `view` of the row that has the keyboard
    this.viewport.addEventListener("scroll", () => this.render());
    this.rows.addEventListener("click", (event) => {
      const row = event.target.closest(".row");
      if (row) {
        this.focused = Number(row.dataset.index);
        this.showDetails(Number(row.dataset.row));
      }
    });
    this.rows.addEventListener("keydown", (event) => this.onKey(event));
    $("filter-pattern").addEventListener("change", () => this.filter());
    $("filter-problem").addEventListener("change", () => this.filter());
  }

  /** A finished batch from the worker, linted with `schema` (this thread's copy, for details). */
  show(batch, schema) {
    if (this.schema && this.schema !== schema) this.schema.free();
    this.batch = batch;
    this.schema = schema;
    this.patterns = schema.patterns();
    this.facts = schema.keyFacts();
    this.summarise();
    this.fillFilters();
    this.filter();
  }

  /** No results, and why: every count, filter and row of the last batch goes. */
  clear(message) {
    this.schema?.free();
    this.schema = null;
    this.batch = null;
    this.view = new Uint32Array(0);
    this.focused = -1;
    $("summary").textContent = message;
    $("shown-count").textContent = "";
    $("filter-pattern").innerHTML = "";
    $("filter-problem").innerHTML = "";
    this.spacer.style.height = "0px";
    this.rows.innerHTML = "";
    $("details").hidden = true;
  }

  key(row) {
    const { bytes, starts, ends } = this.batch;
    return decoder.decode(new Uint8Array(bytes, starts[row], ends[row] - starts[row]));
  }

  /** The full result of a row, from its bytes (a key that is not UTF-8 gets its K005). */
  result(row) {
    const { bytes, starts, ends } = this.batch;
    const line = new Uint8Array(ends[row] - starts[row] + 1);
    line.set(new Uint8Array(bytes, starts[row], ends[row] - starts[row]));
    line[line.length - 1] = 0x0a;
    const one = this.schema.lintBatch(line);
    try {
      return one.result(0);
    } finally {
      one.free();
    }
  }

  summarise() {
    const { patterns: rows, slots, keysPerPattern, keysPerProblem, ms } = this.batch;
    const total = rows.length;
    const buckets = new Array(16).fill(0);
    for (let i = 0; i < slots.length; i++) buckets[slots[i] >> 10]++;
    const max = Math.max(1, ...buckets);
    const top = [...keysPerPattern].map((n, p) => [n, p]).filter(([n]) => n > 0).sort((a, b) => b[0] - a[0]).slice(0, 8);
    const withProblems = total - keysPerProblem[0];
    const problems = this.codes.map((code, i) => [code, keysPerProblem[i + 1]]).filter(([, n]) => n > 0);
    $("summary").innerHTML =
      `<div><b id="key-count">${number(total)}</b> keys, <b>${number(keysPerProblem[0])}</b> matched, <b id="unknown-count">${number(withProblems)}</b> with problems` +
      (problems.length ? `<br>${problems.map(([c, n]) => `${c}: ${number(n)}`).join(", ")}` : "") +
      `<br><span id="timing">linted in ${ms.toFixed(0)} ms</span></div>` +
      `<div><table id="top-patterns">${top.map(([n, p]) => `<tr><td>${number(n)}</td><td>${escapeHtml(this.patterns[p])}</td></tr>`).join("")}</table></div>` +
      `<div><div class="chart" title="keys per slot range">${buckets.map((n, i) =>
        `<div style="height:${(60 * n) / max}px" title="slots ${i * 1024}-${i * 1024 + 1023}: ${n}"></div>`).join("")}</div>` +
      `<div class="chart-labels"><span>0</span><span>slots</span><span>16383</span></div></div>`;
  }

  fillFilters() {
    const { keysPerPattern, keysPerProblem, patterns: rows } = this.batch;
    const unmatched = rows.length - keysPerPattern.reduce((a, b) => a + b, 0);
    const byCount = [...keysPerPattern].map((n, p) => [n, p]).filter(([n]) => n > 0).sort((a, b) => b[0] - a[0]);
    $("filter-pattern").innerHTML = `<option value="all">every pattern</option>` +
      byCount.map(([n, p]) => `<option value="${p}">${escapeHtml(this.patterns[p])} (${number(n)})</option>`).join("") +
      (unmatched ? `<option value="-1">no pattern (${number(unmatched)})</option>` : "");
    $("filter-problem").innerHTML = `<option value="all">any problem or none</option><option value="0">no problem (${number(keysPerProblem[0])})</option>` +
      this.codes.map((code, i) => [code, i + 1, keysPerProblem[i + 1]]).filter(([, , n]) => n > 0)
        .map(([code, i, n]) => `<option value="${i}">${code} (${number(n)})</option>`).join("");
  }

  /** The rows that pass both filters, as indexes: a pass over typed arrays. */
  filter() {
    const pattern = $("filter-pattern").value;
    const problem = $("filter-problem").value;
    const { patterns, problems } = this.batch;
    const p = pattern === "all" ? null : Number(pattern);
    const q = problem === "all" ? null : Number(problem);
    const view = new Uint32Array(patterns.length);
    let n = 0;
    for (let i = 0; i < patterns.length; i++) {
      if ((p === null || patterns[i] === p) && (q === null || problems[i] === q)) view[n++] = i;
    }
    this.view = view.subarray(0, n);
    this.focused = -1;
    $("shown-count").textContent = `${number(n)} shown`;
    this.spacer.style.height = `${n * ROW}px`;
    this.viewport.scrollTop = 0;
    this.render();
  }

  render() {
    if (!this.batch) return;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(this.view.length, Math.ceil((this.viewport.scrollTop + this.viewport.clientHeight) / ROW) + OVERSCAN);
    let html = "";
    for (let i = first; i < last; i++) {
      const row = this.view[i];
      const key = this.key(row);
      const result = this.result(row);
      const p = this.batch.patterns[row];
      const fact = p >= 0 ? this.facts[p] : null;
      const params = Object.entries(result.params).map(([k, v]) => `${k}=${formatValue(v)}`).join(" ");
      const problem = this.batch.problems[row];
      const problems = result.problems.map((p) => `${p.code}: ${p.message}`)
        .concat(result.also_matches.map((other) => `also matches ${other}`)).join("; ");
      html += `<div class="row${problem ? " bad" : ""}" role="row" tabindex="${i === Math.max(this.focused, first) ? 0 : -1}" data-row="${row}" data-index="${i}" style="top:${i * ROW}px">` +
        `<span class="key" title="${escapeHtml(key)}">${escapeHtml(key)}</span><span class="pattern">${escapeHtml(fact?.pattern ?? "")}</span>` +
        `<span class="params">${escapeHtml(params)}</span><span class="slot">${this.batch.slots[row]}</span>` +
        `<span>${fact?.type ?? ""}</span><span>${fact ? formatTtl(fact.ttl_ms) : ""}</span>` +
        `<span class="problems" title="${escapeHtml(problems)}">${escapeHtml(problems)}</span></div>`;
    }
    const hadFocus = this.rows.contains(document.activeElement);
    this.rows.innerHTML = html;
    if (hadFocus) this.rows.querySelector(`[data-index="${this.focused}"]`)?.focus({ preventScroll: true });
  }

  /** The keyboard on a row: arrows, Home/End, Page Up/Down move; Enter or Space shows its result. */
  onKey(event) {
    const row = event.target.closest(".row");
    if (!row || !this.view.length) return;
    const index = Number(row.dataset.index);
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.focused = index;
      this.showDetails(Number(row.dataset.row));
    } else if (event.key in moves) {
      event.preventDefault();
      this.focusRow(Math.min(this.view.length - 1, Math.max(0, index + moves[event.key])));
    }
  }

  /** Gives row `index` of the view the keyboard, scrolling it into view. */
  focusRow(index) {
    this.focused = index;
    const top = index * ROW;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + ROW > this.viewport.scrollTop + this.viewport.clientHeight) this.viewport.scrollTop = top + ROW - this.viewport.clientHeight;
    this.render();
    this.rows.querySelector(`[data-index="${index}"]`)?.focus({ preventScroll: true });
  }

  showDetails(row) {
    const details = $("details");
    details.hidden = false;
    details.querySelector("pre").textContent = JSON.stringify(this.result(row), null, 2);
    details.scrollIntoView({ block: "nearest" });
  }
}
