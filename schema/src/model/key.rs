//! Keys: their patterns, Redis types, codecs, TTLs and the primitives they implement.

use super::primitive::Primitive;
use super::ttl::TtlPolicy;
use crate::diagnostics::Span;
use serde::{Deserialize, Serialize};

/// A piece of a key pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PatternPart {
    /// Literal bytes, separators and hash-tag braces included.
    Literal(String),
    /// A parameter, by index in [`crate::KeySchema::params`].
    Param(usize),
}

/// The hash tag of a pattern: the part Redis hashes to pick the slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct HashTag {
    /// The text between the braces as written (`<jobID>`): keys with equal templates form a
    /// [`SlotGroup`](crate::SlotGroup).
    pub template: String,
    /// Whether the tag has no parameter, so every key of the pattern lands on one slot.
    pub literal_only: bool,
}

/// A key pattern: literal text and typed placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct KeyPattern {
    /// The pattern as it is in effect (`job:{<jobID>}:state`), group tags applied.
    pub template: String,
    /// Its pieces in order.
    pub parts: Vec<PatternPart>,
    /// Its hash tag, if it has one.
    pub hash_tag: Option<HashTag>,
}

impl KeyPattern {
    /// The parameters in order of appearance.
    pub fn params(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|part| match part {
            PatternPart::Param(index) => Some(*index),
            PatternPart::Literal(_) => None,
        })
    }
}

/// How a value is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "kind", content = "type", rename_all = "snake_case")]
pub enum Codec {
    /// serde_json of the named type.
    Json(String),
    /// Binary protobuf of the named message.
    Proto(String),
    /// UTF-8 text.
    Text,
    /// Raw bytes.
    Bytes,
    /// A signed 64-bit integer in decimal (what INCR works on).
    Int,
    /// A float in decimal.
    Float,
    /// The value of a parameter (an index member that names another key's parameter).
    Param(usize),
    /// A codec the service defines: a Rust path to a type implementing the store's `Codec`
    /// trait (`codec(crate::state::StateCodec)`).
    Custom(String),
    /// Another codec's bytes compressed with LZ4 (`lz4(json(DeviceState))`).
    Lz4(Box<Self>),
}

impl Codec {
    /// The JSON type named by this codec, looking through compression (`lz4(json(State))`).
    pub fn json_type(&self) -> Option<&str> {
        match self {
            Self::Json(name) => Some(name),
            Self::Lz4(inner) => inner.json_type(),
            _ => None,
        }
    }

    /// The codec as written in the language (`json(JobState)`, `lz4(json(State))`); parameters
    /// are named through `param_name`.
    pub fn display_with(&self, param_name: &dyn Fn(usize) -> String) -> String {
        match self {
            Self::Json(t) => format!("json({t})"),
            Self::Proto(t) => format!("proto({t})"),
            Self::Text => "text".into(),
            Self::Bytes => "bytes".into(),
            Self::Int => "int".into(),
            Self::Float => "float".into(),
            Self::Param(p) => param_name(*p),
            Self::Custom(path) => format!("codec({path})"),
            Self::Lz4(inner) => format!("lz4({})", inner.display_with(param_name)),
        }
    }
}

/// What a sorted set's score means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// Unix time in seconds.
    Time,
    /// Unix time in milliseconds.
    TimeMs,
    /// An integer.
    Int,
    /// A float.
    Float,
}

impl ScoreKind {
    /// Parses the name used after `score`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "time" => Self::Time,
            "time_ms" => Self::TimeMs,
            "int" => Self::Int,
            "float" => Self::Float,
            _ => return None,
        })
    }
}

/// A declared hash field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct HashField {
    /// The field name in Redis.
    pub name: String,
    /// Its codec.
    pub codec: Codec,
}

/// The fields and values of a hash used as a map (`hash member assetID json(Asset)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct HashEntries {
    /// What field names are (usually a parameter).
    pub field: Codec,
    /// How values are stored.
    pub value: Codec,
}

/// The Redis type of a key and what its values are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RedisType {
    /// A string value.
    String {
        /// How the value is stored.
        codec: Codec,
    },
    /// A hash: declared fields (a record), or entries keyed by a parameter (a map).
    Hash {
        /// The declared fields of a record hash.
        fields: Vec<HashField>,
        /// For a map hash: what its field names and values are.
        entries: Option<HashEntries>,
    },
    /// A list, optionally capped to its newest `cap` elements.
    List {
        /// How elements are stored.
        codec: Codec,
        /// The most elements kept.
        cap: Option<u64>,
    },
    /// A set.
    Set {
        /// How members are stored.
        member: Codec,
    },
    /// A sorted set.
    Zset {
        /// How members are stored.
        member: Codec,
        /// What the score means.
        score: ScoreKind,
        /// The most members kept (lowest scores are trimmed first).
        cap: Option<u64>,
    },
    /// A stream.
    Stream {
        /// How entries are stored.
        codec: Codec,
        /// Approximate MAXLEN.
        cap: Option<u64>,
    },
}

