//! The matcher: a key in; the pattern, decoded parameters and slot out, or why nothing matched.
//!
//! Patterns are compiled into a trie over segments. Each node has literal edges, typed parameter
//! edges and edges for parameters that may span segments; a depth-first walk tries them in that
//! order and parameter edges from the narrowest type to the widest, so the first pattern reached
//! is the most specific one (as HTTP routers choose routes), whatever the declaration order.

use crate::codec::{
    decode_simple, is_ident, is_valid_escaped, parse_canonical_int, parse_uuid, ParamValue, ValueError,
};
use crate::diagnostics::Code;
use crate::model::{KeySchema, LayoutPart, ParamType, PatternPart};
use crate::slot::key_slot;
use crate::values::DecodedValues;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

/// The most segments a key may have to be matched (keys with more are reported, not matched).
pub const MAX_SEGMENTS: usize = 64;

/// One piece of a segment that mixes literals and parameters (`<stepID>@<attempt>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Literal(Box<[u8]>),
    Param(usize),
}

/// What one segment of a pattern variant must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(Box<[u8]>),
    Param(usize),
    Pieces(Vec<Piece>),
    /// A parameter allowed to span one or more segments.
    Spanning(usize),
}

/// One concrete layout of a key pattern: composite parameters expanded.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub(crate) key: usize,
    /// Per placeholder of the pattern: `None` for the simple form, or the layout used.
    pub(crate) choices: Vec<Option<usize>>,
    pub(crate) segments: Vec<Segment>,
    /// No composite layout is used: decoded values go straight to the result.
    simple: bool,
}

#[derive(Debug, Default)]
struct Node {
    literals: Vec<(Box<[u8]>, u32)>,
    /// Sorted from the most specific test to the least.
    params: Vec<(Segment, u32)>,
    spanning: Vec<(usize, u32)>,
    terminals: Vec<u32>,
}

/// A compiled matcher for one schema.
#[derive(Debug)]
pub struct Matcher {
    schema: Arc<KeySchema>,
    separator: u8,
    variants: Vec<Variant>,
    nodes: Vec<Node>,
    /// Per parameter: its enum forms as bytes (empty for other types).
    enum_forms: Vec<Vec<Box<[u8]>>>,
    /// Per key: keys whose patterns can match some of the same keys.
    ambiguous_with: Vec<Vec<usize>>,
    /// `must_escape` under this separator, as a table: the hot loop of parameter checks.
    escaped: [bool; 256],
    /// Per key: its variants, by index in `variants`.
    key_variants: Vec<Vec<u32>>,
}

/// [`Matcher`]'s trie as plain data ([`Matcher::table`]). A key is cut at the separator into
/// segments and walked depth-first from node 0: at each node, a literal equal to the segment, then
/// each of `params` in order (a whole-segment parameter, or a segment of literals and parameters
/// cut at its literals), then each spanning parameter over as many segments as possible, then
/// fewer. The first node reached with every segment consumed and a `terminal` is the match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchTable {
    /// The trie's nodes; the root is the first.
    pub nodes: Vec<MatchNode>,
    /// What each terminal names: a key and its layout choices.
    pub variants: Vec<MatchVariant>,
}

/// One node of a [`MatchTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchNode {
    /// Literal segments and the node each leads to.
    pub literals: Vec<(String, usize)>,
    /// Parameter segments, most specific first, and the node each leads to.
    pub params: Vec<(SegmentTest, usize)>,
    /// Parameters that may span several segments (by index in the schema's params), and the
    /// node each leads to.
    pub spanning: Vec<(usize, usize)>,
    /// The variant (by index in [`MatchTable::variants`]) of a key that ends here.
    pub terminal: Option<usize>,
}

/// What a parameter segment of a [`MatchNode`] must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentTest {
    /// The whole segment is a value of this parameter.
    Param(usize),
    /// Literals and parameters: each parameter's value runs to the next literal.
    Pieces(Vec<LayoutPart>),
}

/// A pattern as a [`MatchTable`] matches it: a key, with one layout choice per placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchVariant {
    /// The key definition, by index in [`KeySchema::keys`].
    pub key: usize,
    /// Per placeholder, in pattern order: `None` for the simple form, or the layout used.
    pub choices: Vec<Option<usize>>,
}

