//! Rust types of key parameters: how generated key types turn their fields into the schema's
//! parameter values and back, and how parameter values are stored as members of an index.

use crate::codec::Codec;
use crate::policy::KeyId;
use chrono::{DateTime, Utc};
use keyschema::ParamValue;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::net::IpAddr;
use uuid::Uuid;

/// A Rust type that holds a parameter's value.
pub trait KeyParam: Sized {
    /// The value for the key codec.
    fn to_param(&self) -> ParamValue<'_>;
    /// The field from a decoded value; `None` when the value is of another type.
    fn from_param(value: ParamValue<'_>) -> Option<Self>;
    /// The value as stored in an index (a member naming it): the parameter's text form.
    fn to_text(&self) -> String;
    /// The value of an index member.
    fn from_text(text: &str) -> Option<Self>;
}

impl KeyParam for String {
    fn to_param(&self) -> ParamValue<'_> {
        ParamValue::Text(Cow::Borrowed(self))
    }
    fn from_param(value: ParamValue<'_>) -> Option<Self> {
        match value {
            ParamValue::Text(text) => Some(text.into_owned()),
            _ => None,
        }
    }
    fn to_text(&self) -> String {
        self.clone()
    }
    fn from_text(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
}

impl KeyParam for i64 {
    fn to_param(&self) -> ParamValue<'_> {
        ParamValue::Int(*self)
    }
    fn from_param(value: ParamValue<'_>) -> Option<Self> {
        match value {
            ParamValue::Int(n) => Some(n),
            _ => None,
        }
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl KeyParam for Uuid {
    fn to_param(&self) -> ParamValue<'_> {
        ParamValue::Uuid(*self.as_bytes())
    }
    fn from_param(value: ParamValue<'_>) -> Option<Self> {
        match value {
            ParamValue::Uuid(bytes) => Some(Self::from_bytes(bytes)),
            _ => None,
        }
    }
    fn to_text(&self) -> String {
        self.hyphenated().to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        Self::parse_str(text).ok()
    }
}

impl KeyParam for IpAddr {
    fn to_param(&self) -> ParamValue<'_> {
        ParamValue::Ip(*self)
    }
    fn from_param(value: ParamValue<'_>) -> Option<Self> {
        match value {
            ParamValue::Ip(ip) => Some(ip),
            _ => None,
        }
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// `unix_seconds` parameters are times.
impl KeyParam for DateTime<Utc> {
    fn to_param(&self) -> ParamValue<'_> {
        ParamValue::Int(self.timestamp())
    }
    fn from_param(value: ParamValue<'_>) -> Option<Self> {
        match value {
            ParamValue::Int(seconds) => Self::from_timestamp(seconds, 0),
            _ => None,
        }
    }
    fn to_text(&self) -> String {
        self.timestamp().to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        Self::from_timestamp(text.parse().ok()?, 0)
    }
}

/// Index members that are a parameter's values (`member jobID`), stored in their text form.
pub struct ParamCodec<T>(PhantomData<T>);

impl<T: KeyParam> Codec for ParamCodec<T> {
    type Value = T;

    fn name() -> Cow<'static, str> {
        let full = std::any::type_name::<T>();
        Cow::Owned(format!("param({})", full.rsplit("::").next().unwrap_or(full)))
    }

    fn encode(value: &T) -> Result<Vec<u8>, String> {
        Ok(value.to_text().into_bytes())
    }

    fn decode(bytes: &[u8]) -> Result<T, String> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(T::from_text)
            .ok_or_else(|| format!("{:?} is not a value of this parameter", String::from_utf8_lossy(bytes)))
    }
}

/// Why a key does not parse as a generated key type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyParseError {
    /// The key matches no pattern, or has a bad value.
    #[error("{key}: {message}")]
    NoMatch {
        /// The key.
        key: String,
        /// Why, naming the nearest pattern.
        message: String,
    },
    /// The key belongs to another pattern.
    #[error("{key} is a `{found}` key, not a `{expected}` key")]
    OtherPattern {
        /// The key.
        key: String,
        /// The pattern it matches.
        found: String,
        /// The pattern the type is for.
        expected: String,
    },
}

/// A text that names no variant of a generated parameter enum (its `FromStr` and serde
/// `Deserialize` answer this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a `{param}` (one of: {})", .expected.join(", "))]
pub struct ParseEnumError {
    /// The parameter's name in the schema.
    pub param: &'static str,
    /// The text given.
    pub text: String,
    /// The variants' names, as the schema spells them.
    pub expected: &'static [&'static str],
}

