//! Lint results: what the schema says about one key, in the form `keyschema lint --format json`
//! prints and the WebAssembly bindings return.

use crate::codec::{display_value, ParamValue};
use crate::diagnostics::Code;
use crate::matcher::Matcher;
use crate::model::{KeyDef, KeySchema, RedisKind};
use crate::slot::key_slot;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

mod table;
pub use table::{InputTooLarge, LintTable, LINT_CODES};

/// A decoded parameter value as it appears in a lint result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LintValue {
    /// Text, UUIDs, enum variants, addresses.
    Text(String),
    /// Integers and Unix times.
    Int(i64),
    /// A composite value: its parts by name.
    Parts(Vec<(String, Self)>),
}

impl Serialize for LintValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(text) => serializer.serialize_str(text),
            Self::Int(n) => serializer.serialize_i64(*n),
            Self::Parts(parts) => serialize_pairs(parts, serializer),
        }
    }
}

fn serialize_pairs<S: Serializer>(pairs: &[(String, LintValue)], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (name, value) in pairs {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

/// Decoded parameters serialised as `params` of a [`LintResult`] is: one JSON object, by name in
/// pattern order.
#[derive(Debug, Clone, Copy)]
pub struct ParamsObject<'a>(pub &'a [(String, LintValue)]);

impl Serialize for ParamsObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_pairs(self.0, serializer)
    }
}

/// One problem with a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintProblem {
    /// A stable code: `K001` no pattern matches, `K002` a parameter of the wrong type, `K003` a
    /// bad escape, `K004` an empty or oversized key, `K005` a key that is not UTF-8.
    pub code: Code,
    /// What is wrong.
    pub message: String,
}

/// Everything the schema says about one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintResult {
    /// The key as given.
    pub key: String,
    /// The index in [`KeySchema::keys`] of the matching key definition (not printed: `name` says
    /// it to people).
    #[serde(skip)]
    pub definition: Option<usize>,
    /// The code name of the matching key definition.
    pub name: Option<String>,
    /// The pattern as written in the schema.
    pub pattern: Option<String>,
    /// The decoded parameters by name.
    #[serde(serialize_with = "serialize_pairs")]
    pub params: Vec<(String, LintValue)>,
    /// The cluster hash slot (of any key, matched or not).
    pub slot: u16,
    /// The expected Redis type.
    #[serde(rename = "type")]
    pub redis_type: Option<RedisKind>,
    /// The TTL in whole seconds under the declared defaults, rounded down (kept for
    /// compatibility: `500ms` reads 0); `None` for keys that never expire. Prefer `ttl_ms`.
    pub ttl_seconds: Option<u64>,
    /// The TTL in milliseconds under the declared defaults; `None` for keys that never expire.
    pub ttl_ms: Option<u64>,
    /// Other patterns that match this key too: an ambiguity in the schema.
    pub also_matches: Vec<String>,
    /// What is wrong; empty when the key is valid.
    pub problems: Vec<LintProblem>,
}

/// What the lint results of all keys of one definition say alike: the fields of a matched
/// key's [`LintResult`] that do not depend on the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyFacts {
    /// The code name of the key definition.
    pub name: String,
    /// The pattern as written in the schema.
    pub pattern: String,
    /// The expected Redis type.
    #[serde(rename = "type")]
    pub redis_type: RedisKind,
    /// The TTL in whole seconds under the declared defaults, rounded down.
    pub ttl_seconds: Option<u64>,
    /// The TTL in milliseconds under the declared defaults.
    pub ttl_ms: Option<u64>,
}

impl KeyFacts {
    /// The facts of `def`.
    pub fn of(def: &KeyDef) -> Self {
        Self {
            name: def.name.clone(),
            pattern: def.pattern.template.clone(),
            redis_type: def.redis_type.kind(),
            ttl_seconds: def.ttl.default_millis().map(|m| m.as_secs()),
            ttl_ms: def.ttl.default_millis().map(|m| m.0),
        }
    }
}

