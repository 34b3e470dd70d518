//! Native lint throughput on a file of keys, the baseline of the WebAssembly `lintMany` benchmark
//! (`node bindings/bench/lint-many.mjs` runs both on the same corpus in the same run).
//!
//! Usage: `cargo run --release -p keyschema-cli --example lint_throughput -- KEYS_FILE`

#![allow(clippy::unwrap_used)] // A benchmark tool: a bad argument is a panic with the reason.

use keyschema::{examples, Schema};
use std::time::Instant;

fn per_second(keys: usize, rounds: usize, start: Instant) -> f64 {
    (keys * rounds) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: lint_throughput KEYS_FILE");
    let text = std::fs::read_to_string(&path).unwrap();
    let keys: Vec<&str> = text.lines().collect();
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let rounds = 20;

    let start = Instant::now();
    let mut matched = 0usize;
    for _ in 0..rounds {
        matched += keys
            .iter()
            .filter(|key| schema.matcher().match_key(key).is_ok())
            .count();
    }
    let match_rate = per_second(keys.len(), rounds, start);

    let start = Instant::now();
    let mut problems = 0usize;
    for _ in 0..rounds {
        problems += keys
            .iter()
            .map(|key| schema.lint(key))
            .filter(|r| r.has_problems())
            .count();
    }
    let lint_rate = per_second(keys.len(), rounds, start);

    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..rounds {
        let results: Vec<_> = keys.iter().map(|key| schema.lint(key)).collect();
        bytes += serde_json::to_string(&results).unwrap().len();
    }
    let json_rate = per_second(keys.len(), rounds, start);

    println!(
        "{{\"keys\":{},\"match_key\":{match_rate:.0},\"lint\":{lint_rate:.0},\"lint_json\":{json_rate:.0},\"checksum\":{}}}",
        keys.len(),
        matched + problems + bytes
    );
}
