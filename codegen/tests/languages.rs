//! The Go, TypeScript and Python key packages against the Rust codec: for every schema in the
//! repository, a corpus of vectors computed in Rust (`languages/corpus.rs`) is checked byte for
//! byte by the package each language's generator writes, run by that language's own toolchain
//! (`go`, `node`, `python3`: a missing toolchain fails the test, it never skips). The packages
//! must also pass their toolchain's own checks: `gofmt` and `go vet`, `tsc --strict`, `mypy
//! --strict` when installed.

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
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?} ({e}); .ci/run installs it", command.get_program()));
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
        let pkg = files[0].content.lines().find_map(|l| l.strip_prefix("package ")).unwrap().to_string();
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
