//! Any text given to the schema parser and checker: diagnostics, never a panic, and output
//! bounded by a multiple of the input (repeated diagnostics are capped, long lines windowed); a
//! schema that checks can lint its own keys' templates and render its docs. Run with
//! `-timeout=5` so a slow input (an explosion in the pair search) is a finding too.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Rendered diagnostics may quote a line (windowed to 120 characters) and name the patterns
/// involved, at most 20 times per code and line: a generous multiple of the input.
const OUTPUT_FACTOR: usize = 100;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let diagnostics = keyschema::Schema::check(source);
    let rendered = keyschema::render(&diagnostics, source, "fuzz.keys");
    assert!(
        rendered.len() <= OUTPUT_FACTOR * source.len() + 64 * 1024,
        "{} bytes of diagnostics for {} bytes of schema",
        rendered.len(),
        source.len()
    );
    if let Ok(schema) = keyschema::Schema::parse(source, "fuzz.keys") {
        let _ = schema.docs();
        for key in &schema.model().keys {
            let _ = schema.lint(&key.pattern.template);
        }
    }
});
