//! Any bytes linted against the Cordum schema: a result, never a panic; whatever matches formats
//! back to the same key when it was in canonical form; `classify` decides as `match_key`; and the
//! bytes as a file of keys give a lint table that agrees with `lint_bytes` line by line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static SCHEMA: LazyLock<keyschema::Schema> =
    LazyLock::new(|| keyschema::Schema::parse(keyschema::examples::CORDUM, "cordum.keys").expect("valid"));

fuzz_target!(|data: &[u8]| {
    let result = SCHEMA.lint_bytes(data);
    assert_eq!(result.slot, keyschema::key_slot(data));
    let table = SCHEMA.lint_table(data).expect("fuzz inputs are small");
    for row in 0..table.len() {
        let line = SCHEMA.lint_bytes(table.key(data, row));
        assert_eq!(table.pattern(row), line.definition);
        assert_eq!(table.slots()[row], line.slot);
        assert_eq!(table.problem(row), line.problems.first().map(|p| p.code));
    }
    let Ok(key) = std::str::from_utf8(data) else { return };
    assert_eq!(
        SCHEMA.matcher().classify(key).map_err(|f| f.code),
        SCHEMA.matcher().match_key(key).map(|m| m.key).map_err(|f| f.code)
    );
    if let Ok(found) = SCHEMA.matcher().match_key(key) {
        let model = SCHEMA.model();
        let values: Vec<_> = found.values.iter().map(|(_, v)| v.clone()).collect();
        let mut again = String::new();
        model.write_key(&model.keys[found.key], &values, &mut again).expect("decoded values format");
        // Keys parsed through a spanning parameter may have held raw separators; all others are canonical.
        let spans = model.keys[found.key].pattern.params().any(|p| model.params[p].spans);
        if !spans {
            assert_eq!(again, key, "a decoded key must format back to itself");
        }
    }
});
