//! Parameter values and their one canonical form in keys.

use super::escape::{escape_into, unescape, EscapeError};
use crate::model::{EnumCase, Param, ParamType};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// A decoded parameter value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParamValue<'a> {
    /// A text or ident value, unescaped.
    Text(Cow<'a, str>),
    /// An int or unix_seconds value.
    Int(i64),
    /// A UUID's 16 bytes.
    Uuid([u8; 16]),
    /// An enum variant, by index in the declared variants.
    Enum(usize),
    /// An IP address.
    Ip(IpAddr),
    /// A composite value in one of the parameter's alternative layouts.
    Layout {
        /// Which layout, by index in [`Param::layouts`].
        layout: usize,
        /// The values of the layout's parameters, in order.
        parts: Vec<(usize, Self)>,
    },
}

impl ParamValue<'_> {
    /// A value that borrows nothing.
    pub fn into_owned(self) -> ParamValue<'static> {
        match self {
            Self::Text(text) => ParamValue::Text(Cow::Owned(text.into_owned())),
            Self::Int(n) => ParamValue::Int(n),
            Self::Uuid(bytes) => ParamValue::Uuid(bytes),
            Self::Enum(i) => ParamValue::Enum(i),
            Self::Ip(ip) => ParamValue::Ip(ip),
            Self::Layout { layout, parts } => ParamValue::Layout {
                layout,
                parts: parts.into_iter().map(|(i, v)| (i, v.into_owned())).collect(),
            },
        }
    }
}

/// Why a value cannot be a parameter's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value is empty.
    #[error("empty value")]
    Empty,
    /// The value is not of the parameter's type.
    #[error("`{value}` is not {expected}")]
    WrongType {
        /// The value as found.
        value: String,
        /// What was expected (`a uuid`, `one of \`pending\`, \`running\``).
        expected: String,
    },
    /// The value is one the parameter excludes.
    #[error("`{0}` is excluded for this parameter")]
    Excluded(String),
    /// A malformed percent-escape.
    #[error(transparent)]
    Escape(#[from] EscapeError),
}

/// A fixed-capacity buffer for formatting small values without allocating.
pub(crate) struct StackBuf {
    bytes: [u8; 64],
    len: usize,
}

impl StackBuf {
    pub(crate) fn new() -> Self {
        Self { bytes: [0; 64], len: 0 }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only `write_str` fills the buffer, with whole `&str`s.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes a UUID lowercase and hyphenated.
pub fn write_uuid(bytes: &[u8; 16], out: &mut String) {
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0xf)] as char);
    }
}

