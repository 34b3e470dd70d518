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
    let automata: Vec<Nfa> = variants
        .iter()
        .map(|variant| variant_nfa(schema, variant, separator))
        .collect();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut found: std::collections::HashSet<(usize, usize)> = std::collections::HashSet::new();
    for (i, j) in candidate_pairs(variants) {
        let (a, b) = (&variants[i], &variants[j]);
        let pair = (a.key.min(b.key), a.key.max(b.key));
        if !injective[a.key] || !injective[b.key] || found.contains(&pair) || !may_overlap(a, b) {
            continue;
        }
        let witness = nfa::shortest_common(&automata[i], &automata[j], |bytes| {
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
/// at separators and values escape the separator, so without a spanning parameter a key has as
/// many segments as the variant, and a literal segment matches only itself: two variants with
/// different segment counts, or different literals at one position, never share a key. With a
/// spanning parameter, only the automata can tell.
fn may_overlap(a: &Variant, b: &Variant) -> bool {
    let spans = |v: &Variant| v.segments.iter().any(|s| matches!(s, Segment::Spanning(_)));
    if spans(a) || spans(b) {
        return true;
    }
    a.segments.len() == b.segments.len()
        && a.segments.iter().zip(&b.segments).all(|pair| match pair {
            (Segment::Literal(x), Segment::Literal(y)) => x == y,
            _ => true,
        })
}

/// The pairs `(i, j)`, `i < j`, of variants worth comparing, in ascending order (the order the
/// pairwise loop used, so the output is the same): variants grouped by segment count and first
/// literal, so a large schema does not pay for every pair; spanning variants meet every other.
fn candidate_pairs(variants: &[Variant]) -> Vec<(usize, usize)> {
    use std::collections::HashMap;
    let mut spanning: Vec<usize> = Vec::new();
    /// Variants of one segment count: by first literal, and those starting with a parameter.
    #[derive(Default)]
    struct SameLength<'v> {
        literals: HashMap<&'v [u8], Vec<usize>>,
        wild: Vec<usize>,
    }
    let mut by_count: HashMap<usize, SameLength<'_>> = HashMap::new();
    for (index, variant) in variants.iter().enumerate() {
        if variant.segments.iter().any(|s| matches!(s, Segment::Spanning(_))) {
            spanning.push(index);
            continue;
        }
        let group = by_count.entry(variant.segments.len()).or_default();
        match variant.segments.first() {
            Some(Segment::Literal(first)) => group.literals.entry(first).or_default().push(index),
            _ => group.wild.push(index),
        }
    }
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    let mut pair = |x: usize, y: usize| {
        if x != y {
            candidates.push((x.min(y), x.max(y)));
        }
    };
    for SameLength { literals, wild } in by_count.values() {
        for group in literals.values() {
            for (n, &x) in group.iter().enumerate() {
                for &y in &group[n + 1..] {
                    pair(x, y);
                }
                for &y in wild {
                    pair(x, y);
                }
            }
        }
        for (n, &x) in wild.iter().enumerate() {
            for &y in &wild[n + 1..] {
                pair(x, y);
            }
        }
    }
    for &x in &spanning {
        for y in 0..variants.len() {
            pair(x, y);
        }
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
        if key.redis_type.is_unbounded_collection() && key.ttl.is_none() {
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
