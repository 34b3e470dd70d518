//! The key codec: typed values to keys and back, injectively.
//!
//! Every parameter value is written in one canonical form with the separator, `{`, `}`, `%` and
//! control bytes percent-escaped, so a value can neither add a segment nor move a key to another
//! slot, and two different (pattern, values) never give one key.

mod escape;
mod value;

pub use escape::{escape_into, is_valid_escaped, must_escape, unescape, EscapeError};
pub(crate) use value::{decode_simple, is_ident, StackBuf};
pub use value::{display_value, parse_canonical_int, parse_uuid, write_uuid, ParamValue, ParamsJson, ValueError};

use crate::model::{KeyDef, KeySchema, LayoutPart, Param, ParamType, PatternPart};
use std::borrow::Cow;

/// Why a key could not be formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// No key has this name.
    #[error("no key named `{name}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownKey {
        /// The name asked for.
        name: String,
        /// The nearest key name, if one is close.
        suggestion: Option<String>,
    },
    /// A parameter of the pattern has no value.
    #[error("key `{key}` needs a value for `{param}`")]
    MissingParam {
        /// The key's name.
        key: String,
        /// The parameter.
        param: String,
    },
    /// A value was given for a parameter the pattern does not have.
    #[error("key `{key}` has no parameter `{param}`")]
    UnexpectedParam {
        /// The key's name.
        key: String,
        /// The parameter.
        param: String,
    },
    /// A value that the parameter cannot take.
    #[error("invalid value for `{param}` of key `{key}`: {source}")]
    InvalidValue {
        /// The key's name.
        key: String,
        /// The parameter.
        param: String,
        /// Why.
        #[source]
        source: ValueError,
    },
    /// The key would be longer than keyschema reads back ([`crate::MAX_KEY_LEN`]): the values
    /// are too long for a key.
    #[error("key `{key}` would be {len} bytes, longer than the {max} keyschema allows; shorten its values")]
    KeyTooLong {
        /// The key's name.
        key: String,
        /// The formatted length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl KeySchema {
    /// Appends the key `key` with `values` (one per placeholder, in pattern order) to `out`.
    /// Allocates nothing beyond `out`'s growth. A key longer than [`crate::MAX_KEY_LEN`] is
    /// [`FormatError::KeyTooLong`], and `out` is left as it was.
    ///
    /// ```
    /// # use keyschema::{Schema, ParamValue};
    /// let schema = Schema::parse("param id int\nthing:<id> string \"A thing\"\n", "x.keys").unwrap();
    /// let model = schema.model();
    /// let mut out = String::new();
    /// model.write_key(&model.keys[0], &[ParamValue::Int(7)], &mut out).unwrap();
    /// assert_eq!(out, "thing:7");
    /// ```
    pub fn write_key(&self, key: &KeyDef, values: &[ParamValue<'_>], out: &mut String) -> Result<(), FormatError> {
        let start = out.len();
        self.write_key_unchecked(key, values, out)?;
        let len = out.len() - start;
        if len > crate::MAX_KEY_LEN {
            out.truncate(start);
            return Err(FormatError::KeyTooLong {
                key: key.name.clone(),
                len,
                max: crate::MAX_KEY_LEN,
            });
        }
        Ok(())
    }

    fn write_key_unchecked(
        &self,
        key: &KeyDef,
        values: &[ParamValue<'_>],
        out: &mut String,
    ) -> Result<(), FormatError> {
        let mut values = values.iter();
        for part in &key.pattern.parts {
            match part {
                PatternPart::Literal(text) => out.push_str(text),
                PatternPart::Param(index) => {
                    let param = &self.params[*index];
                    let value = values.next().ok_or_else(|| FormatError::MissingParam {
                        key: key.name.clone(),
                        param: param.name.clone(),
                    })?;
                    self.write_param(key, *index, value, out)?;
                }
            }
        }
        Ok(())
    }

    /// The key named `name`, or an error suggesting the nearest name.
    pub(crate) fn key_named(&self, name: &str) -> Result<&KeyDef, FormatError> {
        self.key(name).ok_or_else(|| FormatError::UnknownKey {
            name: name.to_string(),
            suggestion: crate::util::closest(name, self.keys.iter().map(|k| k.name.as_str())).map(str::to_string),
        })
    }

    /// Writes the value of parameter `index` of `key` as it appears in keys.
    pub(crate) fn write_param(
        &self,
        key: &KeyDef,
        index: usize,
        value: &ParamValue<'_>,
        out: &mut String,
    ) -> Result<(), FormatError> {
        let param = &self.params[index];
        self.write_value(param, value, out)
            .map_err(|source| FormatError::InvalidValue {
                key: key.name.clone(),
                param: param.name.clone(),
                source,
            })
    }

    fn write_value(&self, param: &Param, value: &ParamValue<'_>, out: &mut String) -> Result<(), ValueError> {
        let ParamValue::Layout { layout, parts } = value else {
            return value::encode_simple(param, value, self.separator, out);
        };
        let layout = param.layouts.get(*layout).ok_or_else(|| ValueError::WrongType {
            value: format!("layout {layout}"),
            expected: "a layout of this parameter".into(),
        })?;
        let mut parts = parts.iter();
        for piece in layout {
            match piece {
                LayoutPart::Literal(text) => out.push_str(text),
                LayoutPart::Param(index) => {
                    let (_, value) = parts.next().ok_or(ValueError::Empty)?;
                    value::encode_simple(&self.params[*index], value, self.separator, out)?;
                }
            }
        }
        Ok(())
    }

    /// Formats the key named `name` from values written as a person would (`jobID=...`,
    /// `state=RUNNING`): what `keyschema key` does.
    pub fn format_key_from_text(&self, name: &str, values: &[(&str, &str)]) -> Result<String, FormatError> {
        let key = self.key_named(name)?;
        let param_names: Vec<&str> = key.pattern.params().map(|i| self.params[i].name.as_str()).collect();
        if let Some((unexpected, _)) = values.iter().find(|(n, _)| !param_names.contains(n)) {
            return Err(FormatError::UnexpectedParam {
                key: key.name.clone(),
                param: unexpected.to_string(),
            });
        }
        let mut typed = Vec::with_capacity(param_names.len());
        for index in key.pattern.params() {
            let param = &self.params[index];
            let text = values
                .iter()
                .find(|(n, _)| *n == param.name)
                .map(|(_, v)| *v)
                .ok_or_else(|| FormatError::MissingParam {
                    key: key.name.clone(),
                    param: param.name.clone(),
                })?;
            let value = self
                .parse_text_value(param, text)
                .map_err(|source| FormatError::InvalidValue {
                    key: key.name.clone(),
                    param: param.name.clone(),
                    source,
                })?;
            typed.push(value);
        }
        let mut out = String::new();
        self.write_key(key, &typed, &mut out)?;
        Ok(out)
    }

    /// Reads a value as a person writes it: any text for text, a variant's name or key form for an
    /// enum, a UUID in either case, an address; for a composite parameter, the simple form or one
    /// of its layouts (`run-1:step-2@3`).
    pub fn parse_text_value<'t>(&self, param: &Param, text: &'t str) -> Result<ParamValue<'t>, ValueError> {
        let simple = parse_simple_text(param, text);
        if simple.is_ok() || param.layouts.is_empty() {
            return simple;
        }
        'layouts: for (layout_index, layout) in param.layouts.iter().enumerate() {
            let mut rest = text;
            let mut parts = Vec::new();
            for (i, piece) in layout.iter().enumerate() {
                match piece {
                    LayoutPart::Literal(literal) => match rest.strip_prefix(literal.as_str()) {
                        Some(after) => rest = after,
                        None => continue 'layouts,
                    },
                    LayoutPart::Param(index) => {
                        // A part runs to the next literal of the layout (or to the end).
                        let end = match layout.get(i + 1) {
                            Some(LayoutPart::Literal(next)) => match rest.find(next.as_str()) {
                                Some(end) => end,
                                None => continue 'layouts,
                            },
                            _ => rest.len(),
                        };
                        match parse_simple_text(&self.params[*index], &rest[..end]) {
                            Ok(value) => parts.push((*index, value)),
                            Err(_) => continue 'layouts,
                        }
                        rest = &rest[end..];
                    }
                }
            }
            if rest.is_empty() {
                return Ok(ParamValue::Layout {
                    layout: layout_index,
                    parts,
                });
            }
        }
        simple
    }
}

