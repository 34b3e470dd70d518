//! WebAssembly bindings of [`keyschema`]: a thin layer that parses a schema and lints keys with
//! exactly the results of the native CLI. No logic lives here. Results of single keys cross to
//! JavaScript as JSON (`JSON.parse` builds objects faster than one property set per field from
//! WebAssembly); many keys cross once as one string and come back as typed arrays
//! ([`LintBatch`]).

mod batch;
mod document;
mod many;

pub use batch::RowLinter;
pub use document::SchemaDocument;
use js_sys::JsString;
use keyschema::{positioned, ColumnUnit, Diagnostic};
use serde::Serialize;
use std::cell::OnceCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
// wasm-bindgen gives each class a `[Symbol.dispose]()` (for `using`), which TypeScript's lib
// declares only from `esnext`; declaring the symbol here keeps `lib: es2022` users compiling, and
// merges with the lib's own declaration where it exists.
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}

/** A diagnostic of the schema checker. Lines and columns are 1-based; columns count UTF-16 units. */
export interface SchemaDiagnostic {
  code: string;
  severity: "error" | "warning";
  message: string;
  line: number;
  column: number;
  end_line: number;
  end_column: number;
  hint: string | null;
  /** Other places that take part (the other pattern of an ambiguity). */
  labels: { message: string; line: number; column: number }[];
}

/**
 * The lint of many keys, in columns indexed by key (row): what `Schema.lintBatch` returns. It is
 * an ordinary JavaScript object: the garbage collector reclaims it, and `free()` is optional.
 *
 * ```js
 * const batch = schema.lintBatch(text);            // one key per line
 * const patterns = schema.patterns();
 * for (let row = 0; row < batch.length; row++) {
 *   if (batch.problems[row] !== 0) console.log(batch.key(row), batch.result(row).problems[0].message);
 *   else console.log(batch.key(row), patterns[batch.patterns[row]]);
 * }
 * ```
 */
export interface LintBatch {
  /** The number of keys (lines). */
  readonly length: number;
  /** Per key: the index of its pattern in `schema.patterns()`, or -1 when it matches none. */
  readonly patterns: Int32Array;
  /** Per key: its cluster hash slot. */
  readonly slots: Uint16Array;
  /** Per key: the number of its first problem's code (`lintCodes()[n - 1]`), 0 when it has none. */
  readonly problems: Uint8Array;
  /** Per key: the byte offset in the input's UTF-8 where it starts. */
  readonly starts: Uint32Array;
  /** Per key: the byte offset in the input's UTF-8 where it ends (its line break excluded). */
  readonly ends: Uint32Array;
  /** Per pattern (index of `schema.patterns()`): how many keys matched it. */
  readonly keysPerPattern: Uint32Array;
  /** Per problem number: how many keys have it as their first; index 0 counts the keys without. */
  readonly keysPerProblem: Uint32Array;
  /** The key of `row` (bytes that are not UTF-8 shown as U+FFFD). A `RangeError` out of range. */
  key(row: number): string;
  /** The full result of `row`: what `keyschema lint --format json` prints for that line. */
  result(row: number): LintResult;
  /** Releases the batch's reference to its schema now rather than when it is collected; then
   * `key` and `result` throw. The arrays stay readable. */
  free(): void;
}

/** What `new Schema(text)` throws when the schema has errors. */
export interface SchemaError extends Error {
  diagnostics: SchemaDiagnostic[];
}

/** A decoded parameter: text, a number, or the parts of a composite value. */
export type LintValue = string | number | { [part: string]: LintValue };

/** What the lint result of every key of one definition says alike. */
export interface KeyFacts {
  name: string;
  pattern: string;
  type: "string" | "hash" | "list" | "set" | "zset" | "stream";
  ttl_seconds: number | null;
  ttl_ms: number | null;
}

/** Everything the schema says about one key: the fields of `keyschema lint --format json`. */
export interface LintResult {
  key: string;
  name: string | null;
  pattern: string | null;
  params: { [name: string]: LintValue };
  slot: number;
  type: "string" | "hash" | "list" | "set" | "zset" | "stream" | null;
  /** Whole seconds, rounded down (compatibility); prefer `ttl_ms`. */
  ttl_seconds: number | null;
  ttl_ms: number | null;
  also_matches: string[];
  problems: { code: "K001" | "K002" | "K003" | "K004" | "K005"; message: string }[];
}
"#;

