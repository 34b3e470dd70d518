//! The checker: what makes a schema unsafe or surprising, beyond what parsing and name
//! resolution find.
//!
//! - **Injectivity** (errors): within a pattern, parameter values must be separable (a parameter
//!   cannot contain the literal that follows it; two parameters cannot touch; at most one
//!   parameter spans segments), and the layouts of a composite parameter must not overlap.
//! - **Ambiguity** (warnings): every pair of patterns that can match one key, with a shortest
//!   witness key, found by searching the product of the two patterns' automata.
//! - **Cluster hazards** (warnings): literal hash tags, unbounded collections without TTL, groups
//!   that mix slot groups.

mod nfa;

use crate::diagnostics::{Code, Diagnostic, Span};
use crate::lower::KeySpans;
use crate::matcher::{Matcher, Piece, Segment, Variant};
use crate::model::KeySchema;
use nfa::Nfa;

/// Runs every check; returns the pairs of keys (by index) whose patterns overlap.
pub(crate) fn check(
    schema: &KeySchema,
    key_spans: &[KeySpans],
    param_spans: &[Span],
    matcher: &Matcher,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(usize, usize)> {
    let separator = schema.separator as u8;
    let variants = matcher.variants();
    let mut injective = vec![true; schema.keys.len()];
    for variant in variants {
        if let Some(problem) = injectivity_problem(schema, variant) {
            if std::mem::replace(&mut injective[variant.key], false) {
                diagnostics.push(
                    Diagnostic::new(Code::NonInjectivePattern, key_spans[variant.key].pattern, problem.0)
                        .with_hint(problem.1),
                );
            }
        }
    }
    let candidates: Vec<(usize, usize)> = candidate_pairs(variants)
        .into_iter()
        .filter(|&(i, j)| may_overlap(&variants[i], &variants[j]))
        .collect();
    // Automata only for the variants that meet another: most of a large schema never does, and
    // an automaton is far larger than its pattern.
    let mut automata: Vec<Option<Nfa>> = (0..variants.len()).map(|_| None).collect();
    for &(i, j) in &candidates {
        for k in [i, j] {
            if automata[k].is_none() {
                automata[k] = Some(variant_nfa(schema, &variants[k], separator));
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut found: std::collections::HashSet<(usize, usize)> = std::collections::HashSet::new();
    for (i, j) in candidates {
        let (a, b) = (&variants[i], &variants[j]);
        let pair = (a.key.min(b.key), a.key.max(b.key));
        if !injective[a.key] || !injective[b.key] || found.contains(&pair) {
            continue;
        }
        let (Some(automaton_a), Some(automaton_b)) = (&automata[i], &automata[j]) else {
            unreachable!("every variant of a candidate pair has its automaton")
        };
        let witness = nfa::shortest_common(automaton_a, automaton_b, |bytes| {
            std::str::from_utf8(bytes)
                .is_ok_and(|key| matcher.variant_matches(a, key) && matcher.variant_matches(b, key))
        });
        let Some(witness) = witness else { continue };
        let witness = String::from_utf8_lossy(&witness).into_owned();
        let template = |k: usize| &schema.keys[k].pattern.template;
        if a.key == b.key {
            if std::mem::replace(&mut injective[a.key], false) {
                diagnostics.push(
                    Diagnostic::new(
                        Code::NonInjectivePattern,
                        key_spans[a.key].pattern,
                        format!("the layouts of a composite parameter overlap: `{witness}` decodes two ways"),
                    )
                    .with_hint("make the layouts' literals or types tell them apart"),
                );
            }
            continue;
        }
        pairs.push(pair);
        found.insert(pair);
        let winner = matcher.find(&witness).map_or(pair.0, |k| k);
        let (first, second) = pair;
        diagnostics.push(
            Diagnostic::new(
                Code::AmbiguousPatterns,
                key_spans[second].pattern,
                format!(
                    "`{}` and `{}` can match the same key: `{witness}`",
                    template(second),
                    template(first)
                ),
            )
            .with_label(key_spans[first].pattern, "the other pattern")
            .with_hint(format!(
                "the matcher picks `{}` for that key (the most specific); to rule it out, narrow a parameter's type \
                 or exclude the literal (`text except(...)`)",
                template(winner)
            )),
        );
    }
    hazards(schema, key_spans, param_spans, diagnostics);
    pairs
}

/// Whether two variants may match one key, decided from their segments alone. Segments are cut
/// at separators and values escape the separator, so a key's segments line up with a variant's
/// one for one, except under a spanning parameter, which covers one or more whole segments. So
/// the segments before a variant's first spanning parameter line up from the key's start, those
/// after its last one from the key's end, and a literal segment matches only itself: two
/// variants whose aligned literals differ, or whose segment counts no key can have, never share
/// a key. Everything else is left to the automata.
fn may_overlap(a: &Variant, b: &Variant) -> bool {
    let (fixed_a, fixed_b) = (FixedEnds::of(a), FixedEnds::of(b));
    let (len_a, len_b) = (a.segments.len(), b.segments.len());
    let counts_fit = match (fixed_a.spans, fixed_b.spans) {
        (false, false) => len_a == len_b,
        (true, false) => len_b >= len_a,
        (false, true) => len_a >= len_b,
        (true, true) => true,
    };
    let compatible = |x: &Segment, y: &Segment| match (x, y) {
        (Segment::Literal(x), Segment::Literal(y)) => x == y,
        _ => true,
    };
    counts_fit
        && a.segments[..fixed_a.head.min(fixed_b.head)]
            .iter()
            .zip(&b.segments)
            .all(|(x, y)| compatible(x, y))
        && a.segments[len_a - fixed_a.tail.min(fixed_b.tail)..]
            .iter()
            .rev()
            .zip(b.segments.iter().rev())
            .all(|(x, y)| compatible(x, y))
}

/// How many segments of a variant sit at a fixed place from the key's start and from its end.
struct FixedEnds {
    /// Whether a spanning parameter makes the key longer than the variant.
    spans: bool,
    /// Segments before the first spanning parameter (all of them without one).
    head: usize,
    /// Segments after the last spanning parameter (all of them without one).
    tail: usize,
}

impl FixedEnds {
    fn of(variant: &Variant) -> Self {
        let spanning = |s: &Segment| matches!(s, Segment::Spanning(_));
        let len = variant.segments.len();
        match (
            variant.segments.iter().position(spanning),
            variant.segments.iter().rposition(spanning),
        ) {
            (Some(first), Some(last)) => Self {
                spans: true,
                head: first,
                tail: len - 1 - last,
            },
            _ => Self {
                spans: false,
                head: len,
                tail: len,
            },
        }
    }
}

/// The pairs `(i, j)`, `i < j`, of variants worth comparing, in ascending order (the order the
/// pairwise loop used, so the output is the same). Variants without a spanning parameter are
/// grouped by segment count, then split position by position on their literal there (a variant
/// with a parameter at that position goes along with every literal), so only variants whose
/// literals agree everywhere meet: a large schema pays for its real candidates, not for every
/// pair. Spanning variants meet every other; [`may_overlap`] sorts those out.
fn candidate_pairs(variants: &[Variant]) -> Vec<(usize, usize)> {
    use std::collections::HashMap;
    let mut spanning: Vec<usize> = Vec::new();
    let mut by_count: HashMap<usize, Vec<usize>> = HashMap::new();
    for (index, variant) in variants.iter().enumerate() {
        if variant.segments.iter().any(|s| matches!(s, Segment::Spanning(_))) {
            spanning.push(index);
        } else {
            by_count.entry(variant.segments.len()).or_default().push(index);
        }
    }
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    let mut pending: Vec<(Vec<usize>, usize)> = by_count.into_values().map(|group| (group, 0)).collect();
    // An explicit stack: a pattern may have many segments, and recursion would follow them.
    while let Some((group, position)) = pending.pop() {
        if group.len() < 2 {
            continue;
        }
        let literal_at = |index: usize| match variants[index].segments.get(position) {
            Some(Segment::Literal(bytes)) => Some(&bytes[..]),
            _ => None,
        };
        // Every variant of a group has the same segment count.
        if position == variants[group[0]].segments.len() {
            for (n, &x) in group.iter().enumerate() {
                candidates.extend(group[n + 1..].iter().map(|&y| (x.min(y), x.max(y))));
            }
            continue;
        }
        let mut by_literal: HashMap<&[u8], Vec<usize>> = HashMap::new();
        let mut wild: Vec<usize> = Vec::new();
        for &index in &group {
            match literal_at(index) {
                Some(bytes) => by_literal.entry(bytes).or_default().push(index),
                None => wild.push(index),
            }
        }
        for (_, mut same) in by_literal {
            same.extend_from_slice(&wild);
            pending.push((same, position + 1));
        }
        // Pairs of two variants with parameters here are found again under each literal; the
        // dedup below keeps one of each.
        pending.push((wild, position + 1));
    }
    for &x in &spanning {
        candidates.extend((0..variants.len()).filter(|&y| y != x).map(|y| (x.min(y), x.max(y))));
    }
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

fn variant_nfa(schema: &KeySchema, variant: &Variant, separator: u8) -> Nfa {
    let mut nfa = Nfa::new();
    let mut at = 0;
    for (i, segment) in variant.segments.iter().enumerate() {
        if i > 0 {
            at = nfa.literal(at, &[separator]);
        }
        at = match segment {
            Segment::Literal(bytes) => nfa.literal(at, bytes),
            Segment::Param(param) | Segment::Spanning(param) => nfa.param(at, &schema.params[*param], separator),
            Segment::Pieces(pieces) => pieces.iter().fold(at, |at, piece| match piece {
                Piece::Literal(bytes) => nfa.literal(at, bytes),
                Piece::Param(param) => nfa.param(at, &schema.params[*param], separator),
            }),
        };
    }
    nfa.accept(at);
    nfa
}

/// Why a variant's values could not be told apart when parsing a key, with a hint.
fn injectivity_problem(schema: &KeySchema, variant: &Variant) -> Option<(String, String)> {
    let separator = schema.separator as u8;
    let spanning = variant
        .segments
        .iter()
        .filter(|s| matches!(s, Segment::Spanning(_)))
        .count();
    if spanning > 1 {
        return Some((
            "more than one parameter may span segments, so a key splits between them in several ways".into(),
            "keep `spans` on one parameter of the pattern".into(),
        ));
    }
    for segment in &variant.segments {
        let Segment::Pieces(pieces) = segment else {
            continue;
        };
        for (i, piece) in pieces.iter().enumerate() {
            let Piece::Param(param) = piece else { continue };
            let param = &schema.params[*param];
            if param.spans {
                return Some((
                    format!(
                        "`{}` may span segments but shares its segment with other text",
                        param.name
                    ),
                    "a spanning parameter must be a whole segment".into(),
                ));
            }
            match pieces.get(i + 1) {
                Some(Piece::Param(next)) => {
                    return Some((
                        format!(
                            "`<{}><{}>`: two parameters touch, so their values cannot be told apart",
                            param.name, schema.params[*next].name
                        ),
                        "put a literal between them that neither can contain".into(),
                    ))
                }
                Some(Piece::Literal(literal)) => {
                    let alphabet = nfa::type_fragment(&param.ty, separator, false).alphabet();
                    let first = literal[0];
                    if alphabet.contains(first) {
                        return Some((
                            format!(
                                "`{}` ({}) can contain `{}`, the literal after it, so its value cannot be told apart",
                                param.name,
                                param.ty.name(),
                                first as char
                            ),
                            "use a type that cannot contain it (ident cannot contain `@` or `:`; int and uuid are narrower), \
                             or another literal"
                                .into(),
                        ));
                    }
                }
                None => {}
            }
        }
    }
    None
}

fn hazards(schema: &KeySchema, key_spans: &[KeySpans], param_spans: &[Span], diagnostics: &mut Vec<Diagnostic>) {
    // Implicit keys are tagged by construction, onto the slot of the key they serve: their tags
    // are not the author's to change.
    let implicit =
        |key: &crate::model::KeyDef| matches!(key.primitive, Some(crate::model::Primitive::Companion { .. }));
    for (index, key) in schema.keys.iter().enumerate() {
        let span = key_spans[index].pattern;
        if implicit(key) {
            continue;
        }
        if let Some(tag) = key.pattern.hash_tag.as_ref().filter(|tag| tag.literal_only) {
            diagnostics.push(
                Diagnostic::new(
                    Code::LiteralHashTag,
                    span,
                    format!(
                        "the hash tag `{{{}}}` has no parameter: every key of this pattern lands on one slot",
                        tag.template
                    ),
                )
                .with_hint("tag a parameter (`{<jobID>}`) so the family spreads over the cluster"),
            );
        }
        let trimmed = key
            .primitive
            .as_ref()
            .is_some_and(crate::model::Primitive::removes_own_members);
        if key.redis_type.is_unbounded_collection() && key.ttl.is_none() && !trimmed {
            diagnostics.push(
                Diagnostic::new(
                    Code::UnboundedCollection,
                    span,
                    format!(
                        "`{}` is a {} with no cap and no TTL: it can grow without bound",
                        key.pattern.template,
                        key.redis_type.name()
                    ),
                )
                .with_hint("add a TTL, a `cap N`, or make sure something removes members"),
            );
        }
    }
    for (index, param) in schema.params.iter().enumerate() {
        if param.spans {
            diagnostics.push(
                Diagnostic::new(
                    Code::SpanningParam,
                    param_spans[index],
                    format!("`{}` may span segments: legacy keys join it unescaped", param.name),
                )
                .with_hint(
                    "keys written by keyschema always escape the separator; only reading old keys accepts it raw",
                ),
            );
        }
    }
    for group in &schema.groups {
        let keys: Vec<usize> = group
            .keys
            .iter()
            .copied()
            .filter(|&k| !implicit(&schema.keys[k]))
            .collect();
        let templates: Vec<Option<&str>> = keys
            .iter()
            .map(|&k| schema.keys[k].pattern.hash_tag.as_ref().map(|t| t.template.as_str()))
            .collect();
        let tagged: Vec<&str> = templates.iter().flatten().copied().collect();
        if let Some(first) = tagged.first() {
            // Keys without a tag (global indexes) belong to no slot group; two tags that differ do.
            if let Some(position) = templates.iter().position(|t| t.is_some_and(|t| t != *first)) {
                let key = keys[position];
                diagnostics.push(
                    Diagnostic::new(
                        Code::MixedSlotGroups,
                        key_spans[key].pattern,
                        format!(
                            "group `{}` mixes slot groups: `{}` does not share the tag `{{{first}}}`",
                            group.name, schema.keys[key].pattern.template
                        ),
                    )
                    .with_hint(
                        "on a cluster, keys of different slot groups cannot be used in one transaction or script",
                    ),
                );
            }
        }
    }
}
