//! WebAssembly bindings of [`keyschema`]: a thin layer that parses a schema and lints keys with
//! exactly the results of the native CLI. No logic lives here; values cross to JavaScript as JSON
//! (`JSON.parse` builds objects faster than one property set per field from WebAssembly).

use keyschema::{positioned, ColumnUnit, Diagnostic};
use serde::Serialize;
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

/// A parsed and checked schema.
#[wasm_bindgen]
pub struct Schema {
    inner: keyschema::Schema,
}

#[wasm_bindgen]
impl Schema {
    /// Parses and checks `text`. Throws an `Error` with a `diagnostics` array when it has errors.
    #[wasm_bindgen(constructor)]
    pub fn new(text: &str) -> Result<Self, JsValue> {
        match keyschema::Schema::parse(text, "schema.keys") {
            Ok(inner) => Ok(Self { inner }),
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
        // `lint_bytes`, as the CLI does, so an over-long key gets the same problem here.
        parse_json(&to_json(&self.inner.lint_bytes(key.as_bytes())))
    }

    /// Lints many keys in one call.
    #[wasm_bindgen(js_name = lintMany, unchecked_return_type = "LintResult[]")]
    pub fn lint_many(&self, keys: Vec<String>) -> JsValue {
        let results: Vec<keyschema::LintResult> =
            keys.iter().map(|key| self.inner.lint_bytes(key.as_bytes())).collect();
        parse_json(&to_json(&results))
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

/// The bundled Cordum schema's source.
#[wasm_bindgen(js_name = cordumSchema)]
pub fn cordum_schema() -> String {
    keyschema::examples::CORDUM.to_string()
}