/// A key that matched a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch<'k> {
    /// The key definition, by index in [`KeySchema::keys`].
    pub key: usize,
    /// One value per placeholder, in pattern order, with the parameter's index.
    pub values: DecodedValues<'k>,
    /// The cluster slot.
    pub slot: u16,
    /// Other keys whose patterns match this key too (the schema has an ambiguity here).
    pub also_matches: Vec<usize>,
}

/// Why a key matched no pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchFailure {
    /// A stable code (`K001`...).
    pub code: Code,
    /// What is wrong, naming the nearest pattern when there is one.
    pub message: String,
    /// The nearest key definition.
    pub nearest: Option<usize>,
}

impl Matcher {
    /// Compiles the patterns of `schema`.
    pub fn new(schema: Arc<KeySchema>) -> Self {
        let variants = expand_variants(&schema);
        let enum_forms = schema
            .params
            .iter()
            .map(|param| match &param.ty {
                ParamType::Enum { variants, case } => variants
                    .iter()
                    .map(|v| case.apply(v).into_bytes().into_boxed_slice())
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let mut matcher = Self {
            separator: schema.separator as u8,
            variants: Vec::new(),
            nodes: vec![Node::default()],
            enum_forms,
            ambiguous_with: vec![Vec::new(); schema.keys.len()],
            escaped: std::array::from_fn(|b| crate::codec::must_escape(b as u8, schema.separator as u8)),
            key_variants: vec![Vec::new(); schema.keys.len()],
            schema,
        };
        for variant in variants {
            matcher.insert(variant);
        }
        let schema = Arc::clone(&matcher.schema);
        for node in &mut matcher.nodes {
            node.params.sort_by_key(|(segment, _)| segment_rank(&schema, segment));
        }
        matcher
    }

    /// Records that two keys' patterns overlap (found by the checker), so matches report it.
    pub(crate) fn set_ambiguities(&mut self, pairs: &[(usize, usize)]) {
        for &(a, b) in pairs {
            if a != b {
                self.ambiguous_with[a].push(b);
                self.ambiguous_with[b].push(a);
            }
        }
    }

    pub(crate) fn variants(&self) -> &[Variant] {
        &self.variants
    }

    /// The matcher's decision structure as plain data, for code generators that port
    /// [`Matcher::match_key`] to other languages: walked as [`MatchTable`] says, it picks the same
    /// pattern for every key.
    pub fn table(&self) -> MatchTable {
        let bytes = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let nodes = self
            .nodes
            .iter()
            .map(|node| MatchNode {
                literals: node.literals.iter().map(|(l, c)| (bytes(l), *c as usize)).collect(),
                params: node
                    .params
                    .iter()
                    .map(|(segment, child)| {
                        let test = match segment {
                            Segment::Pieces(pieces) => SegmentTest::Pieces(
                                pieces
                                    .iter()
                                    .map(|piece| match piece {
                                        Piece::Literal(l) => LayoutPart::Literal(bytes(l)),
                                        Piece::Param(p) => LayoutPart::Param(*p),
                                    })
                                    .collect(),
                            ),
                            // `insert` keeps literal and spanning segments in their own lists: only
                            // whole-segment parameters and pieces are in `params`.
                            Segment::Param(p) | Segment::Spanning(p) => SegmentTest::Param(*p),
                            Segment::Literal(l) => SegmentTest::Pieces(vec![LayoutPart::Literal(bytes(l))]),
                        };
                        (test, *child as usize)
                    })
                    .collect(),
                spanning: node.spanning.iter().map(|(p, c)| (*p, *c as usize)).collect(),
                terminal: node.terminals.first().map(|&v| v as usize),
            })
            .collect();
        let variants = self
            .variants
            .iter()
            .map(|variant| MatchVariant {
                key: variant.key,
                choices: variant.choices.clone(),
            })
            .collect();
        MatchTable { nodes, variants }
    }

    fn insert(&mut self, variant: Variant) {
        let id = self.variants.len() as u32;
        let mut node = 0usize;
        for segment in &variant.segments {
            let next = self.nodes.len() as u32;
            let existing = match segment {
                Segment::Literal(bytes) => self.nodes[node]
                    .literals
                    .iter()
                    .find(|(lit, _)| lit == bytes)
                    .map(|&(_, n)| n),
                Segment::Spanning(param) => self.nodes[node]
                    .spanning
                    .iter()
                    .find(|(p, _)| p == param)
                    .map(|&(_, n)| n),
                other => self.nodes[node]
                    .params
                    .iter()
                    .find(|(s, _)| s == other)
                    .map(|&(_, n)| n),
            };
            let child = match existing {
                Some(child) => child,
                None => {
                    match segment {
                        Segment::Literal(bytes) => self.nodes[node].literals.push((bytes.clone(), next)),
                        Segment::Spanning(param) => self.nodes[node].spanning.push((*param, next)),
                        other => self.nodes[node].params.push((other.clone(), next)),
                    }
                    self.nodes.push(Node::default());
                    next
                }
            };
            node = child as usize;
        }
        self.nodes[node].terminals.push(id);
        self.key_variants[variant.key].push(id);
        self.variants.push(variant);
    }

    /// The segments of `key` as byte ranges (the slow paths: explanations, ambiguity notes).
    fn segments(&self, key: &[u8]) -> Vec<(u32, u32)> {
        let mut ranges = Vec::new();
        let mut start = 0;
        for (i, &byte) in key.iter().enumerate() {
            if byte == self.separator {
                ranges.push((start as u32, i as u32));
                start = i + 1;
            }
        }
        ranges.push((start as u32, key.len() as u32));
        ranges
    }

    /// Where the segment starting at `at` ends.
    #[inline]
    fn segment_end(&self, key: &[u8], at: usize) -> usize {
        key[at..]
            .iter()
            .position(|&b| b == self.separator)
            .map_or(key.len(), |i| at + i)
    }

    /// Which key definition `key` belongs to, without decoding anything: the fastest question.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.walk(0, key, 0, &mut Validate)
            .map(|v| self.variants[v as usize].key)
    }

    /// Matches `key`: the most specific pattern, its decoded values and the slot.
    pub fn match_key<'k>(&self, key: &'k str) -> Result<KeyMatch<'k>, MatchFailure> {
        let (variant, values) = self.match_variant(key)?;
        let partners = &self.ambiguous_with[variant.key];
        let also_matches = if partners.is_empty() {
            Vec::new()
        } else {
            let bytes = key.as_bytes();
            let segments = self.segments(bytes);
            partners
                .iter()
                .copied()
                .filter(|&other| {
                    self.variants
                        .iter()
                        .any(|v| v.key == other && self.matches_variant(v, bytes, &segments))
                })
                .collect()
        };
        Ok(KeyMatch {
            key: variant.key,
            values,
            slot: key_slot(key.as_bytes()),
            also_matches,
        })
    }

    /// The key definition `key` belongs to, exactly as [`Matcher::match_key`] decides it (values
    /// decoded and checked), without the values, the slot or the other patterns it matches: what
    /// a summary of many keys needs.
    pub fn classify(&self, key: &str) -> Result<usize, MatchFailure> {
        self.match_variant(key).map(|(variant, _)| variant.key)
    }

    /// The variant `key` matches and its decoded values.
    fn match_variant<'k>(&self, key: &'k str) -> Result<(&Variant, DecodedValues<'k>), MatchFailure> {
        let bytes = key.as_bytes();
        if bytes.is_empty() {
            return Err(MatchFailure {
                code: Code::KeyOutOfBounds,
                message: "empty key".into(),
                nearest: None,
            });
        }
        let mut sink = Decode {
            values: DecodedValues::default(),
            complete: true,
        };
        let Some(variant_id) = self.walk(0, key, 0, &mut sink) else {
            let segments = self.segments(bytes);
            if segments.len() > MAX_SEGMENTS {
                return Err(MatchFailure {
                    code: Code::KeyOutOfBounds,
                    message: format!(
                        "key has {} segments, more than the {MAX_SEGMENTS} explained",
                        segments.len()
                    ),
                    nearest: None,
                });
            }
            return Err(self.explain(key, &segments));
        };
        let variant = &self.variants[variant_id as usize];
        let values = if sink.complete && variant.simple {
            // The walk kept the values of its path, deepest first.
            let mut values = sink.values;
            values.reverse();
            values
        } else {
            let mut values = DecodedValues::default();
            self.decode(variant, key, &mut values)
                .map_err(|(param, error)| self.value_failure(variant.key, param, &error))?;
            values
        };
        Ok((variant, values))
    }

    /// Depth-first search from `node` with the segment starting at byte `at` (`key.len() + 1`
    /// once every segment is consumed); the first terminal reached is the most specific match.
    /// `sink` checks each whole-segment parameter and keeps the values of the successful path.
    fn walk<'k, S: Sink<'k>>(&self, node: usize, key: &'k str, at: usize, sink: &mut S) -> Option<u32> {
        let node_ref = &self.nodes[node];
        let bytes = key.as_bytes();
        if at > bytes.len() {
            return node_ref.terminals.first().copied();
        }
        let end = self.segment_end(bytes, at);
        // Separators are ASCII, so segment bounds are char boundaries.
        let segment = &key[at..end];
        let first = segment.as_bytes().first();
        for (literal, child) in &node_ref.literals {
            // The first byte rules out most literals before a full comparison.
            if literal.first() == first && literal.as_ref() == segment.as_bytes() {
                if let Some(found) = self.walk(*child as usize, key, end + 1, sink) {
                    return Some(found);
                }
            }
        }
        for (test, child) in &node_ref.params {
            if let Segment::Param(param) = test {
                if let Some(value) = sink.accept(self, *param, segment) {
                    if let Some(found) = self.walk(*child as usize, key, end + 1, sink) {
                        sink.keep(*param, value);
                        return Some(found);
                    }
                }
            } else if self.segment_accepts(test, segment.as_bytes()) {
                if let Some(found) = self.walk(*child as usize, key, end + 1, sink) {
                    sink.incomplete();
                    return Some(found);
                }
            }
        }
        for &(param, child) in &node_ref.spanning {
            // Longest first: legacy values swallow as many segments as the rest of the pattern allows.
            let mut last = bytes.len();
            loop {
                if self.param_accepts(param, &bytes[at..last]) {
                    if let Some(found) = self.walk(child as usize, key, last + 1, sink) {
                        sink.incomplete();
                        return Some(found);
                    }
                }
                match bytes[end..last].iter().rposition(|&b| b == self.separator) {
                    Some(i) if last > end => last = end + i,
                    _ => break,
                }
            }
        }
        None
    }

    /// Checks and decodes a whole-segment value in one pass; `None` when it is not valid.
    #[inline]
    fn decode_checked<'k>(&self, index: usize, text: &'k str) -> Option<ParamValue<'k>> {
        let param = &self.schema.params[index];
        let bytes = text.as_bytes();
        if bytes.is_empty() || param.except.iter().any(|word| word.as_bytes() == bytes) {
            return None;
        }
        // Typed values are parsed first: their parsers reject any byte that needs escaping, so
        // only a failed parse of a value holding `%` needs the careful path.
        let parsed = match &param.ty {
            ParamType::Int => parse_canonical_int(text).map(ParamValue::Int),
            ParamType::UnixSeconds => parse_canonical_int(text).filter(|n| *n >= 0).map(ParamValue::Int),
            ParamType::Uuid => parse_uuid(text).map(ParamValue::Uuid),
            ParamType::Ident => is_ident(text).then_some(ParamValue::Text(Cow::Borrowed(text))),
            ParamType::Enum { .. } => self.enum_forms[index]
                .iter()
                .position(|form| form.as_ref() == bytes)
                .map(ParamValue::Enum),
            ParamType::Text if !bytes.iter().any(|&b| self.escaped[usize::from(b)]) => {
                Some(ParamValue::Text(Cow::Borrowed(text)))
            }
            ParamType::Text | ParamType::Ip => None,
        };
        match parsed {
            Some(value) => Some(value),
            None if matches!(param.ty, ParamType::Text | ParamType::Ip) || bytes.contains(&b'%') => {
                decode_simple(param, text, self.schema.separator).ok()
            }
            None => None,
        }
    }

    /// Whether `key` matches one particular variant (the checker verifies witnesses with it).
    pub(crate) fn variant_matches(&self, variant: &Variant, key: &str) -> bool {
        let bytes = key.as_bytes();
        if variant.segments.iter().any(|s| matches!(s, Segment::Spanning(_))) {
            return self.matches_variant(variant, bytes, &self.segments(bytes));
        }
        // Fixed segments: one pass, no allocation.
        let mut at = 0;
        for segment in &variant.segments {
            if at > bytes.len() {
                return false;
            }
            let end = self.segment_end(bytes, at);
            if !self.segment_accepts(segment, &bytes[at..end]) {
                return false;
            }
            at = end + 1;
        }
        at > bytes.len()
    }

    fn matches_variant(&self, variant: &Variant, key: &[u8], segments: &[(u32, u32)]) -> bool {
        self.match_prefix(variant, key, segments).0 == usize::MAX
    }

    /// How far `variant` matches: `usize::MAX` when it matches whole, else the index of the
    /// first segment of the variant that fails.
    fn match_prefix(&self, variant: &Variant, key: &[u8], segments: &[(u32, u32)]) -> (usize, usize) {
        let fixed = variant
            .segments
            .iter()
            .filter(|s| !matches!(s, Segment::Spanning(_)))
            .count();
        let spanning = variant.segments.len() != fixed;
        let mut at = 0;
        for (i, segment) in variant.segments.iter().enumerate() {
            if let Segment::Spanning(param) = segment {
                let take = segments.len().saturating_sub(fixed);
                if take == 0 || at + take > segments.len() {
                    return (i, at);
                }
                let spanned = &key[segments[at].0 as usize..segments[at + take - 1].1 as usize];
                if !self.param_accepts(*param, spanned) {
                    return (i, at);
                }
                at += take;
                continue;
            }
            let Some(&(start, end)) = segments.get(at) else {
                return (i, at);
            };
            if !self.segment_accepts(segment, &key[start as usize..end as usize]) {
                return (i, at);
            }
            at += 1;
        }
        if at == segments.len() && (spanning || fixed == segments.len()) {
            (usize::MAX, at)
        } else {
            (variant.segments.len(), at)
        }
    }

    fn segment_accepts(&self, test: &Segment, segment: &[u8]) -> bool {
        match test {
            Segment::Literal(literal) => literal.as_ref() == segment,
            Segment::Param(param) | Segment::Spanning(param) => self.param_accepts(*param, segment),
            Segment::Pieces(pieces) => self.split_pieces(pieces, segment, |_, _| true),
        }
    }

    /// Splits a mixed segment along its literals (the checker guarantees a parameter cannot
    /// contain the literal after it) and calls `each` on every parameter's part.
    fn split_pieces(&self, pieces: &[Piece], segment: &[u8], mut each: impl FnMut(usize, &[u8]) -> bool) -> bool {
        let mut rest = segment;
        for (i, piece) in pieces.iter().enumerate() {
            match piece {
                Piece::Literal(literal) => match rest.strip_prefix(literal.as_ref()) {
                    Some(after) => rest = after,
                    None => return false,
                },
                Piece::Param(param) => {
                    let end = match pieces.get(i + 1) {
                        Some(Piece::Literal(next)) => match find(rest, next) {
                            Some(end) => end,
                            None => return false,
                        },
                        _ => rest.len(),
                    };
                    if !self.param_accepts(*param, &rest[..end]) || !each(*param, &rest[..end]) {
                        return false;
                    }
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty()
    }

    /// [`crate::codec::is_valid_escaped`] with the separator's table.
    #[inline]
    fn valid_escaped(&self, encoded: &[u8], spans: bool) -> bool {
        if !encoded.iter().any(|&b| self.escaped[usize::from(b)]) {
            return true;
        }
        is_valid_escaped(encoded, self.separator, spans)
    }

    /// Whether `encoded` is a valid key form of parameter `index`, without allocating.
    fn param_accepts(&self, index: usize, encoded: &[u8]) -> bool {
        let param = &self.schema.params[index];
        if encoded.is_empty() || !self.valid_escaped(encoded, param.spans) {
            return false;
        }
        if param.except.iter().any(|word| word.as_bytes() == encoded) {
            return false;
        }
        if encoded.contains(&b'%') && !matches!(param.ty, ParamType::Text) {
            // Typed values only carry escapes when the separator occurs in them (IPv6 under `:`).
            return std::str::from_utf8(encoded)
                .is_ok_and(|text| decode_simple(param, text, self.schema.separator).is_ok());
        }
        match &param.ty {
            ParamType::Text => true,
            ParamType::Ident => encoded
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')),
            ParamType::Int => as_str(encoded).and_then(parse_canonical_int).is_some(),
            ParamType::UnixSeconds => as_str(encoded).and_then(parse_canonical_int).is_some_and(|n| n >= 0),
            ParamType::Uuid => as_str(encoded).and_then(parse_uuid).is_some(),
            ParamType::Enum { .. } => self.enum_forms[index].iter().any(|form| form.as_ref() == encoded),
            ParamType::Ip => as_str(encoded).is_some_and(is_canonical_ip),
        }
    }

    /// Decodes the values of a key that `variant` matched.
    fn decode<'k>(
        &self,
        variant: &Variant,
        key: &'k str,
        values: &mut DecodedValues<'k>,
    ) -> Result<(), (usize, ValueError)> {
        if variant.simple {
            return self.decode_flat(variant, key, values);
        }
        let mut flat = DecodedValues::default();
        self.decode_flat(variant, key, &mut flat)?;
        // Regroup the flat values per placeholder, composite values into their layouts.
        let schema = &*self.schema;
        let mut flat = flat.into_iter();
        for (param, choice) in schema.keys[variant.key].pattern.params().zip(&variant.choices) {
            match choice {
                None => values.extend_one(flat.next()),
                Some(layout) => {
                    let arity = schema.params[param].layouts[*layout]
                        .iter()
                        .filter(|p| matches!(p, LayoutPart::Param(_)))
                        .count();
                    let parts = flat.by_ref().take(arity).collect();
                    values.push((param, ParamValue::Layout { layout: *layout, parts }));
                }
            }
        }
        Ok(())
    }

    /// Decodes every parameter occurrence of `variant` in order, layouts flattened.
    fn decode_flat<'k>(
        &self,
        variant: &Variant,
        key: &'k str,
        flat: &mut DecodedValues<'k>,
    ) -> Result<(), (usize, ValueError)> {
        let bytes = key.as_bytes();
        let mut at = 0;
        for (index, segment) in variant.segments.iter().enumerate() {
            let end = match segment {
                Segment::Spanning(_) => {
                    // The segments after this one are fixed: the spanning value ends before them.
                    let after = variant.segments.len() - index - 1;
                    let mut end = bytes.len();
                    for _ in 0..after {
                        end = bytes[at..end]
                            .iter()
                            .rposition(|&b| b == self.separator)
                            .map_or(at, |i| at + i);
                    }
                    end
                }
                _ => self.segment_end(bytes, at),
            };
            let text = &key[at..end];
            match segment {
                Segment::Literal(_) => {}
                Segment::Param(param) | Segment::Spanning(param) => flat.push((*param, self.decode_one(*param, text)?)),
                Segment::Pieces(pieces) => {
                    let mut parts = Vec::new();
                    self.split_pieces(pieces, text.as_bytes(), |param, part| {
                        // `part` is a sub-slice of `text` cut at ASCII literals, so it is valid UTF-8.
                        let offset = part.as_ptr() as usize - text.as_ptr() as usize;
                        parts.push((param, &text[offset..offset + part.len()]));
                        true
                    });
                    for (param, part) in parts {
                        flat.push((param, self.decode_one(param, part)?));
                    }
                }
            }
            at = end + 1;
        }
        Ok(())
    }

    /// Decodes a value the walk has already validated.
    #[inline]
    fn decode_one<'k>(&self, param: usize, text: &'k str) -> Result<ParamValue<'k>, (usize, ValueError)> {
        if !text.as_bytes().contains(&b'%') {
            match self.schema.params[param].ty {
                // Validated unescaped text is its own value.
                ParamType::Text | ParamType::Ident => return Ok(ParamValue::Text(std::borrow::Cow::Borrowed(text))),
                ParamType::Uuid => {
                    if let Some(bytes) = parse_uuid(text) {
                        return Ok(ParamValue::Uuid(bytes));
                    }
                }
                ParamType::Int | ParamType::UnixSeconds => {
                    if let Some(n) = parse_canonical_int(text) {
                        return Ok(ParamValue::Int(n));
                    }
                }
                // Enum forms are compared as bytes, without building each variant's form.
                ParamType::Enum { .. } => {
                    if let Some(i) = self.enum_forms[param]
                        .iter()
                        .position(|form| form.as_ref() == text.as_bytes())
                    {
                        return Ok(ParamValue::Enum(i));
                    }
                }
                _ => {}
            }
        }
        decode_simple(&self.schema.params[param], text, self.schema.separator).map_err(|e| (param, e))
    }

    fn value_failure(&self, key: usize, param: usize, error: &ValueError) -> MatchFailure {
        let code = if matches!(error, ValueError::Escape(_)) {
            Code::BadEscape
        } else {
            Code::WrongParamType
        };
        MatchFailure {
            code,
            message: format!(
                "parameter `{}` of `{}`: {error}",
                self.schema.params[param].name, self.schema.keys[key].pattern.template
            ),
            nearest: Some(key),
        }
    }

    /// Finds the nearest pattern and says why it does not match.
    fn explain(&self, key: &str, segments: &[(u32, u32)]) -> MatchFailure {
        let bytes = key.as_bytes();
        // How far each variant gets, and by how many segments its length differs from the key's.
        let reach: Vec<(&Variant, usize, usize, usize)> = self
            .variants
            .iter()
            .map(|variant| {
                let (failed, matched) = self.match_prefix(variant, bytes, segments);
                let length_gap = variant.segments.len().abs_diff(segments.len());
                (variant, failed, matched, length_gap)
            })
            .collect();
        let rank = |&(_, failed, matched, gap): &(&Variant, usize, usize, usize)| {
            (matched.min(failed), std::cmp::Reverse(gap))
        };
        let top = reach.iter().map(rank).max();
        // No variant gets past the first segment: nothing is near (and no typo needs measuring,
        // which keeps a dump full of foreign keys fast).
        let best = top.filter(|(reached, _)| *reached > 0).and_then(|top| {
            reach
                .iter()
                .filter(|r| rank(r) == top)
                .max_by_key(|&&(variant, failed, matched, _)| {
                    // Ties go to the pattern whose failing literal is closest to what the key has
                    // (`job:stat:x` is nearer `job:state:<jobID>` than `job:index:<state>`).
                    let typo = match (variant.segments.get(failed), segments.get(matched)) {
                        (Some(Segment::Literal(literal)), Some(&(s, e))) => {
                            crate::util::edit_distance(&String::from_utf8_lossy(literal), &key[s as usize..e as usize])
                        }
                        _ => usize::MAX / 2,
                    };
                    std::cmp::Reverse(typo)
                })
        });
        let Some(&(variant, failed, matched, _)) = best.filter(|&&(_, _, matched, _)| matched > 0) else {
            return MatchFailure {
                code: Code::NoPatternMatches,
                message: "no pattern matches".into(),
                nearest: None,
            };
        };
        let template = &self.schema.keys[variant.key].pattern.template;
        let mut message = String::new();
        let spanning = variant.segments.iter().any(|s| matches!(s, Segment::Spanning(_)));
        let length_differs = !spanning && variant.segments.len() != segments.len();
        let code = match variant.segments.get(failed).filter(|_| !length_differs) {
            None => {
                let _ = write!(
                    message,
                    "no pattern matches; nearest `{template}` has {} segments, the key has {}",
                    variant.segments.len(),
                    segments.len()
                );
                Code::NoPatternMatches
            }
            Some(segment) => {
                let found = segments.get(matched).map_or("", |&(s, e)| &key[s as usize..e as usize]);
                match segment {
                    Segment::Literal(literal) => {
                        let _ = write!(
                            message,
                            "no pattern matches; nearest `{template}` expects `{}` where the key has `{found}`",
                            String::from_utf8_lossy(literal)
                        );
                        Code::NoPatternMatches
                    }
                    Segment::Param(param) | Segment::Spanning(param) => {
                        let error = decode_simple(&self.schema.params[*param], found, self.schema.separator)
                            .err()
                            .unwrap_or(ValueError::Empty);
                        return self.value_failure(variant.key, *param, &error);
                    }
                    Segment::Pieces(_) => {
                        let _ = write!(
                            message,
                            "no pattern matches; nearest `{template}`: segment `{found}` does not fit its layout"
                        );
                        Code::WrongParamType
                    }
                }
            }
        };
        MatchFailure {
            code,
            message,
            nearest: Some(variant.key),
        }
    }
}

