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
        "schemas/bridge_v1.keys",
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
    // Stores bridged from a previous layout, each into a folder of its own (their file names
    // are their schemas', like the unbridged ones above).
    let bridged = [
        (
            "../schema/examples/cordum.keys",
            "../schema/examples/cordum-cluster.keys",
            "from_cordum",
        ),
        ("schemas/bridge_v1.keys", "schemas/bridge_v2.keys", "from_bridge_v1"),
    ];
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (previous, schema, folder) in bridged {
        let dir = out_dir.join(folder);
        if let Err(error) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {error}", dir.display());
        }
        let generated = keyschema_codegen::Config::new()
            .quiet(true)
            .previous(previous)
            .out_dir(dir)
            .compile(&[schema]);
        if let Err(error) = generated {
            panic!("{error}");
        }
    }
}
