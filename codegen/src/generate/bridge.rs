//! Bridge reads from a previous layout ([`crate::Config::previous`]): for each key of the
//! schema, the key of the previous schema it continues, and whether the two can be read as one.
//! A key is bridged when its pattern (or, for a string, its codec) changed while its Redis type,
//! its parameters and what its values are stayed the same; the generated key type then formats
//! the previous key too (`to_previous_key`), and the accessor hands it to the runtime.

use super::{doc, Generator, ALLOW, RT};
use keyschema::{Codec, KeyDef, KeySchema, LockHold, ParamType, Primitive, RedisType};
use std::fmt::Write as _;

macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// The previous schema a store bridges from.
pub(crate) struct PreviousSchema<'a> {
    /// Its checked model.
    pub(crate) schema: &'a KeySchema,
    /// Its ambiguities, for its embedded model.
    pub(crate) ambiguities: &'a [(usize, usize)],
    /// How the generated file names it (`cordum.keys`).
    pub(crate) name: String,
}

/// What becomes of one key of the schema during the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bridge {
    /// The previous schema writes it at the same place and in the same form (or not at all):
    /// nothing to bridge.
    Unchanged,
    /// Read as one with the previous schema's key `old`; `recode` is the previous codec of a
    /// string whose codec changed (same value type).
    From {
        /// The previous key definition, by index.
        old: usize,
        /// The previous codec, when it differs.
        recode: Option<Codec>,
    },
    /// It moved or changed in a way the store cannot read across: why, and what to do.
    Not(String),
}

/// The bridge of every key of `new` from `old`, by index of `new`'s keys.
pub(crate) fn plan(old: &KeySchema, new: &KeySchema) -> Vec<Bridge> {
    new.keys.iter().map(|key| bridge_of(old, new, key)).collect()
}

/// The keys of `new` that changed since `old` in a way the store cannot bridge, with why.
pub(crate) fn not_bridged(old: &KeySchema, new: &KeySchema) -> Vec<String> {
    plan(old, new)
        .into_iter()
        .zip(&new.keys)
        .filter_map(|(bridge, key)| match bridge {
            Bridge::Not(why) => Some(format!("`{}` is not bridged: {why}", key.name)),
            _ => None,
        })
        .collect()
}

fn bridge_of(old: &KeySchema, new: &KeySchema, key: &KeyDef) -> Bridge {
    if matches!(key.primitive, Some(Primitive::Companion { .. })) {
        return Bridge::Unchanged; // Follows the key it serves.
    }
    // The key it continues: the same code name, or else the same pattern renamed.
    let Some((index, was)) = old
        .keys
        .iter()
        .enumerate()
        .find(|(_, k)| k.name == key.name)
        .or_else(|| {
            old.keys
                .iter()
                .enumerate()
                .find(|(_, k)| k.pattern.template == key.pattern.template)
        })
    else {
        return Bridge::Unchanged; // A new key: nothing was written before.
    };
    let moved = was.pattern.template != key.pattern.template;
    let string_codecs = match (&was.redis_type, &key.redis_type) {
        (RedisType::String { codec: a }, RedisType::String { codec: b }) => Some((a, b)),
        _ => None,
    };
    let recoded = string_codecs.is_some_and(|(a, b)| codec_text(old, a) != codec_text(new, b));
    let same_kind = was.redis_type.kind() == key.redis_type.kind();
    if !moved && !recoded && same_kind && encoding(old, &was.redis_type) == encoding(new, &key.redis_type) {
        return Bridge::Unchanged;
    }
    let migrate = "copy its keys with `keyschema migrate` before the previous version stops";
    if !same_kind {
        return Bridge::Not(format!(
            "its Redis type changes ({} to {}); {migrate}",
            was.redis_type.kind().as_str(),
            key.redis_type.kind().as_str()
        ));
    }
    if !same_params(old, was, new, key) {
        return Bridge::Not(format!(
            "its parameters change ({} to {}), so a key of one layout is not a key of the other; {migrate}",
            was.pattern.template, key.pattern.template
        ));
    }
    if let Some(why) = primitive_not_bridged(was, key) {
        return Bridge::Not(format!("{why}; {migrate}, or stop the previous version first"));
    }
    match string_codecs {
        Some((before, after)) if recoded && (value_of(before).is_none() || value_of(before) != value_of(after)) => {
            Bridge::Not(format!(
                "its value changes type ({} to {}), so the store cannot decode the old values as new ones; {migrate}",
                codec_text(old, before),
                codec_text(new, after)
            ))
        }
        Some((before, _)) if recoded => Bridge::From {
            old: index,
            recode: Some(before.clone()),
        },
        Some(_) => Bridge::From {
            old: index,
            recode: None,
        },
        None if encoding(old, &was.redis_type) != encoding(new, &key.redis_type) => Bridge::Not(format!(
            "what its {} holds is encoded differently; {migrate}",
            key.redis_type.kind().as_str()
        )),
        None => Bridge::From {
            old: index,
            recode: None,
        },
    }
}

