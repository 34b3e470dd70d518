//! Many keys linted in one call: the keys cross into WebAssembly once, as one string or one byte
//! array, and the answer crosses back as typed arrays made once, so a million keys cost no object
//! per key. A key's full result is built when it is asked for.
//!
//! The batch itself is a JavaScript object (`batch.js`): its arrays and the keys' bytes live in
//! JavaScript's heap, where the garbage collector reclaims them even in a loop that never calls
//! `free()` and never yields to the event loop (when the batch lived in WebAssembly memory, such a
//! loop grew that memory by ~51 MB per million keys until it failed). What stays in WebAssembly
//! memory is a [`RowLinter`]: one reference count on the schema.

use crate::lint_result;
use js_sys::{ArrayBuffer, Function, Int32Array, JsString, Uint16Array, Uint32Array, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/batch.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeBatch)]
    #[allow(clippy::too_many_arguments)] // the columns of one table, named where they are used
    fn make_batch(
        linter: RowLinter,
        input: Uint8Array,
        patterns: Int32Array,
        slots: Uint16Array,
        problems: Uint8Array,
        starts: Uint32Array,
        ends: Uint32Array,
        keys_per_pattern: Uint32Array,
        keys_per_problem: Uint32Array,
    ) -> JsValue;
}

/// What a batch keeps in WebAssembly memory: its schema, shared, so that `result(row)` works
/// after the `Schema` it came from is freed. Not part of the typed API.
#[wasm_bindgen(skip_typescript)]
pub struct RowLinter {
    schema: Rc<keyschema::Schema>,
}

#[wasm_bindgen]
impl RowLinter {
    /// The full lint result of one key's bytes.
    pub fn lint(&self, key: &[u8]) -> JsValue {
        lint_result(&self.schema, key)
    }
}

/// The keys' bytes as a JavaScript array of the batch's own (never the caller's, which may
/// change): a string's UTF-8, or a copy of the bytes of a `Uint8Array`, another typed array, a
/// `DataView` or an `ArrayBuffer`.
fn input_bytes(keys: &JsValue) -> Result<Uint8Array, JsValue> {
    if let Some(text) = keys.dyn_ref::<JsString>() {
        return Ok(crate::utf8_array(text));
    }
    if let Some(buffer) = keys.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).slice(0, buffer.byte_length()));
    }
    if ArrayBuffer::is_view(keys) {
        let get = |field: &str| js_sys::Reflect::get(keys, &JsValue::from_str(field));
        let buffer = get("buffer")?;
        let offset = get("byteOffset")?.as_f64().unwrap_or(0.0) as u32;
        let length = get("byteLength")?.as_f64().unwrap_or(0.0) as u32;
        return Ok(Uint8Array::new_with_byte_offset_and_length(&buffer, offset, length).slice(0, length));
    }
    let what = keys.js_typeof().as_string().unwrap_or_default();
    let message =
        format!("lintBatch takes a string or a Uint8Array (or ArrayBuffer) of keys, one per line, not {what}");
    Err(js_sys::TypeError::new(&message).into())
}

/// `onProgress`, which may be left out (`undefined` or `null`) but must be a function if given.
pub(crate) fn progress_callback(on_progress: &JsValue) -> Result<Option<&Function>, JsValue> {
    if on_progress.is_undefined() || on_progress.is_null() {
        Ok(None)
    } else if let Some(function) = on_progress.dyn_ref::<Function>() {
        Ok(Some(function))
    } else {
        let what = on_progress.js_typeof().as_string().unwrap_or_default();
        Err(js_sys::TypeError::new(&format!("onProgress must be a function, not {what}")).into())
    }
}

/// Lints `keys` against `schema` into a `LintBatch` (see `batch.js` and the package's types).
pub(crate) fn lint_batch(
    schema: &Rc<keyschema::Schema>,
    keys: &JsValue,
    on_progress: &JsValue,
) -> Result<JsValue, JsValue> {
    let on_progress = progress_callback(on_progress)?;
    let array = input_bytes(keys)?;
    let input = array.to_vec();
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
    Ok(make_batch(
        RowLinter {
            schema: Rc::clone(schema),
        },
        array,
        Int32Array::from(table.patterns()),
        Uint16Array::from(table.slots()),
        Uint8Array::from(table.problems()),
        Uint32Array::from(table.starts()),
        Uint32Array::from(table.ends()),
        Uint32Array::from(table.keys_per_pattern()),
        Uint32Array::from(table.keys_per_problem()),
    ))
}