/// The kind of a Redis value, without what the schema says about its contents: what `TYPE`
/// answers, and what a lint result reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisKind {
    /// A string.
    String,
    /// A hash.
    Hash,
    /// A list.
    List,
    /// A set.
    Set,
    /// A sorted set.
    Zset,
    /// A stream.
    Stream,
}

impl RedisKind {
    /// The type name Redis's `TYPE` command answers (`zset`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Hash => "hash",
            Self::List => "list",
            Self::Set => "set",
            Self::Zset => "zset",
            Self::Stream => "stream",
        }
    }

    /// The kind a `TYPE` reply names; `None` for `none` and types the schema language has no
    /// word for.
    pub fn from_type_reply(reply: &str) -> Option<Self> {
        [
            Self::String,
            Self::Hash,
            Self::List,
            Self::Set,
            Self::Zset,
            Self::Stream,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == reply)
    }
}

impl std::fmt::Display for RedisKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RedisType {
    /// The kind of value, without its contents.
    pub fn kind(&self) -> RedisKind {
        match self {
            Self::String { .. } => RedisKind::String,
            Self::Hash { .. } => RedisKind::Hash,
            Self::List { .. } => RedisKind::List,
            Self::Set { .. } => RedisKind::Set,
            Self::Zset { .. } => RedisKind::Zset,
            Self::Stream { .. } => RedisKind::Stream,
        }
    }

    /// The type name Redis's `TYPE` command answers.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The name used in inventory tables (`Sorted Set`).
    pub fn display_name(&self) -> &'static str {
        match self {
            Self::String { .. } => "String",
            Self::Hash { .. } => "Hash",
            Self::List { .. } => "List",
            Self::Set { .. } => "Set",
            Self::Zset { .. } => "Sorted Set",
            Self::Stream { .. } => "Stream",
        }
    }

    /// Whether the key is a collection that can grow without a declared bound.
    pub fn is_unbounded_collection(&self) -> bool {
        match self {
            Self::String { .. } => false,
            Self::Hash { entries, .. } => entries.is_some(),
            Self::Set { .. } => true,
            Self::List { cap, .. } | Self::Zset { cap, .. } | Self::Stream { cap, .. } => cap.is_none(),
        }
    }
}

/// Whether a write refreshes the TTL or keeps the one set when the key was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum TtlOnWrite {
    /// Every write sets the TTL again (the default).
    Refresh,
    /// Writes keep the TTL set at creation (`keepttl`).
    Keep,
}

/// A declared key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDef {
    /// The name code uses (`job_state`), derived from the literals or set with `as`.
    pub name: String,
    /// The pattern.
    pub pattern: KeyPattern,
    /// The Redis type and value codec.
    pub redis_type: RedisType,
    /// How long keys live.
    pub ttl: TtlPolicy,
    /// Whether writes refresh the TTL.
    pub ttl_on_write: TtlOnWrite,
    /// What the key is for.
    pub purpose: String,
    /// The group it belongs to, by index in [`crate::KeySchema::groups`].
    pub group: Option<usize>,
    /// The coordination primitive it implements.
    pub primitive: Option<Primitive>,
    /// Who owns it.
    pub owner: Option<String>,
    /// The largest value (member, field, entry) one write may send, in bytes (`max 1mb`); `None`:
    /// the server's own limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<u64>,
    /// Where it is declared.
    #[serde(skip)]
    pub span: Span,
}

/// Everything but where the key is declared: two schemas that differ only by layout or comments
/// describe the same keys.
impl std::hash::Hash for KeyDef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Self {
            name,
            pattern,
            redis_type,
            ttl,
            ttl_on_write,
            purpose,
            group,
            primitive,
            owner,
            max_value,
            span: _,
        } = self;
        (name, pattern, redis_type, ttl, ttl_on_write, purpose).hash(state);
        (group, primitive, owner).hash(state);
        // Only when declared, so that schemas without `max` keep their fingerprints.
        if let Some(max) = max_value {
            max.hash(state);
        }
    }
}

/// A group of keys with shared defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct Group {
    /// Its name.
    pub name: String,
    /// What it is.
    pub purpose: Option<String>,
    /// Its keys, by index in [`crate::KeySchema::keys`].
    pub keys: Vec<usize>,
}

/// A service and the keys it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// What it is or how it degrades.
    pub purpose: Option<String>,
    /// Keys it reads, by index in [`crate::KeySchema::keys`].
    pub reads: Vec<usize>,
    /// Keys it writes.
    pub writes: Vec<usize>,
}
