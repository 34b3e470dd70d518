//! The bindings' API inside WebAssembly, under Node (`wasm-bindgen-test-runner`):
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test -p keyschema-wasm --target wasm32-unknown-unknown`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_wasm::{cordum_schema, key_slot, Schema};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

fn get(value: &JsValue, field: &str) -> JsValue {
    js_sys::Reflect::get(value, &JsValue::from_str(field)).unwrap()
}

#[wasm_bindgen_test]
fn lint_gives_the_cli_fields() {
    let schema = Schema::new(cordum_schema().into()).unwrap();
    let result = schema.lint("job:index:running".into()).unwrap();
    assert_eq!(get(&result, "name").as_string().as_deref(), Some("job_index"));
    assert_eq!(
        get(&get(&result, "params"), "state").as_string().as_deref(),
        Some("RUNNING")
    );
    assert_eq!(get(&result, "ttl_seconds").as_f64(), Some(604_800.0));
    assert_eq!(
        get(&result, "slot").as_f64(),
        Some(f64::from(key_slot("job:index:running".into()).unwrap()))
    );
}

#[wasm_bindgen_test]
fn errors_carry_diagnostics() {
    let error = Schema::new("k:<nope> string \"K\"\n".into()).err().unwrap();
    let diagnostics = js_sys::Array::from(&get(&error, "diagnostics"));
    let first = diagnostics.get(0);
    assert_eq!(get(&first, "code").as_string().as_deref(), Some("E004"));
    assert_eq!(get(&first, "line").as_f64(), Some(1.0));
    assert_eq!(get(&first, "column").as_f64(), Some(3.0));
}

#[wasm_bindgen_test]
fn many_keys_in_one_call() {
    let schema = Schema::new(cordum_schema().into()).unwrap();
    let keys: js_sys::Array = (0..1000)
        .map(|i| JsValue::from(format!("cordum:rl:t{i}:{i}")))
        .collect();
    let results = js_sys::Array::from(&schema.lint_many(keys.into()).unwrap());
    assert_eq!(results.length(), 1000);
    assert_eq!(
        get(&results.get(999), "pattern").as_string().as_deref(),
        Some("cordum:rl:<tenant>:<unixSec>")
    );
}

#[wasm_bindgen_test]
fn a_batch_of_keys_in_typed_arrays() {
    let schema = Schema::new(cordum_schema().into()).unwrap();
    let text: String = (0..1000).map(|i| format!("cordum:rl:t{i}:{i}\n")).collect();
    let batch = schema.lint_batch(JsValue::from(text), JsValue::UNDEFINED).unwrap();
    assert_eq!(get(&batch, "length").as_f64(), Some(1000.0));
    let patterns = js_sys::Int32Array::from(get(&batch, "patterns"));
    let pattern = schema.patterns()[patterns.get_index(999) as usize].clone();
    assert_eq!(pattern, "cordum:rl:<tenant>:<unixSec>");
    assert_eq!(
        js_sys::Uint32Array::from(get(&batch, "keysPerProblem")).get_index(0),
        1000
    );
}