impl LintResult {
    /// The result for a key that matches no pattern: its slot and one problem.
    pub fn unmatched(key: String, slot: u16, code: Code, message: String) -> Self {
        Self {
            key,
            definition: None,
            name: None,
            pattern: None,
            params: Vec::new(),
            slot,
            redis_type: None,
            ttl_seconds: None,
            ttl_ms: None,
            also_matches: Vec::new(),
            problems: vec![LintProblem { code, message }],
        }
    }

    /// Whether the key has a problem.
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }
}

fn lint_value(schema: &KeySchema, param: usize, value: &ParamValue<'_>) -> LintValue {
    match value {
        ParamValue::Int(n) => LintValue::Int(*n),
        ParamValue::Layout { parts, .. } => LintValue::Parts(
            parts
                .iter()
                .map(|(p, v)| (schema.params[*p].name.clone(), lint_value(schema, *p, v)))
                .collect(),
        ),
        other => LintValue::Text(display_value(&schema.params[param], other)),
    }
}

/// Lints one key.
pub(crate) fn lint(schema: &KeySchema, matcher: &Matcher, key: &str) -> LintResult {
    match matcher.match_key(key) {
        Ok(found) => {
            let def = &schema.keys[found.key];
            let facts = KeyFacts::of(def);
            LintResult {
                key: key.to_string(),
                definition: Some(found.key),
                name: Some(facts.name),
                pattern: Some(facts.pattern),
                params: found
                    .values
                    .iter()
                    .map(|(param, value)| (schema.params[*param].name.clone(), lint_value(schema, *param, value)))
                    .collect(),
                slot: found.slot,
                redis_type: Some(facts.redis_type),
                ttl_seconds: facts.ttl_seconds,
                ttl_ms: facts.ttl_ms,
                also_matches: found
                    .also_matches
                    .iter()
                    .map(|&k| schema.keys[k].pattern.template.clone())
                    .collect(),
                problems: Vec::new(),
            }
        }
        Err(failure) => LintResult::unmatched(key.to_string(), key_slot(key.as_bytes()), failure.code, failure.message),
    }
}

/// The longest key the linter reads; longer ones are reported, not matched.
pub const MAX_KEY_LEN: usize = 64 * 1024;

/// Why raw bytes cannot be matched at all: checked before the matcher runs.
pub(crate) enum Unreadable {
    /// Longer than [`MAX_KEY_LEN`].
    TooLong,
    /// Not UTF-8; valid up to this byte.
    NotUtf8(usize),
}

impl Unreadable {
    pub(crate) fn code(&self) -> Code {
        match self {
            Self::TooLong => Code::KeyOutOfBounds,
            Self::NotUtf8(_) => Code::KeyNotUtf8,
        }
    }
}

/// The key as text, or why the linter does not read it.
#[inline]
pub(crate) fn readable(key: &[u8]) -> Result<&str, Unreadable> {
    if key.len() > MAX_KEY_LEN {
        return Err(Unreadable::TooLong);
    }
    std::str::from_utf8(key).map_err(|error| Unreadable::NotUtf8(error.valid_up_to()))
}

/// Lints raw bytes: a key too long or not UTF-8 is a problem of that key, not a failure.
pub(crate) fn lint_bytes(schema: &KeySchema, matcher: &Matcher, key: &[u8]) -> LintResult {
    match readable(key) {
        Ok(text) => lint(schema, matcher, text),
        Err(unreadable) => {
            let (shown, message) = match unreadable {
                Unreadable::TooLong => (
                    format!("{}…", String::from_utf8_lossy(&key[..64])),
                    format!(
                        "key is {} bytes, longer than the {MAX_KEY_LEN} the linter reads",
                        key.len()
                    ),
                ),
                Unreadable::NotUtf8(valid_up_to) => (
                    String::from_utf8_lossy(key).into_owned(),
                    format!("key is not valid UTF-8 (byte {valid_up_to}); schema keys are UTF-8"),
                ),
            };
            LintResult::unmatched(shown, key_slot(key), unreadable.code(), message)
        }
    }
}
