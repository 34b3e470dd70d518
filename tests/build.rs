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
    ];
    // The examples' warnings are their documented, real ambiguities: not printed on every build.
    if let Err(error) = keyschema_codegen::Config::new().quiet(true).compile(&schemas) {
        // A build script reports by panicking; the message is the rendered error.
        panic!("{error}");
    }
}
