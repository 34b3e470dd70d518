//! Diagnostics: what the parser and checker say about a schema, with a position, a stable code
//! and a hint, and a renderer that prints them the way compilers do (`file:line:col`, the source
//! line, a caret).

use serde::Serialize;
use std::fmt::{self, Write as _};

/// A byte range in the schema source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(start: usize, end: usize) -> Self {
        // Sources are capped at `MAX_SOURCE_LEN` (well under 4 GiB), so offsets fit in u32.
        Self {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Self) -> Self {
        Self {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// How serious a diagnostic is: errors make a schema unusable, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The schema is invalid.
    Error,
    /// The schema is valid but something deserves attention.
    Warning,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $severity:ident, $title:literal; )*) => {
        /// A stable code: `E` errors and `W` warnings about a schema, `K` problems of a key found by
        /// the linter. Codes never change meaning once released; tools may match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        impl Code {
            /// The code as printed (`E001`, `W001`).
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $code, )* }
            }

            /// A few words naming what the code means, for a label beside it (`K001 no pattern
            /// matches`).
            pub fn title(self) -> &'static str {
                match self { $( Self::$variant => $title, )* }
            }

            /// The severity every diagnostic with this code has.
            pub fn severity(self) -> Severity {
                match self { $( Self::$variant => Severity::$severity, )* }
            }

            /// Every code, for documentation.
            pub const ALL: &'static [Code] = &[ $( Self::$variant, )* ];
        }
    };
}

codes! {
    /// A token that does not fit the grammar here.
    Syntax = "E001", Error, "syntax error";
    /// A string literal without its closing quote.
    UnterminatedString = "E002", Error, "unterminated string";
    /// A parameter type that does not exist.
    UnknownParamType = "E003", Error, "unknown parameter type";
    /// A placeholder naming a parameter that was never declared.
    UnknownParam = "E004", Error, "unknown parameter";
    /// A TTL name that was never declared.
    UnknownTtl = "E005", Error, "unknown TTL";
    /// Two declarations with one name.
    DuplicateName = "E006", Error, "duplicate name";
    /// A malformed hash tag: empty `{}`, more than one tag, or a stray brace.
    MalformedHashTag = "E007", Error, "malformed hash tag";
    /// A duration that does not parse (`7d`, `15m`, `60s`, `500ms`).
    InvalidDuration = "E008", Error, "invalid duration";
    /// A key pattern whose parameters cannot be told apart when parsing a key.
    NonInjectivePattern = "E009", Error, "ambiguous parameters in a pattern";
    /// An option that makes no sense for this kind of key (a cap on a string).
    InvalidOption = "E010", Error, "invalid option";
    /// A name that refers to no group, key or parameter.
    UnknownReference = "E011", Error, "unknown reference";
    /// A declaration is missing something it needs (a Redis type, a separator).
    Missing = "E012", Error, "missing part";
    /// The schema declares no key at all.
    EmptySchema = "E013", Error, "empty schema";
    /// The schema source is larger than the parser accepts.
    SourceTooLarge = "E014", Error, "schema too large";
    /// Two patterns can match the same key.
    AmbiguousPatterns = "W001", Warning, "patterns overlap";
    /// A hash tag made only of literals puts a whole family of keys on one slot.
    LiteralHashTag = "W002", Warning, "literal hash tag";
    /// A collection that can grow without bound and never expires.
    UnboundedCollection = "W003", Warning, "unbounded collection";
    /// A key without a purpose string.
    MissingPurpose = "W004", Warning, "missing purpose";
    /// A parameter that may span segments: legacy keys written without escaping.
    SpanningParam = "W005", Warning, "parameter spans segments";
    /// Keys of one group with different hash-tag templates cannot be used together on a cluster.
    MixedSlotGroups = "W006", Warning, "mixed slot groups";
    /// Lint: no pattern matches the key (the message names the nearest pattern and why).
    NoPatternMatches = "K001", Error, "no pattern matches";
    /// Lint: a parameter of the key has the wrong type or form.
    WrongParamType = "K002", Error, "wrong parameter type";
    /// Lint: a parameter of the key holds a bad percent-escape.
    BadEscape = "K003", Error, "bad escape";
    /// Lint: an empty key, one over the linter's length limit, or one with too many segments.
    KeyOutOfBounds = "K004", Error, "key out of bounds";
    /// Lint: a key that is not UTF-8.
    KeyNotUtf8 = "K005", Error, "not UTF-8";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secondary location attached to a diagnostic ("the other pattern is here").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What is there.
    pub message: String,
}

