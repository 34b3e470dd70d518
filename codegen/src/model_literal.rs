//! The checked model as a Rust expression, so a generated module builds its model at start-up
//! from constructors: no text is parsed and nothing is checked again.
//!
//! Every struct is destructured exhaustively, so a field added to the model fails to compile here
//! rather than going missing from generated code.

use keyschema::{
    BreakerPolicy, CachePolicy, CacheStats, Companion, Fallback, LockHold, RateAlgorithm, RateLimitPolicy,
    SingleFlight, StatePolicy,
};
use keyschema::{
    Codec, EnumCase, Group, HashEntries, HashField, HashTag, KeyDef, KeyPattern, KeySchema, LayoutPart, Millis, Param,
    ParamType, PatternPart, Primitive, RedisType, ScoreKind, Service, TimeUnit, TtlOnWrite, TtlPolicy,
};
use std::fmt::Write as _;

/// The model's types, by the alias the generated function imports
/// (`use ::keyschema_store::keyschema as ks;`).
const KS: &str = "ks";

/// A value that can be written as a Rust expression building it.
pub(crate) trait ToRust {
    fn to_rust(&self, out: &mut String);
}

/// The body of a function returning `model`: the alias import, then the expression.
pub(crate) fn function_body(model: &KeySchema) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("use ::keyschema_store::keyschema as ks;\n");
    model.to_rust(&mut out);
    out
}

impl ToRust for String {
    fn to_rust(&self, out: &mut String) {
        // `{:?}` of a str is a valid Rust string literal (quotes, backslashes and control
        // characters escaped); every string of the model is a `String` field or element.
        let _ = write!(out, "{self:?}.into()");
    }
}

impl ToRust for char {
    fn to_rust(&self, out: &mut String) {
        let _ = write!(out, "{self:?}");
    }
}

impl ToRust for bool {
    fn to_rust(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl ToRust for $t {
            fn to_rust(&self, out: &mut String) {
                out.push_str(&grouped(u64::from(*self)));
            }
        }
    )*};
}
numbers!(u32, u64);

impl ToRust for usize {
    fn to_rust(&self, out: &mut String) {
        out.push_str(&grouped(*self as u64));
    }
}

/// A number as a literal a reader (and clippy's `unreadable_literal`) can read: digits in groups
/// of three from 100,000 on (`604_800_000`).
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    if n < 100_000 {
        return digits;
    }
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('_');
        }
        out.push(digit);
    }
    out
}

/// A 64-bit fingerprint as a hex literal in groups of four (`0x9ae1_b927_1aa3_58f8`).
pub(crate) fn grouped_hex(n: u64) -> String {
    let hex = format!("{n:016x}");
    let groups: Vec<&str> = (0..4).map(|i| &hex[i * 4..i * 4 + 4]).collect();
    format!("0x{}", groups.join("_"))
}

impl<T: ToRust> ToRust for Vec<T> {
    fn to_rust(&self, out: &mut String) {
        if self.is_empty() {
            out.push_str("Vec::new()");
            return;
        }
        // From an array rather than `vec![]`: formatters lay out arrays, not macro arguments.
        out.push_str("Vec::from([");
        for item in self {
            item.to_rust(out);
            out.push_str(", ");
        }
        out.push_str("])");
    }
}

impl<T: ToRust> ToRust for Option<T> {
    fn to_rust(&self, out: &mut String) {
        match self {
            None => out.push_str("None"),
            Some(value) => {
                out.push_str("Some(");
                value.to_rust(out);
                out.push(')');
            }
        }
    }
}

impl<T: ToRust> ToRust for Box<T> {
    fn to_rust(&self, out: &mut String) {
        out.push_str("Box::new(");
        self.as_ref().to_rust(out);
        out.push(')');
    }
}

/// `Path { field: value, ... }` for a struct whose fields are all written.
macro_rules! structs {
    ($($name:ident { $($field:ident),* }),* $(,)?) => {$(
        impl ToRust for $name {
            fn to_rust(&self, out: &mut String) {
                let Self { $($field),* } = self;
                let _ = write!(out, "{KS}::{} {{", stringify!($name));
                $(
                    out.push_str(concat!(stringify!($field), ": "));
                    $field.to_rust(out);
                    out.push(',');
                )*
                out.push('}');
            }
        }
    )*};
}