/// Lowercase hex digit values; 0xff for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Parses a canonical UUID (lowercase, hyphenated).
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 || bytes[8] != b'-' || bytes[13] != b'-' || bytes[18] != b'-' || bytes[23] != b'-' {
        return None;
    }
    let mut out = [0u8; 16];
    let mut bad = 0u8;
    let mut i = 0;
    for byte in &mut out {
        if matches!(i, 8 | 13 | 18 | 23) {
            i += 1;
        }
        let (high, low) = (HEX_VALUE[usize::from(bytes[i])], HEX_VALUE[usize::from(bytes[i + 1])]);
        // Any invalid digit sets the high bit; checked once at the end.
        bad |= high | low;
        *byte = (high << 4) | (low & 0xf);
        i += 2;
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Parses a canonical decimal integer: no sign for zero, no `+`, no leading zeros.
pub fn parse_canonical_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = match digits.as_bytes() {
        [] => false,
        [b'0'] => digits.len() == text.len(),
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    };
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

pub(crate) fn is_ident(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// What a value of `ty` looks like, for messages: `a uuid`, ``one of `pending`, `running` ``.
pub(crate) fn expected(ty: &ParamType) -> String {
    match ty {
        ParamType::Enum { variants, case } => {
            let forms: Vec<String> = variants.iter().map(|v| format!("`{}`", case.apply(v))).collect();
            format!("one of {}", forms.join(", "))
        }
        ParamType::Text => "non-empty text".into(),
        ParamType::Ident => "an ident (`[A-Za-z0-9_.-]+`)".into(),
        ParamType::Int => "an int (canonical decimal)".into(),
        ParamType::UnixSeconds => "a unix_seconds (non-negative canonical decimal)".into(),
        ParamType::Uuid => "a uuid (lowercase, hyphenated)".into(),
        ParamType::Ip => "an ip (canonical IPv4 or IPv6)".into(),
    }
}

/// Writes a simple (non-layout) value of `param` in its key form, escaping the separator.
pub(crate) fn encode_simple(
    param: &Param,
    value: &ParamValue<'_>,
    separator: char,
    out: &mut String,
) -> Result<(), ValueError> {
    let wrong = |value: &ParamValue<'_>| ValueError::WrongType {
        value: display_value(param, value),
        expected: expected(&param.ty),
    };
    match (&param.ty, value) {
        (ParamType::Text, ParamValue::Text(text)) => {
            if text.is_empty() {
                return Err(ValueError::Empty);
            }
            if param.except.iter().any(|e| e == text) {
                return Err(ValueError::Excluded(text.to_string()));
            }
            escape_into(text, separator, out);
        }
        (ParamType::Ident, ParamValue::Text(text)) => {
            if !is_ident(text) {
                return Err(wrong(value));
            }
            if param.except.iter().any(|e| e == text) {
                return Err(ValueError::Excluded(text.to_string()));
            }
            escape_into(text, separator, out);
        }
        (ParamType::Int, ParamValue::Int(n)) => write_excluding(param, *n, separator, out)?,
        (ParamType::UnixSeconds, ParamValue::Int(n)) if *n >= 0 => write_excluding(param, *n, separator, out)?,
        (ParamType::Uuid, ParamValue::Uuid(bytes)) => {
            let start = out.len();
            write_uuid(bytes, out);
            if separator == '-' {
                let written = out.split_off(start);
                escape_into(&written, separator, out);
            }
        }
        (ParamType::Enum { variants, case }, ParamValue::Enum(index)) => {
            let variant = variants.get(*index).ok_or_else(|| wrong(value))?;
            if param.except.iter().any(|e| case.matches(variant, e)) {
                return Err(ValueError::Excluded(case.apply(variant)));
            }
            // Variants are ASCII words, so their case maps byte by byte, straight into `out`.
            for byte in variant.bytes() {
                let byte = match case {
                    EnumCase::AsDeclared => byte,
                    EnumCase::Lower => byte.to_ascii_lowercase(),
                    EnumCase::Upper => byte.to_ascii_uppercase(),
                };
                let mut buf = [0u8; 4];
                escape_into((byte as char).encode_utf8(&mut buf), separator, out);
            }
        }
        (ParamType::Ip, ParamValue::Ip(ip)) => {
            let mut buf = StackBuf::new();
            // An IP address always fits in 64 bytes.
            let _ = write!(buf, "{ip}");
            escape_into(buf.as_str(), separator, out);
        }
        _ => return Err(wrong(value)),
    }
    Ok(())
}

fn write_excluding(param: &Param, n: i64, separator: char, out: &mut String) -> Result<(), ValueError> {
    let start = out.len();
    // Writing to a String cannot fail.
    let _ = write!(out, "{n}");
    if param.except.iter().any(|e| *e == out[start..]) {
        let text = out.split_off(start);
        return Err(ValueError::Excluded(text));
    }
    if separator == '-' && n < 0 {
        let written = out.split_off(start);
        escape_into(&written, separator, out);
    }
    Ok(())
}

/// Decodes the key form of a simple value (the separator escaped) into a value of `param`.
pub(crate) fn decode_simple<'k>(
    param: &Param,
    encoded: &'k str,
    separator: char,
) -> Result<ParamValue<'k>, ValueError> {
    if encoded.is_empty() {
        return Err(ValueError::Empty);
    }
    let text = unescape(encoded, separator, param.spans)?;
    let wrong = || ValueError::WrongType {
        value: text.to_string(),
        expected: expected(&param.ty),
    };
    if param.except.iter().any(|e| **e == *text) {
        return Err(ValueError::Excluded(text.into_owned()));
    }
    Ok(match &param.ty {
        ParamType::Text => ParamValue::Text(text),
        ParamType::Ident => {
            if !is_ident(&text) {
                return Err(wrong());
            }
            ParamValue::Text(text)
        }
        ParamType::Int => ParamValue::Int(parse_canonical_int(&text).ok_or_else(wrong)?),
        ParamType::UnixSeconds => match parse_canonical_int(&text) {
            Some(n) if n >= 0 => ParamValue::Int(n),
            _ => return Err(wrong()),
        },
        ParamType::Uuid => ParamValue::Uuid(parse_uuid(&text).ok_or_else(wrong)?),
        ParamType::Enum { variants, case } => {
            ParamValue::Enum(variants.iter().position(|v| case.matches(v, &text)).ok_or_else(wrong)?)
        }
        ParamType::Ip => {
            let ip: IpAddr = text.parse().map_err(|_| wrong())?;
            let mut canonical = StackBuf::new();
            let _ = write!(canonical, "{ip}");
            if canonical.as_str() != text {
                return Err(wrong());
            }
            ParamValue::Ip(ip)
        }
    })
}

