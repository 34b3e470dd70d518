//! The Go, TypeScript and Python key packages against the Rust codec: for every schema in the
//! repository, a corpus of vectors computed in Rust (`languages/corpus.rs`) is checked byte for
//! byte by the package each language's generator writes, run by that language's own toolchain
//! (`go`, `node`, `python3`: a missing toolchain fails the test, it never skips). The packages
//! must also pass their toolchain's own checks: `gofmt` and `go vet`, `tsc --strict`, `mypy
//! --strict` when installed.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

#[path = "languages/corpus.rs"]
mod corpus;

use keyschema_codegen::{package, Lang};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every schema of the repository, by path from this crate.
const SCHEMAS: &[&str] = &[
    "../schema/examples/cordum.keys",
    "../schema/examples/cordum-cluster.keys",
    "../schema/examples/catalog.keys",
    "../schema/examples/state.keys",
    "../schema/examples/opensensor.keys",
    "../examples/first-service/schema/app.keys",
    "../examples/stateful-service/schema/metrics.keys",
    "../tests/schemas/every_shape.keys",
    "../tests/schemas/copy_params.keys",
    "../tests/schemas/bridge_v1.keys",
    "../tests/schemas/bridge_v2.keys",
    "tests/shapes.keys",
];

/// Vectors drawn per key definition (before mutations and TTL vectors).
const PER_KEY: usize = 60;

struct Corpus {
    /// The schema's file name.
    name: String,
    source: String,
    file: PathBuf,
    vectors: usize,
}

/// A fresh folder under the target directory for one test.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes every schema's corpus into `dir`.
fn corpora(dir: &Path) -> Vec<Corpus> {
    SCHEMAS
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
            let source = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let schema = keyschema::Schema::parse(&source, &name).unwrap();
            let vectors = corpus::vectors(&schema, 0x5eed + i as u64, PER_KEY);
            let text: String = vectors.iter().map(|v| format!("{v}\n")).collect();
            let file = dir.join(format!("{}.jsonl", name.trim_end_matches(".keys")));
            std::fs::write(&file, text).unwrap();
            Corpus {
                name,
                source,
                file,
                vectors: vectors.len(),
            }
        })
        .collect()
}

/// Runs `command`, failing loudly when the toolchain is missing or the command fails; answers
/// its standard output.
fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "{what}: cannot run {:?} ({e}); .ci/run installs it",
            command.get_program()
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    stdout
}

/// Asserts the harness agreed on every vector of every corpus.
fn assert_agreement(output: &str, corpora: &[Corpus], key: impl Fn(&Corpus) -> String) {
    let total: usize = corpora.iter().map(|c| c.vectors).sum();
    assert!(total >= 10_000, "the corpus has {total} vectors, fewer than 10,000");
    for corpus in corpora {
        let expected = format!("{}: agree {n} of {n}", key(corpus), n = corpus.vectors);
        assert!(output.contains(&expected), "no `{expected}` in:\n{output}");
    }
}

