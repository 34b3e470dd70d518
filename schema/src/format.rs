//! The canonical layout of a schema file (`keyschema fmt`): one space between words, none inside
//! parentheses, two spaces of indentation per block, and within a run of declarations of one
//! kind the columns aligned as the bundled schemas align them (a key's pattern, its definition,
//! its purpose; a parameter's or a TTL's name). Comments stay on their lines, blank lines are
//! kept (runs of them become one), line endings are kept. Formatting never changes the model:
//! [`format`] checks that the formatted text has the same fingerprint, and formatting twice gives
//! what formatting once gave.

use crate::syntax::{DECLARATION_KEYWORDS, KEY_KEYWORDS};
use crate::{model_fingerprint, Schema, SchemaError};

/// Why a schema could not be formatted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatSchemaError {
    /// The schema has errors: it is formatted only once it is valid.
    #[error(transparent)]
    Invalid(#[from] SchemaError),
    /// The formatted text would describe other keys (a bug of the formatter: nothing is written).
    #[error("formatting {file} would change its model; the file is left as it is (please report this)")]
    ChangesModel {
        /// The file.
        file: String,
    },
}

/// `source` in the canonical layout; `file_name` names it in errors.
///
/// ```
/// let formatted = keyschema::format_schema("param   id int\nthing:<id>  string text \"A thing\"\n", "x.keys").unwrap();
/// assert_eq!(formatted, "param id int\nthing:<id> string text \"A thing\"\n");
/// ```
pub fn format_schema(source: &str, file_name: &str) -> Result<String, FormatSchemaError> {
    let before = Schema::parse(source, file_name)?;
    let formatted = layout(source);
    let after = Schema::parse(&formatted, file_name).map_err(|_| FormatSchemaError::ChangesModel {
        file: file_name.to_string(),
    })?;
    if model_fingerprint(before.model(), "") != model_fingerprint(after.model(), "") {
        return Err(FormatSchemaError::ChangesModel {
            file: file_name.to_string(),
        });
    }
    Ok(formatted)
}

/// What a line holds, for alignment: lines of one kind in a run align their columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    /// `param NAME ...`: the name is aligned.
    Param,
    /// `ttl NAME = ...`: the name is aligned.
    Ttl,
    /// A key: its pattern (with its keyword), its definition and its purpose are aligned.
    Key,
    /// A block's end, or a line that spans several (left as written).
    Other,
}

/// One line, cut into the columns it aligns.
struct Line {
    kind: Kind,
    depth: usize,
    /// The columns; the last is not padded.
    columns: Vec<String>,
    /// A comment after the code, `#` included.
    comment: Option<String>,
}

/// The canonical text of `source`, which lexes (a valid schema does).
fn layout(source: &str) -> String {
    let newline = if source.contains("\r\n") { "\r\n" } else { "\n" };
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut lines = Vec::new();
    let mut depth = 0usize;
    let mut open_parens = 0usize;
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if open_parens > 0 {
            // The continuation of a declaration inside parentheses: kept as written, indented.
            open_parens = parens_after(raw, open_parens);
            lines.push(Line {
                kind: Kind::Other,
                depth: depth + 1,
                columns: vec![raw.to_string()],
                comment: None,
            });
            continue;
        }
        if raw.is_empty() {
            lines.push(Line {
                kind: Kind::Blank,
                depth,
                columns: Vec::new(),
                comment: None,
            });
            continue;
        }
        if raw.starts_with('#') {
            lines.push(Line {
                kind: Kind::Comment,
                depth,
                columns: vec![raw.to_string()],
                comment: None,
            });
            continue;
        }
        let (words, comment) = words(raw);
        if words.first().map(String::as_str) == Some("}") {
            depth = depth.saturating_sub(1);
        }
        let unclosed = parens_after(raw, 0);
        let line = if unclosed > 0 {
            open_parens = unclosed;
            Line {
                kind: Kind::Other,
                depth,
                columns: vec![raw.to_string()],
                comment: None,
            }
        } else {
            cut(&words, comment, depth)
        };
        if words.last().map(String::as_str) == Some("{") {
            depth += 1;
        }
        lines.push(line);
    }
    render(&lines, newline)
}

/// Parentheses still open after `line`, starting with `open` (strings and comments skipped).
fn parens_after(line: &str, mut open: usize) -> usize {
    let mut in_string = false;
    let mut escaped = false;
    for c in line.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => break,
            '(' => open += 1,
            ')' => open = open.saturating_sub(1),
            _ => {}
        }
    }
    open
}