/// A value as a person reads it (`RUNNING`, `42`, a UUID), for messages and JSON.
pub fn display_value(param: &Param, value: &ParamValue<'_>) -> String {
    match value {
        ParamValue::Text(text) => text.to_string(),
        ParamValue::Int(n) => n.to_string(),
        ParamValue::Uuid(bytes) => {
            let mut out = String::with_capacity(36);
            write_uuid(bytes, &mut out);
            out
        }
        ParamValue::Enum(index) => match &param.ty {
            ParamType::Enum { variants, .. } => variants.get(*index).cloned().unwrap_or_default(),
            _ => index.to_string(),
        },
        ParamValue::Ip(ip) => ip.to_string(),
        ParamValue::Layout { .. } => String::from("<layout>"),
    }
}

/// A decoded parameter list that serialises as a JSON object `{name: value}`; numbers stay
/// numbers, composite values become nested objects.
pub struct ParamsJson<'s, 'v> {
    pub(crate) params: &'s [Param],
    pub(crate) values: &'v [(usize, ParamValue<'v>)],
}

impl Serialize for ParamsJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.values.len()))?;
        for (index, value) in self.values {
            let param = &self.params[*index];
            match value {
                ParamValue::Int(n) => map.serialize_entry(&param.name, n)?,
                ParamValue::Layout { parts, .. } => {
                    map.serialize_entry(
                        &param.name,
                        &ParamsJson {
                            params: self.params,
                            values: parts,
                        },
                    )?;
                }
                other => map.serialize_entry(&param.name, &display_value(param, other))?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip() {
        let text = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let bytes = parse_uuid(text).unwrap();
        let mut out = String::new();
        write_uuid(&bytes, &mut out);
        assert_eq!(out, text);
        for bad in [
            "0F8FAD5B-D9CB-469F-A165-70867728950E",
            "0f8fad5bd9cb469fa16570867728950e",
            "0f8fad5b-d9cb-469f-a165-70867728950",
            "",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn ints_are_canonical() {
        assert_eq!(parse_canonical_int("0"), Some(0));
        assert_eq!(parse_canonical_int("-12"), Some(-12));
        for bad in ["", "-", "-0", "01", "+1", " 1", "1a", "99999999999999999999"] {
            assert_eq!(parse_canonical_int(bad), None, "{bad}");
        }
    }
}
