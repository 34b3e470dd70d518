//! Parameters: the typed placeholders of key patterns.

use serde::{Deserialize, Serialize};

/// The type of a parameter value, which fixes the one form it takes in a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParamType {
    /// Any non-empty string; the separator, `{`, `}`, `%` and control bytes are percent-escaped.
    Text,
    /// `[A-Za-z0-9_.-]+`.
    Ident,
    /// A signed 64-bit integer in canonical decimal (no `+`, no leading zeros).
    Int,
    /// A UUID, lowercase and hyphenated.
    Uuid,
    /// One of the variants, written in keys in the declared case.
    Enum {
        /// The variants as named in the schema.
        variants: Vec<String>,
        /// How the variants are written in keys.
        case: EnumCase,
    },
    /// Seconds since the Unix epoch, a non-negative integer in canonical decimal.
    UnixSeconds,
    /// An IPv4 or IPv6 address in its canonical form (RFC 5952 for IPv6).
    Ip,
}

/// How an enum's variants are written in keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EnumCase {
    /// As declared.
    AsDeclared,
    /// Lowercase (`RUNNING` is written `running`).
    Lower,
    /// Uppercase.
    Upper,
}

impl EnumCase {
    /// Whether `form` is the key form of `variant`, without building it.
    pub fn matches(self, variant: &str, form: &str) -> bool {
        match self {
            Self::AsDeclared => variant == form,
            Self::Lower => variant.len() == form.len() && variant.chars().flat_map(char::to_lowercase).eq(form.chars()),
            Self::Upper => variant.len() == form.len() && variant.chars().flat_map(char::to_uppercase).eq(form.chars()),
        }
    }

    /// The form of `variant` in keys.
    pub fn apply(self, variant: &str) -> String {
        match self {
            Self::AsDeclared => variant.to_string(),
            Self::Lower => variant.to_lowercase(),
            Self::Upper => variant.to_uppercase(),
        }
    }
}

impl ParamType {
    /// The name used in the language (`text`, `uuid`, `enum`...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Ident => "ident",
            Self::Int => "int",
            Self::Uuid => "uuid",
            Self::Enum { .. } => "enum",
            Self::UnixSeconds => "unix_seconds",
            Self::Ip => "ip",
        }
    }

    /// How narrow the type is: lower ranks win when several patterns match a key
    /// (enum, uuid, ip, unix_seconds, int, ident, text).
    pub fn specificity_rank(&self) -> u8 {
        match self {
            Self::Enum { .. } => 0,
            Self::Uuid => 1,
            Self::Ip => 2,
            Self::UnixSeconds => 3,
            Self::Int => 4,
            Self::Ident => 5,
            Self::Text => 6,
        }
    }

    /// Parses a type name without arguments (enum is built by the caller).
    pub fn from_simple_name(name: &str) -> Option<Self> {
        Some(match name {
            "text" => Self::Text,
            "ident" => Self::Ident,
            "int" => Self::Int,
            "uuid" => Self::Uuid,
            "unix_seconds" => Self::UnixSeconds,
            "ip" => Self::Ip,
            _ => return None,
        })
    }
}

/// A piece of an alternative layout of a composite parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum LayoutPart {
    /// Literal text (may contain the separator).
    Literal(String),
    /// Another parameter, by index in [`crate::KeySchema::params`].
    Param(usize),
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct Param {
    /// Its name (`jobID`).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Values it never takes (`text except(global)`), in their decoded form.
    pub except: Vec<String>,
    /// Legacy keys carry this value unescaped, so it may span several segments. New keys are
    /// still formatted escaped.
    pub spans: bool,
    /// Other layouts the value may take, each a sequence of literals and parameters
    /// (`<runID>:<stepID>@<attempt>`).
    pub layouts: Vec<Vec<LayoutPart>>,
}
