// The schema editor: a textarea over a backdrop that underlines diagnostics, a problems list, facts
// on hover and formatting, all from the package's language service (`SchemaDocument`, the same as
// `keyschema lsp`). It runs on the page's thread: checking the Cordum schema takes about 2 ms, so
// the editor re-checks on every input, and only key linting goes to the worker.
import { SchemaDocument } from "../pkg/keyschema_wasm.js";
import { escapeHtml, markdownToHtml } from "./html.js";

const $ = (id) => document.getElementById(id);
const TAB = 8; // the textarea's tab-size

// Offsets in UTF-16 units (what diagnostics' 1-based columns count) of each line start.
function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  return starts;
}

export class SchemaEditor {
  /** `onCheck({ text, errors })` after every check. */
  constructor(onCheck) {
    this.box = $("schema");
    this.backdrop = $("schema-backdrop");
    this.list = $("diagnostics");
    this.status = $("schema-status");
    this.tip = $("hover");
    this.onCheck = onCheck;
    this.doc = null;
    this.starts = [0];
    this.box.addEventListener("input", () => this.check());
    this.box.addEventListener("scroll", () => {
      this.backdrop.scrollTop = this.box.scrollTop;
      this.backdrop.scrollLeft = this.box.scrollLeft;
      this.hideHover();
    });
    this.box.addEventListener("mousemove", (event) => this.hoverAt(event.clientX, event.clientY));
    this.box.addEventListener("mouseleave", () => this.hideHover());
    this.box.addEventListener("keydown", () => this.hideHover());
    $("format").addEventListener("click", () => this.format());
  }

  get text() {
    return this.box.value;
  }

  set text(text) {
    this.box.value = text;
    this.check();
  }

  check() {
    const text = this.box.value;
    this.doc?.free();
    this.doc = new SchemaDocument(text);
    this.starts = lineStarts(text);
    const diagnostics = this.doc.diagnostics();
    this.render(text, diagnostics);
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    this.status.textContent = errors ? `${errors} error(s)` : `valid, ${diagnostics.length} warning(s)`;
    this.status.className = errors ? "status bad" : "status ok";
    this.onCheck({ text, errors });
  }

  /** The UTF-16 offset of a 1-based line and column. */
  offset(line, column) {
    const text = this.box.value;
    return Math.min(text.length, (this.starts[line - 1] ?? text.length) + column - 1);
  }

  render(text, diagnostics) {
    const ranges = diagnostics
      .map((d) => {
        const start = this.offset(d.line, d.column);
        return { d, start, end: Math.max(this.offset(d.end_line, d.end_column), start + 1) };
      })
      .sort((a, b) => a.start - b.start);
    let html = "";
    let cursor = 0;
    for (const { d, start, end } of ranges) {
      if (start < cursor) continue; // overlapping ranges: the first one is underlined
      html += escapeHtml(text.slice(cursor, start));
      html += `<mark class="${d.severity}" title="${escapeHtml(`${d.code}: ${d.message}`)}">${escapeHtml(text.slice(start, end) || " ")}</mark>`;
      cursor = end;
    }
    this.backdrop.innerHTML = html + escapeHtml(text.slice(cursor)) + "\n";
    this.list.replaceChildren(...ranges.map(({ d, start, end }) => {
      const item = document.createElement("li");
      item.className = d.severity;
      item.tabIndex = 0;
      item.dataset.line = d.line;
      item.innerHTML = `<span class="where">line ${d.line}:${d.column}</span> ${escapeHtml(d.severity)}[${d.code}]: ${escapeHtml(d.message)}` +
        (d.hint ? `<br><span class="hint">hint: ${escapeHtml(d.hint)}</span>` : "");
      const go = () => this.reveal(d.line, start, end);
      item.addEventListener("click", go);
      item.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          go();
        }
      });
      return item;
    }));
  }

  /** Selects `start..end` and scrolls the editor so that `line` is in view, a third from the top. */
  reveal(line, start, end) {
    const lineHeight = parseFloat(getComputedStyle(this.box).lineHeight);
    this.box.focus({ preventScroll: true });
    this.box.setSelectionRange(start, end);
    this.box.scrollTop = Math.max(0, (line - 1) * lineHeight - this.box.clientHeight / 3);
    this.box.scrollLeft = 0;
    this.box.dispatchEvent(new Event("scroll"));
  }

  /** The width of one character of the editor's monospace font. */
  charWidth() {
    if (!this.width) {
      const probe = document.createElement("span");
      probe.textContent = "0".repeat(100);
      probe.style.cssText = "position:absolute;visibility:hidden;white-space:pre";
      this.backdrop.append(probe);
      this.width = probe.getBoundingClientRect().width / 100;
      probe.remove();
    }
    return this.width;
  }

  /** The UTF-16 offset of the character under the point, or null past a line's end. */
  offsetAt(x, y) {
    const style = getComputedStyle(this.box);
    const rect = this.box.getBoundingClientRect();
    const left = x - rect.left - this.box.clientLeft - parseFloat(style.paddingLeft) + this.box.scrollLeft;
    const top = y - rect.top - this.box.clientTop - parseFloat(style.paddingTop) + this.box.scrollTop;
    if (left < 0 || top < 0) return null;
    const line = Math.floor(top / parseFloat(style.lineHeight));
    const column = Math.floor(left / this.charWidth());
    if (line >= this.starts.length) return null;
    const text = this.box.value;
    let visual = 0;
    for (let i = this.starts[line]; i < text.length && text[i] !== "\n"; i++) {
      const width = text[i] === "\t" ? TAB - (visual % TAB) : 1;
      if (column < visual + width) return i;
      visual += width;
      if (text.charCodeAt(i) >= 0xd800 && text.charCodeAt(i) < 0xdc00) i++; // one character, two units
    }
    return null;
  }

  hoverAt(x, y) {
    const offset = this.offsetAt(x, y);
    const hover = offset === null ? null : this.doc?.hover(offset);
    if (!hover) return this.hideHover();
    if (this.tip.dataset.start !== String(hover.start) || this.tip.hidden) {
      this.tip.innerHTML = markdownToHtml(hover.markdown);
      this.tip.dataset.start = String(hover.start);
    }
    this.tip.hidden = false;
    // Below the pointer, kept inside the window.
    const width = this.tip.offsetWidth;
    const height = this.tip.offsetHeight;
    this.tip.style.left = `${Math.max(4, Math.min(x + 12, innerWidth - width - 4))}px`;
    this.tip.style.top = `${y + 18 + height > innerHeight ? Math.max(4, y - height - 8) : y + 18}px`;
  }

  hideHover() {
    this.tip.hidden = true;
  }

  /** Rewrites the text in `keyschema fmt`'s layout, as one undoable edit. */
  format() {
    let formatted;
    try {
      formatted = this.doc.format();
    } catch {
      this.status.textContent = "fix the errors to format";
      this.status.className = "status bad";
      return;
    }
    if (formatted === this.box.value) return;
    this.box.focus({ preventScroll: true });
    this.box.select();
    // execCommand keeps the browser's undo history; where it is gone, the value is set.
    if (!document.execCommand?.("insertText", false, formatted)) {
      this.box.value = formatted;
      this.check();
    }
  }
}
