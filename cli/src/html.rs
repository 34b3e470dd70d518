//! The audit report as one self-contained HTML page: inline CSS and SVG charts, no script and
//! no network, so it can be attached to a ticket or opened from a CI artifact.

use keyschema_store::ops::AuditReport;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A horizontal bar chart, one bar per `(label, value)`, as inline SVG.
fn bar_chart(title: &str, bars: &[(String, u64)], color: &str) -> String {
    const ROW: usize = 22;
    const LABEL: usize = 360;
    const WIDTH: usize = 420;
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = ROW * bars.len().max(1) + 8;
    let mut svg = format!(
        "<h2>{}</h2>\n<svg role=\"img\" aria-label=\"{}\" width=\"{}\" height=\"{height}\">\n",
        escape(title),
        escape(title),
        LABEL + WIDTH + 90
    );
    if bars.is_empty() {
        svg.push_str("<text x=\"0\" y=\"16\">none</text>\n");
    }
    for (row, (label, value)) in bars.iter().enumerate() {
        let y = row * ROW;
        let width = (*value as f64 / max as f64 * WIDTH as f64).round() as usize;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{}\" y=\"{}\" width=\"{width}\" height=\"{}\" fill=\"{color}\"><title>{} {value}</title></rect><text x=\"{}\" y=\"{}\">{value}</text>",
            LABEL - 6,
            y + 15,
            escape(label),
            LABEL,
            y + 3,
            ROW - 6,
            escape(label),
            LABEL + width + 6,
            y + 15
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The keys per range of slots as a 16 × 16 grid, darker where there are more keys.
fn slot_heat_map(ranges: &[u64]) -> String {
    const CELL: usize = 22;
    let max = ranges.iter().copied().max().unwrap_or(0).max(1);
    let per_range = 16384 / ranges.len().max(1);
    let mut svg = format!(
        "<h2>Keys per slot range ({per_range} slots a cell)</h2>\n<svg role=\"img\" aria-label=\"slot heat map\" width=\"{}\" height=\"{}\">\n",
        CELL * 16,
        CELL * ranges.len().div_ceil(16)
    );
    for (i, keys) in ranges.iter().enumerate() {
        let shade = 0.08 + 0.92 * (*keys as f64 / max as f64);
        let first = i * per_range;
        let _ = writeln!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#b3261e\" fill-opacity=\"{shade:.3}\"><title>slots {first}-{}: {keys} keys</title></rect>",
            (i % 16) * CELL,
            (i / 16) * CELL,
            CELL - 2,
            CELL - 2,
            first + per_range - 1
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes the page.
pub fn write_audit(out: &mut impl Write, report: &AuditReport, url: &str, schema: &str) -> io::Result<()> {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>keyschema audit of {}</title>\n<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}svg text{{font:12px system-ui,sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}td.n{{text-align:right}}code{{font-size:12px}}</style></head><body>\n<h1>Audit of {} against {}</h1>\n<p>{} keys{}, {} problem(s): {} matching no pattern, {} dangling index member(s).</p>\n",
        escape(url),
        escape(url),
        escape(schema),
        report.keys,
        if report.sampled { " (a sample)" } else { "" },
        report.problem_count(),
        report.unknown_count(),
        report.dangling_count()
    );
    let with_keys: Vec<_> = report.patterns.iter().filter(|p| p.keys > 0).collect();
    let keys: Vec<(String, u64)> = with_keys.iter().map(|p| (p.pattern.clone(), p.keys)).collect();
    page.push_str(&bar_chart("Keys per pattern", &keys, "#3b6ea8"));
    let problems: Vec<(String, u64)> = report
        .patterns
        .iter()
        .map(|p| {
            let dangling = p.index.as_ref().map_or(0, |i| i.dangling);
            (p.pattern.clone(), p.keys_with_problems + dangling)
        })
        .filter(|(_, n)| *n > 0)
        .chain(report.unknown.iter().map(|u| {
            let place = u.nearest.clone().or_else(|| u.prefix.clone()).unwrap_or_default();
            (format!("unknown {} {place}", u.code), u.count)
        }))
        .collect();
    page.push_str(&bar_chart("Problems per pattern", &problems, "#b3261e"));
    let ttls: Vec<(String, u64)> = report
        .ttls
        .iter()
        .map(|b| {
            let label = match b.below {
                "none" => "no TTL".to_string(),
                "more" => "7d or more".to_string(),
                below => format!("under {below}"),
            };
            (label, b.keys)
        })
        .collect();
    page.push_str(&bar_chart("Keys by remaining TTL", &ttls, "#5b8c3a"));
    page.push_str(&slot_heat_map(&report.keys_per_slot_range));

    page.push_str(
        "<h2>Problems</h2>\n<table><tr><th>pattern</th><th>problem</th><th>keys</th><th>examples</th></tr>\n",
    );
    for pattern in &report.patterns {
        for problem in &pattern.problems {
            let _ = writeln!(
                page,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                escape(&pattern.pattern),
                problem.problem.describe(),
                problem.count,
                escape(&problem.examples.join(" ")),
            );
        }
        if let Some(index) = pattern.index.as_ref().filter(|i| i.dangling > 0) {
            let examples: Vec<String> = index
                .examples
                .iter()
                .map(|d| format!("{} in {}", d.member, d.index_key))
                .collect();
            let _ = writeln!(
                page,
                "<tr><td><code>{}</code></td><td>dangling members (of {} read)</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                escape(&pattern.pattern),
                index.members,
                index.dangling,
                escape(&examples.join(" ")),
            );
        }
    }
    for group in &report.unknown {
        let _ = writeln!(
            page,
            "<tr><td>{} {}</td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
            group.code,
            escape(group.nearest.as_deref().or(group.prefix.as_deref()).unwrap_or("")),
            escape(&group.reason),
            group.count,
            escape(&group.examples.join(" ")),
        );
    }
    page.push_str("</table>\n<h2>Keys per node</h2>\n<table>\n");
    for node in &report.nodes {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&node.node),
            node.keys
        );
    }
    page.push_str("</table>\n</body></html>\n");
    out.write_all(page.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_and_control_bytes_are_escaped() {
        assert_eq!(
            escape("<a href='x'>&\"\u{1b}"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\\u{1b}"
        );
    }
}
