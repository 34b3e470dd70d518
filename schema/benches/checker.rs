#![allow(missing_docs)] // criterion_group! generates undocumented items.

//! The checker on large synthetic schemas (what `keyschema check` does before anything else):
//! parsing, lowering, and the pairwise search for ambiguous patterns.
//!
//! - `plain/10000`: 10,000 patterns (`svcS:entityE:<id>`, 100 services) that never overlap.
//! - `ambiguous/3000`: 3,000 patterns with 1,000 real ambiguities (`svcS:eE:<name>` beside
//!   `svcS:eE:all`, which it also matches).
//! - `spanning/400`: 400 patterns led by a parameter that may span segments (`<key>:svcS:eE`,
//!   legacy keys): only the segments after it, aligned from the key's end, tell pairs apart (29.6 s
//!   for the release CLI before they were compared, every pair going to the automaton search).
//! - `one_spanning/400`: 399 plain patterns and one `legacy:<key>` with a spanning parameter.
//!
//! The goal (one core): each of the first two in under a second. The figures before the pair
//! prefilter are in docs/benchmarks.md.
//!
//! Run: `cargo bench -p keyschema --bench checker`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keyschema::{Code, Schema};
use std::fmt::Write as _;
use std::time::Duration;

const HEADER: &str = "keyspace synth\nparam id uuid\nparam name text\nparam n int\nparam key text spans\n\n";

/// 10,000-style schemas: `count` patterns over 100 services, none overlapping.
fn plain(count: usize) -> String {
    let mut text = String::from(HEADER);
    for i in 0..count {
        let (service, entity) = (i % 100, i / 100);
        let _ = writeln!(
            text,
            "svc{service}:entity{entity}:<id> string \"Entity {entity} of service {service}\""
        );
    }
    text
}

/// `count` patterns in triples: a named entity, `all` (ambiguous with the named one) and a counter.
fn ambiguous(count: usize) -> String {
    let mut text = String::from(HEADER);
    for i in 0..count / 3 {
        let (service, entity) = (i % 100, i / 100);
        let _ = writeln!(
            text,
            "svc{service}:e{entity}:<name> string \"Named entity {entity} of {service}\""
        );
        let _ = writeln!(
            text,
            "svc{service}:e{entity}:all string \"All entities {entity} of {service}\""
        );
        let _ = writeln!(
            text,
            "svc{service}:e{entity}:count:<n> string \"Counter {entity} of {service}\""
        );
    }
    text
}

/// `count` patterns, each led by a parameter that may span segments.
fn spanning(count: usize) -> String {
    let mut text = String::from(HEADER);
    for i in 0..count {
        let (service, entity) = (i % 20, i / 20);
        let _ = writeln!(
            text,
            "<key>:svc{service}:e{entity} string \"Entity {entity} of {service}\""
        );
    }
    text
}

/// `count - 1` plain patterns and one whose parameter may span segments.
fn one_spanning(count: usize) -> String {
    let mut text = String::from(HEADER);
    for i in 0..count - 1 {
        let (service, entity) = (i % 20, i / 20);
        let _ = writeln!(
            text,
            "svc{service}:e{entity}:<id> string \"Entity {entity} of {service}\""
        );
    }
    text.push_str("legacy:<key> string \"Legacy keys\"\n");
    text
}

fn ambiguities(source: &str) -> usize {
    Schema::check(source)
        .iter()
        .filter(|d| d.code == Code::AmbiguousPatterns)
        .count()
}

fn checker(c: &mut Criterion) {
    let cases: [(&str, usize, String); 4] = [
        ("plain", 10_000, plain(10_000)),
        ("ambiguous", 3_000, ambiguous(3_000)),
        ("spanning", 400, spanning(400)),
        ("one_spanning", 400, one_spanning(400)),
    ];
    // What each schema is, so the figures are about the schemas described above.
    assert_eq!(ambiguities(&cases[0].2), 0);
    assert_eq!(ambiguities(&cases[1].2), 1_000);
    let mut group = c.benchmark_group("check");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, patterns, source) in &cases {
        group.throughput(Throughput::Elements(*patterns as u64));
        group.bench_with_input(BenchmarkId::new(*name, patterns), source, |b, source| {
            b.iter(|| black_box(Schema::check(source)).len());
        });
    }
    group.finish();
}

criterion_group!(benches, checker);
criterion_main!(benches);
