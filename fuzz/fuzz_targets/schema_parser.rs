//! Any text given to the schema parser and checker: diagnostics, never a panic; and a schema
//! that checks can lint its own keys' templates and render its docs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let diagnostics = keyschema::Schema::check(source);
    let _ = keyschema::render(&diagnostics, source, "fuzz.keys");
    if let Ok(schema) = keyschema::Schema::parse(source, "fuzz.keys") {
        let _ = schema.docs();
        for key in &schema.model().keys {
            let _ = schema.lint(&key.pattern.template);
        }
    }
});
