//! The store's layers, checked from its source: every `crate::` and `super::` path of every
//! file under `src/` is an import edge, and
//! - an import never runs from a lower layer to a higher one (features build on the core, the
//!   facade on the features, the operations on the facade; never back), and
//! - no files import each other in a circle, inside a layer either.
//!
//! The layers are written down here and in docs/architecture.md; a new module must be given one.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `store/src` and its layer, from the ground up.
const LAYERS: &[(&str, u8)] = &[
    // Leaves: no import of the crate.
    ("util", 0),
    ("extensions", 0),
    ("error", 0),
    ("script", 0),
    ("recording", 0),
    // The core's parts.
    ("codec", 1),
    ("policy", 1),
    ("param", 1),
    ("connection", 1),
    ("write", 2),
    ("core", 3),
    // Typed operations on the core.
    ("keys", 4),
    ("batch", 4),
    ("transaction", 4),
    ("bridge", 4),
    ("telemetry", 4),
    // Features, each owning its state.
    ("primitives", 5),
    ("state", 5),
    ("cache", 6),
    // The facade, and what uses a store as a user would.
    ("store", 7),
    ("contract", 8),
    ("ops", 8),
    ("lib", 9),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as a path relative to `src/` without `.rs` (`primitives/lock`).
fn files(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src()).unwrap().with_extension("");
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The module path of a file (`primitives/mod` -> `primitives`).
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The file holding module path `path` (the longest prefix that is a file), if any.
fn file_of(path: &[String], known: &BTreeSet<String>) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let joined = path[..n].join("/");
        [joined.clone(), format!("{joined}/mod")]
            .into_iter()
            .find(|candidate| known.contains(candidate))
    })
}

/// The crate paths a line of code names: `crate::a::b` and `super::a` (resolved from `module`),
/// braces expanded one level (`crate::a::{b, c}`).
fn paths_in(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    for (start, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
        // Skip `::crate` of other crates and identifiers ending in `super`/`crate`.
        if start > 0 && code[..start].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut base: Vec<String> = if code[start..].starts_with("super::") {
            module[..module.len().saturating_sub(1)].to_vec()
        } else {
            Vec::new()
        };
        let mut rest = &code[start..];
        rest = rest.split_once("::").map_or("", |(_, r)| r);
        while let Some(stripped) = rest.strip_prefix("super::") {
            base.pop();
            rest = stripped;
        }
        let head: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut path = base.clone();
        path.extend(head.split("::").filter(|s| !s.is_empty()).map(str::to_string));
        found.push(path.clone());
        if rest[head.len()..].starts_with('{') {
            let inner = rest[head.len() + 1..].split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let mut item_path = path.clone();
                item_path.extend(
                    item.trim()
                        .split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty() && s != "self"),
                );
                found.push(item_path);
            }
        }
    }
    found
}

/// Every import edge between files (`from` -> `to`), doc comments and tests left out.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let known: BTreeSet<String> = all.iter().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let text = std::fs::read_to_string(src().join(format!("{file}.rs"))).unwrap();
        let module = module_of(file);
        let mut targets = BTreeSet::new();
        for line in text.lines() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break; // A file's unit tests come last and may reach anywhere.
            }
            if line.trim_start().starts_with("//") {
                continue;
            }
            for path in paths_in(line, &module) {
                if let Some(target) = file_of(&path, &known) {
                    if &target != file {
                        targets.insert(target);
                    }
                }
            }
        }
        edges.insert(file.clone(), targets);
    }
    edges
}

fn layer(file: &str) -> u8 {
    let top = file.split('/').next().unwrap_or(file);
    LAYERS
        .iter()
        .find(|(name, _)| *name == top)
        .map(|(_, layer)| *layer)
        .unwrap_or_else(|| panic!("store/src/{file}.rs is in no layer: give its module one in LAYERS"))
}

#[test]
fn no_import_runs_from_a_lower_layer_to_a_higher_one() {
    let edges = edges();
    let upward: Vec<String> = edges
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
        .filter(|(from, to)| layer(to) > layer(from))
        .map(|(from, to)| format!("{from} (layer {}) -> {to} (layer {})", layer(from), layer(to)))
        .collect();
    assert!(
        upward.is_empty(),
        "imports running up the layers:\n{}",
        upward.join("\n")
    );
    // The check sees imports at all: the core imports the write path, features the core.
    assert!(edges["core"].contains("write"));
    assert!(edges["primitives/lock"].contains("core"));
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let edges = edges();
    // Depth-first search; a file met again while on the path closes a circle.
    fn visit(
        file: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|f| f == file) {
            circles.push(format!("{} -> {file}", path[at..].join(" -> ")));
            return;
        }
        if done.contains(file) {
            return;
        }
        path.push(file.to_string());
        for next in edges.get(file).into_iter().flatten() {
            visit(next, edges, path, done, circles);
        }
        path.pop();
        done.insert(file.to_string());
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for file in edges.keys() {
        visit(file, &edges, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

#[test]
fn paths_are_read_from_use_lines_and_expressions() {
    let module = vec!["primitives".to_string(), "lock".to_string()];
    let found = paths_in("use super::renewal::{Renewable, Ticket};", &module);
    assert!(found.contains(&vec!["primitives".into(), "renewal".into()]));
    let found = paths_in("let x = crate::util::millis(d); // crate::store", &module);
    assert_eq!(found, vec![vec!["util".to_string(), "millis".to_string()]]);
    assert!(paths_in("::keyschema_store::crate_name", &module).is_empty());
}
