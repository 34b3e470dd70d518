//! Many keys linted in one call: the keys cross into WebAssembly once, as one string or one byte
//! array, and the answer crosses back as typed arrays made once, so a million keys cost no object
//! per key. A key's full result is built when it is asked for.

use crate::{lint_result, utf8};
use js_sys::{Function, Int32Array, JsString, Uint16Array, Uint32Array, Uint8Array};
use keyschema::LintTable;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// The lint of many keys, in columns indexed by key (row): what `Schema.lintBatch` returns.
///
/// ```js
/// const batch = schema.lintBatch(text);            // one key per line
/// const patterns = schema.patterns();
/// for (let row = 0; row < batch.length; row++) {
///   if (batch.problems[row] !== 0) console.log(batch.key(row), batch.result(row).problems[0].message);
///   else console.log(batch.key(row), patterns[batch.patterns[row]]);
/// }
/// batch.free();                                    // or let the garbage collector do it
/// ```
#[wasm_bindgen]
pub struct LintBatch {
    schema: Rc<keyschema::Schema>,
    input: Vec<u8>,
    table: LintTable,
    patterns: Int32Array,
    slots: Uint16Array,
    problems: Uint8Array,
    starts: Uint32Array,
    ends: Uint32Array,
    keys_per_pattern: Uint32Array,
    keys_per_problem: Uint32Array,
}

impl LintBatch {
    pub(crate) fn lint(
        schema: Rc<keyschema::Schema>,
        keys: JsValue,
        on_progress: Option<&Function>,
    ) -> Result<Self, JsValue> {
        let input = if let Some(text) = keys.dyn_ref::<JsString>() {
            utf8(text)
        } else if let Some(bytes) = keys.dyn_ref::<Uint8Array>() {
            bytes.to_vec()
        } else {
            return Err(
                js_sys::TypeError::new("lintBatch takes a string or a Uint8Array of keys, one per line").into(),
            );
        };
        let total = input.len().max(1) as f64;
        let mut callback_error = None;
        let table = schema
            .lint_table_with_progress(&input, |keys, bytes| {
                if let (Some(callback), None) = (on_progress, &callback_error) {
                    let (keys, fraction) = (JsValue::from(keys as u32), JsValue::from(bytes as f64 / total));
                    if let Err(error) = callback.call2(&JsValue::UNDEFINED, &keys, &fraction) {
                        callback_error = Some(error);
                    }
                }
            })
            .map_err(|error| js_sys::RangeError::new(&error.to_string()))?;
        if let Some(error) = callback_error {
            return Err(error);
        }
        Ok(Self {
            patterns: Int32Array::from(table.patterns()),
            slots: Uint16Array::from(table.slots()),
            problems: Uint8Array::from(table.problems()),
            starts: Uint32Array::from(table.starts()),
            ends: Uint32Array::from(table.ends()),
            keys_per_pattern: Uint32Array::from(table.keys_per_pattern()),
            keys_per_problem: Uint32Array::from(table.keys_per_problem()),
            schema,
            input,
            table,
        })
    }

    fn row(&self, row: u32) -> Result<usize, JsValue> {
        let row = row as usize;
        if row < self.table.len() {
            Ok(row)
        } else {
            let message = format!("row {row} is out of range: the batch has {} keys", self.table.len());
            Err(js_sys::RangeError::new(&message).into())
        }
    }
}

// The getters hand out the same typed array every time, so reading `batch.slots[i]` in a loop
// copies nothing.
#[wasm_bindgen]
impl LintBatch {
    /// The number of keys (lines).
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> u32 {
        self.table.len() as u32
    }

    /// Per key: the index of its pattern in `schema.patterns()`, or -1 when it matches none.
    #[wasm_bindgen(getter)]
    pub fn patterns(&self) -> Int32Array {
        self.patterns.clone()
    }

    /// Per key: its cluster hash slot.
    #[wasm_bindgen(getter)]
    pub fn slots(&self) -> Uint16Array {
        self.slots.clone()
    }

    /// Per key: the number of its first problem's code (`lintCodes()[n - 1]`), 0 when it has none.
    #[wasm_bindgen(getter)]
    pub fn problems(&self) -> Uint8Array {
        self.problems.clone()
    }

    /// Per key: the byte offset in the input's UTF-8 where it starts.
    #[wasm_bindgen(getter)]
    pub fn starts(&self) -> Uint32Array {
        self.starts.clone()
    }

    /// Per key: the byte offset in the input's UTF-8 where it ends (its line break excluded).
    #[wasm_bindgen(getter)]
    pub fn ends(&self) -> Uint32Array {
        self.ends.clone()
    }

    /// Per pattern (index of `schema.patterns()`): how many keys matched it.
    #[wasm_bindgen(getter, js_name = keysPerPattern)]
    pub fn keys_per_pattern(&self) -> Uint32Array {
        self.keys_per_pattern.clone()
    }

    /// Per problem number: how many keys have it as their first; index 0 counts the keys without.
    #[wasm_bindgen(getter, js_name = keysPerProblem)]
    pub fn keys_per_problem(&self) -> Uint32Array {
        self.keys_per_problem.clone()
    }

    /// The key of `row` (bytes that are not UTF-8 shown as U+FFFD).
    pub fn key(&self, row: u32) -> Result<String, JsValue> {
        let row = self.row(row)?;
        Ok(String::from_utf8_lossy(self.table.key(&self.input, row)).into_owned())
    }

    /// The full result of `row`: what `keyschema lint --format json` prints for that line.
    #[wasm_bindgen(unchecked_return_type = "LintResult")]
    pub fn result(&self, row: u32) -> Result<JsValue, JsValue> {
        let row = self.row(row)?;
        Ok(lint_result(&self.schema, self.table.key(&self.input, row)))
    }
}
