// Text into HTML, for the few places the page builds markup from strings.

export function escapeHtml(text) {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** The Markdown the language service writes (paragraphs, `- ` lists, `**bold**`, `` `code` ``). */
export function markdownToHtml(markdown) {
  const inline = (text) => escapeHtml(text)
    .replace(/`([^`]*)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]*)\*\*/g, "<b>$1</b>");
  return markdown.trim().split(/\n{2,}/).map((block) => {
    const lines = block.split("\n");
    if (lines.every((line) => line.startsWith("- "))) return `<ul>${lines.map((line) => `<li>${inline(line.slice(2))}</li>`).join("")}</ul>`;
    return `<p>${lines.map(inline).join("<br>")}</p>`;
  }).join("");
}