#[test]
fn go_packages_agree_with_the_rust_codec_on_every_vector() {
    let dir = workdir("go");
    let corpora = corpora(&dir);
    std::fs::write(dir.join("go.mod"), "module conformance\n\ngo 1.19\n").unwrap();
    std::fs::write(dir.join("main.go"), include_str!("languages/harness.go")).unwrap();
    let mut registry = String::from("package main\n\nimport (\n\t\"fmt\"\n");
    let mut inits = String::new();
    for corpus in &corpora {
        let files = package(Lang::Go, &corpus.source, &corpus.name).unwrap();
        let pkg = files[0]
            .content
            .lines()
            .find_map(|l| l.strip_prefix("package "))
            .unwrap()
            .to_string();
        std::fs::create_dir_all(dir.join(&pkg)).unwrap();
        for file in &files {
            std::fs::write(dir.join(&pkg).join(&file.name), &file.content).unwrap();
        }
        registry.push_str(&format!("\t\"conformance/{pkg}\"\n"));
        inits.push_str(
            &include_str!("languages/package.go.in")
                .replace("NAME", &corpus.name)
                .replace("PKG", &pkg),
        );
    }
    registry.push_str(")\n\nvar packages = map[string]api{}\n");
    registry.push_str(&inits);
    std::fs::write(dir.join("packages.go"), registry).unwrap();
    // The generated packages only: the harness's registry is not formatted.
    let mut gofmt = Command::new("gofmt");
    gofmt.arg("-l");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            gofmt.arg(path);
        }
    }
    let unformatted = run(&mut gofmt, "gofmt");
    assert!(unformatted.trim().is_empty(), "not gofmt-clean: {unformatted}");
    run(Command::new("go").args(["vet", "./..."]).current_dir(&dir), "go vet");
    let mut harness = Command::new("go");
    harness.arg("run").arg(".").current_dir(&dir);
    for corpus in &corpora {
        harness.arg(format!("{}={}", corpus.name, corpus.file.display()));
    }
    let output = run(&mut harness, "the Go harness");
    assert_agreement(&output, &corpora, |c| c.name.clone());
}

#[test]
fn typescript_packages_agree_with_the_rust_codec_on_every_vector() {
    let dir = workdir("ts");
    let corpora = corpora(&dir);
    let harness = dir.join("harness.mjs");
    std::fs::write(&harness, include_str!("languages/harness.mjs")).unwrap();
    let mut command = Command::new("node");
    command.arg(&harness);
    for corpus in &corpora {
        let files = package(Lang::TypeScript, &corpus.source, &corpus.name).unwrap();
        for file in &files {
            std::fs::write(dir.join(&file.name), &file.content).unwrap();
        }
        let module = dir.join(&files[0].name);
        command.arg(format!(
            "{}={}={}",
            corpus.name,
            module.display(),
            corpus.file.display()
        ));
    }
    let output = run(&mut command, "the TypeScript harness");
    assert_agreement(&output, &corpora, |c| c.name.clone());

    // The declarations, under a strict user on ES2022 calling every key's typed formatter.
    let mut consumer = String::new();
    for (i, corpus) in corpora.iter().enumerate() {
        let files = package(Lang::TypeScript, &corpus.source, &corpus.name).unwrap();
        consumer.push_str(&format!("import * as p{i} from \"./{}\";\n", files[0].name));
    }
    for (i, corpus) in corpora.iter().enumerate() {
        let schema = keyschema::Schema::parse(&corpus.source, &corpus.name).unwrap();
        consumer.push_str(&typescript_calls(&format!("p{i}"), schema.model()));
    }
    std::fs::write(dir.join("consumer.ts"), consumer).unwrap();
    std::fs::write(
        dir.join("tsconfig.json"),
        r#"{"compilerOptions": {"strict": true, "noEmit": true, "target": "ES2022", "module": "ES2022",
            "moduleResolution": "bundler", "lib": ["ES2022"], "skipLibCheck": false, "types": []},
            "files": ["consumer.ts"]}"#,
    )
    .unwrap();
    let tsc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bindings/node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "no {}: run `npm ci` in bindings (scripts/test does)",
        tsc.display()
    );
    run(
        Command::new(tsc).arg("-p").arg(dir.join("tsconfig.json")),
        "tsc --strict",
    );
}

/// TypeScript calling every key's `format` of package `module` with values of the declared
/// types, then reading a key back, its slot and its TTL.
fn typescript_calls(module: &str, schema: &keyschema::KeySchema) -> String {
    use keyschema::model::ParamType;
    let mut out = String::new();
    for (k, key) in schema.keys.iter().enumerate() {
        let args: Vec<String> = key
            .pattern
            .params()
            .map(|p| match &schema.params[p].ty {
                ParamType::Int | ParamType::UnixSeconds => "1n".to_string(),
                ParamType::Enum { variants, .. } => format!("{:?}", variants[0]),
                _ => "\"x\"".to_string(),
            })
            .collect();
        let name = keyschema_codegen_ts_name(&key.name);
        out.push_str(&format!(
            "export const {module}k{k}: string = {module}.{name}.format({});\n",
            args.join(", ")
        ));
    }
    out.push_str(&format!(
        "export const {module}m: {module}.Match = {module}.parse(\"x\");\n\
         export const {module}s: number = {module}.slot({module}m.key.pattern);\n\
         export const {module}t: bigint | null = {module}.keys[0].ttl.resolve((name: string) => name);\n"
    ));
    out
}

