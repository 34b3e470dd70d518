//! `lintMany`: the results of `keyschema lint --format json` as JavaScript objects, built in bulk.
//! The keys cross once, joined; a matched key without ambiguity crosses back as its definition's
//! index, its slot and its parameters; only the others cross as whole results (see `many.js`).

use crate::{to_json, utf8};
use js_sys::{Array, Int32Array, JsString, Uint16Array};
use keyschema::{KeyFacts, ParamsObject};
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/many.js")]
extern "C" {
    #[wasm_bindgen(js_name = joinKeys, catch)]
    fn join_keys(keys: &JsValue) -> Result<JsString, JsValue>;
    #[wasm_bindgen(js_name = buildResults)]
    fn build_results(
        keys: &JsValue,
        definitions: Int32Array,
        slots: Uint16Array,
        facts: &str,
        params: &str,
        full: &str,
    ) -> JsValue;
}

/// The facts of every key definition, as JSON: what `buildResults` copies into matched results.
pub(crate) fn facts_json(schema: &keyschema::Schema) -> String {
    let facts: Vec<KeyFacts> = schema.model().keys.iter().map(KeyFacts::of).collect();
    to_json(&facts)
}

/// A JSON array written one element at a time.
struct JsonArray(Vec<u8>);

impl JsonArray {
    fn new() -> Self {
        Self(vec![b'['])
    }

    fn push(&mut self, value: &impl Serialize) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        // Writing into a Vec cannot fail, and our types serialise without error.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn finish(mut self) -> String {
        self.0.push(b']');
        // serde_json writes UTF-8.
        String::from_utf8(self.0).unwrap_or_default()
    }
}

pub(crate) fn lint_many(schema: &keyschema::Schema, facts: &str, keys: &JsValue) -> Result<JsValue, JsValue> {
    let joined = join_keys(keys)?;
    let count = keys.unchecked_ref::<Array>().length() as usize;
    let input = utf8(&joined);
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let owned: Vec<Vec<u8>>;
    if count == 0 {
        lines.clear();
    } else if lines.len() != count {
        // Some key holds a line break: take the keys one by one.
        owned = keys
            .unchecked_ref::<Array>()
            .iter()
            .map(|key| utf8(key.unchecked_ref()))
            .collect();
        lines = owned.iter().map(Vec::as_slice).collect();
    }
    let mut definitions = Vec::with_capacity(lines.len());
    let mut slots = Vec::with_capacity(lines.len());
    let mut params = JsonArray::new();
    let mut full = JsonArray::new();
    for line in lines {
        let result = schema.lint_bytes(line);
        slots.push(result.slot);
        // A key that JavaScript held with a lone surrogate reads U+FFFD here: its result names
        // the key as linted, so it travels whole.
        let replaced = line.windows(3).any(|w| w == [0xef, 0xbf, 0xbd]);
        match result.definition {
            Some(definition) if !result.has_problems() && result.also_matches.is_empty() && !replaced => {
                // Fewer than 2^31 definitions: a schema is at most 4 MiB.
                definitions.push(definition as i32);
                params.push(&ParamsObject(&result.params));
            }
            _ => {
                definitions.push(-1);
                full.push(&result);
            }
        }
    }
    Ok(build_results(
        keys,
        Int32Array::from(definitions.as_slice()),
        Uint16Array::from(slots.as_slice()),
        facts,
        &params.finish(),
        &full.finish(),
    ))
}