structs!(
    KeySchema {
        keyspace,
        separator,
        params,
        keys,
        groups,
        services,
        standalone
    },
    Param {
        name,
        ty,
        except,
        spans,
        layouts
    },
    KeyPattern {
        template,
        parts,
        hash_tag
    },
    HashTag { template, literal_only },
    HashField { name, codec },
    HashEntries { field, value },
    Group { name, purpose, keys },
    Service {
        name,
        purpose,
        reads,
        writes
    },
    RateLimitPolicy { algorithm, fallback },
    BreakerPolicy {
        threshold,
        open_for,
        close_after
    },
    CachePolicy {
        stats,
        single_flight,
        refresh_early
    },
    StatePolicy { ttl_factor, max_age },
);

impl ToRust for KeyDef {
    fn to_rust(&self, out: &mut String) {
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
        let _ = write!(out, "{KS}::KeyDef {{ name: ");
        name.to_rust(out);
        for (field, value) in [
            ("pattern", pattern as &dyn ToRust),
            ("redis_type", redis_type),
            ("ttl", ttl),
            ("ttl_on_write", ttl_on_write),
            ("purpose", purpose),
            ("group", group),
            ("primitive", primitive),
            ("owner", owner),
            ("max_value", max_value),
        ] {
            let _ = write!(out, ", {field}: ");
            value.to_rust(out);
        }
        // Where the key was declared is of no use at run time.
        let _ = write!(out, ", span: {KS}::Span::default() }}");
    }
}

/// A variant without data: `Path::Variant`.
fn unit(out: &mut String, ty: &str, variant: &str) {
    let _ = write!(out, "{KS}::{ty}::{variant}");
}

/// A tuple variant with one value: `Path::Variant(value)`.
fn tuple(out: &mut String, ty: &str, variant: &str, value: &dyn ToRust) {
    let _ = write!(out, "{KS}::{ty}::{variant}(");
    value.to_rust(out);
    out.push(')');
}

/// A struct variant: `Path::Variant { field: value, ... }`.
fn fields(out: &mut String, ty: &str, variant: &str, values: &[(&str, &dyn ToRust)]) {
    let _ = write!(out, "{KS}::{ty}::{variant} {{");
    for (field, value) in values {
        let _ = write!(out, "{field}: ");
        value.to_rust(out);
        out.push(',');
    }
    out.push('}');
}

impl ToRust for ParamType {
    fn to_rust(&self, out: &mut String) {
        match self {
            Self::Text => unit(out, "ParamType", "Text"),
            Self::Ident => unit(out, "ParamType", "Ident"),
            Self::Int => unit(out, "ParamType", "Int"),
            Self::Uuid => unit(out, "ParamType", "Uuid"),
            Self::UnixSeconds => unit(out, "ParamType", "UnixSeconds"),
            Self::Ip => unit(out, "ParamType", "Ip"),
            Self::Enum { variants, case } => {
                fields(out, "ParamType", "Enum", &[("variants", variants), ("case", case)]);
            }
        }
    }
}

impl ToRust for EnumCase {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::AsDeclared => "AsDeclared",
            Self::Lower => "Lower",
            Self::Upper => "Upper",
        };
        unit(out, "EnumCase", variant);
    }
}

impl ToRust for LayoutPart {
    fn to_rust(&self, out: &mut String) {
        match self {
            Self::Literal(text) => tuple(out, "LayoutPart", "Literal", text),
            Self::Param(index) => tuple(out, "LayoutPart", "Param", index),
        }
    }
}

impl ToRust for PatternPart {
    fn to_rust(&self, out: &mut String) {
        match self {
            Self::Literal(text) => tuple(out, "PatternPart", "Literal", text),
            Self::Param(index) => tuple(out, "PatternPart", "Param", index),
        }
    }
}

impl ToRust for Codec {
    fn to_rust(&self, out: &mut String) {
        match self {
            Self::Json(name) => tuple(out, "Codec", "Json", name),
            Self::Proto(name) => tuple(out, "Codec", "Proto", name),
            Self::Text => unit(out, "Codec", "Text"),
            Self::Bytes => unit(out, "Codec", "Bytes"),
            Self::Int => unit(out, "Codec", "Int"),
            Self::Float => unit(out, "Codec", "Float"),
            Self::Param(index) => tuple(out, "Codec", "Param", index),
            Self::Custom(path) => tuple(out, "Codec", "Custom", path),
            Self::Lz4(inner) => tuple(out, "Codec", "Lz4", inner),
        }
    }
}

impl ToRust for ScoreKind {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::Time => "Time",
            Self::TimeMs => "TimeMs",
            Self::Int => "Int",
            Self::Float => "Float",
        };
        unit(out, "ScoreKind", variant);
    }
}