/// The words of a line with canonical spacing inside each (`json(Labels)`, `env(X, 5s)`), and
/// its trailing comment. Strings keep their text as written.
fn words(line: &str) -> (Vec<String>, Option<String>) {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut chars = line.char_indices().peekable();
    let mut comment = None;
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(std::mem::take(current));
        }
    };
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                // A string, escapes and all, as written.
                let mut string = String::from('"');
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    string.push(c);
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => {}
                    }
                }
                if depth > 0 {
                    current.push_str(&string);
                } else {
                    flush(&mut current, &mut words);
                    words.push(string);
                }
            }
            '#' if current.is_empty() && depth == 0 => {
                comment = Some(line[at..].trim_end().to_string());
                break;
            }
            '(' => {
                depth += 1;
                let trimmed = current.trim_end().len();
                current.truncate(trimmed);
                current.push('(');
            }
            ')' => {
                depth = depth.saturating_sub(1);
                let trimmed = current.trim_end().len();
                current.truncate(trimmed);
                current.push(')');
            }
            ',' => {
                let trimmed = current.trim_end().len();
                current.truncate(trimmed);
                current.push_str(if depth > 0 { ", " } else { "," });
                if depth == 0 {
                    flush(&mut current, &mut words);
                }
            }
            '=' | '*' | '|' if depth == 0 => {
                // Tokens of their own, as the lexer reads them: `ttl t = 2 * base`.
                flush(&mut current, &mut words);
                words.push(c.to_string());
            }
            '=' | '*' | '|' => {
                let trimmed = current.trim_end().len();
                current.truncate(trimmed);
                current.push(' ');
                current.push(c);
                current.push(' ');
            }
            c if c.is_whitespace() => {
                if depth > 0 {
                    if !current.ends_with(' ') && !current.ends_with('(') {
                        current.push(' ');
                    }
                } else {
                    flush(&mut current, &mut words);
                }
            }
            c => {
                if depth > 0 && current.ends_with(' ') && c == ':' {
                    current.pop();
                }
                current.push(c);
            }
        }
    }
    flush(&mut current, &mut words);
    (words, comment)
}

/// The columns of a declaration.
fn cut(words: &[String], comment: Option<String>, depth: usize) -> Line {
    let line = |kind, columns| Line {
        kind,
        depth,
        columns,
        comment,
    };
    let first = words.first().map_or("", String::as_str);
    let joined = |part: &[String]| part.join(" ");
    match first {
        "param" if words.len() > 2 => line(Kind::Param, vec![joined(&words[..2]), joined(&words[2..])]),
        "ttl" if words.len() > 2 => line(Kind::Ttl, vec![joined(&words[..2]), joined(&words[2..])]),
        _ if DECLARATION_KEYWORDS.contains(&first) || first == "}" || words.last().map(String::as_str) == Some("{") => {
            line(Kind::Other, vec![joined(words)])
        }
        _ => {
            // A key: [keyword] pattern, then its definition, then its purpose (a string).
            let pattern_end = if KEY_KEYWORDS.contains(&first) && words.len() > 1 {
                2
            } else {
                1
            };
            let purpose = words.len() > pattern_end && words.last().is_some_and(|w| w.starts_with('"'));
            let definition_end = if purpose { words.len() - 1 } else { words.len() };
            let mut columns = vec![joined(&words[..pattern_end.min(words.len())])];
            columns.push(joined(&words[pattern_end.min(definition_end)..definition_end]));
            if purpose {
                columns.push(joined(&words[definition_end..]));
            }
            line(Kind::Key, columns)
        }
    }
}

fn render(lines: &[Line], newline: &str) -> String {
    let mut out = String::new();
    let mut widths: Vec<usize> = Vec::new();
    let mut run_end = 0;
    let mut previous_blank = true;
    for (i, line) in lines.iter().enumerate() {
        if line.kind == Kind::Blank {
            if !previous_blank {
                out.push_str(newline);
            }
            previous_blank = true;
            continue;
        }
        previous_blank = false;
        if matches!(line.kind, Kind::Param | Kind::Ttl | Kind::Key) && i >= run_end {
            (run_end, widths) = run(lines, i);
        }
        let indent = "  ".repeat(line.depth);
        let mut text = indent;
        let aligned = matches!(line.kind, Kind::Param | Kind::Ttl | Kind::Key);
        // Columns start at tab stops: a cell that overflows its column pushes the next cell
        // along, and the padding after it takes the overflow back where it can.
        let mut stop = text.chars().count();
        for (c, column) in line.columns.iter().enumerate() {
            text.push_str(column);
            let last = c + 1 == line.columns.len();
            if !last && aligned {
                stop += widths.get(c).copied().unwrap_or(0) + 1;
                let at = text.chars().count();
                text.push_str(&" ".repeat(if at < stop { stop - at } else { 1 }));
            } else if !last {
                text.push(' ');
            }
        }
        if let Some(comment) = &line.comment {
            text.push(' ');
            text.push_str(comment);
        }
        out.push_str(text.trim_end());
        out.push_str(newline);
    }
    // Blank lines at the end go.
    while out.ends_with(&format!("{newline}{newline}")) {
        out.truncate(out.len() - newline.len());
    }
    out
}

/// The widest cell that sets its column's width.
const WIDEST: usize = 40;

/// The end (exclusive) of the run of lines aligned with line `start`, and its column widths:
/// lines of the same kind and depth, comments between them allowed, a blank line ending it.
fn run(lines: &[Line], start: usize) -> (usize, Vec<usize>) {
    let (kind, depth) = (lines[start].kind, lines[start].depth);
    let mut widths: Vec<usize> = Vec::new();
    let mut end = start;
    for (i, line) in lines.iter().enumerate().skip(start) {
        if line.kind == Kind::Comment && line.depth == depth {
            continue;
        }
        if line.kind != kind || line.depth != depth {
            break;
        }
        for (c, column) in line.columns.iter().enumerate() {
            // The last column of each line is not padded: it does not widen its column. Nor does
            // a cell wider than `WIDEST`: it is followed by one space, and the others stay
            // narrow (as in the bundled schemas, where a long definition overflows its column).
            let width = column.chars().count();
            if c + 1 < line.columns.len() && width <= WIDEST {
                if widths.len() <= c {
                    widths.resize(c + 1, 0);
                }
                widths[c] = widths[c].max(width);
            }
        }
        end = i + 1;
    }
    (end.max(start + 1), widths)
}