/// The same parameters, by name and type, in both patterns (in any order): then a key of one
/// layout is exactly one key of the other.
fn same_params(old: &KeySchema, was: &KeyDef, new: &KeySchema, key: &KeyDef) -> bool {
    let names = |schema: &KeySchema, key: &KeyDef| {
        let mut params: Vec<(String, ParamType, Vec<String>)> = key
            .pattern
            .params()
            .map(|p| {
                let param = &schema.params[p];
                (param.name.clone(), param.ty.clone(), param.except.clone())
            })
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        params
    };
    names(old, was) == names(new, key) && same_layouts(old, new, key)
}

/// Composite parameters (`uuid | <runID>:<stepID>@<attempt>`) carry their parts by index in the
/// schema's parameters, so both schemas must declare each part alike at the same index.
fn same_layouts(old: &KeySchema, new: &KeySchema, key: &KeyDef) -> bool {
    key.pattern.params().all(|p| {
        let param = &new.params[p];
        let parts = param.layouts.iter().flatten().filter_map(|part| match part {
            keyschema::LayoutPart::Param(index) => Some(*index),
            keyschema::LayoutPart::Literal(_) => None,
        });
        let was = old.params.iter().find(|q| q.name == param.name);
        param.layouts.is_empty()
            || (was == Some(param) && parts.into_iter().all(|i| old.params.get(i) == new.params.get(i)))
    })
}

/// Why a primitive's keys are not bridged, if they are not: locks, leases and rate limits are
/// (taken or counted on both keys); the others keep state the runtime cannot read across.
fn primitive_not_bridged(was: &KeyDef, key: &KeyDef) -> Option<String> {
    let kind = |key: &KeyDef| match &key.primitive {
        None | Some(Primitive::Index { .. }) => Some("plain"),
        Some(Primitive::Lock {
            hold: LockHold::Release,
        }) => Some("lock"),
        Some(Primitive::Lock { hold: LockHold::Lease }) => Some("lease"),
        Some(Primitive::RateLimit(_)) => Some("rate limit"),
        _ => None,
    };
    match (kind(was), kind(key)) {
        (Some(a), Some(b)) if a == b => None,
        (Some(_), Some(_)) => Some("it becomes another kind of key".to_string()),
        _ => Some(format!(
            "{} keeps state the store cannot read across layouts",
            primitive_name(key.primitive.as_ref())
        )),
    }
}

fn primitive_name(primitive: Option<&Primitive>) -> &'static str {
    match primitive {
        Some(Primitive::Idempotency) => "an idempotency key",
        Some(Primitive::Breaker(_)) => "a breaker",
        Some(Primitive::Timers { .. }) => "a timer queue",
        Some(Primitive::DlqEntry { .. } | Primitive::DlqIndex { .. }) => "a dead-letter queue",
        Some(Primitive::Cache(_)) => "a cache",
        Some(Primitive::State(_)) => "a state key",
        _ => "this key",
    }
}

/// What a key's values are, as text (a parameter codec by its parameter's type, since indexes
/// differ between schemas): equal when one layout's bytes read as the other's.
fn encoding(schema: &KeySchema, redis_type: &RedisType) -> Vec<String> {
    let text = |codec: &Codec| codec_text(schema, codec);
    match redis_type {
        RedisType::String { codec } | RedisType::List { codec, .. } | RedisType::Stream { codec, .. } => {
            vec![text(codec)]
        }
        RedisType::Set { member } => vec![text(member)],
        RedisType::Zset { member, score, .. } => vec![text(member), format!("{score:?}")],
        RedisType::Hash {
            entries: Some(entries), ..
        } => vec![text(&entries.field), text(&entries.value)],
        RedisType::Hash { fields, .. } => fields
            .iter()
            .map(|field| format!("{}={}", field.name, text(&field.codec)))
            .collect(),
    }
}

/// The value type a codec reads and writes, when two codecs can share it: `json(T)` and
/// `proto(T)` give `T`, compression does not change it; a service's own codec has a type the
/// generator cannot compare (`None`).
fn value_of(codec: &Codec) -> Option<String> {
    match codec {
        Codec::Json(name) | Codec::Proto(name) => Some(format!("type {name}")),
        Codec::Text => Some("text".into()),
        Codec::Bytes => Some("bytes".into()),
        Codec::Int => Some("int".into()),
        Codec::Float => Some("float".into()),
        Codec::Lz4(inner) => value_of(inner),
        Codec::Param(_) | Codec::Custom(_) => None,
    }
}

fn codec_text(schema: &KeySchema, codec: &Codec) -> String {
    match codec {
        Codec::Param(index) => format!("param({:?})", schema.params[*index].ty),
        Codec::Lz4(inner) => format!("lz4({})", codec_text(schema, inner)),
        other => format!("{other:?}"),
    }
}

