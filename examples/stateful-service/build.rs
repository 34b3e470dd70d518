//! Generates the typed store of `schema/metrics.keys` into `OUT_DIR/metrics.rs`.

fn main() {
    if let Err(error) = keyschema_codegen::compile(&["schema/metrics.keys"]) {
        panic!("{error}");
    }
}