fn diagnostics_json(diagnostics: &[Diagnostic], source: &str) -> String {
    to_json(&positioned(diagnostics, source, ColumnUnit::Utf16))
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Our types serialise to JSON without failure: no maps with non-string keys, no floats.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn parse_json(text: &str) -> JsValue {
    // The text comes from serde_json, so it parses.
    js_sys::JSON::parse(text).unwrap_or(JsValue::NULL)
}

#[wasm_bindgen]
extern "C" {
    /// The WHATWG encoder, in every browser, worker and Node.
    type TextEncoder;
    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;
    #[wasm_bindgen(method)]
    fn encode(this: &TextEncoder, text: &JsString) -> js_sys::Uint8Array;
}

/// The UTF-8 of a JavaScript string (lone surrogates become U+FFFD): the engine's encoder and one
/// copy, several times faster than wasm-bindgen's string passing, which walks the string in
/// JavaScript one UTF-16 unit at a time.
fn utf8(text: &JsString) -> Vec<u8> {
    utf8_array(text).to_vec()
}

/// The UTF-8 of a JavaScript string, as a JavaScript array.
fn utf8_array(text: &JsString) -> js_sys::Uint8Array {
    TextEncoder::new().encode(text)
}

impl Schema {
    fn facts(&self) -> &str {
        self.facts.get_or_init(|| many::facts_json(&self.inner))
    }
}

/// The full lint result of one key as a JavaScript object.
fn lint_result(schema: &keyschema::Schema, key: &[u8]) -> JsValue {
    // `lint_bytes`, as the CLI does, so an over-long key gets the same problem here.
    parse_json(&to_json(&schema.lint_bytes(key)))
}

/// A string argument, or a `TypeError` naming the argument and the type it was given (a number
/// given for a string must not reach WebAssembly as a pointer).
fn string_arg(value: &JsValue, what: &str) -> Result<String, JsValue> {
    value.as_string().ok_or_else(|| {
        let given = if value.is_null() {
            "null".to_string()
        } else {
            value.js_typeof().as_string().unwrap_or_default()
        };
        js_sys::TypeError::new(&format!("{what} must be a string, not {given}")).into()
    })
}

/// A parsed and checked schema.
#[wasm_bindgen]
pub struct Schema {
    /// Shared with the batches linted against it, which build full results on demand.
    inner: Rc<keyschema::Schema>,
    /// The facts of each key definition as JSON, for `lintMany`; made on its first call.
    facts: OnceCell<String>,
}

#[wasm_bindgen]
impl Schema {
    /// Parses and checks `text`. Throws an `Error` with a `diagnostics` array when it has errors,
    /// and a `TypeError` when `text` is not a string.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "string")] text: JsValue) -> Result<Self, JsValue> {
        let text = string_arg(&text, "the schema's text")?;
        match keyschema::Schema::parse(&text, "schema.keys") {
            Ok(inner) => Ok(Self {
                inner: Rc::new(inner),
                facts: OnceCell::new(),
            }),
            Err(error) => {
                let js_error = js_sys::Error::new(&error.rendered);
                let diagnostics = parse_json(&diagnostics_json(&error.diagnostics, &text));
                // Setting a property on a fresh Error object cannot fail.
                let _ = js_sys::Reflect::set(&js_error, &JsValue::from_str("diagnostics"), &diagnostics);
                Err(js_error.into())
            }
        }
    }

    /// Every diagnostic of `text`, errors and warnings, without throwing (a `TypeError` when
    /// `text` is not a string).
    #[wasm_bindgen(unchecked_return_type = "SchemaDiagnostic[]")]
    pub fn check(#[wasm_bindgen(unchecked_param_type = "string")] text: JsValue) -> Result<JsValue, JsValue> {
        let text = string_arg(&text, "the schema's text")?;
        Ok(parse_json(&diagnostics_json(&keyschema::Schema::check(&text), &text)))
    }

    /// Lints one key (a `TypeError` when `key` is not a string).
    #[wasm_bindgen(unchecked_return_type = "LintResult")]
    pub fn lint(&self, #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue) -> Result<JsValue, JsValue> {
        let key = string_arg(&key, "the key")?;
        Ok(lint_result(&self.inner, key.as_bytes()))
    }

    /// Lints many keys in one call: one result per key, equal to `lint`'s. For a dump of a
    /// keyspace, `lintBatch` answers in typed arrays, without an object per key.
    #[wasm_bindgen(js_name = lintMany, unchecked_return_type = "LintResult[]")]
    pub fn lint_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] keys: JsValue,
    ) -> Result<JsValue, JsValue> {
        many::lint_many(&self.inner, self.facts(), &keys)
    }

    /// Lints many keys, one per line of `keys` (as `keyschema lint` reads a file: `\r\n` or `\n`,
    /// every line a key), into typed arrays; `onProgress(keys, fraction)` is called every 65,536
    /// keys. See `LintBatch`.
    #[wasm_bindgen(js_name = lintBatch, unchecked_return_type = "LintBatch")]
    pub fn lint_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer")] keys: JsValue,
        #[wasm_bindgen(js_name = onProgress, unchecked_optional_param_type = "(keys: number, fraction: number) => void")]
        on_progress: JsValue,
    ) -> Result<JsValue, JsValue> {
        batch::lint_batch(&self.inner, &keys, &on_progress)
    }

    /// The pattern of each key definition, in the order of the schema (the indexes of
    /// `LintBatch.patterns` and `toJSON().keys`).
    pub fn patterns(&self) -> Vec<String> {
        self.inner
            .model()
            .keys
            .iter()
            .map(|key| key.pattern.template.clone())
            .collect()
    }

    /// What the lint result of every key of each definition says alike (name, pattern, type, TTL),
    /// by the indexes of `LintBatch.patterns`.
    #[wasm_bindgen(js_name = keyFacts, unchecked_return_type = "KeyFacts[]")]
    pub fn key_facts(&self) -> JsValue {
        parse_json(self.facts())
    }

    /// Formats the key `name` from `params` (`{ jobID: "..." }`); throws on a bad value.
    #[wasm_bindgen(js_name = formatKey)]
    pub fn format_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string | number>")] params: JsValue,
    ) -> Result<String, JsValue> {
        let name = string_arg(&name, "the key's name")?;
        if !params.is_object() {
            let given = params.js_typeof().as_string().unwrap_or_default();
            let message = format!("formatKey takes the key's parameters as an object, not {given}");
            return Err(js_sys::TypeError::new(&message).into());
        }
        let object = js_sys::Object::from(params);
        let entries: Vec<(String, String)> = js_sys::Object::entries(&object)
            .iter()
            .map(|entry| {
                let pair = js_sys::Array::from(&entry);
                let value = pair.get(1);
                let text = value
                    .as_string()
                    .unwrap_or_else(|| String::from(js_sys::JSON::stringify(&value).unwrap_or_default()));
                (pair.get(0).as_string().unwrap_or_default(), text)
            })
            .collect();
        let pairs: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.inner
            .format_key(&name, &pairs)
            .map_err(|error| js_sys::Error::new(&error.to_string()).into())
    }

    /// The checked model, as `keyschema export` prints it.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        parse_json(&to_json(self.inner.model()))
    }

    /// The inventory as Markdown, as `keyschema docs` prints it.
    pub fn docs(&self) -> String {
        self.inner.docs()
    }
}

