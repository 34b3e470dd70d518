//! `SchemaDocument`: the language service of `keyschema lsp` for an editor in the browser (the
//! playground's): diagnostics, hover, definition, references and formatting. Offsets cross in
//! UTF-16 code units, what JavaScript strings and `textarea.selectionStart` count; the service
//! counts bytes.

use crate::{diagnostics_json, parse_json, string_arg, to_json};
use keyschema::service::Document;
use keyschema::Span;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A range of a schema's text, in UTF-16 code units (`text.slice(start, end)`). */
export interface TextRange {
  start: number;
  end: number;
}

/** What hovering a name shows: Markdown, and the range of the name it describes. */
export interface Hover extends TextRange {
  markdown: string;
}
"#;

/// A schema's text open in an editor: checked once when made; make a new one after an edit
/// (the Cordum schema takes a few milliseconds).
///
/// ```js
/// const doc = new SchemaDocument(text);
/// doc.diagnostics();                  // exactly Schema.check(text)
/// doc.hover(text.indexOf("job:state:<jobID>"))?.markdown; // pattern, type, TTL, slot...
/// const formatted = doc.format();     // throws while the schema has errors
/// doc.free();
/// ```
#[wasm_bindgen]
pub struct SchemaDocument {
    inner: Document,
    /// The byte offset of each UTF-16 offset's character, for the text's non-ASCII characters;
    /// empty for ASCII text, where both count alike.
    utf16: Utf16Offsets,
}

#[derive(Serialize)]
struct Range {
    start: usize,
    end: usize,
}

#[derive(Serialize)]
struct HoverJson<'a> {
    markdown: &'a str,
    start: usize,
    end: usize,
}

#[wasm_bindgen]
impl SchemaDocument {
    /// Checks `text` (a `TypeError` when it is not a string).
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "string")] text: JsValue) -> Result<Self, JsValue> {
        let text = string_arg(&text, "the schema's text")?;
        Ok(Self {
            utf16: Utf16Offsets::new(&text),
            inner: Document::new(&text, "schema.keys"),
        })
    }

    /// Exactly `Schema.check(text)`: the errors, or the warnings of a schema that checks.
    #[wasm_bindgen(unchecked_return_type = "SchemaDiagnostic[]")]
    pub fn diagnostics(&self) -> JsValue {
        parse_json(&diagnostics_json(self.inner.diagnostics(), self.inner.source()))
    }

    /// Whether the schema has errors (then keys cannot be linted against it).
    #[wasm_bindgen(js_name = hasErrors)]
    pub fn has_errors(&self) -> bool {
        self.inner.schema().is_none()
    }

    /// What to show for the name at UTF-16 `offset`: a key's pattern, Redis type, codec, TTL,
    /// slot group, example key and its slot; a parameter's type and the keys that use it; a TTL's
    /// definition. `null` when there is no name there (or, for facts of the model, while the
    /// schema has errors).
    #[wasm_bindgen(unchecked_return_type = "Hover | null")]
    pub fn hover(&self, offset: f64) -> JsValue {
        let Some((markdown, span)) = self.byte_at(offset).and_then(|at| self.inner.hover(at)) else {
            return JsValue::NULL;
        };
        let Range { start, end } = self.range(span);
        parse_json(&to_json(&HoverJson {
            markdown: &markdown,
            start,
            end,
        }))
    }

    /// Where the name at UTF-16 `offset` is declared, or `null`.
    #[wasm_bindgen(unchecked_return_type = "TextRange | null")]
    pub fn definition(&self, offset: f64) -> JsValue {
        match self.byte_at(offset).and_then(|at| self.inner.definition(at)) {
            Some(span) => parse_json(&to_json(&self.range(span))),
            None => JsValue::NULL,
        }
    }

    /// Every place the name at UTF-16 `offset` is written, its declaration included.
    #[wasm_bindgen(unchecked_return_type = "TextRange[]")]
    pub fn references(&self, offset: f64) -> JsValue {
        let ranges: Vec<Range> = self
            .byte_at(offset)
            .map(|at| self.inner.references(at))
            .unwrap_or_default()
            .into_iter()
            .map(|span| self.range(span))
            .collect();
        parse_json(&to_json(&ranges))
    }

    /// The text in the canonical layout of `keyschema fmt`. Throws while the schema has errors.
    pub fn format(&self) -> Result<String, JsValue> {
        self.inner
            .formatted()
            .map_err(|error| js_sys::Error::new(&error.to_string()).into())
    }
}

impl SchemaDocument {
    /// The byte offset of a UTF-16 offset given by JavaScript; `None` for one that is not an
    /// offset into the text (negative, fractional, NaN, past the end), which names nothing.
    fn byte_at(&self, offset: f64) -> Option<usize> {
        let text = self.inner.source();
        let valid = offset.fract() == 0.0 && offset >= 0.0 && offset <= text.len() as f64;
        // In range: at most the text's length, which fits a u32 (a schema is at most 4 MiB).
        valid.then(|| self.utf16.byte_of(offset as u32))
    }

    fn range(&self, span: Span) -> Range {
        Range {
            start: self.utf16.of_byte(span.start as usize),
            end: self.utf16.of_byte(span.end as usize),
        }
    }
}

/// Conversions between byte offsets and UTF-16 offsets of one text.
struct Utf16Offsets {
    /// `(byte, utf16)` at the start of each non-ASCII character and just after it; empty when the
    /// text is ASCII.
    marks: Vec<(usize, usize)>,
}

impl Utf16Offsets {
    fn new(text: &str) -> Self {
        let mut marks = Vec::new();
        if !text.is_ascii() {
            let mut utf16 = 0;
            for (byte, c) in text.char_indices() {
                if !c.is_ascii() {
                    marks.push((byte, utf16));
                    marks.push((byte + c.len_utf8(), utf16 + c.len_utf16()));
                }
                utf16 += c.len_utf16();
            }
        }
        Self { marks }
    }

    /// The byte offset of UTF-16 `offset` (inside a character: that character's start).
    fn byte_of(&self, offset: u32) -> usize {
        let offset = offset as usize;
        match self.marks.partition_point(|&(_, utf16)| utf16 <= offset).checked_sub(1) {
            None => offset,
            Some(i) => {
                let (byte, utf16) = self.marks[i];
                // Past a character's end mark, the text is ASCII up to the next mark; at a start
                // mark, the character itself (a surrogate pair's second unit maps to its start).
                if i % 2 == 1 {
                    byte + (offset - utf16)
                } else {
                    byte
                }
            }
        }
    }

    /// The UTF-16 offset of byte offset `byte` (a character boundary).
    fn of_byte(&self, byte: usize) -> usize {
        match self.marks.partition_point(|&(b, _)| b <= byte).checked_sub(1) {
            None => byte,
            Some(i) => {
                let (mark, utf16) = self.marks[i];
                utf16 + (byte - mark)
            }
        }
    }
}
