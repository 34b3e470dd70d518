//! Parsing the text of a key pattern: literals, `<param>` placeholders, and the `{...}` hash tag.

use crate::diagnostics::{Code, Diagnostic, Span};
use crate::model::HashTag;

/// A placeholder found in a pattern, by name, before it is resolved.
#[derive(Debug)]
pub(crate) enum RawPart<'a> {
    Literal(String),
    Param { name: &'a str, span: Span },
}

/// A pattern's pieces and the byte range of its hash tag's braces.
pub(crate) type SplitPattern<'a> = (Vec<RawPart<'a>>, Option<(usize, usize)>);

/// Splits a pattern into literals and placeholders and finds its hash tag. `base` is the byte
/// offset of the pattern in the source, so diagnostics point inside it.
pub(crate) fn split_pattern<'a>(
    text: &'a str,
    base: u32,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<SplitPattern<'a>> {
    let at = |start: usize, end: usize| Span {
        start: base + start as u32,
        end: base + end as u32,
    };
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut tag_open: Option<usize> = None;
    let mut tag: Option<(usize, usize)> = None;
    let mut ok = true;
    // Closing braces of braces already reported (a second tag, a nested one) are not reported again.
    let mut reported_opens = 0;
    let mut rest = text.char_indices();
    while let Some((i, c)) = rest.next() {
        match c {
            '<' => {
                let Some(close) = text[i..].find('>') else {
                    diagnostics.push(
                        Diagnostic::new(Code::Syntax, at(i, text.len()), "unclosed placeholder")
                            .with_hint("write placeholders as `<name>`"),
                    );
                    return None;
                };
                let name = &text[i + 1..i + close];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::Syntax,
                            at(i, i + close + 1),
                            format!("invalid placeholder `<{name}>`"),
                        )
                        .with_hint("a placeholder names a declared parameter: letters, digits and `_`"),
                    );
                    ok = false;
                }
                if !literal.is_empty() {
                    parts.push(RawPart::Literal(std::mem::take(&mut literal)));
                }
                parts.push(RawPart::Param {
                    name,
                    span: at(i, i + close + 1),
                });
                // Skip the placeholder's characters.
                for _ in 0..text[i + 1..i + close + 1].chars().count() {
                    rest.next();
                }
            }
            '>' => {
                diagnostics.push(
                    Diagnostic::new(Code::Syntax, at(i, i + 1), "`>` without `<`")
                        .with_hint("`<` and `>` only delimit placeholders"),
                );
                ok = false;
            }
            '{' => {
                if tag.is_some() {
                    diagnostics.push(
                        Diagnostic::new(Code::MalformedHashTag, at(i, i + 1), "more than one hash tag")
                            .with_hint("Redis hashes only the first `{...}`: keep one tag per pattern"),
                    );
                    reported_opens += 1;
                    ok = false;
                } else if tag_open.is_some() {
                    diagnostics.push(
                        Diagnostic::new(Code::MalformedHashTag, at(i, i + 1), "`{` inside a hash tag")
                            .with_hint("hash tags do not nest"),
                    );
                    reported_opens += 1;
                    ok = false;
                } else {
                    tag_open = Some(i);
                }
                literal.push(c);
            }
            '}' => {
                if reported_opens > 0 {
                    // Closes a brace already reported.
                    reported_opens -= 1;
                    literal.push(c);
                    continue;
                }
                match tag_open.take() {
                    Some(open) if open + 1 == i => {
                        diagnostics.push(
                            Diagnostic::new(Code::MalformedHashTag, at(open, i + 1), "empty hash tag `{}`")
                                .with_hint("Redis ignores an empty tag and hashes the whole key: remove it or put a parameter inside"),
                        );
                        ok = false;
                    }
                    Some(open) => tag = Some((open, i)),
                    None => {
                        diagnostics.push(
                            Diagnostic::new(Code::MalformedHashTag, at(i, i + 1), "`}` without `{`")
                                .with_hint("a hash tag is written `{...}`"),
                        );
                        ok = false;
                    }
                }
                literal.push(c);
            }
            c if c.is_control() => {
                diagnostics.push(Diagnostic::new(
                    Code::Syntax,
                    at(i, i + c.len_utf8()),
                    "control character in a pattern",
                ));
                ok = false;
            }
            c => literal.push(c),
        }
    }
    if let Some(open) = tag_open {
        diagnostics.push(
            Diagnostic::new(Code::MalformedHashTag, at(open, open + 1), "unclosed hash tag")
                .with_hint("close the tag with `}`"),
        );
        ok = false;
    }
    if !literal.is_empty() {
        parts.push(RawPart::Literal(literal));
    }
    ok.then_some((parts, tag))
}

/// The hash tag of resolved parts: its template and whether it is all literal.
pub(crate) fn hash_tag(template: &str, tag: Option<(usize, usize)>) -> Option<HashTag> {
    let (open, close) = tag?;
    let inner = &template[open + 1..close];
    Some(HashTag {
        template: inner.to_string(),
        literal_only: !inner.contains('<'),
    })
}

/// Derives a code name from a pattern's fully literal segments: `job:<jobID>:output_decision`
/// gives `job_output_decision`.
pub(crate) fn derive_name(template: &str, separator: char) -> String {
    let mut name = String::new();
    for segment in template.split(separator) {
        let segment = segment.trim_matches(['{', '}']);
        if segment.is_empty() || segment.contains('<') {
            continue;
        }
        if !name.is_empty() {
            name.push('_');
        }
        for c in segment.chars() {
            name.push(if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            });
        }
    }
    if name.is_empty() {
        name.push_str("key");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "k_");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_literal_segments() {
        assert_eq!(derive_name("job:state:<jobID>", ':'), "job_state");
        assert_eq!(derive_name("job:<jobID>:output_decision", ':'), "job_output_decision");
        assert_eq!(
            derive_name("cordum:workflow-engine:reconciler:default", ':'),
            "cordum_workflow_engine_reconciler_default"
        );
        assert_eq!(derive_name("job:{<jobID>}:state", ':'), "job_state");
        assert_eq!(derive_name("<a>:<b>", ':'), "key");
        assert_eq!(derive_name("1x:<a>", ':'), "k_1x");
    }

    #[test]
    fn tags_are_found_and_malformed_ones_reported() {
        let mut diagnostics = Vec::new();
        let (_, tag) = split_pattern("job:{<jobID>}:state", 0, &mut diagnostics).unwrap();
        assert_eq!(tag, Some((4, 12)));
        for bad in ["a:{}:b", "{a}:{b}", "a}b", "a{b", "a{b{c}}", "a<b", "a<>"] {
            let mut diagnostics = Vec::new();
            assert!(split_pattern(bad, 0, &mut diagnostics).is_none(), "{bad}");
            assert!(!diagnostics.is_empty());
        }
    }
}