/// The name the TypeScript package gives key `name` (`job_state` → `jobState`).
fn keyschema_codegen_ts_name(name: &str) -> String {
    let mut out = String::new();
    for (i, word) in name.split('_').filter(|w| !w.is_empty()).enumerate() {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(if i == 0 { first } else { first.to_ascii_uppercase() });
            out.push_str(chars.as_str());
        }
    }
    out
}

#[test]
fn python_packages_agree_with_the_rust_codec_on_every_vector() {
    let dir = workdir("python");
    let corpora = corpora(&dir);
    let harness = dir.join("harness.py");
    std::fs::write(&harness, include_str!("languages/harness.py")).unwrap();
    let mut command = Command::new("python3");
    command.arg(&harness);
    for corpus in &corpora {
        let files = package(Lang::Python, &corpus.source, &corpus.name).unwrap();
        for file in &files {
            std::fs::write(dir.join(&file.name), &file.content).unwrap();
        }
        let module = dir.join(&files[0].name);
        command.arg(format!(
            "{}={}={}",
            corpus.name,
            module.display(),
            corpus.file.display()
        ));
    }
    let output = run(&mut command, "the Python harness");
    assert_agreement(&output, &corpora, |c| c.name.clone());
    // Typed for Python 3.9, under mypy's strictest settings.
    let mut mypy = Command::new("python3");
    mypy.args([
        "-m",
        "mypy",
        "--strict",
        "--python-version",
        "3.9",
        "--no-incremental",
        "--cache-dir=/dev/null",
    ]);
    for corpus in &corpora {
        let files = package(Lang::Python, &corpus.source, &corpus.name).unwrap();
        mypy.arg(dir.join(&files[0].name));
    }
    run(&mut mypy, "mypy --strict (pip install mypy; .ci/run does)");
}

/// The Cordum packages committed under `examples/languages` are what the generator writes now,
/// and pass their own tests: Go's against Cordum's concatenation over the inventory.
#[test]
fn the_committed_cordum_packages_are_current_and_pass_their_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let schema = root.join("schema/examples/cordum.keys");
    let examples = root.join("examples/languages");
    for (lang, folder) in [
        (Lang::Go, examples.join("go/cordumkeys")),
        (Lang::TypeScript, examples.join("ts")),
        (Lang::Python, examples.join("python")),
    ] {
        let stale = keyschema_codegen::check_package(lang, &schema, &folder).unwrap();
        assert!(
            stale.is_empty(),
            "stale: {stale:?}; run `keyschema gen schema/examples/cordum.keys --lang ... --out {}`",
            folder.display()
        );
    }
    run(
        Command::new("go")
            .args(["vet", "./..."])
            .current_dir(examples.join("go")),
        "go vet",
    );
    run(
        Command::new("go")
            .args(["test", "./..."])
            .current_dir(examples.join("go")),
        "go test",
    );
    run(
        Command::new("node").arg("--test").arg(examples.join("ts")),
        "node --test",
    );
    let python = examples.join("python");
    run(
        Command::new("python3")
            .args(["-m", "unittest", "discover", "-s"])
            .arg(&python),
        "python3 -m unittest",
    );
    run(
        Command::new("python3")
            .args([
                "-m",
                "mypy",
                "--strict",
                "--python-version",
                "3.9",
                "--no-incremental",
                "--cache-dir=/dev/null",
            ])
            .arg(&python),
        "mypy --strict",
    );
}