impl ParseEnumError {
    /// The error for `text`, not a variant of `param`.
    pub fn new(param: &'static str, text: &str, expected: &'static [&'static str]) -> Self {
        Self {
            param,
            text: text.to_string(),
            expected,
        }
    }
}

/// Deserializes a generated parameter enum from its name as the schema spells it (the generated
/// `Deserialize` impls call this).
pub fn deserialize_enum<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr<Err = ParseEnumError>,
{
    struct Name<T>(PhantomData<T>);
    impl<T: std::str::FromStr<Err = ParseEnumError>> serde::de::Visitor<'_> for Name<T> {
        type Value = T;
        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a variant's name as the schema spells it")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
            text.parse().map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Name(PhantomData))
}

/// Times as sorted-set scores: seconds (`score time`).
impl crate::codec::Score for DateTime<Utc> {
    fn to_score(&self) -> f64 {
        self.timestamp() as f64 + f64::from(self.timestamp_subsec_millis()) / 1000.0
    }
    fn from_score(score: f64) -> Self {
        Self::from_timestamp_millis((score * 1000.0).round() as i64).unwrap_or_default()
    }
}

/// A time scored in milliseconds (`score time_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub DateTime<Utc>);

impl crate::codec::Score for UnixMillis {
    fn to_score(&self) -> f64 {
        self.0.timestamp_millis() as f64
    }
    fn from_score(score: f64) -> Self {
        Self(DateTime::from_timestamp_millis(score as i64).unwrap_or_default())
    }
}

/// Formats the key of definition `id` of `schema` from its values (generated `to_key`).
pub fn format_key(
    schema: &keyschema::Schema,
    id: KeyId,
    values: &[ParamValue<'_>],
) -> Result<String, keyschema::FormatError> {
    let model = schema.model();
    let mut out = String::new();
    model.write_key(&model.keys[id.index()], values, &mut out)?;
    Ok(out)
}

/// Formats a key whose values cannot be refused (uuid, ip, int and enum parameters without
/// `except`, or none at all): generated code calls this only for such keys, which the
/// generator decided from the module's model.
///
/// # Panics
/// Only when the module's model was edited by hand so that it refuses values of the key type
/// generated with it (a parameter's type or exclusions changed, a parameter added). Such a
/// module's fingerprint disagrees, so no store of it connects; a key type has no error to
/// return, and writing a key other than the schema's would be worse than stopping.
pub fn format_infallible_key(schema: &keyschema::Schema, id: KeyId, values: &[ParamValue<'_>]) -> String {
    let model = schema.model();
    let mut out = String::new();
    if let Err(error) = model.write_key(&model.keys[id.index()], values, &mut out) {
        panic!(
            "`{}` was generated as a key type that formats every value, but its module's model \
             (edited by hand?) refuses one: {error}; regenerate the module",
            model.keys[id.index()].name
        );
    }
    out
}

/// A key being parsed into a generated key type: its values, taken in pattern order.
pub struct ParsedKey<'k> {
    key: &'k str,
    pattern: String,
    values: std::vec::IntoIter<(usize, ParamValue<'k>)>,
}

impl<'k> ParsedKey<'k> {
    /// Matches `key` and checks it belongs to definition `id` (generated `parse`).
    pub fn new(schema: &keyschema::Schema, id: KeyId, key: &'k str) -> Result<Self, KeyParseError> {
        let def = id.index();
        let expected = &schema.model().keys[def].pattern.template;
        let found = schema
            .matcher()
            .match_key(key)
            .map_err(|failure| KeyParseError::NoMatch {
                key: key.to_string(),
                message: failure.message,
            })?;
        if found.key != def {
            return Err(KeyParseError::OtherPattern {
                key: key.to_string(),
                found: schema.model().keys[found.key].pattern.template.clone(),
                expected: expected.clone(),
            });
        }
        let values: Vec<_> = found.values.into_iter().collect();
        Ok(Self {
            key,
            pattern: expected.clone(),
            values: values.into_iter(),
        })
    }

    /// The next value, as `T`.
    pub fn take<T: KeyParam>(&mut self) -> Result<T, KeyParseError> {
        self.values
            .next()
            .and_then(|(_, value)| T::from_param(value))
            .ok_or_else(|| KeyParseError::NoMatch {
                key: self.key.to_string(),
                message: format!("a value does not fit the generated type of `{}`", self.pattern),
            })
    }
}