/// One finding about a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// Error or warning (always `code.severity()`).
    pub severity: Severity,
    /// One lowercase sentence saying what is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// What to do about it, when there is something to say.
    pub hint: Option<String>,
    /// Other places that take part.
    pub labels: Vec<Label>,
}

impl Diagnostic {
    /// A diagnostic with the severity of its code.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            message: message.into(),
            span,
            hint: None,
            labels: Vec::new(),
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a secondary label.
    #[must_use]
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A 1-based position in the source, in the units editors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column counted in Unicode scalar values.
    pub column: u32,
    /// 1-based column counted in UTF-16 code units (what JavaScript editors count).
    pub utf16_column: u32,
}

/// Maps byte offsets to lines and columns.
#[derive(Debug, Clone)]
pub struct LineIndex<'s> {
    source: &'s str,
    line_starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    /// Indexes `source`.
    pub fn new(source: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Self { source, line_starts }
    }

    /// The position of a byte offset (clamped to the source, moved back to a char boundary).
    pub fn position(&self, offset: u32) -> Position {
        let mut offset = (offset as usize).min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let before = &self.source[self.line_starts[line]..offset];
        Position {
            line: line as u32 + 1,
            column: before.chars().count() as u32 + 1,
            utf16_column: before.encode_utf16().count() as u32 + 1,
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: u32) -> &'s str {
        let i = (line as usize).saturating_sub(1).min(self.line_starts.len() - 1);
        let start = self.line_starts[i];
        let end = self.line_starts.get(i + 1).map_or(self.source.len(), |&next| next);
        self.source[start..end].trim_end_matches(['\n', '\r'])
    }
}

/// Which unit columns count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnUnit {
    /// Unicode scalar values (what terminals show).
    Chars,
    /// UTF-16 code units (what JavaScript editors count).
    Utf16,
}

/// A secondary label with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionedLabel<'d> {
    /// What is there.
    pub message: &'d str,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// A diagnostic with 1-based positions instead of byte offsets: the JSON form tools read
/// (`keyschema check --format json`, the WebAssembly bindings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionedDiagnostic<'d> {
    /// The stable code.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: &'d str,
    /// 1-based line of the start.
    pub line: u32,
    /// 1-based column of the start.
    pub column: u32,
    /// 1-based line of the end.
    pub end_line: u32,
    /// 1-based column just past the end.
    pub end_column: u32,
    /// What to do about it.
    pub hint: Option<&'d str>,
    /// Other places that take part.
    pub labels: Vec<PositionedLabel<'d>>,
}