fn parse_simple_text<'t>(param: &Param, text: &'t str) -> Result<ParamValue<'t>, ValueError> {
    let wrong = || ValueError::WrongType {
        value: text.to_string(),
        expected: value::expected(&param.ty),
    };
    if text.is_empty() {
        return Err(ValueError::Empty);
    }
    Ok(match &param.ty {
        ParamType::Text => ParamValue::Text(Cow::Borrowed(text)),
        ParamType::Ident if is_ident(text) => ParamValue::Text(Cow::Borrowed(text)),
        ParamType::Int => ParamValue::Int(text.trim().parse().map_err(|_| wrong())?),
        ParamType::UnixSeconds => match text.trim().parse::<i64>() {
            Ok(n) if n >= 0 => ParamValue::Int(n),
            _ => return Err(wrong()),
        },
        ParamType::Uuid => ParamValue::Uuid(parse_uuid(&text.to_ascii_lowercase()).ok_or_else(wrong)?),
        ParamType::Enum { variants, case } => ParamValue::Enum(
            variants
                .iter()
                .position(|v| v == text || case.apply(v) == text || v.eq_ignore_ascii_case(text))
                .ok_or_else(wrong)?,
        ),
        ParamType::Ip => ParamValue::Ip(text.parse().map_err(|_| wrong())?),
        ParamType::Ident => return Err(wrong()),
    })
}
