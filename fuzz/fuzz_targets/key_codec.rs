//! Arbitrary text values formatted into keys: always decodable, back to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static SCHEMA: LazyLock<keyschema::Schema> = LazyLock::new(|| {
    keyschema::Schema::parse("param a text\nparam b text\nk:<a>:{<b>} string \"K\"\nk:<a> as single string \"S\"\n", "codec.keys")
        .expect("valid")
});

fuzz_target!(|data: (String, String)| {
    let (a, b) = data;
    let Ok(key) = SCHEMA.format_key("k", &[("a", &a), ("b", &b)]) else { return };
    let result = SCHEMA.lint(&key);
    assert!(result.problems.is_empty(), "{key}: {:?}", result.problems);
    let decoded = texts(&result.params);
    assert_eq!(decoded, vec![a, b]);
});

fn texts(params: &[(String, keyschema::LintValue)]) -> Vec<String> {
    params
        .iter()
        .map(|(_, value)| match value {
            keyschema::LintValue::Text(text) => text.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}
