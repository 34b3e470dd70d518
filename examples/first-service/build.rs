//! Generates the typed store of `schema/app.keys` into `OUT_DIR/app.rs`.

fn main() {
    // A schema error panics with the rendered diagnostics (file:line:col, the line, a caret);
    // checker warnings become `cargo:warning=` lines.
    if let Err(error) = keyschema_codegen::compile(&["schema/app.keys"]) {
        panic!("{error}");
    }
}