/// Positions `diagnostics` in `source`, columns counted in `unit`.
pub fn positioned<'d>(diagnostics: &'d [Diagnostic], source: &str, unit: ColumnUnit) -> Vec<PositionedDiagnostic<'d>> {
    let index = LineIndex::new(source);
    let at = |offset: u32| {
        let position = index.position(offset);
        let column = match unit {
            ColumnUnit::Chars => position.column,
            ColumnUnit::Utf16 => position.utf16_column,
        };
        (position.line, column)
    };
    diagnostics
        .iter()
        .map(|d| {
            let ((line, column), (end_line, end_column)) = (at(d.span.start), at(d.span.end));
            PositionedDiagnostic {
                code: d.code,
                severity: d.severity,
                message: &d.message,
                line,
                column,
                end_line,
                end_column,
                hint: d.hint.as_deref(),
                labels: d
                    .labels
                    .iter()
                    .map(|l| {
                        let (line, column) = at(l.span.start);
                        PositionedLabel {
                            message: &l.message,
                            line,
                            column,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Renders diagnostics as text: `error[E004]: message`, then `--> file:line:col`, the source line
/// with a caret under the span, labels and the hint.
pub fn render(diagnostics: &[Diagnostic], source: &str, file_name: &str) -> String {
    let index = LineIndex::new(source);
    let mut out = String::new();
    for diagnostic in diagnostics {
        render_one(&mut out, diagnostic, &index, file_name);
    }
    out
}

fn render_one(out: &mut String, diagnostic: &Diagnostic, index: &LineIndex<'_>, file_name: &str) {
    let severity = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{severity}[{}]: {}", diagnostic.code, diagnostic.message);
    excerpt(out, index, file_name, diagnostic.span, None, true);
    for label in &diagnostic.labels {
        excerpt(out, index, file_name, label.span, Some(&label.message), false);
    }
    if let Some(hint) = &diagnostic.hint {
        let _ = writeln!(out, "  = hint: {hint}");
    }
    out.push('\n');
}

fn excerpt(out: &mut String, index: &LineIndex<'_>, file_name: &str, span: Span, label: Option<&str>, primary: bool) {
    let start = index.position(span.start);
    let end = index.position(span.end.max(span.start));
    let text = index.line_text(start.line);
    let gutter = start.line.to_string().len();
    let arrow = if primary { "-->" } else { ":::" };
    let _ = writeln!(out, "{:gutter$}{arrow} {file_name}:{}:{}", "", start.line, start.column);
    let _ = writeln!(out, "{:gutter$} |", "");
    let width = if end.line == start.line {
        (end.column.saturating_sub(start.column)).max(1) as usize
    } else {
        1
    };
    // A long line is shown as a window around the span, so a hostile line is not copied into
    // every diagnostic on it.
    let (shown, pad, width) = window(text, start.column as usize - 1, width);
    let _ = writeln!(out, "{} | {}", start.line, shown.replace('\t', " "));
    let marker = if primary { "^" } else { "-" };
    let _ = write!(out, "{:gutter$} | {:pad$}{}", "", "", marker.repeat(width), pad = pad);
    match label {
        Some(label) => {
            let _ = writeln!(out, " {label}");
        }
        None => out.push('\n'),
    }
}

/// The part of `line` shown for a span at character `column` (0-based) of `width` characters:
/// the whole line when short; else about [`WINDOW`] characters around the span, elided with `…`.
/// Returns the text, the span's column in it and its (clipped) width.
fn window(line: &str, column: usize, width: usize) -> (String, usize, usize) {
    let length = line.chars().count();
    if length <= WINDOW {
        return (line.to_string(), column, width);
    }
    let from = column.saturating_sub(WINDOW / 3);
    let to = (from + WINDOW).min(length);
    let mut shown = String::new();
    if from > 0 {
        shown.push('…');
    }
    shown.extend(line.chars().skip(from).take(to - from));
    if to < length {
        shown.push('…');
    }
    let pad = column - from + usize::from(from > 0);
    (shown, pad, width.min(to.saturating_sub(column)).max(1))
}

/// How many characters of a long source line a diagnostic shows.
const WINDOW: usize = 120;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_chars_and_utf16_units() {
        let source = "a\nπ𝄞x\n";
        let index = LineIndex::new(source);
        let x = source.find('x').unwrap() as u32;
        let pos = index.position(x);
        assert_eq!((pos.line, pos.column, pos.utf16_column), (2, 3, 4));
        assert_eq!(index.line_text(2), "π𝄞x");
    }

    #[test]
    fn offsets_inside_a_char_move_back() {
        let index = LineIndex::new("é");
        assert_eq!(index.position(1).column, 1);
        assert_eq!(index.position(99).column, 2);
    }
}