/// What the walk does with whole-segment parameters: validate only, or decode and keep.
trait Sink<'k> {
    type Value;
    /// `Some` when `text` is a valid value of `param`.
    fn accept(&mut self, matcher: &Matcher, param: usize, text: &'k str) -> Option<Self::Value>;
    /// Keeps the value of a parameter on the successful path (called deepest first).
    fn keep(&mut self, param: usize, value: Self::Value);
    /// The successful path went through a segment this sink did not decode.
    fn incomplete(&mut self);
}

/// Validates only: [`Matcher::find`].
struct Validate;

impl<'k> Sink<'k> for Validate {
    type Value = ();

    fn accept(&mut self, matcher: &Matcher, param: usize, text: &'k str) -> Option<()> {
        matcher.param_accepts(param, text.as_bytes()).then_some(())
    }

    fn keep(&mut self, _: usize, (): ()) {}

    fn incomplete(&mut self) {}
}

/// Decodes while walking, so a matched key is read once: [`Matcher::match_key`].
struct Decode<'k> {
    values: DecodedValues<'k>,
    complete: bool,
}

impl<'k> Sink<'k> for Decode<'k> {
    type Value = ParamValue<'k>;

    fn accept(&mut self, matcher: &Matcher, param: usize, text: &'k str) -> Option<ParamValue<'k>> {
        matcher.decode_checked(param, text)
    }

    fn keep(&mut self, param: usize, value: ParamValue<'k>) {
        self.values.push((param, value));
    }

    fn incomplete(&mut self) {
        self.complete = false;
    }
}