impl ToRust for RedisType {
    fn to_rust(&self, out: &mut String) {
        match self {
            Self::String { codec } => fields(out, "RedisType", "String", &[("codec", codec)]),
            Self::Hash {
                fields: record,
                entries,
            } => {
                fields(out, "RedisType", "Hash", &[("fields", record), ("entries", entries)]);
            }
            Self::List { codec, cap } => fields(out, "RedisType", "List", &[("codec", codec), ("cap", cap)]),
            Self::Set { member } => fields(out, "RedisType", "Set", &[("member", member)]),
            Self::Zset { member, score, cap } => fields(
                out,
                "RedisType",
                "Zset",
                &[("member", member), ("score", score), ("cap", cap)],
            ),
            Self::Stream { codec, cap } => fields(out, "RedisType", "Stream", &[("codec", codec), ("cap", cap)]),
        }
    }
}

impl ToRust for Millis {
    fn to_rust(&self, out: &mut String) {
        let _ = write!(out, "{KS}::Millis({})", grouped(self.0));
    }
}

impl ToRust for TimeUnit {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::Millis => "Millis",
            Self::Seconds => "Seconds",
            Self::Minutes => "Minutes",
            Self::Hours => "Hours",
            Self::Days => "Days",
        };
        unit(out, "TimeUnit", variant);
    }
}

impl ToRust for TtlPolicy {
    fn to_rust(&self, out: &mut String) {
        match self {
            Self::None => unit(out, "TtlPolicy", "None"),
            Self::Fixed { millis } => fields(out, "TtlPolicy", "Fixed", &[("millis", millis)]),
            Self::Env { var, default, unit } => fields(
                out,
                "TtlPolicy",
                "Env",
                &[("var", var), ("default", default), ("unit", unit)],
            ),
            Self::Multiple { factor, base } => {
                fields(out, "TtlPolicy", "Multiple", &[("factor", factor), ("base", base)]);
            }
            Self::PerWrite { max } => fields(out, "TtlPolicy", "PerWrite", &[("max", max)]),
        }
    }
}

impl ToRust for TtlOnWrite {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::Refresh => "Refresh",
            Self::Keep => "Keep",
        };
        unit(out, "TtlOnWrite", variant);
    }
}

impl ToRust for Primitive {
    fn to_rust(&self, out: &mut String) {
        match self {
            Self::Lock { hold } => fields(out, "Primitive", "Lock", &[("hold", hold)]),
            Self::RateLimit(policy) => tuple(out, "Primitive", "RateLimit", policy),
            Self::Breaker(policy) => tuple(out, "Primitive", "Breaker", policy),
            Self::Idempotency => unit(out, "Primitive", "Idempotency"),
            Self::Timers { visibility } => fields(out, "Primitive", "Timers", &[("visibility", visibility)]),
            Self::DlqEntry { queue } => fields(out, "Primitive", "DlqEntry", &[("queue", queue)]),
            Self::DlqIndex { queue, cleanup } => {
                fields(out, "Primitive", "DlqIndex", &[("queue", queue), ("cleanup", cleanup)])
            }
            Self::Companion { of, role } => fields(out, "Primitive", "Companion", &[("of", of), ("role", role)]),
            Self::Index { of, by } => fields(out, "Primitive", "Index", &[("of", of), ("by", by)]),
            Self::Cache(policy) => tuple(out, "Primitive", "Cache", policy),
            Self::State(policy) => tuple(out, "Primitive", "State", policy),
        }
    }
}

impl ToRust for LockHold {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::Release => "Release",
            Self::Lease => "Lease",
        };
        unit(out, "LockHold", variant);
    }
}

impl ToRust for Companion {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::Fence => "Fence",
            Self::Watermark => "Watermark",
            Self::BreakerState => "BreakerState",
            Self::CacheLoad => "CacheLoad",
            Self::CacheStats => "CacheStats",
        };
        unit(out, "Companion", variant);
    }
}

impl ToRust for CacheStats {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::Local => "Local",
            Self::Shared => "Shared",
        };
        unit(out, "CacheStats", variant);
    }
}

impl ToRust for SingleFlight {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::Process => "Process",
            Self::Instances => "Instances",
        };
        unit(out, "SingleFlight", variant);
    }
}

impl ToRust for Fallback {
    fn to_rust(&self, out: &mut String) {
        let variant = match self {
            Self::Open => "Open",
            Self::Closed => "Closed",
            Self::Local => "Local",
        };
        unit(out, "Fallback", variant);
    }
}

impl ToRust for RateAlgorithm {
    fn to_rust(&self, out: &mut String) {
        match self {
            Self::Window { limit } => fields(out, "RateAlgorithm", "Window", &[("limit", limit)]),
            Self::Gcra { rate, period, burst } => fields(
                out,
                "RateAlgorithm",
                "Gcra",
                &[("rate", rate), ("period", period), ("burst", burst)],
            ),
        }
    }
}
