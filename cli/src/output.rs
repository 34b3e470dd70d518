//! Printing results: diagnostics, lint results, audit reports, colour on terminals.

use crate::input::SchemaSource;
use keyschema::{Diagnostic, LintResult, LintValue, Millis};
use keyschema_store::ops::{AuditReport, MigrationReport, VerifyReport};
use serde::Serialize;
use std::io::{self, IsTerminal, Write};

/// Colour when standard output is a terminal and `NO_COLOR` is unset.
pub fn use_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn write_check_text(out: &mut impl Write, diagnostics: &[Diagnostic], source: &SchemaSource) -> io::Result<()> {
    out.write_all(keyschema::render(diagnostics, &source.text, &source.name).as_bytes())?;
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if errors == 0 {
        writeln!(out, "{}: ok ({warnings} warning(s))", source.name)
    } else {
        writeln!(out, "{}: {errors} error(s), {warnings} warning(s)", source.name)
    }
}

#[derive(Serialize)]
struct JsonCheck<'d> {
    file: &'d str,
    ok: bool,
    diagnostics: Vec<keyschema::PositionedDiagnostic<'d>>,
}

/// `{file, ok, diagnostics}`, positions 1-based, columns in characters.
pub fn write_check_json(out: &mut impl Write, diagnostics: &[Diagnostic], source: &SchemaSource) -> io::Result<()> {
    let report = JsonCheck {
        file: &source.name,
        ok: !diagnostics.iter().any(Diagnostic::is_error),
        diagnostics: keyschema::positioned(diagnostics, &source.text, keyschema::ColumnUnit::Chars),
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

struct Paint {
    color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn value_text(value: &LintValue) -> String {
    match value {
        LintValue::Text(text) => text.clone(),
        LintValue::Int(n) => n.to_string(),
        LintValue::Parts(parts) => {
            let inner: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect();
            format!("({})", inner.join(" "))
        }
    }
}

/// `text` safe for a terminal: control characters (ESC, NUL, C1 controls...) written as JSON
/// escapes (`\u001b`, `\n`), so a key cannot move the cursor or change colours.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `key  →  name  pattern  slot  type  ttl  params`, or the key and its problems.
pub fn write_lint_text(out: &mut impl Write, result: &LintResult, color: bool) -> io::Result<()> {
    let paint = Paint { color };
    match (&result.name, &result.pattern) {
        (Some(name), Some(pattern)) => {
            let ttl = result
                .ttl_ms
                .map_or_else(|| "no ttl".to_string(), |ms| format!("ttl {}", Millis(ms)));
            let params: Vec<String> = result
                .params
                .iter()
                .map(|(k, v)| format!("{k}={}", printable(&value_text(v))))
                .collect();
            writeln!(
                out,
                "{}  {} {}  slot {}  {}  {}  {}",
                paint.wrap("1", &printable(&result.key)),
                paint.wrap("32", name),
                paint.wrap("2", pattern),
                result.slot,
                result.redis_type.map_or("", keyschema::RedisKind::as_str),
                ttl,
                params.join(" ")
            )?;
            for other in &result.also_matches {
                writeln!(
                    out,
                    "    {} also matches `{other}` (ambiguous schema)",
                    paint.wrap("33", "note:")
                )?;
            }
        }
        _ => {
            writeln!(
                out,
                "{}  slot {}",
                paint.wrap("1", &printable(&result.key)),
                result.slot
            )?;
        }
    }
    for problem in &result.problems {
        writeln!(
            out,
            "    {} {}",
            paint.wrap("31", &format!("{}:", problem.code)),
            printable(&problem.message)
        )?;
    }
    Ok(())
}

/// The audit as a readable summary: the totals, then per pattern its keys and problems (patterns
/// without keys left out), the unknown keys by group, keys per node and the hottest slots.
pub fn write_audit_text(out: &mut impl Write, report: &AuditReport, url: &str, schema: &str) -> io::Result<()> {
    let examples = |keys: &[String]| -> String {
        let shown: Vec<String> = keys.iter().map(|k| printable(k).into_owned()).collect();
        if shown.is_empty() {
            String::new()
        } else {
            format!(" (e.g. {})", shown.join(", "))
        }
    };
    writeln!(
        out,
        "audit of {url} against {schema}: {} keys{}, {} problem(s): {} matching no pattern, {} dangling index member(s)",
        report.keys,
        if report.sampled { " (a sample)" } else { "" },
        report.problem_count(),
        report.unknown_count(),
        report.dangling_count()
    )?;
    let width = report
        .patterns
        .iter()
        .filter(|p| p.keys > 0)
        .map(|p| p.pattern.len())
        .max()
        .unwrap_or(0);
    for pattern in report.patterns.iter().filter(|p| p.keys > 0) {
        let memory = pattern.memory_bytes.map(|m| format!("  {m} bytes")).unwrap_or_default();
        writeln!(out, "  {:width$}  {:>9} keys{memory}", pattern.pattern, pattern.keys)?;
        for problem in &pattern.problems {
            writeln!(
                out,
                "  {:width$}  {:>9} {}{}",
                "",
                problem.count,
                problem.problem.describe(),
                examples(&problem.examples)
            )?;
        }
        if let Some(index) = &pattern.index {
            let dangling: Vec<String> = index
                .examples
                .iter()
                .map(|d| format!("{} in {}", d.member, d.index_key))
                .collect();
            match &index.unchecked {
                Some(why) => writeln!(out, "  {:width$}  members not checked: {}", "", printable(why))?,
                None => writeln!(
                    out,
                    "  {:width$}  {:>9} members of `{}` keys, {} dangling{}",
                    "",
                    index.members,
                    index.of,
                    index.dangling,
                    examples(&dangling)
                )?,
            }
            if index.misplaced > 0 {
                let misplaced: Vec<String> = index
                    .misplaced_examples
                    .iter()
                    .map(|m| {
                        let belongs = m.belongs_in.as_deref().unwrap_or("no index key");
                        format!("{} in {} (its value names {belongs})", m.member, m.index_key)
                    })
                    .collect();
                writeln!(
                    out,
                    "  {:width$}  {:>9} misplaced: in a key their value does not name{}",
                    "",
                    index.misplaced,
                    examples(&misplaced)
                )?;
            }
        }
    }
    for group in &report.unknown {
        let place = match (&group.nearest, &group.prefix) {
            (Some(nearest), _) => format!("near `{nearest}`"),
            (None, Some(prefix)) => format!("prefix `{}`", printable(prefix)),
            (None, None) => String::new(),
        };
        writeln!(
            out,
            "  unknown {} {place}: {} keys: {}{}",
            group.code,
            group.count,
            printable(&group.reason),
            examples(&group.examples)
        )?;
    }
    if let Some(previous) = &report.previous {
        write_previous_layout(out, previous, &examples)?;
    }
    let nodes: Vec<String> = report.nodes.iter().map(|n| format!("{} {}", n.node, n.keys)).collect();
    writeln!(out, "keys per node: {}", nodes.join(", "))?;
    let slots: Vec<String> = report
        .hottest_slots
        .iter()
        .map(|s| format!("{} ({})", s.slot, s.keys))
        .collect();
    writeln!(out, "hottest slots: {}", slots.join(", "))?;
    let ttls: Vec<String> = report
        .ttls
        .iter()
        .map(|bucket| match bucket.below {
            "none" | "more" => format!("{} {}", bucket.below, bucket.keys),
            below => format!("<{below} {}", bucket.keys),
        })
        .collect();
    writeln!(out, "keys by remaining TTL: {}", ttls.join(", "))
}

/// A rollout's progress (`audit --previous`): keys of the old layout per pattern and how long
/// they last, then new keys with an old twin.
fn write_previous_layout(
    out: &mut impl Write,
    previous: &keyschema_store::ops::PreviousLayout,
    examples: &dyn Fn(&[String]) -> String,
) -> io::Result<()> {
    let done = if previous.old_keys() == 0 && previous.twin_count() == 0 {
        ": the rollout is done"
    } else {
        ""
    };
    writeln!(
        out,
        "previous layout: {} key(s) still in it, {} new key(s) with an old twin{done}",
        previous.old_keys(),
        previous.twin_count()
    )?;
    for pattern in &previous.patterns {
        let lasts = match (pattern.longest_ttl_ms, pattern.without_ttl) {
            (_, 0) => format!(
                "all gone within {}",
                keyschema::Millis(pattern.longest_ttl_ms.unwrap_or(0))
            ),
            (Some(ms), n) => format!(
                "{n} without TTL (until migrated), the others gone within {}",
                keyschema::Millis(ms)
            ),
            (None, n) => format!("{n} without TTL (until migrated)"),
        };
        writeln!(
            out,
            "  old {} ({}): {} keys, {lasts}{}",
            pattern.pattern,
            pattern.name,
            pattern.keys,
            examples(&pattern.examples)
        )?;
    }
    for twins in &previous.twins {
        writeln!(
            out,
            "  `{}`: {} key(s) whose old twin still exists{}",
            twins.name,
            twins.count,
            examples(&twins.examples)
        )?;
    }
    Ok(())
}

/// What `--fix` changes ([`AuditReport::fix_plan`]): "would" on a dry run, what was asked after
/// `--apply`, and then what was done.
pub fn write_fix_plan(out: &mut impl Write, report: &AuditReport) -> io::Result<()> {
    let plan = report.fix_plan();
    let verb = |dry: &'static str, done: &'static str| if plan.applied { done } else { dry };
    for ttls in &plan.ttls {
        writeln!(
            out,
            "fix: {} the declared TTL ({}) on {} key(s) of {}",
            verb("would set", "asked to set"),
            Millis(ttls.ttl_ms),
            ttls.keys,
            ttls.pattern
        )?;
    }
    for removals in &plan.members {
        if removals.members > 0 {
            writeln!(
                out,
                "fix: {} {} dangling member(s) from keys of {}",
                verb("would remove", "asked to remove"),
                removals.members,
                removals.pattern
            )?;
        }
        if removals.misplaced > 0 {
            writeln!(
                out,
                "fix: {} {} misplaced member(s) of keys of {} to the key their value names",
                verb("would move", "asked to move"),
                removals.misplaced,
                removals.pattern
            )?;
        }
    }
    match report.fixed {
        Some(fixed) => writeln!(
            out,
            "fix: set {} TTL(s), removed {} member(s)",
            fixed.ttls_set, fixed.members_removed
        ),
        None => writeln!(out, "fix: dry run, nothing changed; `--apply` makes these changes"),
    }
}

/// A migration (or its plan): per pattern, the keys and their new layout; the keys no target
/// pattern takes, and what happened to them.
pub fn write_migration_text(
    out: &mut impl Write,
    report: &MigrationReport,
    source: &str,
    target: &str,
) -> io::Result<()> {
    let what = if report.dry_run {
        "plan for migrating"
    } else {
        "migration of"
    };
    if let Some(at) = report.finished_before {
        let when = keyschema_store::chrono::DateTime::from_timestamp(i64::try_from(at).unwrap_or(i64::MAX), 0)
            .map_or_else(
                || at.to_string(),
                |time| time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            );
        writeln!(
            out,
            "this {what} {source} to {target} finished at {when}, and neither side changed since \
             (the checkpoint says so): nothing copied; remove the checkpoint to copy again"
        )?;
    }
    writeln!(
        out,
        "{what} {source} to {target}{}: {} keys, {} copied, {} already there, {} skipped, {} gone meanwhile",
        if report.resumed { " (resumed)" } else { "" },
        report.keys,
        report.copied,
        report.already_there,
        report.skipped(),
        report.vanished
    )?;
    for pattern in report.patterns.iter().filter(|p| p.keys > 0) {
        match (&pattern.to, &pattern.example) {
            (Some(to), Some(example)) => writeln!(
                out,
                "  {:>9} {} -> {} (e.g. {} -> {})",
                pattern.keys,
                pattern.from,
                to,
                printable(&example.from),
                printable(&example.to)
            )?,
            (Some(to), None) => writeln!(out, "  {:>9} {} -> {}", pattern.keys, pattern.from, to)?,
            (None, _) => writeln!(
                out,
                "  {:>9} {} skipped: {}",
                pattern.keys,
                pattern.from,
                pattern.reason.as_deref().unwrap_or("")
            )?,
        }
    }
    for group in &report.unmatched {
        let place = group
            .nearest
            .as_ref()
            .map(|n| format!("near `{n}`"))
            .or_else(|| group.prefix.as_ref().map(|p| format!("prefix `{}`", printable(p))))
            .unwrap_or_default();
        let fate = if group.copied == group.count {
            "copied unchanged"
        } else {
            "skipped"
        };
        let examples: Vec<String> = group.examples.iter().map(|k| printable(k).into_owned()).collect();
        writeln!(
            out,
            "  {:>9} matching no pattern {} {place}, {fate}: {} (e.g. {})",
            group.count,
            group.code,
            printable(&group.reason),
            examples.join(", ")
        )?;
    }
    Ok(())
}

/// The verification pass.
pub fn write_verify_text(out: &mut impl Write, report: &VerifyReport) -> io::Result<()> {
    let counted = if report.counted > 0 {
        format!(" ({} by their slot's key count)", report.counted)
    } else {
        String::new()
    };
    writeln!(
        out,
        "verified: {} keys accounted for{counted}, {} compared; {} missing, {} with another value, {} with another TTL",
        report.checked, report.compared, report.missing, report.value_differs, report.ttl_differs
    )?;
    for pattern in &report.patterns {
        writeln!(
            out,
            "  {:>9} of {:>9} {}",
            pattern.on_target, pattern.source_keys, pattern.name
        )?;
    }
    if !report.examples.is_empty() {
        let examples: Vec<String> = report.examples.iter().map(|k| printable(k).into_owned()).collect();
        writeln!(out, "  e.g. {}", examples.join(", "))?;
    }
    Ok(())
}