fn as_str(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

fn is_canonical_ip(text: &str) -> bool {
    let Ok(ip) = text.parse::<IpAddr>() else {
        return false;
    };
    let mut buf = crate::codec::StackBuf::new();
    let _ = write!(buf, "{ip}");
    buf.as_str() == text
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn segment_rank(schema: &KeySchema, segment: &Segment) -> u8 {
    match segment {
        Segment::Literal(_) => 0,
        Segment::Pieces(_) => 1,
        Segment::Param(param) | Segment::Spanning(param) => 2 + schema.params[*param].ty.specificity_rank(),
    }
}

/// Expands every key's pattern into its variants: one per combination of layouts of its
/// composite parameters, each split into segments.
pub(crate) fn expand_variants(schema: &KeySchema) -> Vec<Variant> {
    let mut variants = Vec::new();
    for (key_index, key) in schema.keys.iter().enumerate() {
        let placeholders: Vec<usize> = key.pattern.params().collect();
        let mut combinations: Vec<Vec<Option<usize>>> = vec![Vec::new()];
        for &param in &placeholders {
            let options: Vec<Option<usize>> = std::iter::once(None)
                .chain((0..schema.params[param].layouts.len()).map(Some))
                .collect();
            combinations = combinations
                .into_iter()
                .flat_map(|prefix| {
                    options.iter().map(move |option| {
                        let mut next = prefix.clone();
                        next.push(*option);
                        next
                    })
                })
                .collect();
        }
        for choices in combinations {
            let segments = segments_of(schema, &key.pattern.parts, &choices);
            let simple = choices.iter().all(Option::is_none);
            variants.push(Variant {
                key: key_index,
                choices,
                segments,
                simple,
            });
        }
    }
    variants
}

/// Flattens a pattern under the given layout choices and cuts it at separators.
fn segments_of(schema: &KeySchema, parts: &[PatternPart], choices: &[Option<usize>]) -> Vec<Segment> {
    let separator = schema.separator;
    let mut flat: Vec<Piece> = Vec::new();
    let mut choice = choices.iter();
    for part in parts {
        match part {
            PatternPart::Literal(text) => flat.push(Piece::Literal(text.as_bytes().into())),
            PatternPart::Param(param) => match choice.next().copied().flatten() {
                None => flat.push(Piece::Param(*param)),
                Some(layout) => {
                    for piece in &schema.params[*param].layouts[layout] {
                        flat.push(match piece {
                            LayoutPart::Literal(text) => Piece::Literal(text.as_bytes().into()),
                            LayoutPart::Param(p) => Piece::Param(*p),
                        });
                    }
                }
            },
        }
    }
    let mut segments = Vec::new();
    let mut current: Vec<Piece> = Vec::new();
    let push_literal = |current: &mut Vec<Piece>, bytes: &[u8]| {
        if bytes.is_empty() {
            return;
        }
        if let Some(Piece::Literal(previous)) = current.last_mut() {
            let mut joined = previous.to_vec();
            joined.extend_from_slice(bytes);
            *previous = joined.into();
        } else {
            current.push(Piece::Literal(bytes.into()));
        }
    };
    for piece in flat {
        match piece {
            Piece::Literal(bytes) => {
                let mut pieces = bytes.split(|&b| b == separator as u8);
                if let Some(first) = pieces.next() {
                    push_literal(&mut current, first);
                }
                for next in pieces {
                    segments.push(close_segment(schema, std::mem::take(&mut current)));
                    push_literal(&mut current, next);
                }
            }
            param => current.push(param),
        }
    }
    segments.push(close_segment(schema, current));
    segments
}

fn close_segment(schema: &KeySchema, mut pieces: Vec<Piece>) -> Segment {
    match pieces.as_slice() {
        [] => Segment::Literal(Box::default()),
        [Piece::Literal(_)] => match pieces.pop() {
            Some(Piece::Literal(bytes)) => Segment::Literal(bytes),
            _ => Segment::Literal(Box::default()),
        },
        [Piece::Param(param)] if schema.params[*param].spans => Segment::Spanning(*param),
        [Piece::Param(param)] => Segment::Param(*param),
        _ => Segment::Pieces(pieces),
    }
}