impl Generator<'_> {
    /// The bridge of key definition `index` (none without a previous schema).
    pub(super) fn bridge(&self, index: usize) -> Option<(usize, Option<&Codec>)> {
        match self.bridges.get(index)? {
            Bridge::From { old, recode } => Some((*old, recode.as_ref())),
            _ => None,
        }
    }

    /// Whether any key is bridged (the store then has `bridging`).
    pub(super) fn bridges_any(&self) -> bool {
        self.bridges.iter().any(|bridge| matches!(bridge, Bridge::From { .. }))
    }

    /// The previous schema's embedded model (`PREVIOUS`) and `previous_schema()`.
    pub(super) fn previous_contract(&self, out: &mut String) {
        let Some(previous) = &self.previous else { return };
        let fingerprint = keyschema::model_fingerprint(previous.schema, keyschema::CONTRACT_TAG);
        let ambiguities: Vec<String> = previous
            .ambiguities
            .iter()
            .map(|(a, b)| format!("({a}, {b})"))
            .collect();
        line!(out, "");
        doc(
            out,
            &format!(
                "The model of the previous layout, {}, that this store bridges from: it formats the keys the previous version wrote. Generate without the previous schema to end the bridge.",
                previous.name
            ),
        );
        line!(out, "{ALLOW}");
        line!(
            out,
            "pub static PREVIOUS: {RT}::GeneratedSchema = {RT}::GeneratedSchema::new({:?}, {:?}, {}, previous_model, &[{}]);",
            previous.name,
            keyschema::VERSION,
            super::model_literal::grouped_hex(fingerprint),
            ambiguities.join(", ")
        );
        line!(out, "");
        line!(out, "/// The previous layout's model, built from constructors.");
        line!(out, "#[allow(clippy::too_many_lines, clippy::large_stack_arrays)]");
        line!(out, "fn previous_model() -> {RT}::keyschema::KeySchema {{");
        line!(out, "    {}", super::model_literal::function_body(previous.schema));
        line!(out, "}}");
        line!(out, "");
        line!(
            out,
            "/// The previous layout's schema, loaded once from [`PREVIOUS`], for `to_previous_key`."
        );
        line!(out, "{ALLOW}");
        line!(out, "pub fn previous_schema() -> &'static {RT}::keyschema::Schema {{");
        line!(out, "    PREVIOUS.keys()");
        line!(out, "}}");
    }

    /// `to_previous_key()` on a bridged key's type: the key the previous layout wrote for the
    /// same values.
    pub(super) fn previous_key_method(&self, out: &mut String, index: usize, key: &KeyDef) {
        let (Some((old, _)), Some(previous)) = (self.bridge(index), &self.previous) else {
            return;
        };
        let was = &previous.schema.keys[old];
        let values: Vec<String> = was
            .pattern
            .params()
            .map(|p| {
                let name = &previous.schema.params[p].name;
                format!(
                    "{RT}::__generated::KeyParam::to_param(&self.{})",
                    crate::names::snake(name)
                )
            })
            .collect();
        doc(
            out,
            &format!(
                "The key {} wrote for the same values (`{}`), read while the layout changes; an error when the previous layout refuses these values (then it wrote no such key).",
                previous.name, was.pattern.template
            ),
        );
        if key.pattern.params().next().is_none() {
            line!(out, "    #[allow(clippy::unused_self)]");
        }
        line!(
            out,
            "    pub fn to_previous_key(&self) -> Result<String, {RT}::keyschema::FormatError> {{"
        );
        line!(
            out,
            "        {RT}::__generated::format_key(previous_schema(), {RT}::KeyId::new({old}), &[{}])",
            values.join(", ")
        );
        line!(out, "    }}");
    }

    /// The call that bridges an accessor built from `value` (a key type's value): appended to
    /// the accessor's construction.
    pub(super) fn bridged_call(&self, index: usize, value: &str) -> String {
        match self.bridge(index) {
            Some((_, Some(codec))) => {
                format!(
                    ".bridged_from::<{}>({value}.to_previous_key().ok())",
                    self.codec_type(codec)
                )
            }
            Some((_, None)) => format!(".bridged({value}.to_previous_key().ok())"),
            None => String::new(),
        }
    }

    /// The doc line of an accessor whose key changed but is not bridged.
    pub(super) fn not_bridged_doc(&self, out: &mut String, index: usize) {
        if let (Some(Bridge::Not(why)), Some(previous)) = (self.bridges.get(index), &self.previous) {
            line!(out, "    ///");
            doc(out, &format!("Not bridged from {}: {why}.", previous.name));
        }
    }

    /// The keys that changed but are not bridged, with why: printed as build warnings.
    pub(crate) fn unbridged(&self) -> Vec<String> {
        match &self.previous {
            Some(previous) => not_bridged(previous.schema, self.schema),
            None => Vec::new(),
        }
    }

    /// The store's `bridging` method, when a key is bridged.
    pub(super) fn bridging_method(&self, out: &mut String) {
        let Some(previous) = &self.previous else { return };
        if !self.bridges_any() {
            return;
        }
        line!(out, "");
        doc(
            out,
            &format!(
                "The same store handling keys of the previous layout ({}) as `mode` says: `BridgeMode::Fallback` (the default) while instances of the previous version run, `BridgeMode::Move` once none does.",
                previous.name
            ),
        );
        line!(out, "    #[must_use]");
        line!(out, "    pub fn bridging(&self, mode: {RT}::BridgeMode) -> Self {{");
        line!(out, "        Self {{ store: self.store.bridging(mode) }}");
        line!(out, "    }}");
    }
}
