//! WebAssembly bindings of [`keyschema`]: a thin layer that parses a schema and lints keys with
//! exactly the results of the native CLI. No logic lives here. Results of single keys cross to
//! JavaScript as JSON (`JSON.parse` builds objects faster than one property set per field from
//! WebAssembly); many keys cross once as one string and come back as typed arrays
//! ([`LintBatch`]).

mod batch;
mod many;

pub use batch::LintBatch;
use js_sys::JsString;
use keyschema::{positioned, ColumnUnit, Diagnostic};
use serde::Serialize;
use std::cell::OnceCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
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
    TextEncoder::new().encode(text).to_vec()
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
    /// Parses and checks `text`. Throws an `Error` with a `diagnostics` array when it has errors.
    #[wasm_bindgen(constructor)]
    pub fn new(text: &str) -> Result<Self, JsValue> {
        match keyschema::Schema::parse(text, "schema.keys") {
            Ok(inner) => Ok(Self {
                inner: Rc::new(inner),
                facts: OnceCell::new(),
            }),
            Err(error) => {
                let js_error = js_sys::Error::new(&error.rendered);
                let diagnostics = parse_json(&diagnostics_json(&error.diagnostics, text));
                // Setting a property on a fresh Error object cannot fail.
                let _ = js_sys::Reflect::set(&js_error, &JsValue::from_str("diagnostics"), &diagnostics);
                Err(js_error.into())
            }
        }
    }

    /// Every diagnostic of `text`, errors and warnings, without throwing.
    #[wasm_bindgen(unchecked_return_type = "SchemaDiagnostic[]")]
    pub fn check(text: &str) -> JsValue {
        parse_json(&diagnostics_json(&keyschema::Schema::check(text), text))
    }

    /// Lints one key.
    #[wasm_bindgen(unchecked_return_type = "LintResult")]
    pub fn lint(&self, key: &str) -> JsValue {
        lint_result(&self.inner, key.as_bytes())
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
    /// keys. See [`LintBatch`].
    #[wasm_bindgen(js_name = lintBatch)]
    pub fn lint_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] keys: JsValue,
        #[wasm_bindgen(js_name = onProgress, unchecked_optional_param_type = "(keys: number, fraction: number) => void")]
        on_progress: Option<js_sys::Function>,
    ) -> Result<LintBatch, JsValue> {
        LintBatch::lint(Rc::clone(&self.inner), keys, on_progress.as_ref())
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
        name: &str,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string | number>")] params: JsValue,
    ) -> Result<String, JsValue> {
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
            .format_key(name, &pairs)
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
pub fn key_slot(key: &str) -> u16 {
    keyschema::key_slot(key.as_bytes())
}

/// The lint codes by their number in `LintBatch.problems`: number `n` is `lintCodes()[n - 1]`.
#[wasm_bindgen(js_name = lintCodes)]
pub fn lint_codes() -> Vec<String> {
    keyschema::LINT_CODES
        .iter()
        .map(|code| code.as_str().to_string())
        .collect()
}

/// The bundled Cordum schema's source.
#[wasm_bindgen(js_name = cordumSchema)]
pub fn cordum_schema() -> String {
    keyschema::examples::CORDUM.to_string()
}
