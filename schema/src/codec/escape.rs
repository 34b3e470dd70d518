//! Percent-escaping of parameter values, so that a value can never contain the separator or a
//! hash-tag brace, and every key has exactly one decoding.

use std::borrow::Cow;

/// Why an escaped value does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EscapeError {
    /// `%` not followed by two uppercase hex digits.
    #[error("bad escape at byte {at}: `%` must be followed by two uppercase hex digits")]
    Malformed {
        /// Byte offset in the value.
        at: usize,
    },
    /// An escape of a byte that is written as itself (`%41` for `A`): keys have one form only.
    #[error("non-canonical escape `%{hex}` at byte {at}: that byte is written as itself")]
    NonCanonical {
        /// Byte offset in the value.
        at: usize,
        /// The two hex digits.
        hex: String,
    },
    /// A byte that must be escaped appears raw.
    #[error("unescaped {what} at byte {at}")]
    Unescaped {
        /// Byte offset in the value.
        at: usize,
        /// What was found.
        what: &'static str,
    },
}

/// Whether `byte` is written `%XX` in a value under `separator`.
#[inline]
pub fn must_escape(byte: u8, separator: u8) -> bool {
    byte == separator || matches!(byte, b'{' | b'}' | b'%' | 0x00..=0x1f | 0x7f)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `value` to `out`, escaping what [`must_escape`] says. Allocates nothing beyond `out`.
pub fn escape_into(value: &str, separator: char, out: &mut String) {
    let separator = separator as u8;
    let bytes = value.as_bytes();
    let mut clean = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if must_escape(byte, separator) {
            out.push_str(&value[clean..i]);
            out.push('%');
            out.push(HEX_UPPER[usize::from(byte >> 4)] as char);
            out.push(HEX_UPPER[usize::from(byte & 0xf)] as char);
            clean = i + 1;
        }
    }
    out.push_str(&value[clean..]);
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Checks an escaped value without decoding it; the fast path of the matcher.
#[inline]
pub fn is_valid_escaped(encoded: &[u8], separator: u8, spans: bool) -> bool {
    let mut i = 0;
    while i < encoded.len() {
        let byte = encoded[i];
        if byte == b'%' {
            let decoded = match (
                encoded.get(i + 1).copied().and_then(hex_value),
                encoded.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(high), Some(low)) => (high << 4) | low,
                _ => return false,
            };
            if !must_escape(decoded, separator) {
                return false;
            }
            i += 3;
        } else if must_escape(byte, separator) && !(spans && byte == separator) {
            return false;
        } else {
            i += 1;
        }
    }
    true
}

/// Decodes an escaped value. Borrows when the value has no escape. With `spans`, a raw separator
/// is accepted (legacy keys written without escaping).
pub fn unescape(encoded: &str, separator: char, spans: bool) -> Result<Cow<'_, str>, EscapeError> {
    let separator = separator as u8;
    let bytes = encoded.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err(EscapeError::Malformed { at: i });
            };
            let decoded = (high << 4) | low;
            if !must_escape(decoded, separator) {
                return Err(EscapeError::NonCanonical {
                    at: i,
                    hex: encoded[i + 1..i + 3].to_string(),
                });
            }
            out.get_or_insert_with(|| bytes[..i].to_vec()).push(decoded);
            i += 3;
            continue;
        }
        if must_escape(byte, separator) && !(spans && byte == separator) {
            let what = match byte {
                b'{' => "`{`",
                b'}' => "`}`",
                b if b == separator => "separator",
                _ => "control byte",
            };
            return Err(EscapeError::Unescaped { at: i, what });
        }
        if let Some(out) = out.as_mut() {
            out.push(byte);
        }
        i += 1;
    }
    Ok(match out {
        None => Cow::Borrowed(encoded),
        // Only ASCII bytes are ever escaped, so replacing escapes keeps the text valid UTF-8.
        Some(bytes) => Cow::Owned(String::from_utf8(bytes).unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_separator_braces_percent_and_controls() {
        let mut out = String::new();
        escape_into("a:b{c}%d\n é", ':', &mut out);
        assert_eq!(out, "a%3Ab%7Bc%7D%25d%0A é");
        assert_eq!(unescape(&out, ':', false).unwrap(), "a:b{c}%d\n é");
        assert!(is_valid_escaped(out.as_bytes(), b':', false));
    }

    #[test]
    fn rejects_malformed_and_non_canonical_escapes() {
        for (bad, expected) in [
            ("%", EscapeError::Malformed { at: 0 }),
            ("a%3", EscapeError::Malformed { at: 1 }),
            ("%3a", EscapeError::Malformed { at: 0 }),
            (
                "%41",
                EscapeError::NonCanonical {
                    at: 0,
                    hex: "41".into(),
                },
            ),
            (
                "a:b",
                EscapeError::Unescaped {
                    at: 1,
                    what: "separator",
                },
            ),
            ("{", EscapeError::Unescaped { at: 0, what: "`{`" }),
        ] {
            assert_eq!(unescape(bad, ':', false), Err(expected), "{bad}");
            assert!(!is_valid_escaped(bad.as_bytes(), b':', false), "{bad}");
        }
        assert_eq!(unescape("a:b", ':', true).unwrap(), "a:b");
    }
}