/// The Redis Cluster hash slot of a key (of its UTF-8 bytes).
#[wasm_bindgen(js_name = keySlot)]
pub fn key_slot(#[wasm_bindgen(unchecked_param_type = "string")] key: JsValue) -> Result<u16, JsValue> {
    Ok(keyschema::key_slot(string_arg(&key, "the key")?.as_bytes()))
}

/// The lint codes by their number in `LintBatch.problems`: number `n` is `lintCodes()[n - 1]`.
#[wasm_bindgen(js_name = lintCodes)]
pub fn lint_codes() -> Vec<String> {
    keyschema::LINT_CODES
        .iter()
        .map(|code| code.as_str().to_string())
        .collect()
}

/// What each lint code means, in a few words, by the same numbers as `lintCodes()`
/// (`lintCodeTitles()[0]` is `"no pattern matches"`, K001's).
#[wasm_bindgen(js_name = lintCodeTitles)]
pub fn lint_code_titles() -> Vec<String> {
    keyschema::LINT_CODES
        .iter()
        .map(|code| code.title().to_string())
        .collect()
}

/// The bundled Cordum schema's source.
#[wasm_bindgen(js_name = cordumSchema)]
pub fn cordum_schema() -> String {
    keyschema::examples::CORDUM.to_string()
}
