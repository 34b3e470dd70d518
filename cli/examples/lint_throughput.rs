//! Native lint throughput on a file of keys, the baseline of the WebAssembly benchmark
//! (`node bindings/bench/lint-many.mjs` runs both on the same corpus in the same run).
//!
//! Usage: `cargo run --release -p keyschema-cli --example lint_throughput -- KEYS_FILE`

#![allow(clippy::unwrap_used)] // A benchmark tool: a bad argument is a panic with the reason.

use keyschema::{examples, Schema};
use std::hint::black_box;
use std::time::Instant;

/// Keys per second of `f` (one pass over `keys` keys): the best of seven timed passes after a
/// warm-up, as the Node side measures, so a busy moment of the machine does not count.
fn rate(keys: usize, mut f: impl FnMut() -> usize) -> f64 {
    black_box(f());
    let best = (0..7)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    keys as f64 / best
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: lint_throughput KEYS_FILE");
    let text = std::fs::read_to_string(&path).unwrap();
    let keys: Vec<&str> = text.lines().collect();
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let n = keys.len();

    let match_rate = rate(n, || {
        keys.iter()
            .filter(|key| schema.matcher().match_key(key).is_ok())
            .count()
    });
    let lint_rate = rate(n, || {
        keys.iter()
            .map(|key| schema.lint(key))
            .filter(|r| r.has_problems())
            .count()
    });
    let json_rate = rate(n, || {
        let results: Vec<_> = keys.iter().map(|key| schema.lint(key)).collect();
        serde_json::to_string(&results).unwrap().len()
    });
    let table_rate = rate(n, || {
        schema.lint_table(text.as_bytes()).unwrap().keys_per_problem()[0] as usize
    });

    println!(
        "{{\"keys\":{n},\"match_key\":{match_rate:.0},\"lint\":{lint_rate:.0},\"lint_json\":{json_rate:.0},\"lint_table\":{table_rate:.0}}}"
    );
}
