//! Generates the typed stores of the example schemas, so that generated code must compile (and
//! pass clippy) on every test run, and the end-to-end tests use it.

fn main() {
    let schemas = [
        "../schema/examples/cordum.keys",
        "../schema/examples/cordum-cluster.keys",
        "../schema/examples/catalog.keys",
        "../schema/examples/state.keys",
        "../schema/examples/opensensor.keys",
        "schemas/copy_params.keys",
        "schemas/every_shape.keys",
    ];
    // The examples' warnings are their documented, real ambiguities: not printed on every build.
    // An attribute a service asks for on one generated type: tests/examples/unused_store.rs
    // sorts the keys, which compiles only if it is there.
    let generated = keyschema_codegen::Config::new()
        .quiet(true)
        .type_attribute("ItemNameKey", "#[derive(PartialOrd, Ord)]")
        .compile(&schemas);
    if let Err(error) = generated {
        // A build script reports by panicking; the message is the rendered error.
        panic!("{error}");
    }
}
